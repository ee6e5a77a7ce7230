"""Attachments: upload with SHA-256 recorded, size limit, download."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from urllib.parse import quote

from fastapi import APIRouter, Response, UploadFile, status

from api.deps import SessionDep, UserDep
from api.problems import PROBLEM_RESPONSES, described
from api.schemas.attachments import AttachmentOut
from mla import access, audit
from mla.requests import attachments

router = APIRouter(tags=["attachments"],
                   responses=PROBLEM_RESPONSES | {413: described("File over the size limit")})

CHUNK = 1024 * 1024


def _chunks(upload: UploadFile) -> Iterator[bytes]:
    while chunk := upload.file.read(CHUNK):
        yield chunk


@router.post("/requests/{request_id}/attachments", status_code=status.HTTP_201_CREATED,
             response_model=AttachmentOut)
def upload(request_id: uuid.UUID, file: UploadFile, session: SessionDep, user: UserDep,
           response: Response) -> AttachmentOut:
    """Attach a file (multipart field `file`); its SHA-256 is recorded. Authorization: officer
    or supervisor of a party."""
    request = access.get_request(session, request_id, user)
    access.require_content(user)
    content = attachments.read_limited(_chunks(file))
    attachment = attachments.add(session, request, user, filename=file.filename or "",
                                 content_type=file.content_type or "", content=content)
    session.commit()
    response.headers["Location"] = f"/attachments/{attachment.id}"
    return AttachmentOut.model_validate(attachment)


@router.get("/requests/{request_id}/attachments", response_model=list[AttachmentOut])
def list_attachments(request_id: uuid.UUID, session: SessionDep,
                     user: UserDep) -> list[AttachmentOut]:
    """Files attached to the request. Authorization: officer or supervisor of a party."""
    request = access.get_request(session, request_id, user)
    files = [AttachmentOut.model_validate(a)
             for a in attachments.for_request(session, request, user)]
    audit.record(session, "request.list_attachments", actor=user, object_type="request",
                 object_id=str(request.id))
    session.commit()
    return files


@router.get("/attachments/{attachment_id}", response_class=Response,
            responses={200: {"content": {"application/octet-stream": {}}}})
def download(attachment_id: uuid.UUID, session: SessionDep, user: UserDep) -> Response:
    """The file, with its SHA-256 in `Repr-Digest` (RFC 9530). Authorization: officer or
    supervisor of a party to its request."""
    attachment = attachments.get(session, attachment_id, user)
    content = attachment.content
    session.commit()
    digest = base64.b64encode(bytes.fromhex(attachment.sha256)).decode()
    # Rows stored before names and types were cleaned on the way in are cleaned on the way
    # out: a line break in a header would cut the response.
    return Response(content, media_type=attachments.clean_content_type(attachment.content_type),
                    headers={
                        "Repr-Digest": f"sha-256=:{digest}:",
                        "ETag": f'"{attachment.sha256}"',
                        "Content-Disposition": content_disposition(attachment.filename),
                        "X-Content-Type-Options": "nosniff",
                    })


def content_disposition(filename: str) -> str:
    """`attachment` with the name twice (RFC 6266): `filename*` in UTF-8, percent-encoded
    (RFC 8187), and `filename` in printable ASCII for clients that know only that."""
    name = attachments.clean_filename(filename) or "attachment"
    fallback = "".join(c if " " <= c <= "~" and c not in '"\\%' else "_" for c in name)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"
