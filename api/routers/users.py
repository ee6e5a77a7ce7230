"""User administration for my authority."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response, status

from api import projections
from api.deps import SessionDep, UserDep
from api.problems import PROBLEM_RESPONSES
from api.schemas.users import UserIn, UserOut, UserPatch
from mla import accounts
from mla.oncall import matrix

# users.id is a 32-bit integer: a larger id is a 422, not a database error.
UserId = Annotated[int, Path(ge=1, le=2**31 - 1, description="User id")]

router = APIRouter(prefix="/users", tags=["users"], responses=PROBLEM_RESPONSES)


@router.get("", response_model=list[UserOut])
def list_users(session: SessionDep, user: UserDep) -> list[UserOut]:
    """Users of my authority. Authorization: admin."""
    return [projections.user_out(u) for u in accounts.list_users(session, user)]


@router.post("", status_code=status.HTTP_201_CREATED, response_model=UserOut)
def create_user(body: UserIn, session: SessionDep, user: UserDep,
                response: Response) -> UserOut:
    """Add a user to my authority. Authorization: admin."""
    created = accounts.create_user(session, user, **body.model_dump())
    session.commit()
    response.headers["Location"] = f"/users/{created.id}"
    return projections.user_out(created)


@router.get("/{user_id}", response_model=UserOut)
def get_user(user_id: UserId, session: SessionDep, user: UserDep) -> UserOut:
    """One user of my authority. Authorization: admin."""
    return projections.user_out(accounts.get_user(session, user, user_id))


@router.patch("/{user_id}", response_model=UserOut)
def update_user(user_id: UserId, body: UserPatch, session: SessionDep,
                user: UserDep) -> UserOut:
    """Change role, name, e-mail, password, Matrix account; deactivate. Authorization:
    admin."""
    target = accounts.get_user(session, user, user_id)
    changes = body.model_dump(exclude_unset=True)
    matrix_id = changes.pop("matrix_id", None)
    accounts.update_user(session, user, target, **changes)
    if matrix_id is not None:  # after update_user's admin and authority checks
        matrix.link_user(session, target, matrix_id or None)
    session.commit()
    return projections.user_out(target)
