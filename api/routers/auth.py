"""Login and the public keys that verify our tokens."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.security import OAuth2PasswordRequestForm

from api import projections
from api.deps import SessionDep, UserDep
from api.problems import PROBLEM_RESPONSES
from api.schemas.auth import TokenOut
from api.schemas.users import UserOut
from mla import security
from mla.transfer import keys as transfer_keys
from mla.transfer import peers as transfer_peers

router = APIRouter(tags=["auth"], responses=PROBLEM_RESPONSES)


@router.post("/auth/token", response_model=TokenOut,
             responses={429: PROBLEM_RESPONSES[401] | {"description": "Too many failed logins"}})
def token(form: Annotated[OAuth2PasswordRequestForm, Depends()], request: Request,
          session: SessionDep) -> TokenOut:
    """Exchange username and password for a short-lived access token (OAuth2 password form).
    Authorization: public; failed logins are rate-limited per account and per address."""
    ip = request.client.host if request.client else "unknown"
    user = security.authenticate(session, form.username, form.password, ip)
    access_token, expires_in = security.issue_access_token(session, user)
    session.commit()
    return TokenOut(access_token=access_token, expires_in=expires_in)


@router.get("/auth/me", response_model=UserOut)
def me(user: UserDep) -> UserOut:
    """Who the token belongs to. Authorization: any role."""
    return projections.user_out(user)


@router.get("/.well-known/jwks.json", tags=["auth"])
def jwks(session: SessionDep) -> dict[str, Any]:
    """Public keys that verify this instance's tokens and, when it takes part in electronic
    transfer, its transfer keys marked `purpose: transfer` for peers on the first release
    (the others read /transfer/jwks.json). Authorization: public."""
    keys = security.jwks(session)
    if transfer_peers.home_code() is not None:
        keys["keys"] = [*keys["keys"], *({**k, "purpose": transfer_keys.PURPOSE}
                                         for k in transfer_keys.public_jwks(session))]
    session.commit()
    return keys
