"""Bodies of legal time limits (api/routers/deadlines.py)."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class DeadlineOut(BaseModel):
    id: int
    request_id: uuid.UUID
    reference: str
    rule: str
    timer: str
    titles: dict[str, str] = Field(default_factory=dict, description="What is due, in the "
                                   "six UN languages (ar, en, es, fr, ru, zh)")
    citation: str
    trigger: str = Field(default="", description="The article's own triggering event: the "
                         "clock counts from it")
    acting_authority: str
    opened_at: datetime
    due_at: datetime
    due_local: str = Field(description="Due instant in the acting authority's time zone")
    status: str = Field(description="running, suspended, overdue or closed")
    closed_at: datetime | None
    extended_days: int
    extension_reason: str | None


class ExtendIn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"days": 30, "reason": "Court awaits an expert report (art. 17(4) notified)"}]})
    days: int = Field(ge=1, le=366)
    reason: str = Field(min_length=1, max_length=4000)
