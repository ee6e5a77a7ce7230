"""Bodies of requests (api/routers/requests.py). Two views of a request: the full one for
officers, and a status-only projection (no facts, persons, free text or attachments) for
liaison officers."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from api.schemas.common import AuthorityRef
from api.schemas.deadlines import DeadlineOut

# mla.profiles.model.RETURN_REASONS (a test keeps them equal).
ReturnReason = Literal["incomplete", "wrong_authority", "language"]


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
    urgent: bool = Field(default=False, description="Mark the request urgent (EIO section B, "
                         "e-Evidence art. 10(4) emergency): periods shorten where the law "
                         "gives an urgent one and the 24/7 point is paged")
    urgency_reasons: str | None = Field(default=None, max_length=4000,
                                        description="Why it is urgent; required when urgent")


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
    urgent: bool = Field(default=False, description="Mark the request urgent (EIO section B, "
                         "e-Evidence art. 10(4) emergency): periods shorten where the law "
                         "gives an urgent one and the 24/7 point is paged")
    urgency_reasons: str | None = Field(default=None, max_length=4000,
                                        description="Why it is urgent; required when urgent")


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
    grounds: list[str] | None = Field(default=None, max_length=50,
                                      description="Refusal grounds codes")
    received_on: date | None = Field(
        default=None, description="For the other authority's act recorded from a report "
        "received outside this system (acknowledgement, refusal...): the day it was received; "
        "default the day it is recorded")
    channel: str | None = Field(
        default=None, max_length=20,
        description="How that report came: email, phone, post, fax, diplomatic, in_person, "
        "other")
    occurred_at: datetime | None = Field(
        default=None, description="When a legal trigger (arrest, consent, final decision, "
        "receipt of the formal request) happened, if before now; its clock counts from then. "
        "ISO 8601 with offset")
    agreed_date: date | None = Field(
        default=None, description="reschedule_surrender: the new surrender date agreed with "
        "the issuing authority (EAW art. 23(3)-(4)); surrender is due within 10 days of it")
    # Why the request came back, counted in the statistics (mla/stats/returns.py).
    return_reason: ReturnReason | None = Field(
        default=None, description="On request_info and refuse: incomplete, wrong_authority "
                                  "or language (why the request came back)")

    @model_validator(mode="after")
    def _reason_where_it_means_something(self) -> TransitionIn:
        if self.return_reason is not None and self.event not in ("request_info", "refuse"):
            raise ValueError("return_reason is only for the events request_info and refuse")
        return self


class TranslationIn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"data": {
        "facts_summary": "Between March and June 2026, EUR 1.2 million was transferred from "
                         "the victim company to an account at a bank in Nairobi.",
        "evidence_purpose": "To trace the proceeds and identify the account holders."}}]})
    data: dict[str, Any] = Field(description="The translatable free-text fields, translated "
                                             "(GET /templates lists them per kind as "
                                             "`translatable`)")


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
    urgency_reasons: str | None = Field(default=None, description="Why it was marked urgent")
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
