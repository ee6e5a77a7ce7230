"""What travelled between instances for one request: the messages we sent (with their
delivery state) and those we received, oldest first. Officers see from it whether a
transmission reached the other side; the worker keeps the underlying rows up to date."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from mla.models import Authority, InboxMessage, OutboxMessage, Request


@dataclass(frozen=True)
class Message:
    direction: str  # sent | received
    message_id: uuid.UUID
    kind: str  # request | status
    event: str
    counterpart: str  # the other instance's authority code
    # sent: pending, delivered, failed; received: the outcome (accepted, applied, ignored)
    status: str
    at: datetime  # written (sent) or received
    delivered_at: datetime | None = None
    attempts: int = 0
    next_attempt_at: datetime | None = None
    last_error: str | None = None


def for_request(session: Session, request: Request) -> list[Message]:
    """The caller has checked that the user may see `request`."""
    sent = [Message("sent", m.message_id, m.kind, m.event, m.receiver.code, m.status,
                    m.created_at, m.delivered_at, m.attempts,
                    m.next_attempt_at if m.status == "pending" else None, m.last_error)
            for m in session.scalars(select(OutboxMessage)
                                     .where(OutboxMessage.request_id == request.id))]
    received = [Message("received", m.message_id, m.kind, m.event, code, m.outcome,
                        m.received_at)
                for m, code in session.execute(
                    select(InboxMessage, Authority.code)
                    .join(Authority, Authority.id == InboxMessage.sender_id)
                    .where(InboxMessage.request_id == request.id))]
    return sorted(sent + received, key=lambda m: m.at)
