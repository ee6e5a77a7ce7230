"""Logging in to the console and out."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from api.deps import SessionDep
from api.web.session import (
    PREFIX,
    SESSION_COOKIE,
    CheckedForm,
    ConsoleRoute,
    end_session,
    flash,
    page,
    redirect,
    safe_next,
    start_session,
)
from mla import security
from mla.errors import RateLimited, Unauthorized

router = APIRouter(prefix=PREFIX, include_in_schema=False, route_class=ConsoleRoute)


@router.get("", response_class=HTMLResponse)
@router.get("/", response_class=HTMLResponse)
def home() -> Response:
    return redirect(f"{PREFIX}/requests")


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str | None = None) -> Response:
    return page(request, "login.html", {"next": safe_next(next), "username": ""})


@router.post("/login", response_class=HTMLResponse)
def login(request: Request, form: CheckedForm, session: SessionDep) -> Response:
    username = str(form.get("username") or "").strip()
    password = str(form.get("password") or "")
    target = safe_next(str(form.get("next") or ""))
    ip = request.client.host if request.client else "unknown"
    try:
        user = security.authenticate(session, username, password, ip)
    except (Unauthorized, RateLimited) as exc:
        status = 429 if isinstance(exc, RateLimited) else 401
        return page(request, "login.html", {"next": target, "username": username,
                                            "error": exc.detail}, status_code=status)
    token, _ = security.issue_access_token(session, user)
    session.commit()
    start_session(request, token)
    return redirect(target)


@router.post("/logout", response_class=HTMLResponse)
def logout(request: Request, form: CheckedForm, session: SessionDep) -> Response:
    # Revoked on the server, not only dropped by this browser: a copy of the cookie (or the
    # same token sent as a bearer token to the API) opens nothing any more.
    token = request.cookies.get(SESSION_COOKIE)
    if token and security.revoke_access_token(session, token):
        session.commit()
    end_session(request)
    flash(request, "You are logged out.")
    return redirect(f"{PREFIX}/login")
