"""Console sessions: the API's own access token in an HttpOnly cookie, renewed while the
officer works, and a CSRF token on every form (double-submit: a random value in a second
SameSite=Strict cookie that each POST must echo in its `csrf_token` field, plus an Origin
check). Authorization is the API's: the same token verification, the same domain checks."""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

from fastapi import Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from jose import jwt
from jose.exceptions import JOSEError
from starlette.datastructures import FormData

from api.deps import SessionDep
from mla import i18n, legal, security, settings
from mla.errors import DomainError, Forbidden, NotFound, Unauthorized
from mla.i18n import N_, _
from mla.models import User

PREFIX = "/console"
SESSION_COOKIE = "mla_console"
CSRF_COOKIE = "mla_console_csrf"
FLASH_COOKIE = "mla_console_flash"
CSRF_FIELD = "csrf_token"
# Roles as the console names them (mla.models.ROLES).
ROLE_LABELS = {"officer": N_("officer"), "supervisor": N_("supervisor"),
               "liaison": N_("liaison officer"), "validator": N_("validating authority"),
               "contact_point": N_("contact point"), "admin": N_("administrator")}
# Status words the pages show (alerts, deadlines, transfers, cases), by their code.
WORDS = {"open": N_("open"), "acknowledged": N_("acknowledged"), "resolved": N_("resolved"),
         "all": N_("all"), "running": N_("running"), "overdue": N_("overdue"),
         "suspended": N_("suspended"), "closed": N_("closed"), "pending": N_("pending"),
         "delivered": N_("delivered"), "failed": N_("failed"), "sent": N_("sent"),
         "received": N_("received"), "outgoing": N_("outgoing"), "incoming": N_("incoming"),
         "file": N_("filed"), "transmit": N_("transmitted"), "manual": N_("manual"),
         "deadline": N_("deadline"), "requesting": N_("requesting"),
         "requested": N_("requested"), "cancelled": N_("cancelled")}
# The language chosen on a page before logging in (the switcher on the login page).
LANGUAGE_COOKIE = "mla_console_lang"

def _reading(request: Request) -> dict[str, Any]:
    """What every page's frame needs to speak the reader's language: <html lang dir>, the
    switcher, the words console.js refreshes countdowns with."""
    lang = i18n.language()
    return {"lang_code": lang, "dir": i18n.direction(lang), "ui_languages": i18n.NATIVE_NAMES,
            "here": request.url.path + (f"?{request.url.query}" if request.url.query else ""),
            "countdown_words": countdown_words(), "csrf": csrf_token(request)}


html = Jinja2Templates(directory=str(Path(__file__).parent / "html"),
                       context_processors=[_reading])
html.env.add_extension("jinja2.ext.i18n")
# The catalogs are the process's (mla.i18n.translations); which one a page reads is the
# request's reading, set in ConsoleRoute and current_user.
html.env.install_gettext_callables(i18n.jinja_gettext, i18n.jinja_ngettext,  # type: ignore[attr-defined]
                                   newstyle=True)
html.env.globals["role_label"] = lambda role: _(ROLE_LABELS.get(role, role))
html.env.globals["problem"] = i18n.problem
html.env.globals["word"] = lambda code: _(WORDS[code]) if code in WORDS else code
html.env.filters["when"] = i18n.when
html.env.filters["day"] = i18n.day
html.env.filters["number"] = i18n.number
html.env.globals["localized"] = i18n.localized
# Legal bases by code, titled in the reader's language (data: mla/data/legal_bases.yaml).
html.env.globals["legal_title"] = legal.title


class LoginRequired(Exception):
    """No valid session: the browser goes to the login page and comes back."""


class CsrfRejected(Exception):
    """A POST without the form's CSRF token, or from another origin."""


def secure_cookies(request: Request) -> bool:
    """MLA_CONSOLE_SECURE_COOKIES: `auto` (default; Secure when the request came over HTTPS),
    `true` behind a TLS-terminating proxy, `false` never."""
    setting = settings.get().console_secure_cookies
    if setting == "auto":
        return request.url.scheme == "https"
    return setting


def _set_cookie(request: Request, response: Response, name: str, value: str) -> None:
    response.set_cookie(name, value, path=PREFIX, httponly=True, samesite="strict",
                        secure=secure_cookies(request))


def queue_cookie(request: Request, name: str, value: str | None) -> None:
    """Cookies are written by ConsoleRoute on whatever response the page returns (None:
    deleted)."""
    if not hasattr(request.state, "cookies"):
        request.state.cookies = {}
    request.state.cookies[name] = value


def start_session(request: Request, token: str) -> None:
    queue_cookie(request, SESSION_COOKIE, token)
    # A fresh CSRF value at login, so one planted before it is worth nothing after.
    new = secrets.token_urlsafe(32)
    request.state.csrf = new
    queue_cookie(request, CSRF_COOKIE, new)


def end_session(request: Request) -> None:
    queue_cookie(request, SESSION_COOKIE, None)


def flash(request: Request, message: str) -> None:
    queue_cookie(request, FLASH_COOKIE, quote(message[:300]))


def csrf_token(request: Request) -> str:
    """The value forms carry; made (and its cookie queued) on the first page of a visit."""
    token = getattr(request.state, "csrf", None) or request.cookies.get(CSRF_COOKIE)
    if not token:
        token = secrets.token_urlsafe(32)
        queue_cookie(request, CSRF_COOKIE, token)
    request.state.csrf = token
    return token


