"""Escalation at scale on PostgreSQL.

Seeds N open requests (default 1,000,000), each with a running deadline and an escalation
step due in the future, plus D steps due now (default 10,000). Then:

1. times `mla worker --once` logic escalating all due steps (target < 5 s);
2. runs the worker loop in a thread while D more steps fall due over a few seconds, and
   reports due -> alert latency p50/p99 (target p99 <= 2 s);
3. prints the EXPLAIN of the claim query, which must use the partial index on the due
   instant, so the scan does not grow with the number of open requests.

    python -m bench.escalation [--requests 1000000] [--due 10000]
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, text

from bench.transitions import DEFAULT_URL, drop, prepare
from cli import worker
from mla import db
from mla.models import Alert, DeadlineStep

SEED = """
INSERT INTO authorities (id, code, country, name, timezone, languages, created_at) VALUES
  (1, 'FR-MJ', 'FR', 'FR', 'Europe/Paris', '["fr"]', now()),
  (2, 'KE-ODPP', 'KE', 'KE', 'Africa/Nairobi', '["en"]', now());
INSERT INTO requests (id, reference, kind, workflow, legal_basis, requesting_authority_id,
  requested_authority_id, title, urgent, state, template_version, language, data, created_at,
  updated_at, version)
SELECT gen_random_uuid(), 'B-' || n, 'mla.evidence', 'mla_requesting', 'untoc', 1, 2, 'bench',
  false, 'in_execution', 1, 'en', '{}', now(), now(), 5
FROM generate_series(1, :n) AS n;
INSERT INTO deadlines (request_id, rule_id, timer, acting_authority_id,
  requesting_authority_id, requested_authority_id, opened_at, period_start, due_at,
  extended_days)
SELECT id, 'untoc.suggested_date', 'execution', 2, requesting_authority_id,
       requested_authority_id, now(), now(), now() + interval '60 days', 0
FROM requests;
INSERT INTO deadline_steps (deadline_id, step, due_at)
SELECT id, 'reminder_50', now() + interval '30 days' FROM deadlines;
"""


def _due_steps(engine, count: int, start: datetime, spread: float) -> None:  # type: ignore[no-untyped-def]
    """`count` fresh deadlines with a `due` step each, spread over `spread` seconds."""
    with engine.begin() as conn:
        conn.execute(text("""
            WITH picked AS (SELECT id, requesting_authority_id, requested_authority_id
                            FROM requests ORDER BY random() LIMIT :count),
            d AS (INSERT INTO deadlines (request_id, rule_id, timer, acting_authority_id,
                    requesting_authority_id, requested_authority_id, opened_at,
                    period_start, due_at, extended_days)
                  SELECT id, 'untoc.suggested_date', 'execution', 2,
                         requesting_authority_id, requested_authority_id, :start, :start,
                         :start, 0 FROM picked RETURNING id)
            INSERT INTO deadline_steps (deadline_id, step, due_at)
            SELECT id, 'due', CAST(:start AS timestamptz)
                   + (random() * :spread) * interval '1 second' FROM d"""),
            {"count": count, "start": start, "spread": spread})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--due", type=int, default=10_000)
    parser.add_argument("--database", default=DEFAULT_URL)
    args = parser.parse_args()
    url = prepare(args.database, "mla_bench_escalation")
    engine = db.make_engine(url)
    t0 = time.perf_counter()
    with engine.begin() as conn:
        for statement in SEED.split(";\n"):
            if statement.strip():
                conn.execute(text(statement), {"n": args.requests})
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE"))
    print(f"seeded {args.requests} open requests with running deadlines "
          f"in {time.perf_counter() - t0:.1f} s")

    # 1. A backlog of due steps, escalated by one worker pass.
    _due_steps(engine, args.due, datetime.now(UTC) - timedelta(minutes=1), 1.0)
    with engine.connect() as conn:
        plan = conn.execute(text(
            "EXPLAIN SELECT id FROM deadline_steps WHERE done_at IS NULL AND due_at <= now() "
            "ORDER BY due_at LIMIT 500 FOR UPDATE SKIP LOCKED")).scalars().all()
    t0 = time.perf_counter()
    alerts = worker.run(engine, batch=1000, once=True)
    elapsed = time.perf_counter() - t0
    print(f"escalated {args.due} due steps -> {alerts} alerts in {elapsed:.2f} s "
          f"(target < 5 s: {'met' if elapsed < 5 else 'NOT met'})")
    print("claim query plan:")
    for line in plan:
        print("   ", line)
    uses_index = any("ix_deadline_steps_pending_due" in line for line in plan)
    print(f"uses the partial index on the due instant: {uses_index}")

    # 2. Steps falling due while the worker runs.
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(engine,),
                              kwargs={"batch": 1000, "poll": 1.0, "stop": stop})
    thread.start()
    start = datetime.now(UTC) + timedelta(seconds=2)
    _due_steps(engine, args.due, start, 5.0)
    deadline = time.monotonic() + 60
    with db.session_factory(engine)() as s:
        while time.monotonic() < deadline:
            pending = s.scalar(select(func.count()).select_from(DeadlineStep)
                               .where(DeadlineStep.done_at.is_(None),
                                      DeadlineStep.due_at <= datetime.now(UTC)
                                      + timedelta(days=1)))
            s.rollback()
            if pending == 0:
                break
            time.sleep(0.2)
        stop.set()
        thread.join()
        rows = s.execute(select(Alert.created_at, DeadlineStep.due_at)
                         .join(DeadlineStep, DeadlineStep.id == Alert.deadline_step_id)
                         .where(DeadlineStep.step == "due", DeadlineStep.due_at >= start)
                         ).all()
    latencies = sorted(max(0.0, (c - d).total_seconds()) for c, d in rows)
    p99 = latencies[int(0.99 * (len(latencies) - 1))]
    print(f"due -> alert latency over {len(latencies)} alerts: "
          f"p50 {statistics.median(latencies):.2f} s, p99 {p99:.2f} s "
          f"(target p99 <= 2 s: {'met' if p99 <= 2 else 'NOT met'})")
    engine.dispose()
    drop(args.database, "mla_bench_escalation")


if __name__ == "__main__":
    main()
