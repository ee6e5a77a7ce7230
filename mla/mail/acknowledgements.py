"""The requested authority acknowledged a request sent by e-mail: recorded by the officer
(the `acknowledge` transition, or by hand where the workflow has none) or read from its
reply, which names our message (In-Reply-To / References) or the reference tag in its
subject."""

from __future__ import annotations

import re
import uuid
from email import message_from_bytes, policy
from email.message import EmailMessage

from sqlalchemy import select
from sqlalchemy.orm import Session

from mla import audit
from mla.clock import utcnow
from mla.errors import Conflict, FieldProblem, InvalidInput, NotFound
from mla.models import MailMessage, Request, User

_OUR_ID = re.compile(r"<([0-9a-f-]{36})@mla\.invalid>", re.IGNORECASE)
_TAG = re.compile(r"\[MLA ([A-Za-z0-9/._-]{1,40})\]")


def record(session: Session, request: Request, actor: User | None, *, via: str,
           quiet: bool = False) -> MailMessage | None:
    """Marks the request's e-mails acknowledged; the latest one is returned. `quiet`: no
    error when there is nothing to acknowledge (the transition fires for peers too)."""
    waiting = list(session.scalars(select(MailMessage).where(
        MailMessage.request_id == request.id, MailMessage.acknowledged_at.is_(None))
        .order_by(MailMessage.id)))
    if not waiting:
        if quiet:
            return None
        raise Conflict(f"{request.reference} has no e-mail waiting for an acknowledgement")
    now = utcnow()
    for message in waiting:
        message.acknowledged_at = now
        message.acknowledged_by_id = actor.id if actor else None
        message.acknowledged_via = via
    session.flush()
    audit.record(session, "mail.acknowledged", actor=actor, object_type="request",
                 object_id=str(request.id), authority_id=request.requesting_authority_id,
                 detail={"via": via, "message_ids": [str(m.message_id) for m in waiting]})
    return waiting[-1]


def from_reply(session: Session, raw: bytes, actor: User | None) -> MailMessage:
    """Records the acknowledgement a reply carries: the message it answers by its
    In-Reply-To/References, else the request by the reference tag in its subject."""
    email = message_from_bytes(raw, policy=policy.default)
    assert isinstance(email, EmailMessage)
    ids = _OUR_ID.findall(f"{email.get('In-Reply-To', '')} {email.get('References', '')}")
    message = None
    if ids:
        message = session.scalar(select(MailMessage).where(
            MailMessage.message_id.in_([uuid.UUID(i) for i in ids])).limit(1))
    if message is None:
        tag = _TAG.search(str(email.get("Subject", "")))
        if tag is None:
            raise InvalidInput("the reply names none of our messages",
                               [FieldProblem("file", "a reply keeping In-Reply-To or the "
                                                     "[MLA reference] of the subject")])
        message = session.scalar(select(MailMessage).join(Request)
                                 .where(Request.reference == tag.group(1))
                                 .order_by(MailMessage.id.desc()).limit(1))
    if message is None:
        raise NotFound("the reply answers no request sent by e-mail from this instance")
    request = session.get_one(Request, message.request_id)
    if message.acknowledged_at is not None:
        return message
    result = record(session, request, actor, via="reply")
    assert result is not None
    return result
