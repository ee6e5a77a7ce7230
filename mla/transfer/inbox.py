"""Inbound messages (`handle_inbound`): decrypt with any of our unretired encryption keys,
verify the signature with the sender's recorded keys, check the receiver and the time
window, store by message id (a duplicate gets the stored receipt again), create the
requested-side request or apply the status, answer with a signed receipt. Rejections are
audited, nothing else stays."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from jose import jws
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mla import audit
from mla.clock import utcnow
from mla.errors import (
    Conflict,
    FieldProblem,
    GuardRejected,
    IllegalTransition,
    InvalidInput,
    NotFound,
)
from mla.models import (
    Attachment,
    Authority,
    InboxMessage,
    OutboxMessage,
    Peer,
    Request,
    RequestText,
)
from mla.requests import attachments, filing, lifecycle
from mla.transfer.canonical import canonical, iso
from mla.transfer.envelope import RECEIPT_TYPE, Opened, open_envelope
from mla.transfer.errors import TransferRejected, reject
from mla.transfer.keys import SIG_ALG, current_key, private_key
from mla.transfer.outbox import APPLYING, sync_map
from mla.transfer.peers import home_authority, home_authority_id


def _sign_receipt(session: Session, claims: dict[str, Any]) -> str:
    key = current_key(session, "sig")
    signed: str = jws.sign(canonical(claims).encode("utf-8"), private_key(key),
                           headers={"kid": key.kid, "typ": RECEIPT_TYPE}, algorithm=SIG_ALG)
    return signed


def _text_field(body: Mapping[str, Any], name: str, problems: list[FieldProblem]) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value.strip():
        problems.append(FieldProblem(f"body.{name}", "a non-empty string is required"))
        return ""
    return value


def _accept_request(session: Session, opened: Opened, home: Authority,
                    now: datetime) -> Request:
    body = opened.payload.get("body")
    if not isinstance(body, dict):
        raise InvalidInput("the message has no body", [FieldProblem("body", "an object")])
    problems: list[FieldProblem] = []
    fields = {name: _text_field(body, name, problems)
              for name in ("reference", "kind", "legal_basis", "title", "language")}
    version = body.get("template_version")
    if not isinstance(version, int) or isinstance(version, bool):
        problems.append(FieldProblem("body.template_version", "an integer"))
    if not isinstance(body.get("data"), dict):
        problems.append(FieldProblem("body.data", "an object"))
    texts = body.get("texts") or {}
    if not isinstance(texts, dict) or not all(
            isinstance(k, str) and len(k) <= 8 and isinstance(v, dict) for k, v in texts.items()):
        problems.append(FieldProblem("body.texts", "language -> object"))
    files = _decoded_attachments(body, problems)
    if problems:
        raise InvalidInput("the request message is incomplete", problems)
    request = filing.register_received(
        session, None, home, kind=fields["kind"], requesting=opened.peer.authority,
        counterpart_reference=fields["reference"], legal_basis=fields["legal_basis"],
        title=fields["title"], language=fields["language"], data=body["data"],
        template_version=version, urgent=body.get("urgent") is True,
        urgency_reasons=body.get("urgency_reasons") if isinstance(
            body.get("urgency_reasons"), str) else None)
    for language, data in texts.items():
        if language != request.language:
            session.add(RequestText(request_id=request.id, language=language, data=data))
    for name, content_type, content, digest in files:
        session.add(Attachment(request_id=request.id, filename=name, content_type=content_type,
                               size=len(content), sha256=digest, content=content,
                               uploaded_at=now))
    session.flush()
    return request


def _decoded_attachments(body: Mapping[str, Any], problems: list[FieldProblem]
                         ) -> list[tuple[str, str, bytes, str]]:
    """(filename, content type, content, sha256) of every attachment, the sender's rendered
    document first; each hash is checked against the content."""
    found: list[tuple[str, str, bytes, str]] = []
    document = body.get("document")
    if isinstance(document, dict) and isinstance(document.get("content"), str):
        content = document["content"].encode("utf-8")
        digest = hashlib.sha256(content).hexdigest()
        if document.get("sha256") not in (None, digest):
            problems.append(FieldProblem("body.document.sha256", "does not match the document"))
        language = str(document.get("language", ""))[:8]
        name = attachments.clean_filename(
            f"{body.get('reference', 'request')}.{language or 'xx'}.html")
        found.append((name[:255] or "document.html",
                      "text/html; charset=utf-8", content, digest))
    items = body.get("attachments") or []
    if not isinstance(items, list):
        problems.append(FieldProblem("body.attachments", "a list"))
        return found
    for i, item in enumerate(items):
        where = f"body.attachments.{i}"
        if not isinstance(item, dict) or not isinstance(item.get("content"), str):
            problems.append(FieldProblem(where, "an object with base64 content"))
            continue
        try:
            content = base64.b64decode(item["content"], validate=True)
        except (binascii.Error, ValueError):
            problems.append(FieldProblem(f"{where}.content", "not base64"))
            continue
        digest = hashlib.sha256(content).hexdigest()
        if item.get("sha256") != digest:
            problems.append(FieldProblem(f"{where}.sha256", "does not match the content"))
            continue
        # The peer's name and type reach our headers and pages: repaired like an upload's.
        name = attachments.clean_filename(str(item.get("filename") or ""))
        found.append((name[:255] or "attachment",
                      attachments.clean_content_type(str(item.get("content_type") or "")),
                      content, digest))
    return found


def _exchange(session: Session, thread: uuid.UUID, peer: Peer) -> uuid.UUID | None:
    """Our request in the exchange `thread` with `peer`, whichever side began it."""
    found = session.scalar(select(OutboxMessage.request_id).where(
        OutboxMessage.message_id == thread, OutboxMessage.kind == "request",
        OutboxMessage.receiver_id == peer.authority_id))
    if found is None:
        found = session.scalar(select(InboxMessage.request_id).where(
            InboxMessage.message_id == thread, InboxMessage.kind == "request",
            InboxMessage.sender_id == peer.authority_id))
    return found


def _apply_status(session: Session, opened: Opened) -> tuple[Request, str, dict[str, Any]]:
    payload = opened.payload
    body = payload.get("body")
    if not isinstance(body, dict):
        raise InvalidInput("the message has no body", [FieldProblem("body", "an object")])
    try:
        thread = uuid.UUID(str(payload.get("thread")))
    except ValueError:
        raise InvalidInput("the status names no exchange",
                           [FieldProblem("thread", "the request message's id")]) from None
    request_id = _exchange(session, thread, opened.peer)
    if request_id is None:
        raise TransferRejected(409, "unknown_exchange", f"no request was exchanged with "
                               f"{opened.peer.authority.code} under {thread}",
                               message_id=str(opened.message_id),
                               sender=opened.peer.authority.code)
    request = session.get_one(Request, request_id)
    remote_event = body.get("event")
    events = sync_map().get(str(body.get("workflow")), {}).get(str(remote_event), ())
    data: dict[str, Any] = {"via": "transfer", "message_id": str(opened.message_id),
                            "remote_event": remote_event}
    if isinstance(body.get("reason"), str):
        data["reason"] = body["reason"]
    if isinstance(body.get("grounds"), list):
        data["grounds"] = [str(g) for g in body["grounds"]]
    for key in ("occurred_at", "agreed_date"):
        if isinstance(body.get(key), str):
            data[key] = body[key]
    applied: list[str] = []
    refused: list[str] = []
    session.info[APPLYING] = True
    try:
        for event in events:
            if event not in lifecycle.allowed_events(request):
                continue
            try:
                lifecycle.transition(session, request, event, None, **data)
            except (IllegalTransition, GuardRejected) as exc:
                refused.append(f"{event}: {exc.detail}")
                continue
            applied.append(event)
    finally:
        session.info.pop(APPLYING, None)
    outcome = "applied" if applied else "ignored"
    detail = {"remote_event": remote_event, "remote_state": body.get("state"),
              "applied": applied, "state": request.state}
    if refused:
        detail["refused"] = refused
    return request, outcome, detail


def receive(session: Session, envelope: Any, *, now: datetime | None = None) -> str:
    """Takes one envelope in the session's transaction (the caller commits); the signed
    receipt. Raises TransferRejected."""
    now = now or utcnow()
    home = home_authority(session)
    if home is None:
        raise reject(404, "not_enabled", "this instance takes no part in electronic transfer")
    opened = open_envelope(session, envelope, home, now)
    sender = opened.peer.authority.code
    mid = str(opened.message_id)
    stored = session.scalar(select(InboxMessage)
                            .where(InboxMessage.message_id == opened.message_id))
    if stored is not None:
        if stored.sender_id != opened.peer.authority_id \
                or stored.payload_sha256 != opened.content_hash:
            raise reject(409, "message_id_reused", f"message {mid} was received before with "
                         f"other content", message_id=mid, sender=sender)
        audit.record(session, "transfer.duplicate", object_type="request",
                     object_id=str(stored.request_id), authority_id=home.id,
                     detail={"message_id": mid, "from": sender})
        return stored.receipt
    kind = opened.payload["type"]
    try:
        thread = uuid.UUID(str(opened.payload.get("thread")))
    except ValueError:
        thread = opened.message_id
    body = opened.payload.get("body")
    inbox = InboxMessage(message_id=opened.message_id, sender_id=opened.peer.authority_id,
                         thread_id=thread, kind=kind,
                         event=str((body or {}).get("event", "transmit"))[:40]
                         if isinstance(body, dict) else "?",
                         received_at=now, payload_sha256=opened.content_hash,
                         outcome="accepted", receipt="")
    session.add(inbox)
    # The unique message id is claimed first: a concurrent copy of this message waits here
    # and then fails, and is answered with this receipt (handle_inbound).
    session.flush()
    try:
        if kind == "request":
            request = _accept_request(session, opened, home, now)
            outcome, detail = "accepted", {"kind": request.kind, "state": request.state}
        else:
            request, outcome, detail = _apply_status(session, opened)
    except InvalidInput as exc:
        raise reject(422, "invalid_content", exc.detail, message_id=mid, sender=sender,
                     problems=exc.problems) from None
    except Conflict as exc:
        raise reject(503, "busy", f"{exc.detail}; send again", message_id=mid,
                     sender=sender) from None
    except (NotFound, GuardRejected, IllegalTransition) as exc:
        raise reject(422, "invalid_content", exc.detail, message_id=mid,
                     sender=sender) from None
    claims = {"message_id": mid, "sender": sender, "receiver": home.code,
              "payload_sha256": opened.content_hash, "hash": opened.hash_rule,
              "received_at": iso(now), "request_reference": request.reference,
              "outcome": outcome}
    inbox.request_id = request.id
    inbox.outcome = outcome
    inbox.receipt = _sign_receipt(session, claims)
    session.flush()
    audit.record(session, f"transfer.receive.{kind}" if outcome != "ignored"
                 else "transfer.status_ignored", object_type="request",
                 object_id=str(request.id), authority_id=home.id,
                 detail={"message_id": mid, "from": sender, "payload_sha256":
                         opened.content_hash, "outcome": outcome, **detail})
    return inbox.receipt


def receipt_claims(receipt: str) -> dict[str, Any]:
    """What a receipt says, unverified (it is ours, or verify_receipt checks it)."""
    claims = json.loads(jws.get_unverified_claims(receipt))
    return claims if isinstance(claims, dict) else {}


def record_rejection(session: Session, exc: TransferRejected, *, size: int | None = None,
                     envelope: Any = None) -> None:
    """The audit entry of a refused message, in its own transaction (the caller commits)."""
    detail: dict[str, Any] = {"status": exc.status, "reason": exc.reason, "detail": exc.detail}
    if exc.sender:
        detail["claimed_sender"] = exc.sender
    if exc.problems:
        detail["errors"] = [{"field": p.path, "message": p.message} for p in exc.problems]
    if isinstance(envelope, str):
        detail["envelope_sha256"] = hashlib.sha256(envelope.encode("utf-8")).hexdigest()
        detail["size"] = len(envelope)
    elif size is not None:
        detail["size"] = size
    audit.record(session, "transfer.reject", object_type="transfer_message",
                 object_id=exc.message_id, authority_id=home_authority_id(session),
                 detail=detail)


def handle_inbound(session: Session, envelope: Any, *, now: datetime | None = None) -> str:
    """`receive` as one unit of work: committed with its receipt, or rolled back entirely and
    the rejection audited (then re-raised)."""
    try:
        for attempt in (1, 2):
            try:
                receipt = receive(session, envelope, now=now)
                session.commit()
                return receipt
            except IntegrityError:
                # The same message arrived twice at once and the other copy was stored first:
                # the second pass finds it and answers with its receipt.
                session.rollback()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")
    except TransferRejected as exc:
        session.rollback()
        record_rejection(session, exc, envelope=envelope)
        session.commit()
        raise
    except IntegrityError:
        session.rollback()
        exc = reject(503, "busy", "the message is being stored concurrently; send again")
        record_rejection(session, exc, envelope=envelope)
        session.commit()
        raise exc from None
    except BaseException:
        session.rollback()
        raise

