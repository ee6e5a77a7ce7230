"""Signed PDFs received from counterparts that do not run this engine (by e-mail, on a
medium): stored with the request they belong to, with the validation of their signatures
done at upload (mla.documents.pades.validate). A PDF whose signature does not verify is
kept and flagged `invalid`, never silently accepted."""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from mla import audit
from mla.clock import utcnow
from mla.documents import pades
from mla.errors import FieldProblem, InvalidInput, NotFound
from mla.models import ReceivedDocument, Request, User
from mla.requests import attachments


def register(session: Session, request: Request, user: User, *, filename: str,
             content: bytes) -> ReceivedDocument:
    """Validates and stores one received PDF. The caller commits."""
    name = attachments.clean_filename(filename) or "document.pdf"
    if not content.startswith(b"%PDF-"):
        raise InvalidInput("the file is not a PDF", [FieldProblem("file", "a signed PDF")])
    result = pades.validate(content)
    first = next((s for s in result["signatures"] if s.get("signer")), None)
    signed_at = None
    if first and first.get("signed_at"):
        signed_at = datetime.fromisoformat(first["signed_at"])
    row = ReceivedDocument(
        id=uuid.uuid4(), request_id=request.id, filename=name[:255], size=len(content),
        sha256=hashlib.sha256(content).hexdigest(), content=content, status=result["status"],
        signer=first["signer"] if first else None, signed_at=signed_at, validation=result,
        uploaded_by_id=user.id, uploaded_at=utcnow())
    session.add(row)
    session.flush()
    audit.record(session, "document.received", actor=user, object_type="request",
                 object_id=str(request.id),
                 detail={"document_id": str(row.id), "sha256": row.sha256,
                         "status": row.status, "signer": row.signer,
                         "summary": result["summary"]})
    return row


def for_request(session: Session, request: Request) -> list[ReceivedDocument]:
    return list(session.scalars(select(ReceivedDocument)
                                .where(ReceivedDocument.request_id == request.id)
                                .order_by(ReceivedDocument.uploaded_at, ReceivedDocument.id)))


def get(session: Session, request: Request, document_id: uuid.UUID) -> ReceivedDocument:
    row = session.get(ReceivedDocument, document_id)
    if row is None or row.request_id != request.id:
        raise NotFound(f"no received document {document_id} on {request.reference}")
    return row
