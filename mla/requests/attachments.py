"""Files attached to a request (scans, court orders, evidence lists). The SHA-256 is recorded
at upload so both authorities can prove later that a file is the one that was sent."""

from __future__ import annotations

import hashlib
import os
import re
import uuid
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from mla import access, audit, inputs, settings
from mla.errors import FieldProblem, Forbidden, InvalidInput, NotFound, TooLarge
from mla.models import Attachment, Request, User
from mla.requests import lifecycle

# Shown to people, so also no C1 controls and no bidirectional overrides (which make
# "invoice\u202efdp.exe" read as "invoiceexe.pdf").
_INVISIBLE = re.compile(r"[\u0080-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
# At most 48 + 1 + 48 characters: the column holds 100.
_TOKEN = r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,47}"
_MEDIA_TYPE = re.compile(rf"({_TOKEN}/{_TOKEN})\s*(;.*)?")
_CHARSET = re.compile(r";\s*charset=\"?([A-Za-z0-9_.:-]{1,40})\"?\s*(?=;|$)", re.IGNORECASE)
DEFAULT_CONTENT_TYPE = "application/octet-stream"


def clean_filename(name: str) -> str:
    """What a file name may be here: its last path component, without control, invisible or
    direction characters, without surrounding blanks; "" when nothing is left. Names come
    from browsers and from peer instances and end up in HTTP headers and pages."""
    name = _INVISIBLE.sub("", inputs.clean_line(name)).replace("\\", "/")
    name = os.path.basename(name).strip()
    return "" if name in (".", "..") else name


def clean_content_type(value: str) -> str:
    """`type/subtype`, lower-cased, with its charset if it names one (other parameters are
    dropped); anything else (a line break, garbage) is application/octet-stream."""
    found = None if inputs.text_problem(value, single_line=True) \
        else _MEDIA_TYPE.fullmatch(value.strip())
    if found is None:
        return DEFAULT_CONTENT_TYPE
    charset = _CHARSET.search(found.group(2) or "")
    media = found.group(1).lower()
    with_charset = f"{media}; charset={charset.group(1).lower()}" if charset else media
    return with_charset if len(with_charset) <= 100 else media


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
    access.require_content_writer(actor)
    if lifecycle.acting_party(request, actor) is None:
        raise NotFound(f"no request {request.id}")
    if len(content) > max_bytes():
        raise TooLarge(f"attachments are limited to {max_bytes()} bytes", max_bytes())
    name = clean_filename(filename)
    problems = []
    if not name or len(name) > 255:
        problems.append(FieldProblem("file", "needs a file name of at most 255 characters"))
    if not content:
        problems.append(FieldProblem("file", "is empty"))
    if problems:
        raise InvalidInput("the attachment cannot be stored", problems)
    attachment = Attachment(
        request_id=request.id, filename=name, content_type=clean_content_type(content_type),
        size=len(content),
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
