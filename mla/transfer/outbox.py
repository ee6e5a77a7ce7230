"""Outbound messages, written by transitions. The transition that causes a message
(`transmit`, or a status change listed in `data/status_sync.yaml`) writes it to the outbox
in its own transaction (`on_transition`, a lifecycle hook); `mla worker` delivers it
(mla.transfer.delivery)."""

from __future__ import annotations

import base64
import hashlib
import uuid
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select, text
from sqlalchemy.orm import Session, undefer

import workflows
from mla import audit, logcontext, settings
from mla.clock import utcnow
from mla.errors import Conflict, FieldProblem, GuardRejected, InvalidInput, NotFound, TooLarge
from mla.models import (
    Attachment,
    Authority,
    HistoryEvent,
    InboxMessage,
    OutboxMessage,
    Peer,
    Request,
    RequestText,
)
from mla.requests import documents, lifecycle
from mla.transfer.canonical import (
    HASH_JCS,
    HASH_MEMBER,
    CanonicalizationError,
    canonical,
    content_sha256,
    iso,
)
from mla.transfer.envelope import PAYLOAD_VERSION, seal
from mla.transfer.peers import home_authority, home_authority_id, peer_for

NOTIFY_CHANNEL = "mla_transfer"
# Set in the session while the other side's status is applied (mla.transfer.inbox).
APPLYING = "mla.transfer.applying"


@cache
def sync_map() -> dict[str, dict[str, tuple[str, ...]]]:
    """data/status_sync.yaml: workflow of the recording instance -> event -> events the
    other instance applies, in order."""
    raw = yaml.safe_load((Path(__file__).parents[1] / "data" / "status_sync.yaml")
                         .read_text("utf-8"))
    result: dict[str, dict[str, tuple[str, ...]]] = {}
    for workflow, events in raw.items():
        result[workflow] = {event: (target,) if isinstance(target, str) else tuple(target)
                            for event, target in events.items()}
    return result


def _queue(session: Session, *, peer: Peer, home: Authority, request: Request, kind: str,
           event: str, thread: uuid.UUID | None, body: dict[str, Any],
           now: datetime) -> OutboxMessage:
    message_id = uuid.uuid4()
    thread = thread or message_id
    payload = {"v": PAYLOAD_VERSION, "message_id": str(message_id), "type": kind,
               "sender": home.code, "receiver": peer.authority.code, "sent_at": iso(now),
               "thread": str(thread), HASH_MEMBER: HASH_JCS, "body": body}
    try:
        digest = content_sha256(payload)
    except CanonicalizationError as exc:
        raise InvalidInput(f"{request.reference} holds a number electronic transfer cannot "
                           f"carry", [FieldProblem("data", f"{exc}; integers must lie within "
                                                   f"±(2**53 - 1)")]) from None
    message = OutboxMessage(
        message_id=message_id, receiver_id=peer.authority_id, request_id=request.id,
        thread_id=thread, kind=kind, event=event, payload=canonical(payload),
        payload_sha256=digest, envelope=seal(session, payload, peer), sealed_at=now,
        status="pending", attempts=0, next_attempt_at=now, created_at=now,
        http_request_id=logcontext.current(),
    )
    session.add(message)
    session.flush()
    if session.get_bind().dialect.name == "postgresql":
        # Wakes the delivery loop at commit (mla.wakeup).
        session.execute(text(f"NOTIFY {NOTIFY_CHANNEL}"))
    audit.record(session, "transfer.send", object_type="request", object_id=str(request.id),
                 authority_id=home.id,
                 detail={"message_id": str(message_id), "type": kind, "event": event,
                         "to": peer.authority.code, "payload_sha256": digest,
                         "attachments": [a["sha256"] for a in body.get("attachments", [])]})
    return message


