"""Deadlines of my authority's requests, and their extension."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Query

from api import projections
from api.deps import SessionDep, UserDep
from api.problems import PROBLEM_RESPONSES
from api.schemas.deadlines import DeadlineOut, ExtendIn
from mla import access
from mla.deadlines import service as deadlines

router = APIRouter(tags=["deadlines"], responses=PROBLEM_RESPONSES)


@router.get("/deadlines", response_model=list[DeadlineOut])
def upcoming(session: SessionDep, user: UserDep,
             overdue: Annotated[bool, Query(description="Only those past due")] = False,
             limit: Annotated[int, Query(ge=1, le=500)] = 200) -> list[DeadlineOut]:
    """Running deadlines on requests my authority is a party to, soonest first.
    Authorization: any role (deadlines are part of the status view)."""
    return [projections.deadline(d, user) for d in
            deadlines.for_authority(session, user, overdue=overdue, limit=limit)]


@router.get("/requests/{request_id}/deadlines", response_model=list[DeadlineOut])
def of_request(request_id: uuid.UUID, session: SessionDep,
               user: UserDep) -> list[DeadlineOut]:
    """Every deadline of the request, closed ones too. Authorization: a user of either party."""
    request = access.get_request(session, request_id, user)
    return [projections.deadline(d, user) for d in deadlines.for_request(session, request)]


@router.post("/deadlines/{deadline_id}/extensions", response_model=DeadlineOut)
def extend(deadline_id: Annotated[int, Path(ge=1, le=2**63 - 1)], body: ExtendIn,
           session: SessionDep, user: UserDep) -> DeadlineOut:
    """Extend as far as the rule allows (e.g. EAW art. 17(4): 30 days), reason recorded.
    Authorization: supervisor of the authority whose clock it is."""
    deadline = deadlines.get(session, deadline_id, user)
    deadlines.extend(session, deadline, user, days=body.days, reason=body.reason)
    session.commit()
    return projections.deadline(deadline, user)
