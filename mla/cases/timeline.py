"""A case as a timeline: every state change of its requests and the links between them,
oldest first."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from mla.cases import links, service
from mla.models import Case, HistoryEvent, Request, User


@dataclass(frozen=True)
class Entry:
    at: datetime
    request_id: uuid.UUID
    reference: str
    event: str
    to_state: str | None = None
    link_kind: str | None = None
    other_reference: str | None = None


def timeline(session: Session, case: Case, user: User) -> list[Entry]:
    requests = {r.id: r for r in service.requests_of(session, case)}
    entries = [Entry(e.at, e.request_id, requests[e.request_id].reference, e.event,
                     to_state=e.to_state)
               for e in session.scalars(select(HistoryEvent).where(
                   HistoryEvent.request_id.in_(list(requests))))]
    joined = links.links_among(session, user, list(requests))
    others = {r.id: r for r in session.scalars(select(Request).where(Request.id.in_(
        {i for link in joined for i in (link.from_request_id, link.to_request_id)}
        - set(requests))))} | requests
    for link in joined:
        entries.append(Entry(link.created_at, link.to_request_id,
                             others[link.to_request_id].reference, "linked",
                             link_kind=link.kind,
                             other_reference=others[link.from_request_id].reference))
    return sorted(entries, key=lambda e: (e.at, e.reference))
