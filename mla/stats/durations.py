"""Stage durations: the milestones a request's stages run between, and the median and p90
time per stage, overall and per period (nearest ranks, exact on either dialect and from the
sealed months' histograms)."""

from __future__ import annotations

from collections.abc import Sequence
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
    type_coerce,
    union_all,
)
from sqlalchemy.orm import Session

from mla.models import Request, StatsMonth, StatsStageCentidays, StatsStageDays
from mla.stats.periods import CENTIDAY, centidays, epoch_seconds, floordiv
from mla.stats.query import Query, Table, fetch_rows

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


def duration_tables(session: Session, q: Query) -> list[Table]:
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


def _percentiles_histogram(session: Session, q: Query,
                           stages: Sequence[Select[Any]]) -> Sequence[tuple[Any, ...]]:
    """(stage, period or None, n, percent, centidays) from the histograms of the sealed months
    (mla/stats/seal.py) and of the durations of `stages` (the rest). Found in two steps, so
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
    return fetch_rows(session, stmt)


def _percentiles_pg(session: Session, q: Query,
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
    rows = fetch_rows(session, select(g.stage, label, g.n, p[1], p[2]))
    return [(stage, period, n, percent, value) for stage, period, n, *values in rows
            for percent, value in zip((50, 90), values, strict=True)]


def _percentiles_windowed(session: Session, q: Query,
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
                   for stage, period, n, *values in fetch_rows(session, stmt)
                   for percent, value in zip((50, 90), values, strict=True))
    return out
