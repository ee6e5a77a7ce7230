"""The state of play of a case: every request with where it stands, its next time limit
and the last thing that happened, as a table and as CSV."""

from __future__ import annotations

import csv
import io
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mla.cases import service
from mla.models import Case, Deadline, HistoryEvent, InboxMessage, OutboxMessage, User


@dataclass(frozen=True)
class Row:
    request_id: uuid.UUID
    reference: str
    counterpart_reference: str | None
    direction: str  # outgoing | incoming, from the case's authority's side
    counterpart: str
    kind: str
    title: str
    state: str
    next_deadline: datetime | None
    next_deadline_rule: str | None
    last_event: str | None
    last_event_at: datetime | None
    last_message: str | None
    last_message_at: datetime | None


def rows(session: Session, case: Case, user: User) -> list[Row]:
    requests = service.requests_of(session, case)
    ids = [r.id for r in requests]
    if not ids:
        return []
    due: dict[uuid.UUID, tuple[datetime, str]] = {}
    for request_id, due_at, rule in session.execute(
            select(Deadline.request_id, Deadline.due_at, Deadline.rule_id)
            .where(Deadline.request_id.in_(ids), Deadline.closed_at.is_(None),
                   Deadline.suspended_at.is_(None)).order_by(Deadline.due_at.desc())):
        due[request_id] = (due_at, rule)
    last_id = (select(func.max(HistoryEvent.id)).where(HistoryEvent.request_id.in_(ids))
               .group_by(HistoryEvent.request_id))
    events = {e.request_id: e for e in session.scalars(
        select(HistoryEvent).where(HistoryEvent.id.in_(last_id)))}
    messages: dict[uuid.UUID, tuple[str, datetime]] = {}
    for request_id, event, at in (
            *session.execute(select(OutboxMessage.request_id, OutboxMessage.event,
                                    OutboxMessage.created_at)
                             .where(OutboxMessage.request_id.in_(ids))),
            *session.execute(select(InboxMessage.request_id, InboxMessage.event,
                                    InboxMessage.received_at)
                             .where(InboxMessage.request_id.in_(ids)))):
        if request_id not in messages or at > messages[request_id][1]:
            messages[request_id] = (event, at)
    out = []
    for r in requests:
        outgoing = r.requesting_authority_id == user.authority_id
        other = r.requested_authority if outgoing else r.requesting_authority
        event = events.get(r.id)
        message = messages.get(r.id)
        out.append(Row(
            request_id=r.id, reference=r.reference,
            counterpart_reference=r.counterpart_reference,
            direction="outgoing" if outgoing else "incoming", counterpart=other.code,
            kind=r.kind, title=r.title, state=r.state,
            next_deadline=due[r.id][0] if r.id in due else None,
            next_deadline_rule=due[r.id][1] if r.id in due else None,
            last_event=event.event if event else None,
            last_event_at=event.at if event else None,
            last_message=message[0] if message else None,
            last_message_at=message[1] if message else None))
    return out


COLUMNS = ("reference", "counterpart_reference", "direction", "counterpart", "kind", "title",
           "state", "next_deadline", "next_deadline_rule", "last_event", "last_event_at",
           "last_message", "last_message_at")


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    text = str(value)
    # A spreadsheet would run a cell starting with these as a formula (CSV injection).
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def to_csv(table: list[Row]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for row in table:
        writer.writerow([_cell(getattr(row, c)) for c in COLUMNS])
    return buffer.getvalue()
