"""Statistics at scale on PostgreSQL.

Seeds N requests (default 1,000,000) over three years between 40 authorities with set-based
SQL: each follows its workflow (MLA requesting side, MLA requested side, extradition) at its
own pace, slower with some counterparts, about 8 % are refused with grounds and 10 % stall;
about 7 history events per request and the deadlines the steps open and close. FR-MJ is a
party to half of the requests. Then it times `mla.stats.report` (what `GET /stats` returns)
for an officer of FR-MJ and for an admin (the whole instance: before and after sealing the
past months, as the worker does when each ends, mla/stats/seal.py), and prints each
statement's time and the EXPLAIN ANALYZE of the slowest ones.

    python -m bench.stats [--requests 1000000] [--database postgresql+psycopg://...]
    python -m bench.stats --keep      # leave the schema mla_bench_stats for a look

Target: < 1 s per report (as served: for the admin, with the past months sealed).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, event, text

from bench.transitions import DEFAULT_URL, drop, prepare
from mla import db
from mla.models import User
from mla.stats import report as stats
from mla.stats import seal as stats_seal
from mla.stats.query import Report

SCHEMA = "mla_bench_stats"
COUNTRIES = ("FR", "KE", "US", "DE", "IT", "ES", "NL", "BE", "GB", "IE", "PT", "PL", "RO", "GR",
             "SE", "FI", "DK", "NO", "CH", "AT", "CZ", "HU", "BR", "AR", "MX", "CA", "ZA", "NG",
             "EG", "MA", "IN", "CN", "JP", "KR", "AU", "NZ", "TR", "UA", "SN", "GH")
KINDS = ("mla.evidence", "mla.service", "mla.search_seizure", "mla.freezing_confiscation",
         "mla.hearing_videoconference", "mla.transfer_detained", "mla.e_evidence.preservation",
         "mla.e_evidence.production", "extradition.provisional_arrest", "extradition.request",
         "extradition.surrender")

# (workflow, path, seq, event, from, to, day): day is when the step happens for a request of
# pace 1; a request's pace multiplies it. Path "both" is shared by normal and refused ones.
STEPS = """
mla_requesting both 1 file - draft 0
mla_requesting both 2 submit draft in_review 1
mla_requesting both 3 approve in_review approved 3
mla_requesting both 4 transmit approved transmitted 7
mla_requesting both 5 acknowledge transmitted acknowledged 14
mla_requesting normal 6 start_execution acknowledged in_execution 20
mla_requesting normal 7 complete in_execution executed 90
mla_requesting normal 8 close executed closed 95
mla_requesting refused 6 refuse acknowledged refused 40
mla_requested both 1 file - received 0
mla_requested both 2 acknowledge received assessing 3
mla_requested normal 3 accept assessing accepted 10
mla_requested normal 4 start_execution accepted in_execution 12
mla_requested normal 5 execute in_execution executed 80
mla_requested normal 6 send_results executed results_sent 85
mla_requested normal 7 close results_sent closed 90
mla_requested refused 3 refuse assessing refused 20
extradition both 1 file - draft 0
extradition both 2 submit draft in_review 2
extradition both 3 approve in_review approved 5
extradition both 4 transmit approved formal_request_received 10
extradition both 5 refer_to_court formal_request_received judicial_phase 30
extradition normal 6 grant judicial_phase granted 90
extradition normal 7 schedule_surrender granted surrender_scheduled 95
extradition normal 8 surrender surrender_scheduled surrendered 105
extradition refused 6 refuse judicial_phase refused 90
"""
# (workflow, path, timer, opened on day, closed on day, period in days)
TIMERS = """
mla_requesting both acknowledgement 7 14 10
mla_requesting normal execution 7 90 90
mla_requesting refused execution 7 40 90
mla_requested both acknowledgement 0 3 7
mla_requested normal execution 10 80 90
extradition both decision 30 90 60
"""

SEED = """
SELECT setseed(0.2322);
INSERT INTO authorities (id, code, country, name, timezone, languages, created_at)
SELECT i, CASE i WHEN 1 THEN 'FR-MJ' ELSE c || '-CA' END, c, 'Central authority ' || c, 'UTC',
       '["en"]', now()
