"""Dependencies: a database session per HTTP request and the authenticated user."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from mla import security
from mla.errors import FieldProblem, Forbidden, InvalidInput, Unauthorized
from mla.models import User

bearer = HTTPBearer(auto_error=False, description="Access token from POST /auth/token")


def get_session(request: Request) -> Iterator[Session]:
    with request.app.state.sessions() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def current_user(
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> User:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("a bearer access token is required")
    return security.verify_access_token(session, credentials.credentials)


UserDep = Annotated[User, Depends(current_user)]


def require_roles(*roles: str) -> Callable[[User], User]:
    def check(user: UserDep) -> User:
        if user.role not in roles:
            raise Forbidden(f"this needs the role {' or '.join(roles)}; you are {user.role}")
        return user

    return check


def if_match(if_match: Annotated[str | None, Header()] = None) -> int | None:
    """The version the client last saw, from `If-Match: "3"` (or W/"3", or 3)."""
    if if_match is None or if_match.strip() == "*":
        return None
    raw = if_match.strip().removeprefix("W/").strip('"')
    if not raw.isdigit():
        raise InvalidInput("If-Match must carry the version number as an entity tag",
                           [FieldProblem("If-Match", 'e.g. If-Match: "3"')])
    return int(raw)


IfMatchDep = Annotated[int | None, Depends(if_match)]
