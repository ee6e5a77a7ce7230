"""Caseload and timeliness statistics: where requests wait, which counterparts are slow, why
requests are refused (UNSC res. 2322 (2016) para 19 asks for gaps and trends in cooperation).

Every figure is an SQL aggregate; no request row is loaded into Python. Scope: a user sees the
requests their authority is a party to (`access.is_party`); the admin role sees every request
on this instance. Definitions (README, "Statistics"):

- Periods are UTC calendar months ("2026-03") or quarters ("2026-Q1"). Each figure falls in
  the period of the instant it measures, and `since` (inclusive) / `until` (exclusive) select
  on that same instant: filing for counts and volume, the end of a stage for its duration,
  the closing of a deadline for "met", the refusal for its grounds. "Open" and "overdue now"
  are the state at the time of asking.
- Stages: filing (event `file`) -> transmission (first `transmit`) -> acknowledgement (first
  `acknowledge`) -> execution (first `execute` or `complete`). A stage counts for a request
  when both of its events happened. The request row keeps these instants (`created_at` is
  the filing; the others are written with the state change, mla/requests/lifecycle.py), so stages
  are measured without reading the history.
- Durations are whole seconds between the two instants, each truncated to the second, given
  in days to the hundredth (rounded half up). Median and p90 are nearest-rank percentiles:
  the p-th percentile of n sorted durations is the one at rank ceil(p * n / 100), so always
  an observed duration. PostgreSQL computes it with `percentile_disc` (that definition),
  SQLite, which has no percentile aggregate, with window functions (row_number and count
  over the sorted durations); the tests hold both to the same exact figures.
- The instance-wide view reads the months sealed by the worker (mla/stats/seal.py) from
  their summaries and the rest from the rows, with the same figures: percentiles then come
  from histograms in hundredths of a day (rounding keeps the order, so the nearest rank of
  the rounded durations is the rounded nearest rank).
- Counterpart: for an authority, the other party of each request; in the instance-wide view,
  every party (so a request counts under both of its countries in `by_counterpart`) and, for
  overdue deadlines, the authority whose clock it is.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from mla.errors import NotFound
from mla.models import User
from mla.stats.durations import duration_tables
from mla.stats.periods import month_label, month_start
from mla.stats.query import Query, Report, Table, apply_settings, prepare
from mla.stats.returns import return_tables
from mla.stats.sections import caseload_tables, counterpart_tables, deadline_tables, refusal_tables

SECTIONS: dict[str, Callable[[Session, Query], list[Table]]] = {
    "caseload": caseload_tables,
    "counterparts": counterpart_tables,
    "durations": duration_tables,
    "deadlines": deadline_tables,
    "refusals": refusal_tables,
    "returns": return_tables,
}
TABLES: dict[str, str] = {
    "by_kind": "caseload", "by_state": "caseload", "by_counterpart": "counterparts",
    "by_legal_basis": "caseload", "volume": "caseload",
    "stage_durations": "durations", "stage_durations_by_period": "durations",
    "deadlines": "deadlines", "deadlines_by_period": "deadlines",
    "overdue_by_counterpart": "deadlines",
    "refusal_grounds": "refusals", "refusals_by_period": "refusals",
    "return_reasons": "returns", "returns_by_period": "returns",
}


def _section(name: str) -> Callable[..., list[Table]]:
    def compute(session: Session, user: User | None, *, since: datetime | date | None = None,
                until: datetime | date | None = None, period: str = "month",
                now: datetime | None = None) -> list[Table]:
        return SECTIONS[name](session, prepare(session, user, since, until, period, now))

    compute.__name__ = name
    return compute


caseload = _section("caseload")
caseload.__doc__ = "Counts by kind, state and legal basis; volume."
counterparts = _section("counterparts")
counterparts.__doc__ = "Counts by counterpart country."
durations = _section("durations")
durations.__doc__ = "Median and p90 time per stage, overall and per period."
deadlines = _section("deadlines")
deadlines.__doc__ = "Share of deadlines met, running and overdue now, overdue by counterpart."
refusals = _section("refusals")
refusals.__doc__ = "Refusal grounds ranked, overall and per period."
returns = _section("returns")
returns.__doc__ = "Information requests and refusals by structured return reason."


def report(session: Session, user: User | None, *, since: datetime | date | None = None,
           until: datetime | date | None = None, period: str = "month",
           now: datetime | None = None, sections: Sequence[str] = tuple(SECTIONS),
           own: bool = False) -> Report:
    """Every table (or those of `sections`) for what `user` may see (an admin: the whole
    instance, or with `own` the admin's authority)."""
    q = prepare(session, user, since, until, period, now, own)
    tables: dict[str, Table] = {}
    for computed in _computed(session, q, sections):
        for t in computed:
            tables[t.name] = t
    sealed = None
    if q.sealed is not None:
        last = month_label(month_start(q.sealed[1]) - timedelta(days=1))
        sealed = (q.sealed[0], last)
    return Report(q.scope, q.since, q.until, q.period, q.now, tables, sealed)


def _computed(session: Session, q: Query, sections: Sequence[str]) -> list[list[Table]]:
    """Each section's tables. On PostgreSQL the sections run side by side, each on a
    connection of its own that reads the snapshot of the caller's transaction: one
    consistent picture in about the time of the slowest section instead of their sum (what
    the caller wrote and has not committed is not in it: statistics read committed data)."""
    bind = session.get_bind()
    if q.dialect != "postgresql" or len(sections) < 2 or not isinstance(bind, Engine) \
            or not _take(_side_connections, len(sections)):
        return [SECTIONS[name](session, q) for name in sections]
    try:
        return _side_by_side(session, bind, q, sections)
    finally:
        for _ in sections:
            _side_connections.release()


# Connections a process opens for reports beside its sessions' own: reports running at once
# beyond this wait for none, they run their sections one after the other instead, so the
# connection pool (sized for the API's threads) is never drained by statistics.
_side_connections = threading.BoundedSemaphore(len(SECTIONS))


def _take(semaphore: threading.BoundedSemaphore, count: int) -> bool:
    """All `count` permits or none, without waiting."""
    taken = 0
    while taken < count and semaphore.acquire(blocking=False):
        taken += 1
    if taken < count:
        for _ in range(taken):
            semaphore.release()
        return False
    return True


def _side_by_side(session: Session, bind: Engine, q: Query,
                  sections: Sequence[str]) -> list[list[Table]]:
    snapshot = session.scalar(text("SELECT pg_export_snapshot()"))

    def run(name: str) -> list[Table]:
        with bind.connect() as conn:
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                # Before any query of the transaction. SET takes no bind parameter; the
                # snapshot id comes from PostgreSQL itself.
                conn.execute(text(f"SET TRANSACTION SNAPSHOT '{snapshot}'"))
                conn.execute(text("SET TRANSACTION READ ONLY"))
                apply_settings(conn)
                with Session(bind=conn) as own:
                    return SECTIONS[name](own, q)

    with ThreadPoolExecutor(max_workers=len(sections),
                            thread_name_prefix="mla-stats") as pool:
        return list(pool.map(run, sections))


def table(session: Session, user: User | None, name: str, *, since: datetime | date | None = None,
          until: datetime | date | None = None, period: str = "month",
          now: datetime | None = None, own: bool = False) -> Table:
    """One table by name (computing only its section)."""
    if name not in TABLES:
        raise NotFound(f"no statistics table '{name}'; known: {', '.join(TABLES)}")
    result = report(session, user, since=since, until=until, period=period, now=now,
                    sections=(TABLES[name],), own=own)
    return result.tables[name]
