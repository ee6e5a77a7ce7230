"""Bodies of the request document, received signed PDFs and e-mail transmission
(api/routers/documents.py)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class ReceivedDocumentOut(BaseModel):
    """A signed PDF received from the counterpart and what its signatures prove."""

    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID
    filename: str
    size: int
    sha256: str
    status: str
    signer: str | None
    signed_at: datetime | None
    validation: dict[str, Any]
    uploaded_at: datetime


class MailAttachmentOut(BaseModel):
    filename: str
    size: int
    sha256: str
    attached: bool


class MailMessageOut(BaseModel):
    """A request sent by e-mail: to whom, when, and whether it was acknowledged."""

    message_id: uuid.UUID
    smtp_message_id: str
    to: list[str]
    status: str
    attempts: int
    created_at: datetime
    sent_at: datetime | None
    last_error: str | None
    document_filename: str
    document_sha256: str
    attachments: list[MailAttachmentOut]
    acknowledged_at: datetime | None
    acknowledged_via: str | None
    summary: str
