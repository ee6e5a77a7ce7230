"""The audit trail of my authority."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from api import projections
from api.deps import SessionDep, UserDep
from api.problems import PROBLEM_RESPONSES
from api.schemas.audit import AuditEventOut, CheckpointIn, CheckpointOut
from mla import audit
from mla.clock import utcnow
from mla.errors import Forbidden
from mla.ops import anchor

router = APIRouter(prefix="/audit", tags=["audit"], responses=PROBLEM_RESPONSES)


@router.get("", response_model=list[AuditEventOut])
def events(session: SessionDep, user: UserDep,
           after_id: Annotated[int | None, Query(ge=0, le=2**63 - 1)] = None,
           limit: Annotated[int, Query(ge=1, le=500)] = 100) -> list[AuditEventOut]:
    """Audit events recorded for my authority's users, without the case text some of them
    quote (see `withheld`). Authorization: admin."""
    if user.role != "admin":
        raise Forbidden(f"the audit trail is for admins; you are {user.role}")
    rows = audit.events(session, authority_id=user.authority_id, after_id=after_id, limit=limit)
    return [projections.audit_event(r) for r in rows]


# Checkpoints are signed public statements (chain length and head hash, no content): no token,
# so peers and outside witnesses can fetch them.
checkpoints_router = APIRouter(prefix="/audit/checkpoints", tags=["audit"],
                               responses=PROBLEM_RESPONSES)


@checkpoints_router.get("", response_model=list[CheckpointOut])
def checkpoints(session: SessionDep,
                limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[dict[str, Any]]:
    """This instance's signed audit checkpoints, newest first: keep copies elsewhere, check the
    chain against them with `mla audit verify --checkpoints`. Authorization: public."""
    return [anchor.to_dict(c) for c in anchor.own(session, limit)]


@checkpoints_router.post("/witness", response_model=CheckpointOut)
def witness(body: CheckpointIn, session: SessionDep) -> dict[str, Any]:
    """A peer instance's checkpoint, kept here to witness its chain; 409 if it contradicts
    one kept before (its chain was rewritten). Authorization: signed by a registered peer's
    published transfer key."""
    checkpoint = anchor.receive(session, body.jws, utcnow())
    result = anchor.to_dict(checkpoint)
    session.commit()
    return result


@checkpoints_router.get("/witnessed/{code}", response_model=list[CheckpointOut])
def witnessed(code: Annotated[str, Path(max_length=40)], session: SessionDep,
              limit: Annotated[int, Query(ge=1, le=1000)] = 1000) -> list[dict[str, Any]]:
    """The checkpoints peer `code` sent this instance, newest first: what it checks its own
    chain against (`mla audit verify --checkpoints peer`). Authorization: public."""
    return [anchor.to_dict(c) for c in anchor.witnessed(session, code, limit)]
