"""Escalation at scale on PostgreSQL, next to a raw psycopg worker doing the same work.

Grows the database to each size in turn (default 100,000 then 1,000,000 open requests, each
with a running deadline and an escalation step due in 30 days), then at each size:

1. makes 2 x D steps due now (default D = 10,000; `due` steps of fresh deadlines, on
   requests carrying a real form), and lets the engine's batch (`escalation.run_batch`, as
   `mla worker` runs it: one transaction per batch) and a raw psycopg baseline take turns
   at claiming batches of them until none is left. The baseline sends what a hand-written
   worker must: the claim (`FOR UPDATE SKIP LOCKED`, same WHERE, ORDER BY and LIMIT), the
   claimed steps' deadlines and requests, one INSERT of the alerts (officer and supervisor,
   the same message text), one UPDATE marking the steps done, COMMIT. Both sides' batches
   are timed, so the ratio and the cost of one batch at each size come from the same run;
2. prints the EXPLAIN ANALYZE of the claim, which must walk the partial index on the due
   instant: a batch then costs the same whatever the number of open requests.

At the largest size it then runs the worker loop in a thread while D more steps fall due
over a few seconds, and reports due -> alert latency p50/p99 (target p99 <= 2 s).

The requests are not urgent: their alerts open no page (urgent pages and their
notifications are measured by `python -m bench.paging`). Everything is written to a private
schema dropped at the end.

    python -m bench.escalation [--sizes 100000,1000000] [--due 10000] [--batch 1000]

Target: engine >= 60 % of the baseline's steps per second, and the same cost per batch at
100k and 1M open requests.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import psycopg
from sqlalchemy import Engine, func, make_url, select, text

from bench.transitions import DEFAULT_URL, drop, prepare
from cli import worker
from mla import db, hooks, templates
from mla.deadlines import escalation
from mla.deadlines.rules import rules
from mla.models import Alert, DeadlineStep

SCHEMA = "mla_bench_escalation"
TARGET = 0.60
AUTHORITIES = """
INSERT INTO authorities (id, code, country, name, timezone, languages, created_at) VALUES
  (1, 'FR-MJ', 'FR', 'FR', 'Europe/Paris', '["fr"]', now()),
  (2, 'KE-ODPP', 'KE', 'KE', 'Africa/Nairobi', '["en"]', now())
"""
# One statement per growth step: requests, their running deadlines and pending steps.
GROW = """
WITH r AS (
  INSERT INTO requests (id, reference, kind, workflow, legal_basis, requesting_authority_id,
    requested_authority_id, title, urgent, state, template_version, language, data,
    created_at, updated_at, version)
  SELECT gen_random_uuid(), 'B-' || n, 'mla.evidence', 'mla_requesting', 'untoc', 1, 2,
    'bench', false, 'in_execution', 1, 'en', '{}', now(), now(), 5
  FROM generate_series(CAST(:start AS integer) + 1, CAST(:stop AS integer)) AS n
  RETURNING id, requesting_authority_id, requested_authority_id),
d AS (
  INSERT INTO deadlines (request_id, rule_id, timer, acting_authority_id,
    requesting_authority_id, requested_authority_id, opened_at, period_start, due_at,
    extended_days)
  SELECT id, 'untoc.suggested_date', 'execution', 2, requesting_authority_id,
    requested_authority_id, now(), now(), now() + interval '60 days', 0 FROM r
  RETURNING id)
INSERT INTO deadline_steps (deadline_id, step, due_at)
SELECT id, 'reminder_50', now() + interval '30 days' FROM d
"""
# Random requests get a fresh deadline with a `due` step, and the form a real request holds
# (the engine loads the whole row of each claimed step's request).
DUE = """
WITH picked AS (SELECT id, requesting_authority_id, requested_authority_id
                FROM requests WHERE reference = ANY(:references)),
formed AS (UPDATE requests SET data = CAST(:form AS json)
           WHERE id IN (SELECT id FROM picked)),
d AS (INSERT INTO deadlines (request_id, rule_id, timer, acting_authority_id,
        requesting_authority_id, requested_authority_id, opened_at, period_start, due_at,
        extended_days)
      SELECT id, 'untoc.suggested_date', 'execution', 2, requesting_authority_id,
             requested_authority_id, :start, :start, :start, 0 FROM picked RETURNING id)
INSERT INTO deadline_steps (deadline_id, step, due_at)
SELECT id, 'due', CAST(:start AS timestamptz)
       + (random() * :spread) * interval '1 second' FROM d
