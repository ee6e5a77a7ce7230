"""Bodies of country and authority profiles and of the competent-authority finder
(api/routers/profiles.py). The profile's fields are checked by the domain
(mla/profiles/model.py), which names each wrong field."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ProfileIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "languages": {"*": ["en", "sw"]},
        "channels": ["peer_transfer", "email_signed_pdf", "diplomatic"],
        "electronic_signature": True,
        "certified_translation": True,
        "dual_criminality": {"measures": ["coercive"], "mandatory": True},
        "legal_bases": ["untoc", "uncac", "budapest"],
        "transmission": {"*": "central"},
        "execution_days": {"mla.evidence": 90},
        "notes": [{"text": "Requests by e-mail are accepted if the original follows.",
                   "source": "Mutual Legal Assistance Act 2011 s. 8", "date": "2026-01-15"}],
        "contact": {"email": "mla@odpp.example", "office_hours": "Mon-Fri 08:00-17:00"},
    }]})
    languages: dict[str, Any] | None = Field(
        default=None, description="Accepted languages by request kind (\"*\": any kind)")
    channels: list[Any] | None = Field(default=None, max_length=10)
    electronic_signature: Any = None
    certified_translation: Any = None
    dual_criminality: dict[str, Any] | None = None
    penalty_thresholds: dict[str, Any] | None = Field(
        default=None, description="By legal basis: maximum_months, imposed_months")
    legal_bases: list[Any] | None = Field(default=None, max_length=50)
    transmission: dict[str, Any] | None = Field(
        default=None, description="central or direct, by request kind (\"*\": any kind)")
    execution_days: dict[str, Any] | None = None
    notes: list[Any] | None = Field(default=None, max_length=50)
    contact: dict[str, Any] | None = None


class ProfileSummary(BaseModel):
    code: str
    country: str
    updated_at: datetime


class ProfileOut(ProfileSummary):
    body: dict[str, Any]
    editable: bool = Field(description="Whether the caller may change this profile")


class RequirementsOut(BaseModel):
    authority: str
    sources: list[str] = Field(description="Profiles merged, country first")
    body: dict[str, Any]


class CompetentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    country: str
    measure: str
    area: str
    places: list[str]
    name: str
    authority_code: str | None
    transmission: str
    contact: str
    languages: list[str]
    notes: str


class FinderOut(BaseModel):
    country: str
    measure: str
    place: str | None
    executing: CompetentOut
    transmission: str = Field(description="central: through the central authority; direct: "
                                          "to the executing authority")
    send_to: str | None = Field(description="Directory code to address the request to "
                                            "(null: not in this directory)")
    send_to_name: str
    exact_measure: bool
    local: bool = Field(description="Whether the area covers the place (else country-wide)")
    alternatives: list[CompetentOut]


class FindingOut(BaseModel):
    code: str
    field: str
    message: str
    mandatory: bool = Field(description="true: transmitting is refused until it is met")
