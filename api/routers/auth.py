"""Login and the public keys that verify our tokens."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request, Response
from fastapi.security import OAuth2PasswordRequestForm

from api import projections
from api.deps import SessionDep, UserDep
from api.problems import PROBLEM_RESPONSES
from api.schemas.auth import TokenOut
from api.schemas.users import UserOut
from mla import security
from mla.identity import login
from mla.transfer import keys as transfer_keys
from mla.transfer import peers as transfer_peers

router = APIRouter(tags=["auth"], responses=PROBLEM_RESPONSES)


@router.post("/auth/token", response_model=TokenOut,
             responses={429: PROBLEM_RESPONSES[401] | {"description": "Too many failed logins"}})
def token(form: Annotated[OAuth2PasswordRequestForm, Depends()], request: Request,
          session: SessionDep,
          otp: Annotated[str | None, Form(max_length=40, description=(
              "current code of the account's authenticator app, or a recovery code "
              "(accounts with a second factor)"))] = None) -> TokenOut:
    """Exchange username and password (and `otp`, the second factor's code, where the
    account has one) for a short-lived access token (OAuth2 password form).
    Authorization: public; failed logins and codes are rate-limited per account."""
    ip = request.client.host if request.client else "unknown"
    access_token = login.api_password(session, form.username, form.password, otp, ip)
    return TokenOut(access_token=access_token, expires_in=security.token_ttl())


@router.post("/auth/logout-everywhere", status_code=204)
def logout_everywhere(user: UserDep, session: SessionDep) -> Response:
    """End every session of the caller's account: every token issued to it so far stops
    working, in every process, console sessions included. Authorization: any role (own
    account)."""
    login.logout_everywhere(session, user)
    return Response(status_code=204)


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
