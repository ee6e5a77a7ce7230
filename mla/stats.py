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
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
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
    tuple_,
    type_coerce,
    union_all,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql.selectable import CTE, Subquery

import workflows
from mla.clock import utcnow
from mla.errors import FieldProblem, InvalidInput, NotFound
from mla.models import Authority, Deadline, HistoryEvent, Request, User

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

    def grouping_sets(self, source: Subquery, sets: Sequence[Sequence[str]],
                      measures: dict[str, Any], name: str) -> CTE:
        """`measures` per group of each of `sets` (names of `source` columns), in one pass over
        `source` on PostgreSQL (GROUPING SETS), one pass per set elsewhere. Columns: every key
        (NULL where its set does not group by it), `grouping` (the bit mask `grouping_mask`
        gives for the set) and the measures. A CTE: computed once however often it is read."""
        keys = list(dict.fromkeys(k for keys in sets for k in keys))
        labelled = [m.label(name) for name, m in measures.items()]
        if self.dialect == "postgresql":
            columns = [source.c[k] for k in keys]
            return (select(*columns, func.grouping(*columns).label("grouping"), *labelled)
                    .group_by(func.grouping_sets(*(tuple_(*(source.c[k] for k in group))
                                                   for group in sets)))
                    .cte(name))
        return union_all(*(
            select(*(source.c[k] if k in group else literal(None).label(k) for k in keys),
                   literal(grouping_mask(keys, group), Integer).label("grouping"), *labelled)
            .group_by(*(source.c[k] for k in group))
            for group in sets)).cte(name)

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
        _settings(session)
    return _Query(user, scope_for(user), start, end, period, dialect, now or utcnow())


def _settings(runner: Session | Connection) -> None:
    """For this transaction (PostgreSQL): one report sorts up to a few million durations: in
    memory, and without JIT compilation, which costs more than it saves on statements run
    once. Periods are UTC months and quarters: truncate instants in UTC."""
    for name, value in (("work_mem", "256MB"), ("jit", "off"), ("TimeZone", "UTC")):
        runner.execute(select(func.set_config(name, value, True)))


def grouping_mask(keys: Sequence[str], group: Sequence[str]) -> int:
    """What GROUPING(keys...) answers for rows of `group`: a bit per key, first key highest,
    set where the group does not group by the key."""
    return sum(1 << (len(keys) - 1 - i) for i, k in enumerate(keys) if k not in group)


# -- caseload -------------------------------------------------------------------------------

def _is_open(workflow: Any, state: Any) -> ColumnElement[int]:
    """1 when (workflow, state) is not a final state; evaluated on groups, not rows."""
    finals = [and_(workflow == name, state.in_(workflows.get(name).final_states()))
              for name in workflows.names()]
    return case((or_(*finals), 0), else_=1)


CELL_KEYS = ("kind", "workflow", "state", "legal_basis", "period")
PAIR_KEYS = ("first", "second", "workflow", "state")


