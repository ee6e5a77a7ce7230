"""The directory of central authorities (read)."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import select

from api.deps import SessionDep, UserDep
from api.problems import PROBLEM_RESPONSES
from api.schemas.directory import AuthorityOut
from mla.directory import service as directory
from mla.models import Authority

router = APIRouter(prefix="/authorities", tags=["directory"], responses=PROBLEM_RESPONSES)


@router.get("", response_model=list[AuthorityOut])
def authorities(session: SessionDep, user: UserDep) -> list[Authority]:
    """Every authority requests can be addressed to. Authorization: any role (the directory
    is shared by all authorities)."""
    return list(session.scalars(select(Authority).order_by(Authority.code)))


@router.get("/{code}", response_model=AuthorityOut)
def authority(code: str, session: SessionDep, user: UserDep) -> Authority:
    """One authority by code. Authorization: any role."""
    return directory.authority_by_code(session, code)
