"""Logging in to the console and out."""

from __future__ import annotations

from urllib.parse import quote

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
    queue_cookie,
    redirect,
    safe_next,
    start_session,
)
from mla.errors import RateLimited, Unauthorized
from mla.i18n import _
from mla.identity import login as logins
from mla.identity import oidc

# Between the password and the second factor: the signed proof of the first step.
STEP_COOKIE = "mla_console_step"

router = APIRouter(prefix=PREFIX, include_in_schema=False, route_class=ConsoleRoute)


@router.get("", response_class=HTMLResponse)
@router.get("/", response_class=HTMLResponse)
def home() -> Response:
    return redirect(f"{PREFIX}/requests")


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str | None = None) -> Response:
    return page(request, "login.html", {"next": safe_next(next), "username": "",
                                        "sso": oidc.configured()})


@router.post("/login", response_class=HTMLResponse)
def login(request: Request, form: CheckedForm, session: SessionDep) -> Response:
    username = str(form.get("username") or "").strip()
    password = str(form.get("password") or "")
    target = safe_next(str(form.get("next") or ""))
    ip = request.client.host if request.client else "unknown"
    try:
        step = logins.password(session, username, password, ip)
    except (Unauthorized, RateLimited) as exc:
        status = 429 if isinstance(exc, RateLimited) else 401
        return page(request, "login.html", {"next": target, "username": username,
                                            "error": exc.detail, "sso": oidc.configured()},
                    status_code=status)
    if step.token is None:
        queue_cookie(request, STEP_COOKIE, step.step_token)
        return redirect(f"{PREFIX}/login/{step.step}?next={quote(target, safe='')}")
    start_session(request, step.token)
    return redirect(target)


@router.post("/logout", response_class=HTMLResponse)
def logout(request: Request, form: CheckedForm, session: SessionDep) -> Response:
    # Revoked on the server, not only dropped by this browser: a copy of the cookie (or the
    # same token sent as a bearer token to the API) opens nothing any more.
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        logins.logout(session, token)
    end_session(request)
    flash(request, _("You are logged out."))
    return redirect(f"{PREFIX}/login")
