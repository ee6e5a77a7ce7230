"""Audited commits per second with 1, 4 and 16 connections: the audit chain written at commit
under the head row's lock (BEFORE: the statement the engine sent until migration 0020, on a
schema at 0018) against entries written with their own hash and sealed later (AFTER: the
engine's statement now, on a schema at head, with the sealer running beside as the worker
runs it). Both in the same run, interleaved round by round (order alternating), each commit
one entry in its own transaction, one round trip, as mla/audit.py sends it with the COMMIT.

The commits are driven by pgbench (PostgreSQL's own C client, `-M prepared`), so that the
figures are the database's and not the Python clients' CPU: on a shared 2-core machine 16
Python processes are CPU-starved long before the head row's lock binds. The seal delay
(commit to sealed, p50/p99) is then measured with 16 Python clients sending the engine's
statement with real instants, and the sealer's own throughput on a backlog.

    python -m bench.audit [--seconds 10] [--rounds 3] [--database postgresql+psycopg://...]

Target: AFTER at 16 connections >= 3x BEFORE at 16 connections. Leaves nothing behind (two
private schemas, dropped at the end).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from typing import Any

import psycopg
import psycopg.rows
from sqlalchemy import make_url, text

from mla import audit, db

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
OLD_SCHEMA, NEW_SCHEMA = "mla_bench_audit_old", "mla_bench_audit_new"
CONNECTIONS = (1, 4, 16)

# What mla/audit.py sent with every COMMIT before migration 0020, word for word (there as a
# SQLAlchemy text() with :names): the head row's UPDATE takes the chain's lock, hands out
# the id and chains the hash; the row is inserted from what it returns.
OLD_APPEND = """WITH head AS (
    UPDATE audit_head SET last_id = last_id + 1,
        last_hash = encode(sha256(convert_to(
            last_hash || %(before)s || CAST(last_id + 1 AS text) || %(after)s, 'UTF8')), 'hex')
    WHERE id = 1 RETURNING last_id, last_hash)
    INSERT INTO audit_events (id, at, actor_id, authority_id, action, object_type, object_id,
                              detail, hash)
    SELECT last_id, %(at)s, %(actor_id)s, %(authority_id)s, %(action)s, %(object_type)s,
           %(object_id)s, CAST(%(detail)s AS json), last_hash FROM head"""
# And what it sends now.
NEW_APPEND = audit._APPEND_PSYCOPG


def schema_url(url: str, schema: str) -> str:
    scoped = make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
    return scoped.render_as_string(hide_password=False)


def driver_url(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def prepare(url: str) -> tuple[str, str]:
    """Two fresh schemas: one at revision 0018 (the old chain), one at head."""
    admin = db.make_engine(url)
    with admin.begin() as conn:
        for schema in (OLD_SCHEMA, NEW_SCHEMA):
            conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
            conn.execute(text(f"CREATE SCHEMA {schema}"))
    admin.dispose()
    old, new = schema_url(url, OLD_SCHEMA), schema_url(url, NEW_SCHEMA)
    db.upgrade(old, "0018")
    db.upgrade(new)
    return old, new


def drop(url: str) -> None:
    admin = db.make_engine(url)
    with admin.begin() as conn:
        for schema in (OLD_SCHEMA, NEW_SCHEMA):
            conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
    admin.dispose()


def _entry(n: int) -> dict[str, Any]:
    """An entry as an audited read of a request writes it."""
    return {"at": datetime.now(UTC), "actor_id": 7, "authority_id": 3,
            "action": "request.read", "object_type": "request",
            "object_id": f"8b1c6f0e-4a57-4f7e-9a61-{n:012d}",
            "detail": {"view": "officer", "fields": ["title", "data"]}}


# The entry every pgbench commit writes (instant fixed, so the canonical text around the id
# is known to the script; ids and chain hashes still differ row by row).
FIXED = {"at": datetime(2026, 12, 2, 4, 0, tzinfo=UTC), "actor_id": 7, "authority_id": 3,
         "action": "request.read", "object_type": "request",
         "object_id": "8b1c6f0e-4a57-4f7e-9a61-000000000001",
         "detail": {"view": "officer", "fields": ["title", "data"]}}


def _sql_literal(value: object) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, int):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


def pgbench_script(statement: str) -> str:
    """The statement with FIXED's values written in: one line, as pgbench reads it."""
    params = audit._driver_params(FIXED)
    params["at"] = params["at"].isoformat()
    sql = re.sub(r"%\((\w+)\)s", lambda m: _sql_literal(params[m.group(1)]), statement)
    return " ".join(sql.split()) + ";\n"


