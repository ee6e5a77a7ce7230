"""Files attached to a request (scans, court orders, evidence lists). The SHA-256 is recorded
at upload so both authorities can prove later that a file is the one that was sent."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from mla import access, audit, settings
from mla.errors import FieldProblem, Forbidden, InvalidInput, NotFound, TooLarge
from mla.models import Attachment, Request, User
from mla.requests import lifecycle


def max_bytes() -> int:
    return settings.get().max_attachment_bytes


def read_limited(chunks: Iterable[bytes], limit: int | None = None) -> bytes:
    """Collects an upload, stopping as soon as it passes the limit (no unbounded memory)."""
    limit = max_bytes() if limit is None else limit
    parts: list[bytes] = []
    size = 0
    for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"attachments are limited to {limit} bytes", limit)
        parts.append(chunk)
    return b"".join(parts)


def add(session: Session, request: Request, actor: User, *, filename: str,
        content_type: str, content: bytes) -> Attachment:
    access.require_content(actor)
    if lifecycle.acting_party(request, actor) is None:
        raise NotFound(f"no request {request.id}")
    if len(content) > max_bytes():
        raise TooLarge(f"attachments are limited to {max_bytes()} bytes", max_bytes())
    name = os.path.basename(filename.replace("\\", "/")).strip()
    problems = []
    if not name or len(name) > 255:
        problems.append(FieldProblem("file", "needs a file name of at most 255 characters"))
    if not content:
        problems.append(FieldProblem("file", "is empty"))
    if problems:
        raise InvalidInput("the attachment cannot be stored", problems)
    attachment = Attachment(
        request_id=request.id, filename=name, content_type=content_type[:100] or
        "application/octet-stream", size=len(content),
        sha256=hashlib.sha256(content).hexdigest(), content=content, uploaded_by_id=actor.id,
    )
    session.add(attachment)
    session.flush()
    audit.record(session, "attachment.upload", actor=actor, object_type="attachment",
                 object_id=str(attachment.id),
                 detail={"request": str(request.id), "filename": name,
                         "sha256": attachment.sha256, "size": attachment.size})
    return attachment


def for_request(session: Session, request: Request, actor: User) -> list[Attachment]:
    access.require_content(actor)
    return list(session.scalars(
        select(Attachment).where(Attachment.request_id == request.id)
        .order_by(Attachment.uploaded_at, Attachment.id)
    ))


def get(session: Session, attachment_id: uuid.UUID, actor: User) -> Attachment:
    """The attachment if the actor's authority is a party to its request; NotFound otherwise."""
    attachment = session.scalar(
        select(Attachment).join(Request, Request.id == Attachment.request_id)
        .where(Attachment.id == attachment_id)
        .where(access.is_party(actor))
    )
    if attachment is None:
        raise NotFound(f"no attachment {attachment_id}")
    if not access.can_read_content(actor):
        raise Forbidden(f"the {actor.role} role does not see attachments")
    audit.record(session, "attachment.download", actor=actor, object_type="attachment",
                 object_id=str(attachment.id), detail={"sha256": attachment.sha256})
    return attachment
