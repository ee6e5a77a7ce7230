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
- Stages, from each request's history: filing (event `file`) -> transmission (first
  `transmit`) -> acknowledgement (first `acknowledge`) -> execution (first `execute` or
  `complete`). A stage counts for a request when both of its events happened.
- Durations are whole seconds between the two instants, each truncated to the second.
  Median and p90 are nearest-rank percentiles: the p-th percentile of n sorted durations is
  the one at rank ceil(p * n / 100), so always an observed duration. PostgreSQL computes it
  with `percentile_disc` (that definition), SQLite, which has no percentile aggregate, with
  window functions (row_number and count over the sorted durations); the tests hold both to
  the same exact figures.
- Counterpart: for an authority, the other party of each request; in the instance-wide view,
  every party (so a request counts under both of its countries in `by_counterpart`) and, for
  overdue deadlines, the authority whose clock it is.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    ARRAY,
    BigInteger,
    ColumnElement,
    Float,
    Integer,
    Select,
    String,
    and_,
    case,
    cast,
    func,
    literal,
    literal_column,
    or_,
    select,
    true,
    tuple_,
    type_coerce,
    union_all,
)
from sqlalchemy.orm import Session

import workflows
from mla import access
from mla.clock import utcnow
from mla.errors import FieldProblem, InvalidInput, NotFound
from mla.models import Authority, Deadline, HistoryEvent, Request, User

PERIODS = ("month", "quarter")
INSTANCE_ROLE = "admin"

# The first instant of each event (or of either event) in a request's history.
MILESTONES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("filed", ("file",)),
    ("transmitted", ("transmit",)),
    ("acknowledged", ("acknowledge",)),
    ("executed", ("execute", "complete")),
)
MILESTONE_EVENTS = tuple(e for _, events in MILESTONES for e in events)
# (stage, the milestone it starts at, the milestone it ends at)
STAGES: tuple[tuple[str, str, str], ...] = (
    ("filing_to_transmission", "filed", "transmitted"),
    ("transmission_to_acknowledgement", "transmitted", "acknowledged"),
    ("acknowledgement_to_execution", "acknowledged", "executed"),
)
DAY = 86400


@dataclass(frozen=True)
class Table:
    """One statistics table: what the API returns as JSON and exports as CSV."""

    name: str
    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]

    def records(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]

    def to_csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(self.columns)
        writer.writerows(["" if c is None else c for c in row] for row in self.rows)
        return out.getvalue()


@dataclass(frozen=True)
class Scope:
    """Whose requests the figures cover: one authority's, or (authority_id None) all."""

    authority_id: int | None
    label: str

    @property
    def instance_wide(self) -> bool:
        return self.authority_id is None


@dataclass(frozen=True)
class Report:
    scope: Scope
    since: datetime | None
    until: datetime | None
    period: str
    generated_at: datetime
    tables: dict[str, Table] = field(default_factory=dict)


def scope_for(user: User | None) -> Scope:
    """None is the operator at the console, who holds the database anyway."""
    if user is None or user.role == INSTANCE_ROLE:
        return Scope(None, "all authorities on this instance")
    return Scope(user.authority_id, user.authority.code)


def as_instant(value: datetime | date | None) -> datetime | None:
    """Dates mean midnight UTC; naive datetimes are taken as UTC."""
    if value is None:
        return None
    if not isinstance(value, datetime):
        return datetime.combine(value, time(), UTC)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@dataclass(frozen=True)
