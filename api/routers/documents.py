"""The request document (HTML, Markdown, PDF signed once approved), signed PDFs received
from counterparts with their validation, and the e-mails that carried a request to an
authority that runs no instance of the engine."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, UploadFile, status
from fastapi.responses import HTMLResponse, PlainTextResponse

from api.deps import SessionDep, UserDep
from api.headers import csp_for
from api.problems import PROBLEM_RESPONSES, described
from api.routers.attachments import content_disposition
from api.schemas.documents import MailAttachmentOut, MailMessageOut, ReceivedDocumentOut
from mla import access, audit
from mla.documents import incoming
from mla.documents import service as document_service
from mla.errors import FieldProblem, Forbidden, InvalidInput
from mla.mail import acknowledgements
from mla.mail import outbox as mail_outbox
from mla.models import MailMessage
from mla.requests import attachments, documents

router = APIRouter(tags=["documents"], responses=PROBLEM_RESPONSES | {
    503: described("PDF support not installed (the detail names the Debian package)")})

CHUNK = 1024 * 1024


@router.get("/requests/{request_id}/document", response_class=HTMLResponse,
            responses={200: {"content": {"text/html": {}, "text/markdown": {},
                                         "application/pdf": {}}}})
def document(
    request_id: uuid.UUID,
    session: SessionDep,
    user: UserDep,
    format: Annotated[str, Query(pattern="^(html|md|pdf)$")] = "html",
    language: Annotated[str | None, Query(description="Language of the text")] = None,
    form: Annotated[str | None, Query(
        pattern="^[a-z0-9_]{1,40}$",
        description="An official form the workflow fills: eio_annex_b (confirmation of "
                    "receipt, after the requested side's acknowledge step); HTML or Markdown")
    ] = None,
) -> Response:
    """The filled template as a document (an official form's version renders as its annex),
    or with `form` the official form a workflow step produced. `format=pdf`: A4, fonts
    embedded, signed (PAdES) with the requesting authority's certificate once the request is
    approved, for its own officers; `X-MLA-Signature` says `signed` or why not.
    Authorization: officer or supervisor of a party."""
    request = access.get_request(session, request_id, user)
    access.require_content(user)
    headers = {"Cache-Control": "no-store"}
    if format == "pdf" and form:
        raise InvalidInput("a form a workflow step fills comes as HTML or Markdown",
                           [FieldProblem("format", "html or md with form")])
    if format == "pdf":
        made = document_service.signed_pdf(session, request, language=language, actor=user,
                                           purpose="download")
        audit.record(session, "request.document", actor=user, object_type="request",
                     object_id=str(request.id),
                     detail={"language": made.language, "format": "pdf",
                             "signature": made.signature})
        session.commit()
        return Response(made.content, media_type="application/pdf", headers=headers | {
            "Content-Language": made.language, "X-MLA-Signature": made.signature,
            "Content-Disposition": content_disposition(made.filename)})
    text, lang = documents.render(session, request, language=language, fmt=format, form=form)
    audit.record(session, "request.document", actor=user, object_type="request",
                 object_id=str(request.id),
                 detail={"language": lang, "format": format, **({"form": form} if form else {})})
    session.commit()
    headers["Content-Language"] = lang
    if format == "md":
        return PlainTextResponse(text, media_type="text/markdown; charset=utf-8",
                                 headers=headers)
    # The layout's print styles are inline: allowed by their hash; it runs no script.
    return HTMLResponse(text, headers=headers | {"Content-Security-Policy": csp_for(text)})


def _chunks(upload: UploadFile) -> Any:
    while chunk := upload.file.read(CHUNK):
        yield chunk


@router.post("/requests/{request_id}/received-documents", status_code=status.HTTP_201_CREATED,
             response_model=ReceivedDocumentOut,
             responses={413: described("File over the size limit")})
def receive(request_id: uuid.UUID, file: UploadFile, session: SessionDep, user: UserDep,
            response: Response) -> ReceivedDocumentOut:
    """Register a signed PDF received from the requesting authority (multipart field
    `file`): its signatures are validated now (signer, integrity, chain to the trust
    anchors, revocation where available) and the result stored with it; an altered PDF is
    kept and flagged `invalid`. Authorization: officer or supervisor of the requested
    authority."""
    request = access.get_request(session, request_id, user)
    access.require_content(user)
    if user.authority_id != request.requested_authority_id:
        raise Forbidden("only the requested authority registers what it received")
    content = attachments.read_limited(_chunks(file))
    row = incoming.register(session, request, user, filename=file.filename or "",
                            content=content)
    session.commit()
    response.headers["Location"] = f"/requests/{request.id}/received-documents/{row.id}"
    return ReceivedDocumentOut.model_validate(row)


@router.get("/requests/{request_id}/received-documents",
            response_model=list[ReceivedDocumentOut])
def list_received(request_id: uuid.UUID, session: SessionDep,
                  user: UserDep) -> list[ReceivedDocumentOut]:
    """Signed PDFs registered for the request, with their validation. Authorization:
    officer or supervisor of a party."""
    request = access.get_request(session, request_id, user)
    access.require_content(user)
    rows = [ReceivedDocumentOut.model_validate(r) for r in incoming.for_request(session, request)]
    audit.record(session, "request.list_received_documents", actor=user,
                 object_type="request", object_id=str(request.id))
    session.commit()
    return rows


@router.get("/requests/{request_id}/received-documents/{document_id}", response_class=Response,
            responses={200: {"content": {"application/pdf": {}}}})
def download_received(request_id: uuid.UUID, document_id: uuid.UUID, session: SessionDep,
                      user: UserDep) -> Response:
    """The received PDF exactly as uploaded. Authorization: officer or supervisor of a
    party."""
    request = access.get_request(session, request_id, user)
    access.require_content(user)
    row = incoming.get(session, request, document_id)
    content = row.content
    audit.record(session, "request.read_received_document", actor=user, object_type="request",
                 object_id=str(request.id), detail={"document_id": str(row.id)})
    session.commit()
    return Response(content, media_type="application/pdf", headers={
        "Content-Disposition": content_disposition(row.filename), "Cache-Control": "no-store",
        "X-MLA-Signature": row.status, "X-Content-Type-Options": "nosniff"})


def mail_out(message: MailMessage) -> MailMessageOut:
    return MailMessageOut(
        message_id=message.message_id,
        smtp_message_id=mail_outbox.message_id_header(message.message_id),
        to=list(message.addresses), status=message.status, attempts=message.attempts,
        created_at=message.created_at, sent_at=message.sent_at, last_error=message.last_error,
        document_filename=message.document_filename, document_sha256=message.document_sha256,
        attachments=[MailAttachmentOut(**{k: a[k] for k in ("filename", "size", "sha256",
                                                             "attached")})
                     for a in message.attachments],
        acknowledged_at=message.acknowledged_at, acknowledged_via=message.acknowledged_via,
        summary=mail_outbox.summary(message))


@router.get("/requests/{request_id}/mail", response_model=list[MailMessageOut])
def list_mail(request_id: uuid.UUID, session: SessionDep, user: UserDep) -> list[MailMessageOut]:
    """The e-mails that carried the request to a counterpart without an instance.
    Authorization: officer or supervisor of the requesting authority."""
    request = access.get_request(session, request_id, user)
    access.require_content(user)
    if user.authority_id != request.requesting_authority_id:
        return []
    return [mail_out(m) for m in mail_outbox.for_request(session, request)]


@router.post("/requests/{request_id}/mail/acknowledgement", response_model=MailMessageOut)
def acknowledge_mail(request_id: uuid.UUID, session: SessionDep,
                     user: UserDep) -> MailMessageOut:
    """Record that the counterpart acknowledged the request sent by e-mail (for workflows
    without an `acknowledge` event; in the MLA workflow that event records it too).
    Authorization: officer or supervisor of the requesting authority."""
    request = access.get_request(session, request_id, user)
    access.require_content(user)
    if user.authority_id != request.requesting_authority_id:
        raise Forbidden("only the requesting authority records the acknowledgement")
    message = acknowledgements.record(session, request, user, via="officer")
    assert message is not None
    out = mail_out(message)
    session.commit()
    return out