def current_user(request: Request, session: SessionDep) -> User:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise LoginRequired
    try:
        user = security.verify_access_token(session, token)
    except Unauthorized:
        end_session(request)
        raise LoginRequired from None
    request.state.user = user
    read_as(request, user)
    # Sliding session: past half its life the token is replaced, so an officer who keeps
    # working is not logged out mid-form, and one who walks away is after the token lifetime.
    try:
        claims = jwt.get_unverified_claims(token)
        issued = int(claims.get("iat", 0))
    except (JOSEError, TypeError, ValueError):
        claims, issued = {}, 0
    if time.time() - issued > security.token_ttl() / 2:
        # The renewed token keeps the login's id, so logging out ends the earlier ones too.
        renewed, _ = security.issue_access_token(session, user,
                                                 login=security.login_id(claims))
        session.commit()
        queue_cookie(request, SESSION_COOKIE, renewed)
    return user


ConsoleUser = Annotated[User, Depends(current_user)]


def read_as(request: Request, user: User | None) -> str:
    """Chooses the page's language (mla.i18n.choose: the user's stored choice, else the one
    picked on the login page, else Accept-Language, else the authority's first) and the time
    zone its times are written in (the authority's)."""
    chosen = i18n.choose((user.language if user else None)
                         or request.cookies.get(LANGUAGE_COOKIE),
                         request.headers.get("accept-language", ""),
                         user.authority.languages if user else None)
    i18n.current().use(chosen, user.authority.timezone if user else None)
    return chosen


async def checked_form(request: Request) -> FormData:
    """The POSTed form, once its CSRF token and origin are checked."""
    origin = request.headers.get("origin")
    if origin and origin != "null":
        expected = f"{request.url.scheme}://{request.url.netloc}"
        if origin.rstrip("/") != expected:
            raise CsrfRejected
    form = await request.form()
    sent = form.get(CSRF_FIELD)
    cookie = request.cookies.get(CSRF_COOKIE)
    if not (isinstance(sent, str) and cookie and hmac.compare_digest(sent, cookie)):
        raise CsrfRejected
    return form


CheckedForm = Annotated[FormData, Depends(checked_form)]


def safe_next(target: str | None) -> str:
    """Only a console path of this site, so the login form is no open redirect."""
    if not target:
        return f"{PREFIX}/requests"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith(PREFIX + "/") or "\\" in target:
        return f"{PREFIX}/requests"
    return target


def page(request: Request, name: str, context: dict[str, Any] | None = None,
         status_code: int = 200) -> Response:
    ctx = {"user": getattr(request.state, "user", None), "csrf": csrf_token(request),
           "flash": _take_flash(request), "prefix": PREFIX, **(context or {})}
    response = html.TemplateResponse(request, name, ctx, status_code=status_code)
    response.headers["Cache-Control"] = "no-store"
    return response


def countdown_words() -> dict[str, str]:
    """What console.js writes as it refreshes countdowns, in the page's language."""
    return {"in": i18n._("in {time}"), "over": i18n._("overdue by {time}"),
            "d": i18n._("{n} d"), "h": i18n._("{n} h"), "min": i18n._("{n} min")}


def redirect(url: str) -> Response:
    return RedirectResponse(url, status_code=303)


def _take_flash(request: Request) -> str | None:
    from urllib.parse import unquote

    message = request.cookies.get(FLASH_COOKIE)
    if message and FLASH_COOKIE not in getattr(request.state, "cookies", {}):
        queue_cookie(request, FLASH_COOKIE, None)
        return unquote(message)
    return None


def error_page(request: Request, status_code: int, title: str, detail: str) -> Response:
    return page(request, "error.html", {"title": title, "detail": detail},
                status_code=status_code)


class ConsoleRoute(APIRoute):
    """Console routes answer HTML: errors become pages (404 for other authorities' objects,
    as in the API), a missing session goes to the login page, queued cookies are written."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        original = super().get_route_handler()

        async def handler(request: Request) -> Response:
            # Before FastAPI copies the context into the threads running the dependencies and
            # the page: the user dependency then sets the language on this same object.
            i18n.begin()
            read_as(request, None)
            try:
                response = await original(request)
            except LoginRequired:
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                if request.method != "GET":
                    target = f"{PREFIX}/requests"
                response = redirect(f"{PREFIX}/login?next={quote(target, safe='')}")
            except CsrfRejected:
                response = error_page(request, 403, _("Form expired"), _(
                    "This form was not sent from this console or is too old. Go back, reload "
                    "the page and try again."))
            except RequestValidationError as exc:
                # An address or form the console never makes (edited by hand, or an old
                # link): a page naming each wrong part, like every other console error.
                response = error_page(request, 422, _("Invalid input"), "; ".join(
                    f"{'.'.join(str(p) for p in e['loc'][1:]) or e['loc'][0]}: {e['msg']}"
                    for e in exc.errors()))
            except NotFound as exc:
                response = error_page(request, 404, _("Not found"), exc.detail)
            except Forbidden as exc:
                response = error_page(request, 403, _("Not allowed"), exc.detail)
            except DomainError as exc:
                # Each wrong part by name, as the API's problem document lists them.
                problems = getattr(exc, "problems", [])
                response = error_page(request, 400, _(exc.title), "; ".join(
                    [exc.detail, *(f"{p.path}: {i18n.problem(p)}" for p in problems)]))
            for name, value in getattr(request.state, "cookies", {}).items():
                if value is None:
                    response.delete_cookie(name, path=PREFIX, httponly=True, samesite="strict",
                                           secure=secure_cookies(request))
                else:
                    _set_cookie(request, response, name, value)
            # Security headers (CSP, frame and sniffing protection, no-store): api/headers.py,
            # on every response of the app.
            return response

        return handler