def _request_body(session: Session, request: Request, state: str,
                  now: datetime) -> dict[str, Any]:
    attachments = list(session.scalars(
        select(Attachment).where(Attachment.request_id == request.id)
        .options(undefer(Attachment.content)).order_by(Attachment.uploaded_at, Attachment.id)))
    total = sum(a.size for a in attachments)
    # Attachments travel inside the envelope up to this total size.
    limit = settings.get().transfer_max_attachment_bytes
    if total > limit:
        raise TooLarge(f"the attachments of {request.reference} total {total} bytes; electronic "
                       f"transfer carries at most {limit}", limit)
    document, document_language = documents.render(session, request)
    texts = {t.language: dict(t.data) for t in session.scalars(
        select(RequestText).where(RequestText.request_id == request.id))}
    return {
        "request_id": str(request.id), "reference": request.reference, "kind": request.kind,
        "workflow": request.workflow, "state": state, "legal_basis": request.legal_basis,
        "template_version": request.template_version, "title": request.title,
        "language": request.language, "urgent": request.urgent,
        "urgency_reasons": request.urgency_reasons, "data": dict(request.data),
        "texts": texts, "transmitted_at": iso(now),
        "document": {"format": "html", "language": document_language, "content": document,
                     "sha256": hashlib.sha256(document.encode("utf-8")).hexdigest()},
        "attachments": [{"filename": a.filename, "content_type": a.content_type,
                         "size": a.size, "sha256": a.sha256,
                         "content": base64.b64encode(a.content).decode("ascii")}
                        for a in attachments],
    }


def _home_for_sending(session: Session, party: Authority) -> Authority:
    home = home_authority(session)
    if home is None:
        raise GuardRejected(f"{party.code} is reached by electronic transfer, but this instance "
                            f"has no MLA_INSTANCE_AUTHORITY to send as")
    return home


def on_transition(session: Session, request: Request,
                   result: lifecycle.TransitionResult) -> None:
    if result.event == "file" or session.info.get(APPLYING):
        # Applying the other side's status must not echo it back.
        return
    if result.event == "transmit":
        peer = peer_for(session, request.requested_authority_id)
        if peer is None:
            return
        home = _home_for_sending(session, peer.authority)
        if request.requesting_authority_id != home.id:
            raise GuardRejected(f"this instance transfers for {home.code} only")
        now = utcnow()
        _queue(session, peer=peer, home=home, request=request, kind="request",
               event="transmit", thread=None,
               body=_request_body(session, request, result.to_state, now), now=now)
        return
    targets = sync_map().get(request.workflow)
    if not targets or result.event not in targets or result.from_state is None:
        return
    step = workflows.get(request.workflow).candidates(result.event, result.from_state)[0]
    ours_is_requested = step.definition.party == "requested"
    counterpart = (request.requesting_authority_id if ours_is_requested
                   else request.requested_authority_id)
    peer = peer_for(session, counterpart)
    if peer is None:
        return
    # Only exchanges that began with a transfer are kept in step; a request registered by
    # hand from a paper original stays local.
    if ours_is_requested:
        thread = session.scalar(select(InboxMessage.message_id).where(
            InboxMessage.request_id == request.id, InboxMessage.kind == "request",
            InboxMessage.sender_id == peer.authority_id))
    else:
        thread = session.scalar(select(OutboxMessage.message_id).where(
            OutboxMessage.request_id == request.id, OutboxMessage.kind == "request",
            OutboxMessage.receiver_id == peer.authority_id))
    if thread is None:
        return
    home = _home_for_sending(session, peer.authority)
    last = session.execute(select(HistoryEvent.reason, HistoryEvent.data)
                           .where(HistoryEvent.request_id == request.id)
                           .order_by(HistoryEvent.id.desc()).limit(1)).first()
    now = utcnow()
    body: dict[str, Any] = {"workflow": request.workflow, "event": result.event,
                            "from_state": result.from_state, "state": result.to_state,
                            "reference": request.reference, "at": iso(now)}
    if last is not None:
        if last.reason:
            body["reason"] = last.reason
        grounds = (last.data or {}).get("grounds")
        if grounds:
            body["grounds"] = list(grounds)
        # When a legal trigger happened and a new surrender date: the other side's clocks
        # count from the same instants.
        for key in ("occurred_at", "agreed_date"):
            if isinstance((last.data or {}).get(key), str):
                body[key] = last.data[key]
    _queue(session, peer=peer, home=home, request=request, kind="status", event=result.event,
           thread=thread, body=body, now=now)


def retry(session: Session, message_id: uuid.UUID) -> OutboxMessage:
    """Puts a failed (or pending) message back to be delivered now."""
    message = session.scalar(select(OutboxMessage).where(OutboxMessage.message_id == message_id))
    if message is None:
        raise NotFound(f"no outbox message {message_id}")
    if message.status == "delivered":
        raise Conflict(f"message {message_id} was delivered at {iso(message.delivered_at)}"
                       if message.delivered_at else f"message {message_id} was delivered")
    message.status = "pending"
    message.next_attempt_at = utcnow()
    session.flush()
    audit.record(session, "transfer.retry", object_type="request",
                 object_id=str(message.request_id), authority_id=home_authority_id(session),
                 detail={"message_id": str(message_id), "via": "cli"})
    return message