FROM unnest(CAST(:countries AS text[])) WITH ORDINALITY AS t(c, i);
INSERT INTO users (id, authority_id, username, full_name, role, active, created_at) VALUES
  (1, 1, 'fr.officer', 'Officer', 'officer', true, now()),
  (2, 1, 'fr.admin', 'Admin', 'admin', true, now()),
  (3, 2, 'ke.officer', 'Officer', 'officer', true, now());
CREATE TEMP TABLE steps (workflow text, path text, seq int, event text, from_state text,
                         to_state text, day float8);
CREATE TEMP TABLE timers (workflow text, path text, timer text, open_day float8,
                          close_day float8, period int);
CREATE TEMP TABLE plan AS
SELECT n, gen_random_uuid() AS id, k.kind, k.i AS kind_no,
       CASE n % 4 WHEN 0 THEN 1 ELSE 2 + n % 39 END AS requesting,
       CASE n % 4 WHEN 1 THEN 1 WHEN 0 THEN 2 + n % 39
            ELSE 2 + (n % 39 + 1 + (n / 39) % 38) % 39 END AS requested,
       now() - random() * interval '1095 days' AS t0,
       -- pace: own randomness times the counterpart's habits (some are slow)
       (0.4 + 1.6 * random()) * (0.6 + (n % 39 % 7) / 4.0) AS pace,
       CASE WHEN random() < 0.08 THEN 'refused' ELSE 'normal' END AS path,
       CASE WHEN random() < 0.10 THEN 15 ELSE 1e9 END AS stop_day,
       random() AS r
FROM generate_series(1, :n) AS n
JOIN unnest(CAST(:kinds AS text[])) WITH ORDINALITY AS k(kind, i) ON k.i = 1 + n % 11;
ALTER TABLE plan ADD COLUMN workflow text;
UPDATE plan SET workflow = CASE WHEN kind LIKE 'extradition.%' THEN 'extradition'
                                WHEN n % 4 = 1 THEN 'mla_requested' ELSE 'mla_requesting' END;
CREATE TEMP TABLE events AS
SELECT p.id AS request_id, p.t0 + s.day * p.pace * interval '1 day' AS at, s.seq, s.event,
       s.from_state, s.to_state, p.r
FROM plan p JOIN steps s ON s.workflow = p.workflow AND s.path IN ('both', p.path)
WHERE s.day <= p.stop_day AND p.t0 + s.day * p.pace * interval '1 day' <= now();
INSERT INTO requests (id, reference, kind, workflow, legal_basis, requesting_authority_id,
  requested_authority_id, title, urgent, state, template_version, language, data, created_by_id,
  created_at, updated_at, version, transmitted_at, acknowledged_at, executed_at)
SELECT p.id, 'B-' || p.n, p.kind, p.workflow,
       CASE WHEN p.workflow = 'extradition'
            THEN (ARRAY['untoc', 'ece_1957', 'eaw_2002_584'])[1 + p.n % 3]
            ELSE (ARRAY['untoc', 'uncac', 'eio_2014_41', 'budapest', 'ecmacm_1959'])[1 + p.n % 5]
       END,
       p.requesting, p.requested, 'bench', false, last.to_state, 1, 'en', '{}', 1, p.t0,
       last.at, last.seq, m.transmitted_at, m.acknowledged_at, m.executed_at
FROM plan p
JOIN (SELECT DISTINCT ON (request_id) request_id, to_state, at, seq FROM events
      ORDER BY request_id, seq DESC) last ON last.request_id = p.id
-- The milestone instants mla.lifecycle keeps on the request: the first of each event.
JOIN (SELECT request_id,
             min(at) FILTER (WHERE event = 'transmit') AS transmitted_at,
             min(at) FILTER (WHERE event = 'acknowledge') AS acknowledged_at,
             min(at) FILTER (WHERE event IN ('execute', 'complete')) AS executed_at
      FROM events GROUP BY request_id) m ON m.request_id = p.id;
