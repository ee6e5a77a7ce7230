"""Bodies of electronic transfer between instances (api/routers/transfer.py)."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field


class TransferMessageOut(BaseModel):
    """One message exchanged with the other party's instance about a request."""

    direction: str = Field(description="sent or received", examples=["sent"])
    message_id: uuid.UUID
    kind: str = Field(description="request (the request itself) or status (a step)",
                      examples=["request"])
    event: str = Field(examples=["transmit"])
    counterpart: str = Field(description="the other instance's authority",
                             examples=["KE-ODPP"])
    status: str = Field(description="sent: pending, delivered or failed; received: the "
                                    "outcome (accepted, applied, ignored)",
                        examples=["delivered"])
    at: datetime = Field(description="when it was written (sent) or received")
    delivered_at: datetime | None = None
    attempts: int = 0
    next_attempt_at: datetime | None = Field(
        default=None, description="pending: when the worker tries again")
    last_error: str | None = Field(default=None,
                                   description="why the last delivery attempt failed")


class ProtocolOut(BaseModel):
    """What a peer needs to talk to this instance (docs/transfer-protocol.md §12)."""

    versions: list[int] = Field(description="payload versions (`v`) this instance reads")
    hash: list[str] = Field(description="receipt hash rules it applies on request")
    jwks: str = Field(description="path of its transfer JWKS")
    inbox: str = Field(description="path of its inbox")
    schemas: str = Field(description="path under which the message schemas are served")


class IdentityOut(BaseModel):
    code: str
    country: str
    name: str
    timezone: str
    languages: list[str]
    protocol: ProtocolOut


class ReceiptOut(BaseModel):
    """`receipt`: JWS (ES256, our transfer signing key) of {message_id, sender, receiver,
    payload_sha256, hash, received_at, request_reference, outcome}
    (/transfer/schemas/v1/receipt.json)."""

    message_id: str | None = None
    receipt: str
