"""Bodies of the audit trail (api/routers/audit.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class AuditEventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    at: datetime
    actor_id: int | None
    authority_id: int | None
    action: str
    object_type: str
    object_id: str | None
    detail: dict[str, Any] | None
    withheld: list[str] = Field(
        default_factory=list,
        description="Members of `detail` left out because they quote case text (reasons, "
                    "file names, the other side's reference); `hash` covers the stored entry")
    entry_hash: str | None = Field(
        description="SHA-256 of the stored entry's canonical text, written with it (null on "
                    "entries chained before the sealer existed)")
    hash: str | None = Field(
        description="The hash chain's link (covers the previous link and the stored entry); "
                    "null until the sealer links the entry, within seconds")


class CheckpointOut(BaseModel):
    """A signed statement of the audit chain's length and head (mla/ops/anchor.py)."""

    authority: str
    chain_length: int
    head_hash: str
    made_at: datetime
    jws: str = Field(description="JWS compact, ES256, signed with the authority's transfer "
                                 "signing key (its JWKS); the payload repeats the fields above")


class CheckpointIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    jws: str = Field(max_length=4096, description="a checkpoint the sending peer signed")