def _caseload(session: Session, q: _Query) -> list[Table]:
    """One pass over the requests into two sets of cells: (kind, workflow, state, basis,
    period) and (the parties, workflow, state); every table rolled up from the cells in the
    same statement."""
    if q.scope.instance_wide:
        # Every party is somebody's counterpart: the pair is (requesting, requested).
        first, second = Request.requesting_authority_id, Request.requested_authority_id
    else:
        # The counterpart, and 1 when it is the requesting party.
        me = q.scope.authority_id
        first = case((Request.requested_authority_id == me, Request.requesting_authority_id),
                     else_=Request.requested_authority_id)
        second = case((Request.requested_authority_id == me, 1), else_=0)
    visible = q.visible(Request.kind, Request.workflow, Request.state, Request.legal_basis,
                        q.period_key(Request.created_at).label("period"),
                        first.label("first"), second.label("second"),
                        where=q.in_window(Request.created_at))
    cells = q.grouping_sets(visible, (CELL_KEYS, PAIR_KEYS), {"n": func.count()}, "cells")
    c = cells.c
    is_cell = c.grouping == grouping_mask((*CELL_KEYS, "first", "second"), CELL_KEYS)
    is_pair = c.grouping == grouping_mask((*CELL_KEYS, "first", "second"), PAIR_KEYS)
    n = func.sum(c.n)
    opened = func.sum(c.n * _is_open(c.workflow, c.state))
    none_text, none_int = literal(None, String), literal(None, Integer)

    def rollup(tag: str, a: Any, b: Any = None, count_open: bool = True) -> Select[Any]:
        keys = [k for k in (a, b) if k is not None]
        return (select(literal(tag).label("tag"), cast(a, String).label("a"),
                       (cast(b, String) if b is not None else none_text).label("b"),
                       n.label("n"), (opened if count_open else none_int).label("open"),
                       none_int.label("requesting"), none_int.label("requested"))
                .where(is_cell).group_by(*keys))

    if q.scope.instance_wide:
        parties = union_all(
            select(c.first.label("authority_id"), c.n, c.workflow, c.state,
                   c.n.label("requesting"), literal(0, Integer).label("requested"))
            .where(is_pair),
            select(c.second, c.n, c.workflow, c.state, literal(0, Integer), c.n)
            .where(is_pair),
        ).subquery("parties")
    else:
        parties = select(c.first.label("authority_id"), c.n, c.workflow, c.state,
                         (c.n * c.second).label("requesting"),
                         (c.n * (1 - c.second)).label("requested")).where(is_pair) \
            .subquery("parties")
    p = parties.c
    by_country = (select(literal("by_counterpart"), Authority.country, none_text,
                         func.sum(p.n), func.sum(p.n * _is_open(p.workflow, p.state)),
                         func.sum(p.requesting), func.sum(p.requested))
                  .join(Authority, Authority.id == p.authority_id)
                  .group_by(Authority.country))
    stmt = union_all(
        rollup("by_kind", c.kind),
        rollup("by_state", c.workflow, c.state),
        rollup("by_legal_basis", c.legal_basis),
        rollup("volume", q.period_label(c.period), c.kind, count_open=False),
        by_country,
    )
    found: dict[str, list[tuple[Any, ...]]] = {}
    for tag, *row in _rows(session, stmt):
        found.setdefault(tag, []).append(tuple(row))
    for tag, rows in found.items():
        if tag == "by_counterpart":
            rows.sort(key=lambda r: (-r[2], r[0]))
        else:
            rows.sort(key=lambda r: (r[0], r[1] or ""))
    return [
        Table("by_kind", "Requests by kind", ("kind", "requests", "open"),
              tuple((a, c, o) for a, _, c, o, *_ in found.get("by_kind", []))),
        Table("by_state", "Requests by state", ("workflow", "state", "requests"),
              tuple((a, b, c) for a, b, c, *_ in found.get("by_state", []))),
        Table("by_counterpart", "Requests by counterpart country (requesting: that country "
              "asked; requested: it was asked)",
              ("country", "requests", "open", "requesting", "requested"),
              tuple((a, c, o, rq, rd) for a, _, c, o, rq, rd in found.get("by_counterpart", []))),
        Table("by_legal_basis", "Requests by legal basis", ("legal_basis", "requests", "open"),
              tuple((a, c, o) for a, _, c, o, *_ in found.get("by_legal_basis", []))),
        Table("volume", f"Requests filed per {q.period}, by kind", ("period", "kind", "requests"),
              tuple((a, b, c) for a, b, c, *_ in found.get("volume", []))),
    ]


# -- stage durations ------------------------------------------------------------------------

def _durations(session: Session, q: _Query) -> list[Table]:
    # Every stage needs a transmission or an acknowledgement: other requests are skipped.
    columns = [getattr(Request, MILESTONE_COLUMN[name]).label(name) for name, *_ in MILESTONES]
    m = q.visible(*columns, where=[or_(Request.transmitted_at.is_not(None),
                                       Request.acknowledged_at.is_not(None))]).alias("m")
    # One scan per stage: cheaper on PostgreSQL than unnesting each row into its stages.
    parts = []
    for number, (_, first, last) in enumerate(STAGES):
        start, end = m.c[first], m.c[last]
        parts.append(select(literal_column(str(number), Integer).label("stage"),
                            q.period_key(end).label("period"),
                            (q.seconds(end) - q.seconds(start)).label("seconds"))
                     .where(start.is_not(None), end.is_not(None), *q.in_window(end)))
    if q.dialect == "postgresql":
        rows = _percentiles_pg(session, q, parts)
    else:
        rows = _percentiles_windowed(session, q, union_all(*parts).cte("durations"))
    names = [s[0] for s in STAGES]
    total = {stage: r for period, stage, *r in rows if period is None}
    stage_rows = []
    for number, name in enumerate(names):
        n, median, p90 = total.get(number, (0, None, None))
        stage_rows.append((name, n, _days(median), _days(p90)))
    period_rows = sorted(((period, names[stage], n, _days(median), _days(p90))
                          for period, stage, n, median, p90 in rows if period is not None),
                         key=lambda r: (r[0], names.index(r[1])))
    columns_out = ("stage", "requests", "median_days", "p90_days")
    return [
        Table("stage_durations", "Time per stage (days; nearest-rank median and 90th "
              "percentile)", columns_out, tuple(stage_rows)),
        Table("stage_durations_by_period", f"Time per stage, per {q.period} the stage ended",
              ("period", *columns_out), tuple(period_rows)),
    ]


