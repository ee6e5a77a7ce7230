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
  the filing; the others are written with the state change, mla/lifecycle.py), so stages
  are measured without reading the history.
- Durations are whole seconds between the two instants, each truncated to the second, given
  in days to the hundredth (rounded half up). Median and p90 are nearest-rank percentiles:
  the p-th percentile of n sorted durations is the one at rank ceil(p * n / 100), so always
  an observed duration. PostgreSQL computes it with `percentile_disc` (that definition),
  SQLite, which has no percentile aggregate, with window functions (row_number and count
  over the sorted durations); the tests hold both to the same exact figures.
- The instance-wide view reads the months sealed by the worker (mla/stats_seal.py) from
  their summaries and the rest from the rows, with the same figures: percentiles then come
  from histograms in hundredths of a day (rounding keeps the order, so the nearest rank of
  the rounded durations is the rounded nearest rank).
- Counterpart: for an authority, the other party of each request; in the instance-wide view,
  every party (so a request counts under both of its countries in `by_counterpart`) and, for
  overdue deadlines, the authority whose clock it is.
"""

from __future__ import annotations

import csv
import io
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    ARRAY,
    BigInteger,
    ColumnElement,
    Connection,
    Engine,
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
    text,
    true,
    type_coerce,
    union_all,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql.selectable import Subquery

import workflows
from mla.clock import utcnow
from mla.errors import FieldProblem, InvalidInput, NotFound
from mla.models import (
    Authority,
    Deadline,
    HistoryEvent,
    Request,
    StatsMonth,
    StatsRefusalGround,
    StatsStageCentidays,
    StatsStageDays,
    StatsVolume,
    User,
)

PERIODS = ("month", "quarter")
INSTANCE_ROLE = "admin"

# The first instant of each event (or of either event) in a request's history, and the
# request column that keeps it.
MILESTONES: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("filed", ("file",), "created_at"),
    ("transmitted", ("transmit",), "transmitted_at"),
    ("acknowledged", ("acknowledge",), "acknowledged_at"),
    ("executed", ("execute", "complete"), "executed_at"),
)
MILESTONE_EVENTS = tuple(e for _, events, _ in MILESTONES for e in events)
MILESTONE_COLUMN = {name: column for name, _, column in MILESTONES}
# (stage, the milestone it starts at, the milestone it ends at)
STAGES: tuple[tuple[str, str, str], ...] = (
    ("filing_to_transmission", "filed", "transmitted"),
    ("transmission_to_acknowledgement", "transmitted", "acknowledged"),
    ("acknowledgement_to_execution", "acknowledged", "executed"),
)
DAY = 86400
CENTIDAY = DAY // 100


def month_label(instant: datetime) -> str:
    instant = instant.astimezone(UTC)
    return f"{instant.year:04d}-{instant.month:02d}"


def month_start(label: str) -> datetime:
    return datetime(int(label[:4]), int(label[5:7]), 1, tzinfo=UTC)


def next_month(label: str) -> str:
    year, month = int(label[:4]), int(label[5:7])
    return f"{year + month // 12:04d}-{month % 12 + 1:02d}"


def epoch_seconds(dialect: str, column: Any) -> ColumnElement[int]:
    """Seconds since the epoch, truncated (SQLite's own parsing rounds to milliseconds, so
    the fraction is cut off the text first)."""
    if dialect == "postgresql":
        return cast(func.floor(func.date_part(literal_column("'epoch'"), column)), BigInteger)
    return cast(func.strftime(literal_column("'%s'"),
                              func.substr(column, literal_column("1"), literal_column("19"))),
                BigInteger)


def floordiv(a: Any, b: int) -> ColumnElement[int]:
    """a // b rounded down below zero too (SQL's integer division truncates toward zero)."""
    n = literal_column(str(int(b)), Integer)
    return (a - ((a % n) + n) % n) // n


