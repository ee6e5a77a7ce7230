"""Dependencies: a database session per HTTP request and the authenticated user."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from mla import inputs, security
from mla.errors import FieldProblem, Forbidden, MalformedRequest, Unauthorized
from mla.identity import oidc, sso
from mla.models import User

bearer = HTTPBearer(auto_error=False, description=(
    "Access token from POST /auth/token, or from the identity provider (MLA_OIDC_ISSUER)"))


# Dependencies that do no I/O are async: FastAPI runs each synchronous one in the thread pool,
# a hand-over to a thread and back per dependency and request.
async def get_session(request: Request) -> AsyncIterator[Session]:
    # The app's lifespan sets the slots (see api.app); an app used without it (a TestClient
    # outside `with`) runs unbounded.
    slots: asyncio.Semaphore | None = getattr(request.app.state, "session_slots", None)
    async with slots or contextlib.nullcontext():
        # Creating a session opens no connection; closing one talks to the database only
        # when a transaction is still open (no commit: reads, errors), then in a thread.
        session = request.app.state.sessions()
        try:
            yield session
        finally:
            if session.in_transaction():
                await run_in_threadpool(session.close)
            else:
                session.close()


SessionDep = Annotated[Session, Depends(get_session)]


def current_user(
    request: Request,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> User:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("a bearer access token is required")
    token = credentials.credentials
    if oidc.is_provider_token(token):
        # The ministry's provider issued it: verified against its keys, the user found by
        # its subject and kept equal to what the claim mapping gives.
        claims = oidc.verify_bearer(token)
        user = sso.user_for(session, oidc.issuer() or "", claims, via="bearer")
    else:
        user = security.verify_access_token(session, token)
    # For the request's log line (api/observe.py).
    request.state.user_id = user.id
    return user


UserDep = Annotated[User, Depends(current_user)]


def require_roles(*roles: str) -> Callable[[User], User]:
    def check(user: UserDep) -> User:
        if user.role not in roles:
            raise Forbidden(f"this needs the role {' or '.join(roles)}; you are {user.role}")
        return user

    return check


async def if_match(if_match: Annotated[str | None, Header()] = None) -> int | None:
    """The version the client last saw, from `If-Match: "3"` (or W/"3", or 3)."""
    if if_match is None or if_match.strip() == "*":
        return None
    raw = if_match.strip().removeprefix("W/").strip('"')
    version = inputs.parse_int(raw)
    if version is None:
        raise MalformedRequest("If-Match must carry the version number as an entity tag",
                               [FieldProblem("If-Match", 'e.g. If-Match: "3"')])
    return version


IfMatchDep = Annotated[int | None, Depends(if_match)]
