"""Writing profiles: checked, upserted on their code, audited (who may: service.can_edit)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mla import audit
from mla.clock import utcnow
from mla.errors import FieldProblem, InvalidInput
from mla.models import Authority, Profile, User
from mla.profiles.model import CODE, COUNTRY, validate_body
from mla.profiles.service import check_can_edit


def _country_of(session: Session, code: str) -> tuple[str, Authority | None]:
    """The country a profile code belongs to, and the authority when it names one."""
    if COUNTRY.fullmatch(code):
        return code, None
    if not CODE.fullmatch(code):
        raise InvalidInput(f"{code!r} is not a profile code", [FieldProblem(
            "code", "a country code (ISO 3166 alpha-2, e.g. KE) or an authority code "
                    "(e.g. KE-ODPP)")])
    authority = session.scalar(select(Authority).where(Authority.code == code))
    if authority is not None:
        return authority.country, authority
    country = code.split("-", 1)[0]
    if not COUNTRY.fullmatch(country):
        raise InvalidInput(f"{code!r} names no authority of the directory", [FieldProblem(
            "code", "an authority code starting with its country, e.g. KE-ODPP")])
    return country, None


def save(session: Session, code: str, body: Mapping[str, Any], *,
         actor: User | None = None) -> tuple[Profile, bool]:
    """Creates or replaces the profile `code`; (profile, created). `actor=None` is the
    instance's operator (import); a user must be allowed (`can_edit`)."""
    if actor is not None:
        check_can_edit(actor, code)
    problems = validate_body(body)
    if problems:
        raise InvalidInput(f"the profile {code} has {len(problems)} problem(s)", problems)
    country, authority = _country_of(session, code)
    profile = session.scalar(select(Profile).where(Profile.code == code))
    created = profile is None
    if profile is None:
        profile = Profile(code=code, country=country)
        session.add(profile)
    profile.authority_id = authority.id if authority else None
    profile.body = dict(body)
    profile.updated_at = utcnow()
    profile.updated_by_id = actor.id if actor else None
    session.flush()
    audit.record(session, "profile.save", actor=actor, object_type="profile", object_id=code,
                 detail={"created": created, "keys": sorted(body)})
    return profile, created
