"""Bodies of SMS paging, contact preferences and test pages (api/routers/sms.py)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.alerts import NotificationOut


class PreferenceStep(BaseModel):
    channel: str = Field(max_length=20, description="email, webhook, sms (and any channel "
                         "the pager sends on)")
    after_minutes: int = Field(default=0, ge=0, le=1440,
                               description="Minutes after the escalation step fires")


class PreferencesIn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"steps": [
        {"channel": "email", "after_minutes": 0}, {"channel": "sms", "after_minutes": 2}]}]})
    steps: list[PreferenceStep] | None = Field(
        max_length=10, description="In order; null: every channel of the contact point at once")


class PreferencesOut(BaseModel):
    contact_point: int
    name: str
    network: str
    channels: list[str] = Field(description="The contact point's channels")
    steps: list[PreferenceStep] | None = Field(description="Null: every channel at once")
    effective: list[PreferenceStep] = Field(description="What a page sends, in order")
    account: str | None = Field(description="Username that acts as this contact point")


class TestPageOut(BaseModel):
    id: int
    contact_point: int
    test: bool = True
    reason: str
    status: str = Field(description="open, or acknowledged once a reply came back")
    opened_at: datetime
    acknowledged_at: datetime | None
    acknowledged_via: str | None
    notifications: list[NotificationOut]