def pgbench(url: str, statement: str, connections: int, seconds: float) -> float:
    """Commits per second, pgbench reporting (connections set up before the clock)."""
    parts = make_url(url)
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as script:
        script.write(pgbench_script(statement))
    env = {**os.environ, "PGOPTIONS": parts.query.get("options", ""),
           "PGPASSWORD": parts.password or ""}
    try:
        done = subprocess.run(
            ["pgbench", "-n", "-M", "prepared", "-f", script.name, "-c", str(connections),
             "-j", str(min(connections, 4)), "-T", str(int(seconds)),
             "-h", parts.host or "127.0.0.1", "-p", str(parts.port or 5432),
             "-U", parts.username or "postgres", parts.database or "postgres"],
            capture_output=True, text=True, env=env, timeout=seconds + 120, check=True)
    finally:
        os.unlink(script.name)
    found = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", done.stdout)
    if found is None:
        raise RuntimeError(f"pgbench said: {done.stdout}{done.stderr}")
    return float(found.group(1))


def _client(url: str, statement: str, seconds: float, ready: Any, results: Any) -> None:
    with psycopg.connect(url) as conn:
        done = 0
        ready.wait()  # every client connected before the clock starts
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            params = audit._driver_params(_entry(done))
            with conn.pipeline(), conn.cursor() as cursor:
                cursor.execute(statement, params)
                conn.commit()
            done += 1
        results.put(done)


def commits_per_second(url: str, statement: str, connections: int, seconds: float) -> float:
    ctx = mp.get_context("fork")
    results = ctx.Queue()
    ready = ctx.Barrier(connections)
    procs = [ctx.Process(target=_client, args=(url, statement, seconds, ready, results))
             for _ in range(connections)]
    for p in procs:
        p.start()
    total = sum(results.get() for _ in procs)
    for p in procs:
        p.join()
    return total / seconds


def _sealer(url: str, stop: Any, log: Any, every: float) -> None:
    """The worker's sealer (cli/worker.py seal_audit), logging (time, chain length)."""
    engine = db.make_engine(url)
    sessions = db.session_factory(engine)
    while not stop.is_set():
        began = time.perf_counter()
        audit.seal_all(sessions)
        took = time.perf_counter() - began
        with sessions() as s:
            length = s.scalar(text("SELECT last_id FROM audit_head WHERE id = 1"))
        log.put((time.time(), length, took))
        stop.wait(every)
    engine.dispose()


def wait_sealed(url: str) -> float:
    began = time.monotonic()
    with psycopg.connect(driver_url(url), autocommit=True) as conn:
        while conn.execute("SELECT count(*) FROM audit_events WHERE hash IS NULL"
                           ).fetchone()[0]:  # type: ignore[index]
            time.sleep(0.2)
    return time.monotonic() - began


def seal_delays(new_url: str, marks: list[tuple[float, int, float]],
                since: float) -> list[float]:
    """For every entry written with a real instant after `since`, from its `at` to the first
    time the chain's head was seen past it."""
    marks.sort()
    with psycopg.connect(driver_url(new_url)) as conn:
        rows = conn.execute("SELECT id, at FROM audit_events WHERE action <> %s "
                            "AND at > to_timestamp(%s) ORDER BY id",
                            (audit.GAP, since)).fetchall()
    delays = []
    i = 0
    for entry_id, at in rows:
        while i < len(marks) and marks[i][1] < entry_id:
            i += 1
        if i == len(marks):
            break
        delays.append(max(0.0, marks[i][0] - at.timestamp()))
    return delays


def sealer_throughput(new_url: str, backlog: int) -> tuple[float, int]:
    """Rows linked per second by one sealer catching up on `backlog` entries."""
    url = driver_url(new_url)
    with psycopg.connect(url) as conn:
        for start in range(0, backlog, 1000):
            with conn.pipeline(), conn.cursor() as cursor:
                cursor.executemany(NEW_APPEND, [audit._driver_params(_entry(n))
                                                for n in range(start, start + 1000)])
            conn.commit()
    engine = db.make_engine(new_url)
    began = time.perf_counter()
    linked = audit.seal_all(db.session_factory(engine))
    took = time.perf_counter() - began
    engine.dispose()
    return linked / took, linked


def verify(url: str) -> audit.VerifyResult:
    engine = db.make_engine(url)
    with db.session_factory(engine)() as s:
        result = audit.verify(s)
    engine.dispose()
    return result