def _percentiles_pg(session: Session, q: _Query,
                    stages: Sequence[Select[Any]]) -> list[tuple[Any, ...]]:
    """(period or None, stage, n, median, p90): `percentile_disc` is the nearest rank, one
    sort per group for both fractions. One aggregate per stage (ROLLUP: per period, then
    all): PostgreSQL can run the stages side by side in parallel workers (Parallel Append),
    each sorting only its own durations."""
    branches = []
    for number, stage in enumerate(stages):
        d = stage.subquery(f"stage_{number}").c
        fractions = func.percentile_disc(
            literal_column("ARRAY[0.5, 0.9]", ARRAY(Float))).within_group(d.seconds)
        branches.append(select(literal_column(str(number), Integer).label("stage"), d.period,
                               func.grouping(d.period).label("overall"),
                               func.count().label("n"), fractions.label("p"))
                        .group_by(func.rollup(d.period)))
    g = union_all(*branches).subquery("grouped").c
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
    """Two passes in one statement: every deadline in scope, for closed ones per period (met
    or not) and running ones as the period-less group (overdue or not); and the overdue ones
    alone (the running-deadlines index), per counterpart. An authority's deadlines carry its
    requests' parties, so neither pass joins the requests."""
    running = Deadline.closed_at.is_(None)
    overdue = and_(running, Deadline.suspended_at.is_(None), Deadline.due_at < q.now)
    window = [or_(running, and_(*q.in_window(Deadline.closed_at)))] \
        if q.since is not None or q.until is not None else []
    columns = (Deadline.closed_at, Deadline.due_at, Deadline.suspended_at)
    if q.scope.instance_wide:
        counted: Any = select(*columns).where(*window)
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
    stmt = union_all(
        select(literal("period").label("tag"), q.period_label(per_period.c.period)
               .label("label"), per_period.c.n, per_period.c.met, per_period.c.overdue),
        select(literal("overdue"), Authority.country, total, func.sum(lt.theirs),
               literal(None, Integer))
        .join(Authority, Authority.id == lt.counterpart).group_by(Authority.country),
    )
    rows = _rows(session, stmt)
    by_period, now = [], (0, 0)
    for _, label, n, met_count, overdue_count in sorted(
            (r for r in rows if r[0] == "period"), key=lambda r: (r[1] is None, r[1] or "")):
        if label is None:
            now = (n, overdue_count)
        else:
            by_period.append((label, n, met_count, _share(met_count, n)))
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


def _share(part: int, whole: int) -> float | None:
    return None if not whole else round(part / whole, 4)


# -- refusals -------------------------------------------------------------------------------

def _refusals(session: Session, q: _Query) -> list[Table]:
    """Grounds per period, their ranking and the number of refusals, in one statement."""
    # event = 'refuse' matches the partial index ix_history_events_refusals, which carries
    # the request and the grounds too; the refusals are read once, then expanded into their
    # grounds.
    refused = select(HistoryEvent.at, HistoryEvent.data).where(
        HistoryEvent.event == "refuse", *q.in_window(HistoryEvent.at))
    if not q.scope.instance_wide:
        visible = q.visible(Request.id)
        refused = refused.join(visible, visible.c.id == HistoryEvent.request_id)
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
    for computed in _computed(session, q, sections):
        for t in computed:
            tables[t.name] = t
    return Report(q.scope, q.since, q.until, q.period, q.now, tables)


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
_side_connections = threading.BoundedSemaphore(4)


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
