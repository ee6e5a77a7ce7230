"""Why requests come back: requests for further information and refusals by their
structured `return_reason` (incomplete for the requested State's law, sent to an authority
that is not competent, not in a language it accepts; mla/profiles/model.py), the ones that
state none counted as `not_stated`. Practitioners' reports (Eurojust, EJN) name these three
first; counting them shows which counterparts' requirements we keep missing.

Read from the history rows (an event falls in the period of its instant), also for sealed
months: sealing keeps no summary of these and deletes no history.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from mla.models import HistoryEvent, Request
from mla.profiles.model import RETURN_REASONS
from mla.stats.query import Query, Table, fetch_rows

EVENTS = ("request_info", "refuse")
NOT_STATED = "not_stated"


def return_tables(session: Session, q: Query) -> list[Table]:
    """Returns by reason (information requested, refused) and per period, in one pass."""
    raw = HistoryEvent.data["return_reason"].as_string()
    reason = case((raw.in_(tuple(RETURN_REASONS)), raw), else_=NOT_STATED)
    events = select(HistoryEvent.at, HistoryEvent.event, reason.label("reason")).where(
        HistoryEvent.event.in_(EVENTS), *q.in_window(HistoryEvent.at))
    if not q.scope.instance_wide:
        visible = q.visible(Request.id)
        events = events.join(visible, visible.c.id == HistoryEvent.request_id)
    e = events.subquery("returned").c
    key: Any = q.period_key(e.at)
    stmt = select(q.period_label(key).label("period"), e.event, e.reason,
                  func.count().label("n")).group_by(key, e.event, e.reason)
    rows = fetch_rows(session, stmt)
    totals: dict[str, list[int]] = {r: [0, 0] for r in (*RETURN_REASONS, NOT_STATED)}
    per_period: dict[tuple[str, str], int] = {}
    for period, event, why, n in rows:
        totals[why][EVENTS.index(event)] += n
        per_period[period, why] = per_period.get((period, why), 0) + n
    labels = {**RETURN_REASONS, NOT_STATED: "No structured reason given"}
    return [
        Table("return_reasons", "Why requests came back: information requested and refusals "
              "by structured reason", ("reason", "label", "info_requested", "refused", "total"),
              tuple((r, labels[r], info, refused, info + refused)
                    for r, (info, refused) in totals.items())),
        Table("returns_by_period", f"Requests that came back per {q.period}, by reason",
              ("period", "reason", "returns"),
              tuple((p, r, n) for (p, r), n in sorted(per_period.items()))),
    ]