def verify_old(url: str) -> str:
    """The chain the BEFORE runs wrote, recomputed (the schema at 0018 has no entry_hash)."""
    with psycopg.connect(driver_url(url)) as conn, conn.cursor(
            row_factory=psycopg.rows.dict_row) as cursor:
        cursor.execute("SELECT * FROM audit_events ORDER BY id")
        prev, n = audit.GENESIS, 0
        for row in cursor:
            n += 1
            if row["id"] != n or audit.chain_hash(prev, row) != row["hash"]:
                return f"broken at row {n}"
            prev = row["hash"]
    return f"intact, {n:,} rows chained"


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load {one:.2f} {five:.2f} {fifteen:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", default=DEFAULT_URL)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--backlog", type=int, default=50_000)
    parser.add_argument("--seal-every", type=float, default=1.0,
                        help="the sealer's interval (MLA_AUDIT_SEAL_EVERY_SECONDS)")
    args = parser.parse_args()
    if shutil.which("pgbench") is None:
        raise SystemExit("pgbench not found: it comes with PostgreSQL (Debian: postgresql-15)")
    old_url, new_url = prepare(args.database)
    try:
        run(args, old_url, new_url)
    finally:
        drop(args.database)


def run(args: argparse.Namespace, old_url: str, new_url: str) -> None:
    ctx = mp.get_context("fork")
    stop, log = ctx.Event(), ctx.Queue()
    sealer = ctx.Process(target=_sealer, args=(new_url, stop, log, args.seal_every))
    sealer.start()
    figures: dict[tuple[str, int], list[float]] = {}
    print(f"{os.cpu_count()} cores; pgbench, {args.seconds:.0f} s per run, {args.rounds} "
          "rounds, BEFORE and AFTER interleaved (order alternating), the sealer running")
    print(f"{'round':>5} {'conns':>5} {'BEFORE/s':>10} {'AFTER/s':>10} {'ratio':>6}  load")
    try:
        for r in range(args.rounds):
            for n in CONNECTIONS:
                order = [("BEFORE", old_url, OLD_APPEND), ("AFTER", new_url, NEW_APPEND)]
                if r % 2:
                    order.reverse()
                got = {}
                for name, url, statement in order:
                    got[name] = pgbench(url, statement, n, args.seconds)
                    figures.setdefault((name, n), []).append(got[name])
                print(f"{r + 1:>5} {n:>5} {got['BEFORE']:>10,.0f} {got['AFTER']:>10,.0f} "
                      f"{got['AFTER'] / got['BEFORE']:>5.1f}x  {load()}", flush=True)
        # The seal delay, with the engine's statement and real instants, once the sealer has
        # caught up with the pgbench runs (their backlog is not this phase's delay).
        caught_up = wait_sealed(new_url)
        print(f"sealer caught up {caught_up:.1f} s after the last run", flush=True)
        delay_from = time.time()
        python16 = commits_per_second(driver_url(new_url), NEW_APPEND, 16, args.seconds)
        time.sleep(args.seal_every * 2 + 1)  # every entry sealed, so every one has a delay
    finally:
        stop.set()
        marks = []
        sealer.join(timeout=300)
        while not log.empty():
            marks.append(log.get())
    print()
    print("median over rounds (audited commits per second):")
    for n in CONNECTIONS:
        before = statistics.median(figures[("BEFORE", n)])
        after = statistics.median(figures[("AFTER", n)])
        print(f"  {n:>2} connections: AFTER/BEFORE {after / before:.1f}x "
              f"(BEFORE {before:,.0f}/s, AFTER {after:,.0f}/s)")
    before16 = statistics.median(figures[("BEFORE", 16)])
    after16 = statistics.median(figures[("AFTER", 16)])
    print(f"target AFTER(16) >= 3x BEFORE(16): {after16 / before16:.1f}x, "
          f"{'met' if after16 >= 3 * before16 else 'NOT MET'}")
    delays = seal_delays(new_url, marks, delay_from)
    if len(delays) > 1:
        cuts = statistics.quantiles(delays, n=100)
        rounds = [took for at, _, took in marks if at >= delay_from]
        print(f"seal delay (commit to sealed), {len(delays):,} entries from 16 Python clients "
              f"({python16:,.0f} commits/s), sealer every {args.seal_every:.1f} s: "
              f"p50 {cuts[49]:.2f} s, p99 {cuts[98]:.2f} s, max {max(delays):.2f} s; "
              f"a sealing round took {statistics.median(rounds):.2f} s (median), "
              f"{max(rounds):.2f} s at most  {load()}")
    rate, linked = sealer_throughput(new_url, args.backlog)
    print(f"sealer throughput: {rate:,.0f} rows/s ({linked:,} rows of backlog, one sealer)  "
          f"{load()}")
    print(f"verify BEFORE: {verify_old(old_url)}")
    result = verify(new_url)
    print(f"verify AFTER: {'intact' if result.ok else result.reason}, "
          f"{result.sealed:,} sealed, {result.unsealed:,} not sealed, {result.gaps} gaps")


if __name__ == "__main__":
    main()
