"""Bodies of cases, request links and persons (api/routers/cases.py). Cases are seen only by
officers and supervisors of the authority that owns them."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.requests import RequestSummary

# users.id is a 32-bit integer column.
UserId = Annotated[int, Field(ge=1, le=2**31 - 1)]


class CaseIn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "reference": "JUNALCO 26-041-0123", "title": "Kestrel - CEO fraud, Lyon",
        "description": "Organised fraud against Ateliers Vernier SAS", "officers": []}]})
    reference: str = Field(description="Your authority's own reference for the matter",
                           max_length=80)
    title: str = Field(max_length=300)
    description: str | None = Field(default=None, max_length=20000)
    officers: list[UserId] | None = Field(
        default=None, max_length=50,
        description="User ids of the responsible officers (default: you)")


class CaseUpdateIn(BaseModel):
    reference: str | None = Field(default=None, max_length=80,
                                  description="Your authority's own reference for the matter")
    title: str | None = Field(default=None, max_length=300)
    description: str | None = Field(default=None, max_length=20000)
    officers: list[UserId] | None = Field(default=None, max_length=50)
    closed: bool | None = None


class CaseSummary(BaseModel):
    id: uuid.UUID
    reference: str
    title: str
    officers: list[int]
    requests: int
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    version: int = Field(description="Send it back in If-Match to change the case")


class CaseRequestIn(BaseModel):
    request_id: uuid.UUID


class LinkIn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "kind": "supplementary", "follows": "6f1c1f0e-0000-4000-8000-000000000000"}]})
    kind: str = Field(description="supplementary, follow_up, preservation_to_production, "
                      "provisional_arrest_to_extradition, extradition_to_surrender, "
                      "partial_execution (GET /links/kinds)")
    follows: uuid.UUID = Field(description="The earlier request this one follows")
    note: str | None = Field(default=None, max_length=2000)


class LinkOut(BaseModel):
    id: int
    kind: str
    label: str
    from_request: uuid.UUID
    from_reference: str
    to_request: uuid.UUID
    to_reference: str
    note: str | None
    created_at: datetime


class LinkKindOut(BaseModel):
    kind: str
    label: str
    source: str
    from_kinds: list[str] | None
    to_kinds: list[str] | None


class IdentifierIn(BaseModel):
    type: str = Field(default="", max_length=60)
    value: str = Field(max_length=200)


class PersonIn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "name": "Иванов Сергей Петрович", "date_of_birth": "1979-03-02", "nationality": "RU",
        "identifiers": [{"type": "passport", "value": "75 1234567"}], "request_ids": []}]})
    name: str = Field(max_length=300, description="In the original script")
    name_latin: str | None = Field(default=None, max_length=300,
                                   description="Default: transliterated from `name`")
    date_of_birth: date | None = None
    nationality: str | None = Field(default=None, description="ISO 3166 alpha-2")
    identifiers: list[IdentifierIn] = Field(default_factory=list, max_length=50)
    request_ids: list[uuid.UUID] = Field(default_factory=list, max_length=500,
                                         description="Requests of the case naming the person")


class PersonUpdateIn(BaseModel):
    name: str | None = Field(default=None, max_length=300)
    name_latin: str | None = Field(default=None, max_length=300)
    date_of_birth: date | None = None
    nationality: str | None = None
    identifiers: list[IdentifierIn] | None = Field(default=None, max_length=50)
    request_ids: list[uuid.UUID] | None = Field(default=None, max_length=500)


class DuplicateOut(BaseModel):
    person_id: uuid.UUID
    name: str
    name_latin: str
    case_id: uuid.UUID
    case_reference: str
    score: float


class PersonOut(BaseModel):
    id: uuid.UUID
    case_id: uuid.UUID
    name: str
    name_latin: str
    date_of_birth: date | None
    nationality: str | None
    identifiers: list[IdentifierIn]
    request_ids: list[uuid.UUID]
    created_at: datetime
    duplicates: list[DuplicateOut] = Field(
        default_factory=list, description="The same person in your other records? Same date "
        "of birth, close name in any script")


class TimelineEntry(BaseModel):
    at: datetime
    request_id: uuid.UUID
    reference: str
    event: str
    to_state: str | None = None
    link_kind: str | None = None
    other_reference: str | None = None


class StateOfPlayRow(BaseModel):
    request_id: uuid.UUID
    reference: str
    counterpart_reference: str | None
    direction: str
    counterpart: str
    kind: str
    title: str
    state: str
    next_deadline: datetime | None
    next_deadline_rule: str | None
    last_event: str | None
    last_event_at: datetime | None
    last_message: str | None
    last_message_at: datetime | None


class CaseOut(CaseSummary):
    description: str | None
    items: list[RequestSummary]
    links: list[LinkOut]
    persons: list[PersonOut]
