"""Country and authority profiles, the competent-authority finder, the profile checks of a
request and our authority's UNODC directory entry."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.deps import SessionDep, UserDep
from api.problems import PROBLEM_RESPONSES
from api.schemas.profiles import (
    CompetentOut,
    FinderOut,
    FindingOut,
    ProfileIn,
    ProfileOut,
    ProfileSummary,
    RequirementsOut,
)
from mla import access
from mla.directory import service as directory
from mla.errors import NotFound
from mla.models import Profile, User
from mla.profiles import checks, editing, finder, model, service, unodc

router = APIRouter(tags=["profiles"], responses=PROBLEM_RESPONSES)


def _out(profile: Profile, user: User) -> ProfileOut:
    return ProfileOut(code=profile.code, country=profile.country,
                      updated_at=profile.updated_at, body=profile.body,
                      editable=service.can_edit(user, profile.code))


@router.get("/profiles", response_model=list[ProfileSummary])
def profiles(session: SessionDep, user: UserDep,
             country: Annotated[str | None, Query(max_length=2)] = None) -> list[Profile]:
    """Every profile (countries and authorities), or one country's. Authorization: any role
    (profiles are reference data shared by all authorities)."""
    return service.listing(session, country)


@router.get("/profiles/measures", response_model=dict[str, str])
def measures(user: UserDep) -> dict[str, str]:
    """Measure codes the finder and dual criminality rules take: request kinds and the EIO
    section C measures, with their labels. Authorization: any role."""
    return model.measures()


@router.get("/profiles/{code}", response_model=ProfileOut)
def profile(code: str, session: SessionDep, user: UserDep) -> ProfileOut:
    """One profile by country (KE) or authority (KE-ODPP) code. Authorization: any role."""
    return _out(service.get(session, code), user)


@router.put("/profiles/{code}", response_model=ProfileOut)
def save_profile(code: str, body: ProfileIn, session: SessionDep, user: UserDep) -> ProfileOut:
    """Create or replace a profile. Authorization: admin or supervisor of the authority the
    code names; admin of an authority of the country the code names; 403 for anyone else."""
    found, _ = editing.save(session, code, body.model_dump(exclude_none=True), actor=user)
    session.commit()
    return _out(found, user)


@router.get("/authorities/{code}/requirements", response_model=RequirementsOut)
def requirements(code: str, session: SessionDep, user: UserDep) -> RequirementsOut:
    """What an authority requires: its country's profile overridden by its own.
    Authorization: any role."""
    authority = directory.authority_by_code(session, code)
    reqs = service.requirements(session, authority)
    return RequirementsOut(authority=code, sources=list(reqs.sources), body=dict(reqs.body))


@router.get("/profiles/{code}/unodc", response_model=dict[str, Any])
def unodc_entry(code: str, session: SessionDep, user: UserDep) -> dict[str, Any]:
    """Our authority's entry in the shape of the UNODC directory of competent national
    authorities (UNSC res. 2322 (2016) para 13(g)). Authorization: any role of that
    authority; 404 for the others (it is ours to send)."""
    if code != user.authority.code:
        raise NotFound(f"no profile {code} of your authority")
    return unodc.entry(session, user.authority)


@router.get("/finder", response_model=FinderOut)
def find(session: SessionDep, user: UserDep,
         country: Annotated[str, Query(max_length=2, description="ISO 3166 alpha-2")],
         measure: Annotated[str, Query(max_length=80, description="Request kind or eio.c.*")],
         place: Annotated[str | None, Query(max_length=200,
                                            description="City, district or region")] = None,
         ) -> FinderOut:
    """Which authority executes `measure` at `place` in `country`, and whether the request
    goes there directly or through the central authority. Authorization: any role."""
    found = finder.candidates(session, country, measure, place)
    if not found:
        finder.find(session, country, measure, place)  # raises NotFound with its advice
    best = found[0]
    return FinderOut(country=country, measure=measure, place=place,
                     executing=CompetentOut.model_validate(best.row),
                     transmission=best.transmission, send_to=best.send_to,
                     send_to_name=best.send_to_name, exact_measure=best.exact_measure,
                     local=best.local,
                     alternatives=[CompetentOut.model_validate(m.row) for m in found[1:]])


@router.get("/requests/{request_id}/profile-checks", response_model=list[FindingOut])
def profile_checks(request_id: uuid.UUID, session: SessionDep,
                   user: UserDep) -> list[FindingOut]:
    """What the requested authority's profile requires and the request does not meet yet;
    `mandatory` ones stop the transmission. Authorization: officer or supervisor of either
    party."""
    request = access.get_request(session, request_id, user)
    access.require_content(user)
    return [FindingOut(code=f.code, field=f.path, message=f.message, mandatory=f.mandatory)
            for f in checks.check_request(session, request)]