"""
CLAIM = ("SELECT id, deadline_id, step FROM deadline_steps "
         "WHERE done_at IS NULL AND due_at <= %s ORDER BY due_at LIMIT %s "
         "FOR UPDATE SKIP LOCKED")


@dataclass
class Side:
    """One worker's share of a size: its batches' step counts, alert counts and seconds."""

    steps: int = 0
    alerts: int = 0
    seconds: float = 0.0
    full_batches: list[float] = field(default_factory=list)

    def add(self, steps: int, alerts: int, seconds: float, batch: int) -> None:
        self.steps += steps
        self.alerts += alerts
        self.seconds += seconds
        if steps == batch:
            self.full_batches.append(seconds)

    @property
    def rate(self) -> float:
        return self.steps / self.seconds if self.seconds else 0.0

    @property
    def batch_ms(self) -> float:
        return 1000 * statistics.median(self.full_batches) if self.full_batches else 0.0


class _Deadline(NamedTuple):
    id: int
    request_id: Any
    rule_id: str
    due_at: datetime
    acting_authority_id: int


class _Request(NamedTuple):
    id: Any
    reference: str
    urgent: bool


def baseline_batch(conn: psycopg.Connection, now: datetime, limit: int) -> tuple[int, int]:
    """What a hand-written worker sends for one batch; (steps, alerts)."""
    claimed = conn.execute(CLAIM, (now, limit)).fetchall()
    if not claimed:
        conn.rollback()
        return 0, 0
    deadlines = {r[0]: _Deadline(*r) for r in conn.execute(
        "SELECT id, request_id, rule_id, due_at, acting_authority_id FROM deadlines "
        "WHERE id = ANY(%s)", (list({c[1] for c in claimed}),))}
    requests = {r[0]: _Request(*r) for r in conn.execute(
        "SELECT id, reference, urgent FROM requests WHERE id = ANY(%s)",
        (list({d.request_id for d in deadlines.values()}),))}
    ladder = {step.step: step for step in rules().ladder}
    rows: list[tuple[Any, int, str, int, str, str]] = []
    for step_id, deadline_id, step in claimed:
        deadline = deadlines[deadline_id]
        request = requests[deadline.request_id]
        spec = ladder[step]
        roles = spec.notify + (spec.urgent_notify if request.urgent else ())
        # The same text as the engine's alerts, from the same rule data.
        message = escalation._message(step, deadline, request)  # type: ignore[arg-type]
        rows.extend((request.id, deadline.acting_authority_id, role, step_id, step, message)
                    for role in dict.fromkeys(roles))
    columns = [list(column) for column in zip(*rows, strict=True)]
    alerts = conn.execute(
        "INSERT INTO alerts (request_id, authority_id, role, source, deadline_step_id, step,"
        " message, created_at) SELECT r, a, role, 'deadline', s, st, m, %s FROM unnest("
        "%s::uuid[], %s::integer[], %s::text[], %s::bigint[], %s::text[], %s::text[]) "
        "AS t(r, a, role, s, st, m) RETURNING id", (now, *columns)).fetchall()
    conn.execute("UPDATE deadline_steps SET done_at = %s WHERE id = ANY(%s)",
                 (now, [c[0] for c in claimed]))
    conn.commit()
    return len(claimed), len(alerts)


def engine_batch(sessions: Any, now: datetime, limit: int) -> tuple[int, int]:
    """The engine's batch, exactly as `mla worker` runs it."""
    with sessions() as session, session.begin():
        result = escalation.run_batch(session, now=now, limit=limit)
    return result.steps, result.alerts


def make_due(engine: Engine, count: int, start: datetime, spread: float, open_: int) -> float:
    """`count` fresh deadlines with a `due` step each, on random open requests, falling due
    over `spread` seconds from `start`; the seconds it took."""
    t0 = time.perf_counter()
    references = [f"B-{n}" for n in random.sample(range(1, open_ + 1), count)]
    form = json.dumps(templates.example("mla.evidence"))
    with engine.begin() as conn:
        conn.execute(text(DUE), {"references": references, "start": start, "spread": spread,
                                 "form": form})
    return time.perf_counter() - t0


def grow(engine: Engine, start: int, stop: int) -> float:
    """Open requests `start`+1 .. `stop` with their deadlines and steps; seconds taken."""
    t0 = time.perf_counter()
    with engine.begin() as conn:
        if start == 0:
            conn.execute(text(AUTHORITIES))
        conn.execute(text(GROW), {"start": start, "stop": stop})
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE"))
    return time.perf_counter() - t0


def claim_plan(dsn: str, batch: int) -> list[str]:
    """EXPLAIN ANALYZE of the claim, rolled back: it locks what it claims."""
    with psycopg.connect(dsn) as conn:
        plan = [row[0] for row in conn.execute(
            "EXPLAIN (ANALYZE, BUFFERS) " + CLAIM, (datetime.now(UTC), batch))]
        conn.rollback()
    return plan


def interleaved(engine: Engine, dsn: str, batch: int) -> tuple[Side, Side]:
    """Engine and baseline take turns, one batch each (who goes first alternates), until no
    step is due."""
    sessions = db.session_factory(engine)
    ours, theirs = Side(), Side()
    with psycopg.connect(dsn) as conn:
        turn = 0
        done = {"engine": False, "baseline": False}
        while not all(done.values()):
            order = ("engine", "baseline") if turn % 2 == 0 else ("baseline", "engine")
            for name in order:
                now = datetime.now(UTC)
                t0 = time.perf_counter()
                if name == "engine":
                    steps, alerts = engine_batch(sessions, now, batch)
                    side = ours
                else:
                    steps, alerts = baseline_batch(conn, now, batch)
                    side = theirs
                side.add(steps, alerts, time.perf_counter() - t0, batch)
                done[name] = steps == 0
            turn += 1
    return ours, theirs


