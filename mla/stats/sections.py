"""The sections of the report other than stage durations: caseload (by kind, state, legal
basis; volume), counterparts, deadlines met and overdue, refusal grounds."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    ColumnElement,
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
    union_all,
)
from sqlalchemy.orm import Session

import workflows
from mla.models import (
    Authority,
    Deadline,
    HistoryEvent,
    Request,
    StatsMonth,
    StatsRefusalGround,
    StatsVolume,
)
from mla.stats.query import Query, Table, fetch_rows

# -- caseload -------------------------------------------------------------------------------

def _is_open(workflow: Any, state: Any) -> ColumnElement[int]:
    """1 when (workflow, state) is not a final state; evaluated on groups, not rows."""
    finals = [and_(workflow == name, state.in_(workflows.get(name).final_states()))
              for name in workflows.names()]
    return case((or_(*finals), 0), else_=1)


def caseload_tables(session: Session, q: Query) -> list[Table]:
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
    for tag, a, b, count, open_count in fetch_rows(session, union_all(*parts)):
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


def counterpart_tables(session: Session, q: Query) -> list[Table]:
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
    rows = sorted(fetch_rows(session, stmt), key=lambda r: (-r[1], r[0]))
    return [
        Table("by_counterpart", "Requests by counterpart country (requesting: that country "
              "asked; requested: it was asked)",
              ("country", "requests", "open", "requesting", "requested"), tuple(rows)),
    ]


# -- deadlines ------------------------------------------------------------------------------

def deadline_tables(session: Session, q: Query) -> list[Table]:
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
    rows = fetch_rows(session, union_all(*parts))
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

def refusal_tables(session: Session, q: Query) -> list[Table]:
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
    rows = fetch_rows(session, stmt)
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
