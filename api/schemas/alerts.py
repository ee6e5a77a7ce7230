"""Bodies of 24/7 routing (api/routers/alerts.py): alerts (pages) and their notifications,
who is on call, contact points, rotations, overrides and escalation policies."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from mla.models import NETWORKS

NETWORK_DOC = f"24/7 network: {', '.join(NETWORKS)}"


class NotificationOut(BaseModel):
    step: int = Field(description="1-based step of the escalation policy")
    round: int = Field(description="1-based round (the policy repeats)")
    recipient: str
    channel: str = Field(description="email, webhook, sms or inbox")
    status: str = Field(description="pending, sent, failed or cancelled")
    attempts: int
    sent_at: datetime | None
    next_attempt_at: datetime | None
    last_error: str | None
    delivery_status: str | None = Field(
        default=None, description="SMS: what the network reported (accepted, buffered, "
        "delivered, undelivered, rejected)")
    delivery_reported_at: datetime | None = None


class AlertOut(BaseModel):
    id: int
    request_id: uuid.UUID
    reference: str
    kind: str
    urgent: bool
    authority: str
    network: str | None
    source: str = Field(description="What opened it: file, transmit or deadline")
    reason: str
    status: str = Field(description="open, acknowledged or resolved")
    step: int
    round: int
    next_escalation_at: datetime | None
    opened_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    acknowledged_via: str | None
    resolved_at: datetime | None
    resolved_by: str | None
    note: str | None
    notifications: list[NotificationOut] | None = Field(
        default=None, description="Every message sent for it (single-alert reads)")


class AlertActionIn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"note": "Preservation order sent to the provider at 03:12"}]})
    note: str | None = Field(default=None, max_length=4000)


class MemberOut(BaseModel):
    id: int
    name: str
    email: str | None
    phone: str | None
    languages: list[str]
    channels: list[str]
    timezone: str


class OnCallOut(BaseModel):
    network: str
    at: datetime
    member: MemberOut | None = Field(description="Null when nobody is on call")
    source: str | None = Field(description="rotation or override")
    starts_at: datetime | None
    ends_at: datetime | None
    ends_local: str | None = Field(description="End of the shift in the rotation's time zone")


class ContactPointIn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "network": "budapest_24_7", "name": "Cybercrime desk", "email": "desk@example.org",
        "phone": "+33 1 00 00 00 00", "languages": ["fr", "en"], "channels": ["email"],
        "timezone": "Europe/Paris"}]})
    network: str = Field(description=NETWORK_DOC)
    name: str = Field(min_length=1, max_length=200)
    email: str | None = Field(default=None, max_length=200)
    phone: str | None = Field(default=None, max_length=50,
                              description="E.164: + and the country code; spaces allowed")
    languages: list[str] = Field(default_factory=list, max_length=20)
    channels: list[str] = Field(default_factory=list, max_length=10,
                                description="email, webhook, sms (paged), matrix, phone "
                                "(listed)")
    webhook_url: str | None = Field(default=None, max_length=500)
    matrix_id: str | None = Field(default=None, max_length=255,
                                  description="Matrix account paged by the matrix channel "
                                  "(@name:server)")
    webhook_secret: str | None = Field(default=None, max_length=200,
                                       description="HMAC key; never shown again")
    account: str | None = Field(default=None, max_length=100, description=(
        "Username of my authority that acts as this contact point (acknowledges by SMS "
        "reply); left out keeps the one linked, \"\" unlinks it"))
    timezone: str = Field(max_length=64)
    active: bool = True


class ContactPointOut(BaseModel):
    id: int
    authority: str
    network: str
    name: str
    email: str | None
    phone: str | None
    languages: list[str]
    channels: list[str]
    timezone: str
    active: bool
    webhook_url: str | None = Field(description="Shown to admins of the contact's authority")
    matrix_id: str | None = Field(default=None, description="Shown to the contact's authority")


class RotationIn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "network": "budapest_24_7", "timezone": "Europe/Paris", "handoff_time": "09:00",
        "shift_hours": 168, "starts_on": "2026-01-05", "members": [1, 2, 3]}]})
    network: str = Field(description=NETWORK_DOC)
    timezone: str = Field(max_length=64)
    handoff_time: str = Field(pattern=r"^\d\d:\d\d$", description="Local HH:MM")
    shift_hours: int = Field(ge=1, le=672)
    starts_on: date
    members: list[Annotated[int, Field(ge=1, le=2**31 - 1)]] = Field(
        min_length=1, max_length=100, description="Contact point ids, in turn order")


class RotationOut(RotationIn):
    id: int


class OverrideIn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "network": "budapest_24_7", "member": 2, "starts_at": "2026-03-28T18:00:00+01:00",
        "ends_at": "2026-03-30T09:00:00+02:00", "reason": "swap with the weekend shift"}]})
    network: str = Field(description=NETWORK_DOC)
    member: int = Field(ge=1, le=2**31 - 1, description="Contact point id")
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    reason: str | None = Field(default=None, max_length=4000)


class OverrideOut(BaseModel):
    id: int
    network: str
    member: int
    starts_at: datetime
    ends_at: datetime
    reason: str | None


class PolicyStep(BaseModel):
    notify: str = Field(description="on_call, contact:<id> or role:<role>")
    delay_minutes: int = Field(ge=0, le=10080,
                               description="Minutes without acknowledgement before the next")


class PolicyIn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "network": "budapest_24_7", "repeat": 2, "steps": [
            {"notify": "on_call", "delay_minutes": 5},
            {"notify": "contact:4", "delay_minutes": 10},
            {"notify": "role:supervisor", "delay_minutes": 15}]}]})
    network: str = Field(description=NETWORK_DOC)
    steps: list[PolicyStep] = Field(min_length=1, max_length=20)
    repeat: int = Field(default=0, ge=0, le=10, description="Rounds after the first")


class PolicyOut(PolicyIn):
    id: int
