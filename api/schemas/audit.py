"""Bodies of the audit trail (api/routers/audit.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


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
    hash: str
