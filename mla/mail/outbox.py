"""The e-mail outbox. `transmit` to an authority that is no peer but has registered e-mail
addresses writes, in the transition's own transaction, one message holding the signed PDF
of the request (mla.documents.service) and the list of attachments; `mla worker` sends it
(mla.mail.delivery). A crash before the commit leaves neither the transition nor the
message; after it, the worker sends the message exactly as it was signed."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from mla import audit, settings
from mla.clock import utcnow
from mla.documents import service as document_service
from mla.errors import GuardRejected, Unavailable
from mla.mail import acknowledgements, addresses
from mla.models import Attachment, MailMessage, Request, User
from mla.requests import lifecycle
from mla.transfer.peers import peer_for

# Wakes the e-mail loop of `mla worker` at commit (mla.wakeup).
NOTIFY_CHANNEL = "mla_mail"
# E-mail header domain of our Message-IDs: a reply's In-Reply-To names the message by it.
MESSAGE_ID_DOMAIN = "mla.invalid"


def message_id_header(message_id: uuid.UUID) -> str:
    return f"<{message_id}@{MESSAGE_ID_DOMAIN}>"


def subject_tag(reference: str) -> str:
    # Kept in the subject of replies: how a reply is tied to the request without the headers.
    return f"[MLA {reference}]"


def _attachments(session: Session, request: Request) -> list[dict[str, Any]]:
    """Every attachment, the ones that fit the limit (in upload order) to be attached, the
    others listed by SHA-256 only."""
    room = settings.get().mail_max_attachment_bytes
    rows = session.execute(select(Attachment.id, Attachment.filename, Attachment.content_type,
                                  Attachment.size, Attachment.sha256)
                           .where(Attachment.request_id == request.id)
                           .order_by(Attachment.uploaded_at, Attachment.id)).all()
    listed = []
    for row in rows:
        attached = row.size <= room
        if attached:
            room -= row.size
        listed.append({"id": str(row.id), "filename": row.filename,
                       "content_type": row.content_type, "size": row.size,
                       "sha256": row.sha256, "attached": attached})
    return listed


def _body(request: Request, document: document_service.PdfDocument, pdf_sha256: str,
          listed: list[dict[str, Any]], now: datetime) -> str:
    sender = request.requesting_authority
    lines = [
        f"{sender.name} ({sender.code}) transmits request {request.reference} to "
        f"{request.requested_authority.name} ({request.requested_authority.code}).",
        "",
        f"The request is the attached PDF {document.filename}, signed electronically "
        f"(PAdES) by {document.signer}.",
        f"SHA-256 of the PDF: {pdf_sha256}",
        f"Sent: {now:%Y-%m-%d %H:%M} UTC",
        "",
    ]
    if listed:
        lines.append("Supporting documents (SHA-256):")
        for item in listed:
            how = "attached" if item["attached"] else "too large for e-mail, sent separately"
            lines.append(f"- {item['filename']} ({item['size']} bytes, {how})")
            lines.append(f"  {item['sha256']}")
        lines.append("")
    lines += [
        "Please acknowledge receipt by replying to this message, keeping "
        f"{subject_tag(request.reference)} in the subject.",
        "Resolution 2322 (2016) of the UN Security Council, para. 13(f): electronic transfer "
        "between central authorities.",
    ]
    return "\n".join(lines) + "\n"


def queue(session: Session, request: Request, actor: User | None) -> MailMessage | None:
    """Writes the e-mail of a transmitted request, or None when the requested authority has
    no e-mail address (the officer sends the document by other means)."""
    to = addresses.of(session, request.requested_authority_id)
    if not to:
        return None
    try:
        document = document_service.signed_pdf(session, request, actor=actor,
                                                purpose="mail", require_signature=True)
    except Unavailable as exc:
        # The transition fails with it: nothing unsigned leaves by e-mail.
        raise GuardRejected(f"cannot send {request.reference} by e-mail: {exc.detail}") from None
    now = utcnow()
    listed = _attachments(session, request)
    digest = document_service.sha256(document.content)
    message = MailMessage(
        message_id=uuid.uuid4(), request_id=request.id,
        receiver_id=request.requested_authority_id, addresses=to,
        subject=f"{subject_tag(request.reference)} Request from "
                f"{request.requesting_authority.code} to {request.requested_authority.code}",
        body=_body(request, document, digest, listed, now),
        document_filename=document.filename, document=document.content,
        document_sha256=digest, attachments=listed, status="pending", attempts=0,
        next_attempt_at=now, created_at=now)
    session.add(message)
    session.flush()
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"NOTIFY {NOTIFY_CHANNEL}"))
    audit.record(session, "mail.queued", actor=actor, object_type="request",
                 object_id=str(request.id),
                 detail={"message_id": str(message.message_id), "to": to,
                         "pdf_sha256": digest, "language": document.language,
                         "attachments": [a["sha256"] for a in listed]})
    return message


def on_transition(session: Session, request: Request,
                  result: lifecycle.TransitionResult) -> None:
    """Transition hook (mla/hooks.py): transmit to a non-peer queues the e-mail; the
    requesting side recording the acknowledgement closes the wait."""
    if result.event == "transmit":
        if peer_for(session, request.requested_authority_id) is not None:
            return  # electronic transfer (mla/transfer) carries it
        queue(session, request, result.actor)
    elif result.event == "acknowledge" and result.from_state == "transmitted":
        acknowledgements.record(session, request, result.actor, via="officer",
                                quiet=True)


def for_request(session: Session, request: Request) -> list[MailMessage]:
    return list(session.scalars(select(MailMessage).where(MailMessage.request_id == request.id)
                                .order_by(MailMessage.id)))


def summary(message: MailMessage) -> str:
    """One line for the request page: what happened to the e-mail."""
    to = ", ".join(message.addresses)
    if message.acknowledged_at is not None:
        how = "by reply" if message.acknowledged_via == "reply" else "recorded by an officer"
        return (f"sent by e-mail to {to}; acknowledged on "
                f"{message.acknowledged_at:%Y-%m-%d %H:%M} UTC ({how})")
    if message.status == "sent" and message.sent_at is not None:
        return (f"sent by e-mail to {to} on {message.sent_at:%Y-%m-%d %H:%M} UTC, awaiting "
                f"acknowledgement")
    if message.status == "failed":
        return f"e-mail to {to} failed after {message.attempts} attempts: {message.last_error}"
    tried = f" (attempt {message.attempts} failed: {message.last_error})" \
        if message.attempts else ""
    return f"e-mail to {to} queued{tried}"

