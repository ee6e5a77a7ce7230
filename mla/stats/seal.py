"""Sealed months: the statistics of a UTC month that stop changing once it is over, summed
once, so that the instance-wide report reads a few rows per month instead of every request.

What a month holds never changes after it ends, because every instant the figures measure is
written with the change that makes it, at the time of that change (mla/requests/lifecycle.py), and
never rewritten: a stage's end (the first transmission, acknowledgement, execution), a
deadline's closing, a refusal, a filing. So a month is sealed only a margin after its end
(`MARGIN`: a transaction still open across midnight, a server clock behind), and then holds:
stage durations in hundredths of a day (`stats_stage_centidays`, and per whole day in
`stats_stage_days`), deadlines closed and met and the number of refusals (`stats_months`),
refusal grounds (`stats_refusal_grounds`) and requests filed by kind (`stats_volume`).

Sealed months are contiguous, from the first month anything was filed, and each is written in
one transaction with all its rows, so a worker killed while sealing leaves the month unsealed.
Figures of requests states ("open", "by state", "overdue now") are never sealed: they are the
state at the time of asking. `unseal` drops the months from one on (after data was imported
with earlier instants, say), and the next `seal_due` seals them again from the rows.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    String,
    case,
    cast,
    delete,
    func,
    insert,
    literal,
    select,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from mla import db
from mla.clock import utcnow
from mla.models import (
    Deadline,
    HistoryEvent,
    Request,
    StatsMonth,
    StatsRefusalGround,
    StatsStageCentidays,
    StatsStageDays,
    StatsVolume,
)
from mla.stats.durations import MILESTONE_COLUMN, STAGES
from mla.stats.periods import centidays, floordiv, month_label, month_start, next_month
from mla.stats.query import sealed_span
from mla.stats.sections import grounds_of

MARGIN = timedelta(days=1)
TABLES = (StatsStageCentidays, StatsStageDays, StatsRefusalGround, StatsVolume)


def due(session: Session, now: datetime | None = None) -> list[str]:
    """The months over (by `MARGIN`) and not sealed yet, oldest first."""
    now = now or utcnow()
    done = sealed_span(session)
    if done is not None:
        month = next_month(done[1])
    else:
        first = session.scalar(select(func.min(Request.created_at)))
        if first is None:
            return []
        month = month_label(first)
    current = month_label(now - MARGIN)
    months = []
    while month < current:
        months.append(month)
        month = next_month(month)
    return months


def seal_month(session: Session, month: str, now: datetime | None = None) -> bool:
    """Writes the month's summaries in the session's transaction; False when it is sealed
    already (by another worker, say). The caller commits."""
    db.lock_for_write(session, StatsMonth.__table__)
    if session.get(StatsMonth, month) is not None:
        return False
    start, end = month_start(month), month_start(next_month(month))
    dialect = session.get_bind().dialect.name

    def within(column: Any) -> list[ColumnElement[bool]]:
        return [column >= start, column < end]

    closed, met = session.execute(
        select(func.count(), func.coalesce(func.sum(case((Deadline.closed_at <= Deadline.due_at,
                                                           1), else_=0)), 0))
        .where(*within(Deadline.closed_at))).one()
    refused = select(HistoryEvent.data).where(HistoryEvent.event == "refuse",
                                              *within(HistoryEvent.at)).cte("refused")
    refusals = session.scalar(select(func.count()).select_from(refused))
    # The month's row first: a second worker sealing the same month waits here, then fails
    # on the key instead of computing it all again.
    session.add(StatsMonth(month=month, sealed_at=now or utcnow(), deadlines_closed=closed,
                           deadlines_met=int(met), refusals=refusals))
    session.flush()

    for stage, first, last in STAGES:
        begin = getattr(Request, MILESTONE_COLUMN[first])
        finish = getattr(Request, MILESTONE_COLUMN[last])
        centi = centidays(dialect, begin, finish)
        session.execute(insert(StatsStageCentidays).from_select(
            ["stage", "month", "centidays", "n"],
            select(literal(stage, String), literal(month, String), centi, func.count())
            .where(begin.is_not(None), *within(finish)).group_by(centi)))
    c = StatsStageCentidays
    day = floordiv(c.centidays, 100)
    session.execute(insert(StatsStageDays).from_select(
        ["stage", "month", "day", "n"],
        select(c.stage, c.month, day, func.sum(c.n)).where(c.month == month)
        .group_by(c.stage, c.month, day)))

    grounds = grounds_of(dialect, refused.c.data)
    ground = cast(grounds.c.value, String)
    session.execute(insert(StatsRefusalGround).from_select(
        ["month", "ground", "n"],
        select(literal(month, String), ground, func.count()).select_from(refused)
        .join(grounds, literal(True)).group_by(ground)))
    session.execute(insert(StatsVolume).from_select(
        ["month", "kind", "n"],
        select(literal(month, String), Request.kind, cast(func.count(), Integer))
        .where(*within(Request.created_at)).group_by(Request.kind)))
    return True


def seal_due(sessions: sessionmaker[Session], now: datetime | None = None,
             stop: threading.Event | None = None) -> list[str]:
    """Seals the months due, each in its own transaction, oldest first; stops at a month
    another process is sealing (it continues from there), or when `stop` is set. Returns the
    months sealed here."""
    with sessions() as session:
        months = due(session, now)
    done = []
    for month in months:
        if stop is not None and stop.is_set():
            break
        try:
            with sessions() as session, session.begin():
                if not seal_month(session, month, now):
                    break
        except IntegrityError:
            break
        done.append(month)
    return done


def unseal(session: Session, month: str) -> int:
    """Drops the summaries of `month` and every later month; returns how many months. The
    caller commits."""
    for table in TABLES:
        session.execute(delete(table).where(table.month >= month))
    return session.execute(delete(StatsMonth).where(StatsMonth.month >= month)).rowcount