INSERT INTO history_events (request_id, at, actor_id, event, from_state, to_state, data)
SELECT request_id, at, 1, event, NULLIF(from_state, '-'), to_state,
       CASE WHEN event = 'refuse' THEN CAST((ARRAY[
         '{"grounds": ["essential_interests"]}', '{"grounds": ["domestic_prohibition"]}',
         '{"grounds": ["not_in_accordance", "essential_interests"]}',
         '{"grounds": ["dual_criminality"]}', '{"grounds": ["political_offence"]}',
         '{"grounds": ["discrimination", "nationality"]}'])[1 + floor(r * r * 6)::int] AS json)
       END
FROM events ORDER BY at;
INSERT INTO deadlines (request_id, rule_id, timer, acting_authority_id,
  requesting_authority_id, requested_authority_id, opened_at, period_start, due_at, closed_at,
  extended_days)
SELECT p.id, 'bench.' || t.timer, t.timer, p.requested, p.requesting, p.requested,
       p.t0 + t.open_day * p.pace * interval '1 day',
       p.t0 + t.open_day * p.pace * interval '1 day',
       p.t0 + t.open_day * p.pace * interval '1 day' + t.period * interval '1 day',
       CASE WHEN t.close_day <= p.stop_day
                 AND p.t0 + t.close_day * p.pace * interval '1 day' <= now()
            THEN p.t0 + t.close_day * p.pace * interval '1 day' END,
       0
