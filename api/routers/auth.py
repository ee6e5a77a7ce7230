"""Login and the public keys that verify our tokens."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.security import OAuth2PasswordRequestForm

from api import projections, schemas
from api.deps import SessionDep, UserDep
from api.problems import PROBLEM_RESPONSES
from mla import security
from mla.transfer import service as transfer

router = APIRouter(tags=["auth"], responses=PROBLEM_RESPONSES)


@router.post("/auth/token", response_model=schemas.TokenOut,
             responses={429: PROBLEM_RESPONSES[401] | {"description": "Too many failed logins"}})
def token(form: Annotated[OAuth2PasswordRequestForm, Depends()], request: Request,
          session: SessionDep) -> schemas.TokenOut:
    """Exchange username and password for a short-lived access token (OAuth2 password form).
    Authorization: public; failed logins are rate-limited per account and per address."""
    ip = request.client.host if request.client else "unknown"
    user = security.authenticate(session, form.username, form.password, ip)
    access_token, expires_in = security.issue_access_token(session, user)
    session.commit()
    return schemas.TokenOut(access_token=access_token, expires_in=expires_in)


@router.get("/auth/me", response_model=schemas.UserOut)
def me(user: UserDep) -> schemas.UserOut:
    """Who the token belongs to. Authorization: any role."""
    return projections.user_out(user)


@router.get("/.well-known/jwks.json", tags=["auth"])
def jwks(session: SessionDep) -> dict[str, Any]:
    """Public keys that verify this instance's tokens and, when it takes part in electronic
    transfer, its transfer keys (`purpose: transfer`; `use` sig or enc). Authorization:
    public."""
    keys = security.jwks(session)
    if transfer.home_code() is not None:
        keys["keys"] = [*keys["keys"], *transfer.public_jwks(session)]
    session.commit()
    return keys