class _Query:
    """What every statement needs: scope, window, period and the SQL dialect."""

    user: User | None
    scope: Scope
    since: datetime | None
    until: datetime | None
    period: str
    dialect: str
    now: datetime

    def in_window(self, column: Any) -> list[ColumnElement[bool]]:
        conditions = []
        if self.since is not None:
            conditions.append(column >= self.since)
        if self.until is not None:
            conditions.append(column < self.until)
        return conditions

    def party(self) -> list[ColumnElement[bool]]:
        if self.user is None or self.scope.instance_wide:
            return []
        return [access.is_party(self.user)]

    def period_key(self, column: Any) -> ColumnElement[Any]:
        """What to group an instant by for its UTC month or quarter: cheap per row on
        PostgreSQL (a truncated instant, formatted once per group by `period_label`)."""
        if self.dialect == "postgresql":
            return func.date_trunc(literal_column(f"'{self.period}'"), column)
        if self.period == "month":
            return func.strftime(literal_column("'%Y-%m'"), column, type_=String)
        month = cast(func.strftime(literal_column("'%m'"), column), Integer)
        return (func.strftime(literal_column("'%Y'"), column, type_=String)
                + literal_column("'-Q'", String)
                + cast((month + 2) // 3, String))

    def period_label(self, key: Any) -> ColumnElement[str]:
        """The text of a period key: "2026-03" or "2026-Q1"."""
        if self.dialect == "postgresql":
            pattern = "'YYYY-MM'" if self.period == "month" else "'YYYY-\"Q\"Q'"
            return func.to_char(key, literal_column(pattern), type_=String)
        return cast(key, String)

    def seconds(self, column: Any) -> ColumnElement[int]:
        """Seconds since the epoch, truncated (SQLite's own parsing rounds to milliseconds, so
        the fraction is cut off the text first)."""
        if self.dialect == "postgresql":
            return cast(func.floor(func.date_part(literal_column("'epoch'"), column)),
                        BigInteger)
        return cast(func.strftime(literal_column("'%s'"),
                                  func.substr(column, literal_column("1"),
                                              literal_column("19"))), BigInteger)


def _query(session: Session, user: User | None, since: datetime | date | None,
           until: datetime | date | None, period: str, now: datetime | None) -> _Query:
    problems = []
    if period not in PERIODS:
        problems.append(FieldProblem("period", f"one of: {', '.join(PERIODS)}"))
    instants: dict[str, datetime | None] = {}
    for name, value in (("since", since), ("until", until)):
        try:
            instants[name] = as_instant(value)
        except OverflowError:  # e.g. 0001-01-01T00:00+01:00, before the first UTC instant
            problems.append(FieldProblem(name, "out of range"))
            instants[name] = None
    start, end = instants["since"], instants["until"]
    if start is not None and end is not None and start >= end:
        problems.append(FieldProblem("until", "must be after since"))
    if problems:
        raise InvalidInput("the statistics cannot be computed as asked", problems)
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        # One report sorts up to a few million durations: in memory, and without JIT
        # compilation, which costs more than it saves on statements run once.
        # Periods are UTC months and quarters: truncate instants in UTC.
        for name, value in (("work_mem", "256MB"), ("jit", "off"), ("TimeZone", "UTC")):
            session.execute(select(func.set_config(name, value, True)))
    return _Query(user, scope_for(user), start, end, period, dialect, now or utcnow())


# -- caseload -------------------------------------------------------------------------------

def _is_open(workflow: Any, state: Any) -> ColumnElement[int]:
    """1 when (workflow, state) is not a final state; evaluated on groups, not rows."""
    finals = [and_(workflow == name, state.in_(workflows.get(name).final_states()))
              for name in workflows.names()]
    return case((or_(*finals), 0), else_=1)


def _caseload(session: Session, q: _Query) -> list[Table]:
    """One pass over the requests into cells (kind, workflow, state, basis, period), the four
    tables rolled up from the cells in the same statement; one more pass for counterparts."""
    where = [*q.party(), *q.in_window(Request.created_at)]
    period = q.period_key(Request.created_at).label("period")
    cells = (select(Request.kind, Request.workflow, Request.state, Request.legal_basis, period,
                    func.count().label("n"))
             .where(*where)
             .group_by(Request.kind, Request.workflow, Request.state, Request.legal_basis,
                       period)
             .cte("cells"))
    n = func.sum(cells.c.n)
    opened = func.sum(cells.c.n * _is_open(cells.c.workflow, cells.c.state))
    none = literal(None, String)

    def rollup(tag: str, first: Any, second: Any, count_open: bool = True) -> Select[Any]:
        keys = [k for k in (first, second) if k is not None]
        return (select(literal(tag).label("tag"), first.label("a"),
                       (second if second is not None else none).label("b"), n.label("n"),
                       (opened if count_open else literal(None, Integer)).label("open"))
                .group_by(*keys))

    stmt = union_all(
        rollup("by_kind", cells.c.kind, None),
        rollup("by_state", cells.c.workflow, cells.c.state),
        rollup("by_legal_basis", cells.c.legal_basis, None),
        rollup("volume", q.period_label(cells.c.period), cells.c.kind, count_open=False),
    )
    found: dict[str, list[tuple[Any, ...]]] = {}
    for tag, a, b, count, open_count in _rows(session, stmt):
        found.setdefault(tag, []).append((a, b, count, open_count))
    for rows in found.values():
        rows.sort(key=lambda r: (r[0], r[1] or ""))
    return [
        Table("by_kind", "Requests by kind", ("kind", "requests", "open"),
              tuple((a, c, o) for a, _, c, o in found.get("by_kind", []))),
        Table("by_state", "Requests by state", ("workflow", "state", "requests"),
              tuple((a, b, c) for a, b, c, _ in found.get("by_state", []))),
        _by_counterpart(session, q, where),
        Table("by_legal_basis", "Requests by legal basis", ("legal_basis", "requests", "open"),
              tuple((a, c, o) for a, _, c, o in found.get("by_legal_basis", []))),
        Table("volume", f"Requests filed per {q.period}, by kind", ("period", "kind", "requests"),
              tuple((a, b, c) for a, b, c, _ in found.get("volume", []))),
    ]


def _by_counterpart(session: Session, q: _Query, where: list[Any]) -> Table:
    """Requests per counterpart country, split by the role that country plays in them."""
    if q.scope.instance_wide:
        # Every party is somebody's counterpart: each request counts once per party.
        pairs = (select(Request.requesting_authority_id.label("requesting"),
                        Request.requested_authority_id.label("requested"),
                        Request.workflow, Request.state, func.count().label("n"))
                 .where(*where)
                 .group_by(Request.requesting_authority_id, Request.requested_authority_id,
                           Request.workflow, Request.state).cte("pairs"))
        parties = union_all(
            select(pairs.c.requesting.label("authority_id"), literal("requesting").label("role"),
                   pairs.c.workflow, pairs.c.state, pairs.c.n),
            select(pairs.c.requested.label("authority_id"), literal("requested").label("role"),
                   pairs.c.workflow, pairs.c.state, pairs.c.n),
        ).subquery()
    else:
        me = q.scope.authority_id
        counterpart = case((Request.requested_authority_id == me,
                            Request.requesting_authority_id),
                           else_=Request.requested_authority_id)
        role = case((Request.requested_authority_id == me, "requesting"), else_="requested")
        parties = (select(counterpart.label("authority_id"), role.label("role"),
                          Request.workflow, Request.state, func.count().label("n"))
                   .where(*where)
                   .group_by(counterpart, role, Request.workflow, Request.state).subquery())
    n = func.sum(parties.c.n)
    stmt = (select(Authority.country, n,
                   func.sum(parties.c.n * _is_open(parties.c.workflow, parties.c.state)),
                   func.sum(case((parties.c.role == "requesting", parties.c.n), else_=0)),
                   func.sum(case((parties.c.role == "requested", parties.c.n), else_=0)))
            .join(Authority, Authority.id == parties.c.authority_id)
            .group_by(Authority.country).order_by(n.desc(), Authority.country))
    return Table("by_counterpart", "Requests by counterpart country (requesting: that country "
                 "asked; requested: it was asked)",
                 ("country", "requests", "open", "requesting", "requested"), _rows(session, stmt))


# -- stage durations ------------------------------------------------------------------------

def _durations(session: Session, q: _Query) -> list[Table]:
    firsts = [func.min(HistoryEvent.at).filter(HistoryEvent.event.in_(events)).label(name)
              for name, events in MILESTONES]
    # The WHERE matches the partial index ix_history_events_milestones word for word.
    milestones = select(HistoryEvent.request_id, *firsts).where(
        HistoryEvent.event.in_(MILESTONE_EVENTS))
    if not q.scope.instance_wide:
        visible = select(Request.id).where(*q.party())
        milestones = milestones.where(HistoryEvent.request_id.in_(visible))
    m = milestones.group_by(HistoryEvent.request_id).cte("milestones")
    parts = []
    for number, (_, first, last) in enumerate(STAGES):
        start, end = m.c[first], m.c[last]
        parts.append(select(literal(number, Integer).label("stage"),
                            q.period_key(end).label("period"),
                            (q.seconds(end) - q.seconds(start)).label("seconds"))
                     .where(start.is_not(None), end.is_not(None), *q.in_window(end)))
    durations = union_all(*parts).cte("durations")
    if q.dialect == "postgresql":
        rows = _percentiles_pg(session, q, durations)
    else:
        rows = _percentiles_windowed(session, q, durations)
    names = [s[0] for s in STAGES]
    total = {stage: r for period, stage, *r in rows if period is None}
    stage_rows = []
    for number, name in enumerate(names):
        n, median, p90 = total.get(number, (0, None, None))
        stage_rows.append((name, n, _days(median), _days(p90)))
    period_rows = sorted(((period, names[stage], n, _days(median), _days(p90))
                          for period, stage, n, median, p90 in rows if period is not None),
                         key=lambda r: (r[0], names.index(r[1])))
    columns = ("stage", "requests", "median_days", "p90_days")
    return [
        Table("stage_durations", "Time per stage (days; nearest-rank median and 90th "
              "percentile)", columns, tuple(stage_rows)),
        Table("stage_durations_by_period", f"Time per stage, per {q.period} the stage ended",
              ("period", *columns), tuple(period_rows)),
    ]


def _percentiles_pg(session: Session, q: _Query, durations: Any) -> list[tuple[Any, ...]]:
    """(period or None, stage, n, median, p90): `percentile_disc` is the nearest rank, one
    sort per group for both fractions."""
    d = durations.c
    fractions = func.percentile_disc(
        literal_column("ARRAY[0.5, 0.9]", ARRAY(Float))).within_group(d.seconds)
    grouped = (select(d.stage, d.period, func.grouping(d.period).label("overall"),
                      func.count().label("n"), fractions.label("p"))
               .group_by(func.grouping_sets(tuple_(d.stage), tuple_(d.stage, d.period)))
               .subquery())
    g = grouped.c
    label = case((g.overall == 1, literal(None, String)), else_=q.period_label(g.period))
    p = type_coerce(g.p, ARRAY(BigInteger))
    stmt = select(label, g.stage, g.n, p[1], p[2])
    return [tuple(r) for r in _rows(session, stmt)]


def _percentiles_windowed(session: Session, q: _Query,
                          durations: Any) -> list[tuple[Any, ...]]:
    """The same nearest ranks with window functions (SQLite has no percentile aggregate):
    the p-th percentile of n is the duration at row ceil(p * n / 100)."""
    d = durations.c
    out: list[tuple[Any, ...]] = []
    for keys in ([d.stage], [d.stage, d.period]):
        ranked = select(*keys, d.seconds,
                        func.row_number().over(partition_by=keys, order_by=d.seconds)
                        .label("rn"),
                        func.count().over(partition_by=keys).label("n")).subquery()
        r = ranked.c

        def at_rank(percent: int, r: Any = r) -> Any:
            rank = (literal(percent, Integer) * r.n + literal(99, Integer)) \
                // literal(100, Integer)
            return func.min(case((r.rn == rank, r.seconds)))

        group = [r[k.name] for k in keys]
        period = q.period_label(r.period) if len(keys) == 2 else literal(None, String)
        stmt = select(period, r.stage, func.max(r.n), at_rank(50), at_rank(90)).group_by(*group)
        out.extend(tuple(row) for row in _rows(session, stmt))
    return out


def _days(seconds: int | None) -> float | None:
    return None if seconds is None else round(seconds / DAY, 2)


# -- deadlines ------------------------------------------------------------------------------

def _deadlines(session: Session, q: _Query) -> list[Table]:
    """One pass: closed deadlines per period (met or not) and, as the period-less group, the
    running ones (overdue or not)."""
    running = Deadline.closed_at.is_(None)
    overdue = and_(running, Deadline.suspended_at.is_(None), Deadline.due_at < q.now)
    met = case((Deadline.closed_at <= Deadline.due_at, 1), else_=0)
    period = q.period_key(Deadline.closed_at).label("period")
    counted = (select(period, func.count().label("n"), func.sum(met).label("met"),
                      func.count().filter(overdue).label("overdue"))
               .select_from(Deadline)
               .where(or_(running, and_(Deadline.closed_at.is_not(None),
                                        *q.in_window(Deadline.closed_at))))
               .group_by(period))
    if not q.scope.instance_wide:
        counted = counted.join(Request, and_(Request.id == Deadline.request_id, *q.party()))
    c = counted.subquery()
    by_period, now = [], (0, 0)
    for label, n, met_count, overdue_count in _rows(session, select(
            q.period_label(c.c.period), c.c.n, c.c.met, c.c.overdue).order_by(c.c.period)):
        if label is None:
            now = (n, overdue_count)
        else:
            by_period.append((label, n, met_count, _share(met_count, n)))
    total_closed = sum(r[1] for r in by_period)
    total_met = sum(r[2] for r in by_period)
    return [
        Table("deadlines", "Deadlines: met among those closed, overdue among those running now",
              ("closed", "met", "met_share", "running", "overdue_now"),
              ((total_closed, total_met, _share(total_met, total_closed), *now),)),
        Table("deadlines_by_period", f"Deadlines closed per {q.period}, and met",
              ("period", "closed", "met", "met_share"), tuple(by_period)),
        _overdue_by_counterpart(session, q, overdue),
    ]


def _overdue_by_counterpart(session: Session, q: _Query, overdue: Any) -> Table:
    """Overdue deadlines per counterpart country, split by whose clock runs late."""
    if q.scope.instance_wide:
        # The instance has no side of its own: a deadline's counterpart is whoever is late.
        per_authority = (select(Deadline.acting_authority_id.label("authority_id"),
                                func.count().label("overdue"),
                                func.count().label("theirs"))
                         .where(overdue).group_by(Deadline.acting_authority_id).subquery())
    else:
        me = q.scope.authority_id
        counterpart = case((Request.requested_authority_id == me,
                            Request.requesting_authority_id),
                           else_=Request.requested_authority_id)
        per_authority = (select(counterpart.label("authority_id"),
                                func.count().label("overdue"),
                                func.sum(case((Deadline.acting_authority_id == me, 0),
                                              else_=1)).label("theirs"))
                         .select_from(Deadline)
                         .join(Request, and_(Request.id == Deadline.request_id, *q.party()))
                         .where(overdue).group_by(counterpart).subquery())
    total = func.sum(per_authority.c.overdue)
    stmt = (select(Authority.country, total, func.sum(per_authority.c.theirs))
            .join(Authority, Authority.id == per_authority.c.authority_id)
            .group_by(Authority.country).order_by(total.desc(), Authority.country))
    rows = tuple((c, n, t, n - t) for c, n, t in _rows(session, stmt))
    return Table("overdue_by_counterpart", "Deadlines overdue now, by counterpart country "
                 "(counterpart_clock: theirs to meet; own_clock: ours)",
                 ("country", "overdue", "counterpart_clock", "own_clock"), rows)


def _share(part: int, whole: int) -> float | None:
    return None if not whole else round(part / whole, 4)


# -- refusals -------------------------------------------------------------------------------

def _refusals(session: Session, q: _Query) -> list[Table]:
    """Grounds per period, their ranking and the number of refusals, in one statement."""
    # event = 'refuse' matches the partial index ix_history_events_refusals; the refusals are
    # read once, then expanded into their grounds.
    refused = select(HistoryEvent.at, HistoryEvent.data).where(
        HistoryEvent.event == "refuse", *q.in_window(HistoryEvent.at))
    if not q.scope.instance_wide:
        refused = refused.join(Request, and_(Request.id == HistoryEvent.request_id,
                                             *q.party()))
    r = refused.cte("refused")
    if q.dialect == "postgresql":
        grounds = func.json_array_elements_text(r.c.data["grounds"]) \
            .table_valued("value").alias("ground")
    else:
        grounds = func.json_each(r.c.data, literal_column("'$.grounds'")) \
            .table_valued("value").alias("ground")
    ground = cast(grounds.c.value, String).label("ground")
    period = q.period_key(r.c.at).label("period")
    per_period = (select(period, ground, func.count().label("n"))
                  .select_from(r).join(grounds, true()).group_by(period, ground)
                  .cte("per_period"))
    p = per_period.c
    n = func.sum(p.n)
    no_text, no_int = literal(None, String), literal(None, Integer)
    stmt = union_all(
        select(literal("rank").label("tag"), func.rank().over(order_by=n.desc()).label("rank"),
               p.ground, n.label("n"), no_text.label("period")).group_by(p.ground),
        select(literal("period"), no_int, p.ground, p.n, q.period_label(p.period)),
        select(literal("total"), no_int, no_text, func.count(), no_text).select_from(r),
    )
    rows = _rows(session, stmt)
    refusals = next(row[3] for row in rows if row[0] == "total")
    ranking = sorted(((rank, g, c, _share(c, refusals)) for tag, rank, g, c, _ in rows
                      if tag == "rank"), key=lambda r: (r[0], r[1]))
    by_period = sorted(((period, g, c) for tag, _, g, c, period in rows if tag == "period"),
                       key=lambda r: (r[0], -r[2], r[1]))
    return [
        Table("refusal_grounds", "Refusal grounds, most frequent first (share of refusals; a "
              "refusal may state several grounds)", ("rank", "ground", "refusals", "share"),
              tuple(ranking)),
        Table("refusals_by_period", f"Refusal grounds per {q.period}",
              ("period", "ground", "refusals"), tuple(by_period)),
    ]


def _rows(session: Session, stmt: Any) -> tuple[tuple[Any, ...], ...]:
    return tuple(tuple(_plain(c) for c in row) for row in session.execute(stmt).all())


def _plain(value: Any) -> Any:
    """PostgreSQL sums integers as numeric; tables hold plain ints."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value

# -- public ---------------------------------------------------------------------------------

SECTIONS: dict[str, Callable[[Session, _Query], list[Table]]] = {
    "caseload": _caseload,
    "durations": _durations,
    "deadlines": _deadlines,
    "refusals": _refusals,
}
TABLES: dict[str, str] = {
    "by_kind": "caseload", "by_state": "caseload", "by_counterpart": "caseload",
    "by_legal_basis": "caseload", "volume": "caseload",
    "stage_durations": "durations", "stage_durations_by_period": "durations",
    "deadlines": "deadlines", "deadlines_by_period": "deadlines",
    "overdue_by_counterpart": "deadlines",
    "refusal_grounds": "refusals", "refusals_by_period": "refusals",
}


def _section(name: str) -> Callable[..., list[Table]]:
    def compute(session: Session, user: User | None, *, since: datetime | date | None = None,
                until: datetime | date | None = None, period: str = "month",
                now: datetime | None = None) -> list[Table]:
        return SECTIONS[name](session, _query(session, user, since, until, period, now))

    compute.__name__ = name
    return compute


caseload = _section("caseload")
caseload.__doc__ = "Counts by kind, state, counterpart country and legal basis; volume."
durations = _section("durations")
durations.__doc__ = "Median and p90 time per stage, overall and per period."
deadlines = _section("deadlines")
deadlines.__doc__ = "Share of deadlines met, running and overdue now, overdue by counterpart."
refusals = _section("refusals")
refusals.__doc__ = "Refusal grounds ranked, overall and per period."


def report(session: Session, user: User | None, *, since: datetime | date | None = None,
           until: datetime | date | None = None, period: str = "month",
           now: datetime | None = None, sections: Sequence[str] = tuple(SECTIONS)) -> Report:
    """Every table (or those of `sections`) for what `user` may see."""
    q = _query(session, user, since, until, period, now)
    tables: dict[str, Table] = {}
    for name in sections:
        for t in SECTIONS[name](session, q):
            tables[t.name] = t
    return Report(q.scope, q.since, q.until, q.period, q.now, tables)


def table(session: Session, user: User | None, name: str, *, since: datetime | date | None = None,
          until: datetime | date | None = None, period: str = "month",
          now: datetime | None = None) -> Table:
    """One table by name (computing only its section)."""
    if name not in TABLES:
        raise NotFound(f"no statistics table '{name}'; known: {', '.join(TABLES)}")
    result = report(session, user, since=since, until=until, period=period, now=now,
                    sections=(TABLES[name],))
    return result.tables[name]