FROM plan p JOIN timers t ON t.workflow = p.workflow AND t.path IN ('both', p.path)
WHERE t.open_day <= p.stop_day AND p.t0 + t.open_day * p.pace * interval '1 day' <= now()
ORDER BY 7  -- opened_at: deadlines stored in the order they opened
"""


def seed(engine: Engine, n: int) -> None:
    with engine.begin() as conn:
        statements = [s for s in SEED.split(";\n") if s.strip()]
        params = {"n": n, "countries": list(COUNTRIES), "kinds": list(KINDS)}
        for statement in statements[:5]:
            conn.execute(text(statement), params)
        for line in STEPS.strip().splitlines():
            wf, path, seq, ev, src, dst, day = line.split()
            conn.execute(text("INSERT INTO steps VALUES (:wf, :path, :seq, :ev, :src, :dst, "
                              ":day)"), dict(wf=wf, path=path, seq=int(seq), ev=ev, src=src,
                                            dst=dst, day=float(day)))
        for line in TIMERS.strip().splitlines():
            wf, path, timer, opened, closed, period = line.split()
            conn.execute(text("INSERT INTO timers VALUES (:wf, :path, :timer, :o, :c, :p)"),
                         dict(wf=wf, path=path, timer=timer, o=float(opened), c=float(closed),
                              p=int(period)))
        for statement in statements[5:]:
            conn.execute(text(statement), params)
    with engine.connect() as conn:
        autocommit = conn.execution_options(isolation_level="AUTOCOMMIT")
        # Set the visibility map too, as autovacuum would have by the time anyone asks.
        autocommit.execute(text("VACUUM ANALYZE"))


@contextmanager
def statement_log(engine: Engine) -> Iterator[list[dict[str, Any]]]:
    """Every statement run on `engine` in the block, with its wall time."""
    log: list[dict[str, Any]] = []

    def before(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        conn.info["started"] = time.perf_counter()

    def after(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        log.append({"sql": statement, "params": parameters,
                    "seconds": time.perf_counter() - conn.info.pop("started")})

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    try:
        yield log
    finally:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "after_cursor_execute", after)


def timed_report(engine: Engine, username: str, runs: int, **window: Any
                 ) -> tuple[float, list[dict[str, Any]], Report]:
    """Best of `runs` (the first warms the cache, as a server's would be)."""
    best, best_log, report = float("inf"), [], None
    for _ in range(runs):
        with db.session_factory(engine)() as s:
            user = s.query(User).filter_by(username=username).one()
            with statement_log(engine) as log:
                start = time.perf_counter()
                report = stats.report(s, user, **window)
                elapsed = time.perf_counter() - start
        if elapsed < best:
            best, best_log = elapsed, list(log)
    assert report is not None
    return best, best_log, report


def explain(engine: Engine, entry: dict[str, Any]) -> list[str]:
    with engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        assert raw is not None
        cur = raw.cursor()
        cur.execute("SELECT set_config('work_mem', '256MB', false), "
                    "set_config('jit', 'off', false), set_config('TimeZone', 'UTC', false)")
        # Per-node timing costs more than the query itself on some virtual machines.
        cur.execute("EXPLAIN (ANALYZE, TIMING OFF, COSTS OFF) " + entry["sql"],
                    entry["params"])
        lines = [row[0] for row in cur.fetchall()]
        conn.rollback()
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--database", default=DEFAULT_URL)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--explain", type=int, default=3, help="EXPLAIN the N slowest")
    parser.add_argument("--keep", action="store_true", help="keep the schema afterwards")
    parser.add_argument("--reuse", action="store_true",
                        help="time on an already seeded schema (from --keep)")
    args = parser.parse_args()
    if args.reuse:
        from sqlalchemy import make_url
        url = make_url(args.database).update_query_dict(
            {"options": f"-csearch_path={SCHEMA}"}).render_as_string(hide_password=False)
        db.upgrade(url)  # a schema kept by an older version
    else:
        url = prepare(args.database, SCHEMA)
    engine = db.make_engine(url)
    try:
        if not args.reuse:
            t0 = time.perf_counter()
            seed(engine, args.requests)
            print(f"seeded in {time.perf_counter() - t0:.0f} s")
        with engine.connect() as conn:
            counts = {t: conn.scalar(text(f"SELECT count(*) FROM {t}"))
                      for t in ("requests", "history_events", "deadlines")}
            party, typical = (conn.scalar(text(
                "SELECT count(*) FROM requests WHERE requesting_authority_id = :a "
                "OR requested_authority_id = :a"), {"a": a}) for a in (1, 2))
        print(", ".join(f"{v:,} {k}" for k, v in counts.items()))
        with db.session_factory(engine)() as s, s.begin():
            stats_seal.unseal(s, "0001-01")  # a kept schema may have sealed months
        verdicts = []
        views = (("ke.officer", f"officer of KE-CA (party to {typical:,})"),
                 ("fr.officer", f"officer of FR-MJ (party to {party:,})"),
                 ("fr.admin", "admin (whole instance), no month sealed"),
                 ("seal", ""),
                 ("fr.admin", "admin (whole instance), past months sealed"),
                 ("fr.admin", "admin, past months sealed, since the 10th of last year's "
                              "last month"),
                 ("fr.admin", "admin, past months sealed, since 2000-01-01"))
        windows = {"last year's": {"since": datetime(datetime.now(UTC).year - 1, 12, 10,
                                                     tzinfo=UTC)},
                   "2000-01-01": {"since": datetime(2000, 1, 1, tzinfo=UTC)}}
        for username, who in views:
            window = next((w for key, w in windows.items() if key in who), {})
            if username == "seal":
                t0 = time.perf_counter()
                months = stats_seal.seal_due(db.session_factory(engine))
                print(f"\nsealed {len(months)} months ({months[0]} to {months[-1]}) in "
                      f"{time.perf_counter() - t0:.1f} s (what the worker does as each month "
                      "ends, here all at once)")
                continue
            seconds, log, report = timed_report(engine, username, args.runs, **window)
            ok = seconds < 1
            if "no month sealed" not in who:  # the target is for the report as served
                verdicts.append(ok)
            print(f"\nGET /stats as {who}: {seconds:.3f} s "
                  f"(target < 1 s: {'met' if ok else 'NOT met'})")
            durations = report.tables["stage_durations"].records()
            for r in durations:
                print(f"    {r['stage']:33} n={r['requests']:>8,}  median {r['median_days']:>6}"
                      f" d  p90 {r['p90_days']:>6} d")
            print(f"    deadlines: {report.tables['deadlines'].records()[0]}")
            print("    statements (s):")
            for entry in log:
                first = " ".join(entry["sql"].split())[:90]
                print(f"    {entry['seconds']:7.3f}  {first}")
            for entry in sorted(log, key=lambda e: -e["seconds"])[:args.explain]:
                print(f"\n    EXPLAIN (ANALYZE, TIMING OFF) of the {entry['seconds']:.3f} s "
                      "statement:")
                for line in explain(engine, entry):
                    print("      " + line)
        print("\nall targets met" if all(verdicts) else "\nsome targets NOT met")
    finally:
        engine.dispose()
        if not args.keep:
            drop(args.database, SCHEMA)


if __name__ == "__main__":
    main()
