"""The request document as PDF for a reader, signed for the requesting authority once the
request is approved: what `GET /requests/{id}/document?format=pdf`, the console and the
e-mail transmission (mla/mail) serve."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mla import audit
from mla.documents import certs, pades, pdf
from mla.errors import Unavailable
from mla.models import HistoryEvent, Request, User
from mla.requests import documents

# States in which the request is not (or no longer) approved by a supervisor.
NOT_APPROVED = {"draft", "in_review"}


@dataclass(frozen=True)
class PdfDocument:
    content: bytes
    language: str
    filename: str
    # signed, or why not: not_approved, not_requesting_side, no_certificate
    signature: str
    signer: str | None = None


def approver(session: Session, request: Request) -> User | None:
    """Who approved the request last, if it was approved and not sent back since."""
    if request.state in NOT_APPROVED:
        return None
    event = session.scalar(select(HistoryEvent).where(HistoryEvent.request_id == request.id,
                                                      HistoryEvent.event == "approve")
                           .order_by(HistoryEvent.id.desc()).limit(1))
    return event.actor if event is not None else None


def plan(session: Session, request: Request, actor: User | None) -> tuple[str, str | None]:
    """(signature, certificate subject) the PDF for `actor` would get, without making it:
    signed, not_approved, not_requesting_side or no_certificate."""
    if approver(session, request) is None:
        return "not_approved", None
    if actor is not None and actor.authority_id != request.requesting_authority_id:
        return "not_requesting_side", None
    certificate = certs.current(session, request.requesting_authority_id)
    if certificate is None:
        return "no_certificate", None
    return "signed", certificate.subject


def signed_pdf(session: Session, request: Request, *, language: str | None = None,
               actor: User | None, purpose: str, require_signature: bool = False) -> PdfDocument:
    """The PDF in `language` (default: as mla.requests.documents picks it). It is signed
    with the requesting authority's current certificate when the request is approved;
    `require_signature` turns "no certificate" into an Unavailable error. Each signature is
    recorded in the audit log (`document.sign`), in the caller's transaction."""
    html, lang = documents.render(session, request, language=language, fmt="html")
    content = pdf.render(html)
    filename = f"{request.reference}-{lang}.pdf"
    approved_by = approver(session, request)
    if approved_by is None:
        return PdfDocument(content, lang, filename, "not_approved")
    if actor is not None and actor.authority_id != request.requesting_authority_id:
        # The requested side reads the document; only the requesting authority signs it.
        return PdfDocument(content, lang, filename, "not_requesting_side")
    certificate = certs.current(session, request.requesting_authority_id)
    if certificate is None:
        if require_signature:
            raise Unavailable(f"{request.requesting_authority.code} has no valid signing "
                              f"certificate: `mla certs import FILE.p12` (or `mla certs "
                              f"self-signed` for a demonstration)")
        return PdfDocument(content, lang, filename, "no_certificate")
    authority = request.requesting_authority
    signed = pades.sign(content, certs.open_signer(certificate), pades.Capacity(
        authority=f"{authority.name} ({authority.code})", approved_by=approved_by.full_name,
        reason=f"Request {request.reference} ({request.kind}) approved for transmission",
        location=authority.country))
    audit.record(session, "document.sign", actor=actor, object_type="request",
                 object_id=str(request.id), authority_id=request.requesting_authority_id,
                 detail={"certificate_sha256": certificate.fingerprint_sha256,
                         "language": lang, "purpose": purpose,
                         "pdf_sha256": sha256(signed)})
    return PdfDocument(signed, lang, filename, "signed", certificate.subject)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def available() -> dict[str, Any]:
    """{"pdf": True} or {"pdf": False, "reason": what to install}: for pages to offer the
    PDF buttons only where they work."""
    try:
        pdf.check()
    except Unavailable as exc:
        return {"pdf": False, "reason": exc.detail}
    return {"pdf": True}
