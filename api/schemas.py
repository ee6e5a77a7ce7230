"""Request and response bodies. Two views of a request: the full one for officers, and a
status-only projection (no facts, persons, free text or attachments) for liaison officers."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class AuthorityRef(BaseModel):
    code: str
    name: str
    country: str


class AuthorityOut(AuthorityRef):
    model_config = ConfigDict(from_attributes=True)
    timezone: str
    languages: list[str]


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int = Field(description="Seconds until the token expires")


class FileRequestIn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "kind": "mla.evidence",
        "requested_authority": "KE-ODPP",
        "legal_basis": "untoc",
        "title": "Bank records - Kestrel case",
        "language": "en",
        "data": {},
    }]})
    kind: str = Field(description="Request kind, e.g. mla.evidence (GET /templates lists them)")
    requested_authority: str = Field(description="Code of the requested authority")
    legal_basis: str = Field(description="Legal basis code, e.g. untoc, budapest, eio_2014_41")
    title: str = Field(max_length=300)
    language: str = Field(description="ISO 639-1 code of the language the form is written in")
    data: dict[str, Any] = Field(default_factory=dict, description="The template form; "
                                 "may be incomplete while a draft")


class IncomingIn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "kind": "mla.evidence", "requesting_authority": "FR-MJ",
        "counterpart_reference": "PNF-2026-118", "legal_basis": "untoc",
        "title": "Bank records - Kestrel case", "language": "en", "data": {},
    }]})
    kind: str
    requesting_authority: str = Field(description="Code of the authority that sent it")
    counterpart_reference: str = Field(min_length=1, max_length=80)
    legal_basis: str
    title: str = Field(max_length=300)
    language: str
    data: dict[str, Any] = Field(default_factory=dict)


class UpdateDraftIn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"data": {}}]})
    data: dict[str, Any]


class TransitionIn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"event": "submit"},
        {"event": "refuse", "grounds": ["essential_interests"], "reason": "see letter"},
    ]})
    event: str = Field(description="Event name; GET the request for `allowed_events`")
    reason: str | None = Field(default=None, max_length=4000)
    grounds: list[str] | None = Field(default=None, description="Refusal grounds codes")


class TranslationIn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"data": {
        "facts_summary": "Between March and June 2026, EUR 1.2 million was transferred from "
                         "the victim company to an account at a bank in Nairobi.",
        "evidence_purpose": "To trace the proceeds and identify the account holders."}}]})
    data: dict[str, Any] = Field(description="The translatable free-text fields, translated "
                                             "(GET /templates lists them per kind as "
                                             "`translatable`)")


class DeadlineOut(BaseModel):
    id: int
    request_id: uuid.UUID
    reference: str
    rule: str
    timer: str
    citation: str
    acting_authority: str
    opened_at: datetime
    due_at: datetime
    due_local: str = Field(description="Due instant in the acting authority's time zone")
    status: str = Field(description="running, suspended, overdue or closed")
    closed_at: datetime | None
    extended_days: int
    extension_reason: str | None


class StatusOut(BaseModel):
    """What a liaison officer may see: where the request stands, nothing of the case."""

    id: uuid.UUID
    reference: str
    kind: str
    workflow: str
    requesting: AuthorityRef
    requested: AuthorityRef
    state: str
    urgent: bool
    version: int
    created_at: datetime
    updated_at: datetime
    deadlines: list[DeadlineOut] | None = Field(
        default=None, description="Legal time limits (on single-request reads)")


class RequestOut(StatusOut):
    counterpart_reference: str | None
    legal_basis: str
    title: str
    template_version: int
    language: str
    languages: list[str] = Field(description="Languages the free text exists in")
    data: dict[str, Any]
    allowed_events: list[str] = Field(description="Events you may fire now")


class RequestSummary(StatusOut):
    title: str | None = Field(description="Null for roles that see status only")


class RequestPage(BaseModel):
    items: list[RequestSummary]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page")


class HistoryStatusOut(BaseModel):
    at: datetime
    event: str
    from_state: str | None
    to_state: str


class HistoryOut(HistoryStatusOut):
    actor: str | None = Field(description="Username; null for the system")
    reason: str | None
    data: dict[str, Any] | None


class TransitionOut(BaseModel):
    reference: str
    event: str
    from_state: str | None
    to_state: str
    version: int
    allowed_events: list[str]


class AttachmentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID
    filename: str
    content_type: str
    size: int
    sha256: str
    uploaded_at: datetime


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    username: str
    full_name: str
    email: str | None
    role: str
    active: bool
    authority: str


class UserIn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "username": "ke.officer2", "full_name": "Amina Otieno", "role": "officer",
        "email": "amina@example.org", "password": "correct horse battery"}]})
    username: str = Field(min_length=3, max_length=100, pattern=r"^[A-Za-z0-9._-]+$")
    full_name: str = Field(min_length=1, max_length=200)
    role: str
    email: str | None = None
    password: str | None = Field(default=None, description="At least 12 characters")


class UserPatch(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"role": "supervisor"}, {"active": False}]})
    full_name: str | None = Field(default=None, min_length=1, max_length=200)
    role: str | None = None
    email: str | None = None
    active: bool | None = None
    password: str | None = None


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


class ExtendIn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"days": 30, "reason": "Court awaits an expert report (art. 17(4) notified)"}]})
    days: int = Field(ge=1, le=366)
    reason: str = Field(min_length=1, max_length=4000)
