"""Console login through the ministry's identity provider (OpenID Connect), the second
factor of local accounts (its login step, its enrolment) and the account's security page
("log out everywhere")."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from api.deps import SessionDep
from api.web.pages.login import STEP_COOKIE
from api.web.session import (
    PREFIX,
    CheckedForm,
    ConsoleRoute,
    ConsoleUser,
    end_session,
    error_page,
    flash,
    html,
    page,
    queue_cookie,
    redirect,
    safe_next,
    secure_cookies,
    start_session,
)
from mla import security, settings
from mla.errors import DomainError, InvalidInput, RateLimited, Unauthorized
from mla.i18n import _
from mla.identity import login as logins
from mla.identity import oidc, security_keys, sso, totp

router = APIRouter(prefix=PREFIX, include_in_schema=False, route_class=ConsoleRoute)

# The login's `state`, bound to this browser. Lax, not Strict: the provider sends the browser
# back with a top-level navigation from its own site, which Strict cookies do not follow.
STATE_COOKIE = "mla_oidc_state"
CALLBACK = "/login/oidc/callback"


def _redirect_uri() -> str:
    return settings.get().public_url.rstrip("/") + PREFIX + CALLBACK


@router.get("/login/oidc", response_class=HTMLResponse)
def oidc_start(request: Request, session: SessionDep, next: str | None = None) -> Response:
    if not oidc.configured():
        return error_page(request, 404, _("Not found"),
                          _("single sign-on is not configured on this instance"))
    try:
        state, url = oidc.begin(session, redirect_uri=_redirect_uri(), next_url=safe_next(next))
    except Unauthorized as exc:
        return error_page(request, 503, _("Identity provider unavailable"), exc.detail)
    session.commit()
    response = redirect(url)
    response.set_cookie(STATE_COOKIE, state, path=PREFIX + CALLBACK, httponly=True,
                        samesite="lax", secure=secure_cookies(request), max_age=600)
    return response


@router.get(CALLBACK, response_class=HTMLResponse)
def oidc_callback(request: Request, session: SessionDep, state: str = "", code: str = "",
                  error: str = "", error_description: str = "") -> Response:
    if error:
        response = error_page(request, 401, _("Not signed in"),
                              _("the identity provider answered: {answer}",
                                answer=error_description or error))
    elif not (state and code) or len(state) > 200 or len(code) > 2000:
        response = error_page(request, 400, _("Not signed in"),
                              _("the identity provider's answer has no code or state"))
    else:
        try:
            claims, target = oidc.finish(session, state=state, code=code,
                                         redirect_uri=_redirect_uri(),
                                         cookie_state=request.cookies.get(STATE_COOKIE))
            user = sso.user_for(session, oidc.issuer() or "", claims)
            token = logins.finish(session, user, "oidc")
        except sso.AccessRefused as exc:
            session.commit()
            response = error_page(request, 403, _("No access to this instance"), exc.detail)
        except Unauthorized as exc:
            # The login flow is used up whatever went wrong: committed with the audit entry.
            logins.sso_failed(session, exc.detail)
            response = error_page(request, 401, _("Not signed in"), exc.detail)
        else:
            start_session(request, token)
            # A page of ours moves on, not a redirect: the session cookie is SameSite=Strict,
            # and a redirect chain that began on the provider's site would not send it.
            response = html.TemplateResponse(request, "signed_in.html",
                                             {"next": target, "prefix": PREFIX})
    response.delete_cookie(STATE_COOKIE, path=PREFIX + CALLBACK, httponly=True,
                           samesite="lax", secure=secure_cookies(request))
    return response


# --- second factor at login -----------------------------------------------------------------


def _second_factor_page(request: Request, session: SessionDep, next_url: str,
                        error: str | None = None, status_code: int = 200) -> Response:
    try:
        user = security.verify_step_token(session, request.cookies.get(STEP_COOKIE) or "",
                                          logins.STEP_SECOND_FACTOR)
    except Unauthorized:
        return redirect(f"{PREFIX}/login")
    return page(request, "second_factor.html", {
        "next": next_url, "error": error, "has_keys": security_keys.has_keys(session, user),
        "has_totp": totp.factor(session, user) is not None}, status_code=status_code)


@router.get("/login/second-factor", response_class=HTMLResponse)
def second_factor_form(request: Request, session: SessionDep,
                       next: str | None = None) -> Response:
    return _second_factor_page(request, session, safe_next(next))


@router.post("/login/second-factor", response_class=HTMLResponse)
def second_factor(request: Request, form: CheckedForm, session: SessionDep) -> Response:
    target = safe_next(str(form.get("next") or ""))
    ip = request.client.host if request.client else "unknown"
    try:
        _, token = logins.second_factor(session, request.cookies.get(STEP_COOKIE) or "",
                                        str(form.get("code") or "")[:40], ip)
    except (Unauthorized, RateLimited) as exc:
        status = 429 if isinstance(exc, RateLimited) else 401
        return _second_factor_page(request, session, target, exc.detail, status)
    queue_cookie(request, STEP_COOKIE, None)
    start_session(request, token)
    return redirect(target)


def _enrol_page(request: Request, user_secret: tuple[object, str], *, action: str,
                next_url: str, required: bool, error: str | None = None,
                status_code: int = 200) -> Response:
    user, secret = user_secret
    uri = totp.provisioning_uri(user, secret)  # type: ignore[arg-type]
    return page(request, "enrol.html", {"qr": totp.qr_svg(uri), "secret": secret,
                                        "action": action, "next": next_url,
                                        "required": required, "error": error},
                status_code=status_code)


@router.get("/login/enrol", response_class=HTMLResponse)
def enrol_at_login(request: Request, session: SessionDep, next: str | None = None) -> Response:
    try:
        started = logins.enrol_start(session, request.cookies.get(STEP_COOKIE), None)
    except Unauthorized:
        return redirect(f"{PREFIX}/login")
    return _enrol_page(request, started, action=f"{PREFIX}/login/enrol",
                       next_url=safe_next(next), required=True)


@router.post("/login/enrol", response_class=HTMLResponse)
def confirm_at_login(request: Request, form: CheckedForm, session: SessionDep) -> Response:
    return _confirm(request, form, session, None, f"{PREFIX}/login/enrol")


def _confirm(request: Request, form: CheckedForm, session: SessionDep,
             user: object | None, action: str) -> Response:
    target = safe_next(str(form.get("next") or ""))
    ip = request.client.host if request.client else "unknown"
    step_token = request.cookies.get(STEP_COOKIE)
    try:
        confirmed, codes, token = logins.enrol_confirm(
            session, step_token, user, str(form.get("code") or "")[:10], ip)  # type: ignore[arg-type]
    except (Unauthorized, RateLimited, InvalidInput) as exc:
        if isinstance(exc, Unauthorized) and user is None and step_token is None:
            return redirect(f"{PREFIX}/login")
        try:
            started = logins.enrol_start(session, step_token, user)  # type: ignore[arg-type]
        except (Unauthorized, InvalidInput):
            return redirect(f"{PREFIX}/login")
        status = 429 if isinstance(exc, RateLimited) else 400
        return _enrol_page(request, started, action=action, next_url=target,
                           required=user is None, error=exc.detail, status_code=status)
    if token is not None:
        queue_cookie(request, STEP_COOKIE, None)
        start_session(request, token)
    request.state.user = confirmed
    return page(request, "recovery_codes.html", {"codes": codes, "next": target})


# --- the account's security page ------------------------------------------------------------


@router.get("/settings/security", response_class=HTMLResponse)
def security_page(request: Request, user: ConsoleUser, session: SessionDep) -> Response:
    enrolled = totp.factor(session, user) is not None
    return page(request, "security.html", {
        "enrolled": enrolled, "required": totp.required(user),
        "keys": len(security_keys.keys(session, user)),
        "recovery_left": totp.remaining_recovery_codes(session, user) if enrolled else 0,
        "sso": user.password_hash is None and oidc.configured()})


@router.post("/settings/security/enrol", response_class=HTMLResponse)
def enrol_from_settings(request: Request, form: CheckedForm, user: ConsoleUser,
                        session: SessionDep) -> Response:
    if str(form.get("code") or ""):
        return _confirm(request, form, session, user, f"{PREFIX}/settings/security/enrol")
    started = logins.enrol_start(session, None, user)
    return _enrol_page(request, started, action=f"{PREFIX}/settings/security/enrol",
                       next_url=f"{PREFIX}/settings/security", required=False)


@router.post("/settings/logout-everywhere", response_class=HTMLResponse)
def logout_everywhere(request: Request, form: CheckedForm, user: ConsoleUser,
                      session: SessionDep) -> Response:
    logins.logout_everywhere(session, user)
    end_session(request)
    flash(request, _("You are logged out everywhere."))
    return redirect(f"{PREFIX}/login?next={quote(PREFIX + '/requests', safe='')}")


# --- security keys (WebAuthn): JSON for api/web/static/webauthn.js --------------------------

KEY_CHALLENGE_COOKIE = "mla_console_webauthn"


def _json_error(exc: DomainError) -> JSONResponse:
    status = 429 if isinstance(exc, RateLimited) else 401 if isinstance(exc, Unauthorized) \
        else 400
    return JSONResponse({"detail": exc.detail}, status_code=status)


def _options(request: Request, options: str, challenge_token: str) -> Response:
    queue_cookie(request, KEY_CHALLENGE_COOKIE, challenge_token)
    return Response(options, media_type="application/json")


@router.post("/login/webauthn/options")
def key_login_options(request: Request, form: CheckedForm, session: SessionDep) -> Response:
    try:
        options, token = logins.key_login_options(session,
                                                  request.cookies.get(STEP_COOKIE) or "")
    except DomainError as exc:
        return _json_error(exc)
    return _options(request, options, token)


@router.post("/login/webauthn")
def key_login(request: Request, form: CheckedForm, session: SessionDep) -> Response:
    ip = request.client.host if request.client else "unknown"
    try:
        _, token = logins.key_login(session, request.cookies.get(KEY_CHALLENGE_COOKIE) or "",
                                    str(form.get("credential") or "")[:20_000], ip)
    except DomainError as exc:
        return _json_error(exc)
    queue_cookie(request, STEP_COOKIE, None)
    queue_cookie(request, KEY_CHALLENGE_COOKIE, None)
    start_session(request, token)
    return JSONResponse({"next": safe_next(str(form.get("next") or "")),
                         "message": "Logged in."})


@router.post("/settings/security/webauthn/options")
def key_register_options(request: Request, form: CheckedForm, user: ConsoleUser,
                         session: SessionDep) -> Response:
    options, token = logins.key_register_options(session, user)
    return _options(request, options, token)


@router.post("/settings/security/webauthn")
def key_register(request: Request, form: CheckedForm, user: ConsoleUser,
                 session: SessionDep) -> Response:
    try:
        logins.key_register(session, user, request.cookies.get(KEY_CHALLENGE_COOKIE) or "",
                            str(form.get("credential") or "")[:20_000])
    except DomainError as exc:
        return _json_error(exc)
    queue_cookie(request, KEY_CHALLENGE_COOKIE, None)
    return JSONResponse({"message": "Security key added.",
                         "next": f"{PREFIX}/settings/security"})