def latency(engine: Engine, due: int, open_: int) -> list[float]:
    """Seconds from due to alert for `due` steps falling due while the worker loop runs."""
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(engine,),
                              kwargs={"batch": 1000, "poll": 1.0, "stop": stop})
    thread.start()
    # Far enough ahead that the steps are committed before the first falls due: the time
    # to write them must not count as the worker's lateness.
    start = datetime.now(UTC) + timedelta(seconds=15)
    if make_due(engine, due, start, 5.0, open_) > 14:
        raise RuntimeError("writing the due steps took longer than the lead given to it")
    deadline = time.monotonic() + 120
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
    return sorted(max(0.0, (c - d).total_seconds()) for c, d in rows)


def run(url: str, sizes: list[int], due: int, batch: int, with_latency: bool) -> None:
    hooks.install()  # an entry point: it writes alerts in-process
    templates.load_all()
    engine = db.make_engine(url)
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    results: list[tuple[int, Side, Side, list[str]]] = []
    open_ = 0
    for size in sizes:
        seconds = grow(engine, open_, size)
        print(f"{size:,} open requests with running deadlines "
              f"(+{size - open_:,} seeded in {seconds:.1f} s)", flush=True)
        open_ = size
        make_due(engine, 2 * due, datetime.now(UTC) - timedelta(minutes=1), 1.0, open_)
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(
                text("ANALYZE deadline_steps"))
        plan = claim_plan(dsn, batch)
        ours, theirs = interleaved(engine, dsn, batch)
        if ours.alerts != 2 * ours.steps or theirs.alerts != 2 * theirs.steps \
                or ours.steps + theirs.steps != 2 * due:
            raise RuntimeError(f"unequal work at {size}: engine {ours}, baseline {theirs}")
        results.append((size, ours, theirs, plan))
    load = os.getloadavg()

    print(f"\n{os.cpu_count()} cores, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; "
          f"batches of {batch}, engine and baseline taking turns on {2 * due:,} due steps "
          "per size (2 alerts each: officer, supervisor)")
    print(f"{'open requests':>14} | {'engine/baseline':>15} | {'engine steps/s':>14} | "
          f"{'baseline steps/s':>16} | {'engine ms/batch':>15} | {'baseline ms/batch':>17}")
    for size, ours, theirs, _ in results:
        ratio = ours.rate / theirs.rate
        print(f"{size:>14,} | {ratio:>14.0%}  | {ours.rate:>14,.0f} | {theirs.rate:>16,.0f} | "
              f"{ours.batch_ms:>15.0f} | {theirs.batch_ms:>17.0f}")
    worst = min(ours.rate / theirs.rate for _, ours, theirs, _ in results)
    print(f"engine / baseline, worst size: {worst:.0%} "
          f"(target >= {TARGET:.0%}: {'met' if worst >= TARGET else 'NOT met'})")
    if len(results) > 1:
        (small, s_ours, s_theirs, _), (large, l_ours, l_theirs, _) = results[0], results[-1]
        print(f"cost of a batch at {large:,} / at {small:,}: engine "
              f"{l_ours.batch_ms / s_ours.batch_ms:.2f}x, baseline "
              f"{l_theirs.batch_ms / s_theirs.batch_ms:.2f}x (1.00x: it does not grow)")
    for size, _, _, plan in results:
        print(f"\nclaim query plan at {size:,} open requests:")
        for line in plan:
            print("   ", line)
        print(f"uses the partial index on the due instant: "
              f"{any('ix_deadline_steps_pending_due' in line for line in plan)}")

    if with_latency:
        latencies = latency(engine, due, open_)
        p99 = latencies[int(0.99 * (len(latencies) - 1))]
        print(f"\nworker loop at {open_:,} open requests, {due:,} steps falling due over 5 s: "
              f"due -> alert p50 {statistics.median(latencies):.2f} s, p99 {p99:.2f} s "
              f"(target p99 <= 2 s: {'met' if p99 <= 2 else 'NOT met'})")
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100000,1000000",
                        help="open requests, comma-separated, growing")
    parser.add_argument("--due", type=int, default=10_000,
                        help="due steps per side at each size")
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--no-latency", action="store_true",
                        help="skip the due -> alert latency of the worker loop")
    parser.add_argument("--database", default=DEFAULT_URL)
    parser.add_argument("--schema", default=SCHEMA, help="the private schema, dropped after")
    args = parser.parse_args()
    sizes = sorted(int(n) for n in args.sizes.split(","))
    if 2 * args.due > sizes[0]:
        parser.error("--due: at most half the smallest size (one due step per request)")
    url = prepare(args.database, args.schema)
    try:
        run(url, sizes, args.due, args.batch, not args.no_latency)
    finally:
        drop(args.database, args.schema)


if __name__ == "__main__":
    main()