def centidays(dialect: str, start: Any, end: Any) -> ColumnElement[int]:
    """The whole seconds from `start` to `end` in hundredths of a day, rounded half up: the
    precision the figures are given in. Rounding keeps the order, so the nearest-rank
    percentile of rounded durations is the rounded percentile of the durations."""
    seconds = epoch_seconds(dialect, end) - epoch_seconds(dialect, start)
    return floordiv(seconds + CENTIDAY // 2, CENTIDAY)


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
    # The first and last month (inclusive) whose figures were read from sealed summaries.
    sealed: tuple[str, str] | None = None


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
    # The months [first, last) whose figures come from their sealed summaries
    # (mla/stats_seal.py): sealed, wholly inside the window, instance-wide view only.
    sealed: tuple[str, str] | None = None

    def live(self, column: Any) -> list[ColumnElement[bool]]:
        """The instant is not in a sealed month: its figure is computed from the rows."""
        if self.sealed is None:
            return []
        first, last = (month_start(m) for m in self.sealed)
        return [or_(column < first, column >= last)]

    def sealed_months(self, column: Any) -> list[ColumnElement[bool]]:
        """Summary rows (`month` column) that stand in for the rows outside `live`."""
        assert self.sealed is not None
        return [column >= self.sealed[0], column < self.sealed[1]]

    def month_period(self, month: Any) -> ColumnElement[str]:
        """The period label of a month label ("2026-03" -> itself, or "2026-Q1")."""
        if self.period == "month":
            return cast(month, String)
        quarter = (cast(func.substr(month, 6, 2), Integer) + 2) // 3
        return func.substr(month, 1, 5) + literal_column("'Q'", String) + cast(quarter, String)

    def in_window(self, column: Any) -> list[ColumnElement[bool]]:
        conditions = []
        if self.since is not None:
            conditions.append(column >= self.since)
        if self.until is not None:
            conditions.append(column < self.until)
        return conditions

    def visible(self, *columns: Any, where: Sequence[ColumnElement[bool]] = ()) -> Subquery:
        """`columns` of the requests in scope (those `access.is_party` admits for a user).

        A party's requests are read as two disjoint ranges, those it asked and those it was
        asked but did not ask itself: each range is an index-only scan of its covering index
        (models.Request), where one OR of both needs a bitmap scan that visits the table."""
        if self.scope.instance_wide:
            return select(*columns).where(*where).subquery("visible")
        me = literal_column(str(int(self.scope.authority_id or 0)), Integer)
        return union_all(
            select(*columns).where(Request.requesting_authority_id == me, *where),
            select(*columns).where(Request.requested_authority_id == me,
                                   Request.requesting_authority_id != me, *where),
        ).subquery("visible")

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
        _settings(session)
    scope = scope_for(user)
    sealed = _sealed_range(session, start, end) if scope.instance_wide else None
    return _Query(user, scope, start, end, period, dialect, now or utcnow(), sealed)


def sealed_span(session: Session) -> tuple[str, str] | None:
    """The first and the last sealed month (mla/stats_seal.py; they are contiguous)."""
    first, last = session.execute(select(func.min(StatsMonth.month),
                                         func.max(StatsMonth.month))).one()
    return None if first is None else (first, last)


def _sealed_range(session: Session, since: datetime | None,
                  until: datetime | None) -> tuple[str, str] | None:
    """The sealed months wholly inside [since, until), as [first, last)."""
    span = sealed_span(session)
    if span is None:
        return None
    low, high = span[0], next_month(span[1])
    if since is not None:
        month = month_label(since)
        low = max(low, month if month_start(month) == since else next_month(month))
    if until is not None:
        high = min(high, month_label(until))
    return (low, high) if low < high else None


def _settings(runner: Session | Connection) -> None:
    """For this transaction (PostgreSQL): one report sorts up to a few million durations: in
    memory, and without JIT compilation, which costs more than it saves on statements run
    once. Periods are UTC months and quarters: truncate instants in UTC."""
    for name, value in (("work_mem", "256MB"), ("jit", "off"), ("TimeZone", "UTC")):
        runner.execute(select(func.set_config(name, value, True)))


# -- caseload -------------------------------------------------------------------------------

def _is_open(workflow: Any, state: Any) -> ColumnElement[int]:
    """1 when (workflow, state) is not a final state; evaluated on groups, not rows."""
    finals = [and_(workflow == name, state.in_(workflows.get(name).final_states()))
              for name in workflows.names()]
    return case((or_(*finals), 0), else_=1)


def _caseload(session: Session, q: _Query) -> list[Table]:
    """One pass over the requests into cells (kind, workflow, state, basis, period); the
    tables rolled up from the cells in the same statement."""
    # The period only where the volume is not read from sealed months: the other tables
    # need none, and truncating every instant is most of the pass's time.
    period: Any = q.period_key(Request.created_at)
    if q.sealed is not None:
        period = case((q.live(Request.created_at)[0], period), else_=None)
    v = q.visible(Request.kind, Request.workflow, Request.state, Request.legal_basis,
                  period.label("period"), where=q.in_window(Request.created_at)).c
    c = (select(v.kind, v.workflow, v.state, v.legal_basis, v.period, func.count().label("n"))
         .group_by(v.kind, v.workflow, v.state, v.legal_basis, v.period).cte("cells").c)
    n = func.sum(c.n)
    opened = func.sum(c.n * _is_open(c.workflow, c.state))
    no_text, no_int = literal(None, String), literal(None, Integer)

    def rollup(tag: str, a: Any, b: Any = None, count_open: bool = True,
               where: Sequence[ColumnElement[bool]] = ()) -> Select[Any]:
        keys = [k for k in (a, b) if k is not None]
        return (select(literal(tag).label("tag"), cast(a, String).label("a"),
                       (cast(b, String) if b is not None else no_text).label("b"),
                       n.label("n"), (opened if count_open else no_int).label("open"))
                .where(*where).group_by(*keys))

    parts = [
        rollup("by_kind", c.kind),
        rollup("by_state", c.workflow, c.state),
        rollup("by_legal_basis", c.legal_basis),
        rollup("volume", q.period_label(c.period), c.kind, count_open=False,
               where=[c.period.is_not(None)]),
    ]
    if q.sealed is not None:
        label = q.month_period(StatsVolume.month)
        parts.append(select(literal("volume"), label, StatsVolume.kind,
                            func.sum(StatsVolume.n), no_int)
                     .where(*q.sealed_months(StatsVolume.month))
                     .group_by(label, StatsVolume.kind))
    found: dict[str, list[tuple[Any, ...]]] = {}
    volume: dict[tuple[str, str], int] = {}
    for tag, a, b, count, open_count in _rows(session, union_all(*parts)):
        if tag == "volume":  # a period partly sealed comes in two rows
            volume[a, b] = volume.get((a, b), 0) + count
        else:
            found.setdefault(tag, []).append((a, b, count, open_count))
    for rows in found.values():
        rows.sort(key=lambda r: (r[0], r[1] or ""))
    return [
        Table("by_kind", "Requests by kind", ("kind", "requests", "open"),
              tuple((a, c, o) for a, _, c, o in found.get("by_kind", []))),
        Table("by_state", "Requests by state", ("workflow", "state", "requests"),
              tuple((a, b, c) for a, b, c, _ in found.get("by_state", []))),
        Table("by_legal_basis", "Requests by legal basis", ("legal_basis", "requests", "open"),
              tuple((a, c, o) for a, _, c, o in found.get("by_legal_basis", []))),
        Table("volume", f"Requests filed per {q.period}, by kind", ("period", "kind", "requests"),
              tuple((period, kind, count) for (period, kind), count in sorted(volume.items()))),
    ]


def _counterparts(session: Session, q: _Query) -> list[Table]:
    """Requests per counterpart country: one pass over the requests into cells (the parties,
    workflow, state), rolled up per country in the same statement. A section of its own, so
    that it runs beside the caseload's pass on PostgreSQL."""
    if q.scope.instance_wide:
        # Every party is somebody's counterpart: the pair is (requesting, requested).
        first, second = Request.requesting_authority_id, Request.requested_authority_id
    else:
        # The counterpart, and 1 when it is the requesting party.
        me = q.scope.authority_id
        first = case((Request.requested_authority_id == me, Request.requesting_authority_id),
                     else_=Request.requested_authority_id)
        second = case((Request.requested_authority_id == me, 1), else_=0)
    v = q.visible(Request.workflow, Request.state, first.label("first"),
                  second.label("second"), where=q.in_window(Request.created_at)).c
    c = (select(v.first, v.second, v.workflow, v.state, func.count().label("n"))
         .group_by(v.first, v.second, v.workflow, v.state).cte("pairs").c)
    if q.scope.instance_wide:
        parties = union_all(
            select(c.first.label("authority_id"), c.n, c.workflow, c.state,
                   c.n.label("requesting"), literal(0, Integer).label("requested")),
            select(c.second, c.n, c.workflow, c.state, literal(0, Integer), c.n),
        ).subquery("parties")
    else:
        parties = select(c.first.label("authority_id"), c.n, c.workflow, c.state,
                         (c.n * c.second).label("requesting"),
                         (c.n * (1 - c.second)).label("requested")).subquery("parties")
    p = parties.c
    stmt = (select(Authority.country, func.sum(p.n), func.sum(p.n * _is_open(p.workflow,
                                                                             p.state)),
                   func.sum(p.requesting), func.sum(p.requested))
            .join(Authority, Authority.id == p.authority_id).group_by(Authority.country))
    rows = sorted(_rows(session, stmt), key=lambda r: (-r[1], r[0]))
    return [
        Table("by_counterpart", "Requests by counterpart country (requesting: that country "
              "asked; requested: it was asked)",
              ("country", "requests", "open", "requesting", "requested"), tuple(rows)),
    ]


# -- stage durations ------------------------------------------------------------------------

def _durations(session: Session, q: _Query) -> list[Table]:
    """Median and p90 per stage, overall and per period, of durations in hundredths of a
    day: exact nearest ranks over the rows, or, where months are sealed, from histograms
    that add their summaries to the rest."""
    # Every stage needs a transmission or an acknowledgement: other requests are skipped.
    columns = [getattr(Request, MILESTONE_COLUMN[name]).label(name) for name, *_ in MILESTONES]
    m = q.visible(*columns, where=[or_(Request.transmitted_at.is_not(None),
                                       Request.acknowledged_at.is_not(None))]).alias("m")
    # One scan per stage: cheaper on PostgreSQL than unnesting each row into its stages
    # (and where months are sealed, a range of the index on the stage's end).
    # Durations in whole seconds, or already rounded to hundredths of a day to be added to
    # the sealed months' histograms.
    def duration(start: Any, end: Any) -> ColumnElement[int]:
        if q.sealed is not None:
            return centidays(q.dialect, start, end)
        return epoch_seconds(q.dialect, end) - epoch_seconds(q.dialect, start)

    parts = []
    for name, first, last in STAGES:
        start, end = m.c[first], m.c[last]
        parts.append(select(literal(name, String).label("stage"),
                            q.period_key(end).label("key"), duration(start, end).label("value"))
                     .where(start.is_not(None), end.is_not(None), *q.in_window(end),
                            *q.live(end)))
    if q.sealed is not None:
        rows = _percentiles_histogram(session, q, parts)
    else:
        if q.dialect == "postgresql":
            rows = _percentiles_pg(session, q, parts)
        else:
            rows = _percentiles_windowed(session, q, union_all(*parts).subquery("durations"))
        # Rounding keeps the order: the rounded nearest rank is the nearest rank rounded.
        rows = [(stage, period, n, percent, (seconds + CENTIDAY // 2) // CENTIDAY)
                for stage, period, n, percent, seconds in rows if n]
    # (stage, period or None overall) -> {"n": count, 50: median, 90: p90}
    found: dict[tuple[str, str | None], dict[str, Any]] = {}
    for stage, period, total, percent, centi in rows:
        found.setdefault((stage, period), {"n": total})[percent] = centi / 100

    def row(stage: str, period: str | None) -> tuple[Any, ...]:
        figures = found.get((stage, period), {"n": 0})
        return stage, figures["n"], figures.get(50), figures.get(90)

    names = [s[0] for s in STAGES]
    periods = sorted({period for _, period in found if period is not None})
    columns_out = ("stage", "requests", "median_days", "p90_days")
    return [
        Table("stage_durations", "Time per stage (days; nearest-rank median and 90th "
              "percentile)", columns_out, tuple(row(name, None) for name in names)),
        Table("stage_durations_by_period", f"Time per stage, per {q.period} the stage ended",
              ("period", *columns_out),
              tuple((period, *row(name, period)) for period in periods for name in names
                    if (name, period) in found)),
    ]


def _percentiles_histogram(session: Session, q: _Query,
                           stages: Sequence[Select[Any]]) -> Sequence[tuple[Any, ...]]:
    """(stage, period or None, n, percent, centidays) from the histograms of the sealed months
    (mla/stats_seal.py) and of the durations of `stages` (the rest). Found in two steps, so
    that the sealed part is read a day at a time: the day that holds the rank (from the
    whole-day counts), then the hundredth within that day."""
    d = union_all(*stages).subquery("durations").c
    counted = (select(d.stage, d.key, d.value.label("centi"), func.count().label("n"))
               .group_by(d.stage, d.key, d.value).subquery("counted").c)
    live = select(counted.stage, q.period_label(counted.key).label("period"), counted.centi,
                  floordiv(counted.centi, 100).label("day"), counted.n).cte("live")

    h = union_all(
        select(live.c.stage, live.c.period, live.c.day, live.c.n),
        select(StatsStageDays.stage, q.month_period(StatsStageDays.month), StatsStageDays.day,
               StatsStageDays.n).where(*q.sealed_months(StatsStageDays.month)),
    ).subquery("days").c
    none_text = literal(None, String)
    coarse = union_all(
        select(h.stage, h.period, h.day, func.sum(h.n).label("n"))
        .group_by(h.stage, h.period, h.day),
        select(h.stage, none_text, h.day, func.sum(h.n)).group_by(h.stage, h.day),
    ).subquery("coarse").c
    group = [coarse.stage, coarse.period]
    # PostgreSQL sums integers as numeric: the rank arithmetic below is integer arithmetic.
    cum = select(*coarse, cast(func.sum(coarse.n).over(
        partition_by=group, order_by=coarse.day, rows=(None, 0)), BigInteger).label("upto"),
        cast(func.sum(coarse.n).over(partition_by=group), BigInteger).label("total")) \
        .subquery("cum").c
    percents = union_all(select(literal(50, Integer).label("pct")),
                         select(literal(90, Integer))).subquery("pct")
    pct = percents.c
    # Nearest rank: the p-th percentile of n is the one at rank ceil(p * n / 100).
    rank = (pct.pct * cum.total + 99) // 100
    targets = (select(cum.stage, cum.period, cum.day, cum.total, pct.pct,
                      (rank - (cum.upto - cum.n)).label("r"))
               .join(percents, true()).where(cum.upto - cum.n < rank, rank <= cum.upto)
               .cte("targets"))
    t = targets.c
    # The hundredths of each target day: the rest's, and the sealed months' (an index range
    # of stats_stage_centidays per month of the target's period).
    sealed = select(StatsMonth.month).where(*q.sealed_months(StatsMonth.month)) \
        .subquery("months")
    c = StatsStageCentidays
    in_day = [c.stage == t.stage, c.month == sealed.c.month, c.centidays >= t.day * 100,
              c.centidays < t.day * 100 + 100]
    key = (t.stage, t.period, t.total, t.pct, t.r)
    months_of_target = or_(t.period.is_(None), q.month_period(sealed.c.month) == t.period)
    if q.dialect == "postgresql":
        # One index range per (target, month), whatever the estimates: a plain join may be
        # planned as a hash join that reads the whole table. OFFSET 0 keeps PostgreSQL
        # from flattening the LATERAL subquery back into such a join.
        day = select(c.centidays, c.n).where(*in_day).offset(0).lateral("in_day")
        from_sealed = select(*key, day.c.centidays, day.c.n).select_from(targets) \
            .join(sealed, months_of_target).join(day, true())
    else:
        from_sealed = select(*key, c.centidays, c.n).select_from(targets) \
            .join(sealed, months_of_target).join(c, and_(*in_day))
    f = union_all(
        select(*key, live.c.centi, live.c.n).join(live, and_(
            live.c.stage == t.stage, live.c.day == t.day,
            or_(t.period.is_(None), live.c.period == t.period))),
        from_sealed,
    ).subquery("fine").c
    by_centi = (f.stage, f.period, f.total, f.pct, f.r, f.centi)
    within = (select(*by_centi, func.sum(f.n).label("n")).group_by(*by_centi)
              .subquery("within").c)
    ranked = select(*within, cast(func.sum(within.n).over(
        partition_by=[within.stage, within.period, within.pct], order_by=within.centi,
        rows=(None, 0)), BigInteger).label("upto")).subquery("ranked").c
    stmt = select(ranked.stage, ranked.period, ranked.total, ranked.pct, ranked.centi) \
        .where(ranked.upto - ranked.n < ranked.r, ranked.r <= ranked.upto)
    return _rows(session, stmt)


def _percentiles_pg(session: Session, q: _Query,
                    stages: Sequence[Select[Any]]) -> list[tuple[Any, ...]]:
    """(stage, period or None, n, percent, duration): `percentile_disc` is the nearest
    rank, one sort per group for both fractions. One aggregate per stage (ROLLUP: per
    period, then all): PostgreSQL can run the stages side by side in parallel workers
    (Parallel Append), each sorting only its own durations."""
    branches = []
    for number, stage in enumerate(stages):
        d = stage.subquery(f"stage_{number}").c
        fractions = func.percentile_disc(
            literal_column("ARRAY[0.5, 0.9]", ARRAY(Float))).within_group(d.value)
        # Grouped by the period alone: the stage is this branch's (sorting on its text too
        # would compare strings a million times for nothing).
        branches.append(select(literal(STAGES[number][0], String).label("stage"), d.key,
                               func.grouping(d.key).label("overall"),
                               func.count().label("n"), fractions.label("p"))
                        .group_by(func.rollup(d.key)))
    g = union_all(*branches).subquery("grouped").c
    label = case((g.overall == 1, literal(None, String)), else_=q.period_label(g.key))
    p = type_coerce(g.p, ARRAY(BigInteger))
    rows = _rows(session, select(g.stage, label, g.n, p[1], p[2]))
    return [(stage, period, n, percent, value) for stage, period, n, *values in rows
            for percent, value in zip((50, 90), values, strict=True)]


def _percentiles_windowed(session: Session, q: _Query,
                          durations: Any) -> list[tuple[Any, ...]]:
    """The same nearest ranks with window functions (SQLite has no percentile aggregate):
    the p-th percentile of n is the duration at row ceil(p * n / 100)."""
    d = durations.c
    out: list[tuple[Any, ...]] = []
    for keys in ([d.stage], [d.stage, d.key]):
        ranked = select(*keys, d.value,
                        func.row_number().over(partition_by=keys, order_by=d.value)
                        .label("rn"),
                        func.count().over(partition_by=keys).label("n")).subquery()
        r = ranked.c

        def at_rank(percent: int, r: Any = r) -> Any:
            rank = (literal(percent, Integer) * r.n + literal(99, Integer)) \
                // literal(100, Integer)
            return func.min(case((r.rn == rank, r.value)))

        group = [r[k.name] for k in keys]
        period = q.period_label(r.key) if len(keys) == 2 else literal(None, String)
        stmt = select(r.stage, period, func.max(r.n), at_rank(50), at_rank(90)) \
            .group_by(*group)
        out.extend((stage, period, n, percent, value)
                   for stage, period, n, *values in _rows(session, stmt)
                   for percent, value in zip((50, 90), values, strict=True))
    return out


# -- deadlines ------------------------------------------------------------------------------

def _deadlines(session: Session, q: _Query) -> list[Table]:
    """Two passes in one statement: every deadline in scope, for closed ones per period (met
    or not) and running ones as the period-less group (overdue or not); and the overdue ones
    alone (the running-deadlines index), per counterpart. An authority's deadlines carry its
    requests' parties, so neither pass joins the requests."""
    running = Deadline.closed_at.is_(None)
    overdue = and_(running, Deadline.suspended_at.is_(None), Deadline.due_at < q.now)
    closed_here = [*q.in_window(Deadline.closed_at), *q.live(Deadline.closed_at)]
    window = [or_(running, and_(*closed_here))] if closed_here else []
    columns = (Deadline.closed_at, Deadline.due_at, Deadline.suspended_at)
    if q.scope.instance_wide:
        # Two index-only ranges: the running deadlines, and those closed in the window
        # (outside sealed months).
        counted: Any = union_all(
            select(*columns).where(running),
            select(*columns).where(Deadline.closed_at.is_not(None), *closed_here))
        # The instance has no side of its own: a deadline's counterpart is whoever is late.
        late = select(Deadline.acting_authority_id.label("counterpart"),
                      literal(1, Integer).label("theirs")).where(overdue)
    else:
        me = literal_column(str(int(q.scope.authority_id or 0)), Integer)
        # Two disjoint ranges, each an index-only scan of its party index (as `visible`).
        counted = union_all(
            select(*columns).where(Deadline.requesting_authority_id == me, *window),
            select(*columns).where(Deadline.requested_authority_id == me,
                                   Deadline.requesting_authority_id != me, *window))
        counterpart = case((Deadline.requested_authority_id == me,
                            Deadline.requesting_authority_id),
                           else_=Deadline.requested_authority_id)
        late = select(counterpart.label("counterpart"),
                      case((Deadline.acting_authority_id == me, 0), else_=1).label("theirs")) \
            .where(overdue, or_(Deadline.requesting_authority_id == me,
                                Deadline.requested_authority_id == me))
    c = counted.subquery("counted").c
    period = q.period_key(c.closed_at)
    c_overdue = and_(c.closed_at.is_(None), c.suspended_at.is_(None), c.due_at < q.now)
    per_period = (select(period.label("period"), func.count().label("n"),
                         func.sum(case((c.closed_at <= c.due_at, 1), else_=0)).label("met"),
                         func.count().filter(c_overdue).label("overdue"))
                  .group_by(period).subquery("per_period"))
    lt = late.subquery("late").c
    total = func.count()
    parts = [
        select(literal("period").label("tag"), q.period_label(per_period.c.period)
               .label("label"), per_period.c.n, per_period.c.met, per_period.c.overdue),
        select(literal("overdue"), Authority.country, total, func.sum(lt.theirs),
               literal(None, Integer))
        .join(Authority, Authority.id == lt.counterpart).group_by(Authority.country),
    ]
    if q.sealed is not None:
        label = q.month_period(StatsMonth.month)
        parts.append(select(
            literal("period"), label, func.sum(StatsMonth.deadlines_closed),
            func.sum(StatsMonth.deadlines_met), literal(0, Integer))
            .where(*q.sealed_months(StatsMonth.month)).group_by(label))
    rows = _rows(session, union_all(*parts))
    # A period partly sealed comes in two rows: its sealed months and the rest.
    closed: dict[str, list[int]] = {}
    now = (0, 0)
    for _, label, n, met_count, overdue_count in (r for r in rows if r[0] == "period"):
        if label is None:
            now = (n, overdue_count)
        else:
            sums = closed.setdefault(label, [0, 0])
            sums[0] += n
            sums[1] += met_count
    by_period = [(label, n, met_count, _share(met_count, n))
                 for label, (n, met_count) in sorted(closed.items()) if n]
    overdue_rows = sorted(((country, n, theirs, n - theirs)
                           for tag, country, n, theirs, _ in rows if tag == "overdue"),
                          key=lambda r: (-r[1], r[0]))
    total_closed = sum(r[1] for r in by_period)
    total_met = sum(r[2] for r in by_period)
    return [
        Table("deadlines", "Deadlines: met among those closed, overdue among those running now",
              ("closed", "met", "met_share", "running", "overdue_now"),
              ((total_closed, total_met, _share(total_met, total_closed), *now),)),
        Table("deadlines_by_period", f"Deadlines closed per {q.period}, and met",
              ("period", "closed", "met", "met_share"), tuple(by_period)),
        Table("overdue_by_counterpart", "Deadlines overdue now, by counterpart country "
              "(counterpart_clock: theirs to meet; own_clock: ours)",
              ("country", "overdue", "counterpart_clock", "own_clock"), tuple(overdue_rows)),
    ]


def grounds_of(dialect: str, data: Any) -> Any:
    """The grounds of a refusal's event data, as a table of `value`s to join."""
    if dialect == "postgresql":
        return func.json_array_elements_text(data["grounds"]).table_valued("value") \
            .alias("ground")
    return func.json_each(data, literal_column("'$.grounds'")).table_valued("value") \
        .alias("ground")


def _share(part: int, whole: int) -> float | None:
    return None if not whole else round(part / whole, 4)


# -- refusals -------------------------------------------------------------------------------

def _refusals(session: Session, q: _Query) -> list[Table]:
    """Grounds per period, their ranking and the number of refusals, in one statement."""
    # event = 'refuse' matches the partial index ix_history_events_refusals, which carries
    # the request and the grounds too; the refusals are read once, then expanded into their
    # grounds.
    refused = select(HistoryEvent.at, HistoryEvent.data).where(
        HistoryEvent.event == "refuse", *q.in_window(HistoryEvent.at), *q.live(HistoryEvent.at))
    if not q.scope.instance_wide:
        visible = q.visible(Request.id)
        refused = refused.join(visible, visible.c.id == HistoryEvent.request_id)
    r = refused.cte("refused")
    grounds = grounds_of(q.dialect, r.c.data)
    ground = cast(grounds.c.value, String).label("ground")
    key = q.period_key(r.c.at).label("key")
    live = (select(key, ground, func.count().label("n"))
            .select_from(r).join(grounds, true()).group_by(key, ground).subquery("live").c)
    counted = [select(q.period_label(live.key).label("period"), live.ground, live.n)]
    no_text, no_int = literal(None, String), literal(None, Integer)
    totals = [select(literal("total"), no_int, no_text, func.count(), no_text).select_from(r)]
    if q.sealed is not None:
        g = StatsRefusalGround
        counted.append(select(q.month_period(g.month), g.ground, g.n)
                       .where(*q.sealed_months(g.month)))
        totals.append(select(literal("total"), no_int, no_text,
                             func.coalesce(func.sum(StatsMonth.refusals), 0), no_text)
                      .where(*q.sealed_months(StatsMonth.month)))
    both = union_all(*counted).subquery("both").c
    per_period = (select(both.period, both.ground, func.sum(both.n).label("n"))
                  .group_by(both.period, both.ground).cte("per_period"))
    p = per_period.c
    n = func.sum(p.n)
    stmt = union_all(
        select(literal("rank").label("tag"), func.rank().over(order_by=n.desc()).label("rank"),
               p.ground, n.label("n"), no_text.label("period")).group_by(p.ground),
        select(literal("period"), no_int, p.ground, p.n, p.period),
        *totals,
    )
    rows = _rows(session, stmt)
    refusals = sum(row[3] for row in rows if row[0] == "total")
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
    "counterparts": _counterparts,
    "durations": _durations,
    "deadlines": _deadlines,
    "refusals": _refusals,
}
TABLES: dict[str, str] = {
    "by_kind": "caseload", "by_state": "caseload", "by_counterpart": "counterparts",
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
caseload.__doc__ = "Counts by kind, state and legal basis; volume."
counterparts = _section("counterparts")
counterparts.__doc__ = "Counts by counterpart country."
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
    for computed in _computed(session, q, sections):
        for t in computed:
            tables[t.name] = t
    sealed = None
    if q.sealed is not None:
        last = month_label(month_start(q.sealed[1]) - timedelta(days=1))
        sealed = (q.sealed[0], last)
    return Report(q.scope, q.since, q.until, q.period, q.now, tables, sealed)


def _computed(session: Session, q: _Query, sections: Sequence[str]) -> list[list[Table]]:
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


def _side_by_side(session: Session, bind: Engine, q: _Query,
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
                _settings(conn)
                with Session(bind=conn) as own:
                    return SECTIONS[name](own, q)

    with ThreadPoolExecutor(max_workers=len(sections),
                            thread_name_prefix="mla-stats") as pool:
        return list(pool.map(run, sections))


def table(session: Session, user: User | None, name: str, *, since: datetime | date | None = None,
          until: datetime | date | None = None, period: str = "month",
          now: datetime | None = None) -> Table:
    """One table by name (computing only its section)."""
    if name not in TABLES:
        raise NotFound(f"no statistics table '{name}'; known: {', '.join(TABLES)}")
    result = report(session, user, since=since, until=until, period=period, now=now,
                    sections=(TABLES[name],))
    return result.tables[name]
