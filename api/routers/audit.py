"""The audit trail of my authority."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api import projections
from api.deps import SessionDep, UserDep
from api.problems import PROBLEM_RESPONSES
from api.schemas.audit import AuditEventOut
from mla import audit
from mla.errors import Forbidden

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
