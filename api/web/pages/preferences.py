"""The interface language: the switcher on every page (a form, no script needed) and the
settings page where a user keeps a choice; mla.i18n.choose says how a page's language is
chosen when there is none."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from api.deps import SessionDep
from api.web.session import (
    LANGUAGE_COOKIE,
    PREFIX,
    SESSION_COOKIE,
    CheckedForm,
    ConsoleRoute,
    ConsoleUser,
    LoginRequired,
    current_user,
    flash,
    page,
    queue_cookie,
    read_as,
    redirect,
    safe_next,
)
from mla import accounts, i18n
from mla.i18n import _
from mla.models import User

router = APIRouter(prefix=PREFIX, include_in_schema=False, route_class=ConsoleRoute)


def _signed_in(request: Request, session: SessionDep) -> User | None:
    if not request.cookies.get(SESSION_COOKIE):
        return None
    try:
        return current_user(request, session)
    except LoginRequired:
        return None


@router.post("/language", response_class=HTMLResponse)
def switch(request: Request, form: CheckedForm, session: SessionDep) -> Response:
    """The switcher: a signed-in user's choice is kept on their account (pages and 24/7
    messages to them), anyone's in a cookie for the pages before login."""
    language = str(form.get("language") or "")
    target = safe_next(str(form.get("next") or ""))
    if language not in i18n.LANGUAGES:
        return redirect(target)
    user = _signed_in(request, session)
    if user is not None:
        accounts.set_language(session, user, language)
        session.commit()
    queue_cookie(request, LANGUAGE_COOKIE, language)
    return redirect(target)


@router.get("/settings/language", response_class=HTMLResponse)
def language_page(request: Request, user: ConsoleUser) -> Response:
    return page(request, "language.html", {"chosen": user.language, "nav": "settings",
                                           "options": i18n.NATIVE_NAMES})


@router.post("/settings/language", response_class=HTMLResponse)
def save_language(request: Request, form: CheckedForm, session: SessionDep,
                  user: ConsoleUser) -> Response:
    chosen = str(form.get("language") or "")
    accounts.set_language(session, user, chosen or None)
    session.commit()
    queue_cookie(request, LANGUAGE_COOKIE, chosen or None)
    read_as(request, user)
    flash(request, _("Your language is saved."))
    return redirect(f"{PREFIX}/settings/language")
