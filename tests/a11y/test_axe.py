"""axe-core (WCAG 2.0/2.1, A and AA) on every console page, in English and in Arabic (the
browser's Accept-Language): no serious or critical violation, one h1, a main landmark, the
page's language on <html>.

Which pages: every GET route of the console, read from the app's router, is either visited
here (pages that need an object get one from the seeded data of conftest.py; forms are also
visited re-rendered with their errors) or listed in NOT_PAGES with the reason; a new page
without a visit fails `test_every_console_page_is_checked`."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pyotp
import pytest

from api.app import create_app
from mla import db, security
from mla.directory import service as directory
from tests.a11y import axe
from tests.a11y.conftest import LOCALES, WITH_FACTOR, A11yServer, log_in, new_context
from tests.app_routes import routes
from tests.console.conftest import PASSWORD

# Console GET routes that answer no page of their own, and why.
NOT_PAGES = {
    "/console": "redirects to /console/requests",
    "/console/": "redirects to /console/requests",
    "/console/attachments/{attachment_id}": "a file download (the attachment as uploaded)",
    "/console/stats/{table}.csv": "a CSV download",
    "/console/cases/{case_id}/state-of-play.csv": "a CSV download",
}

Go = Callable[[Any, A11yServer], None]
# Visits that end on a refused form.
REFUSED = re.compile(r"errors|wrong|refused")


@dataclass(frozen=True)
class Visit:
    name: str
    route: str  # the router's path this visit covers
    user: str | None  # None: a browser that is not logged in
    go: Go

    def __str__(self) -> str:
        return self.name


def to(path: str) -> Go:
    """Opens `path`, formatted with the seeded ids ({draft}, {case}...)."""
    def go(page: Any, server: A11yServer) -> None:
        page.goto(server.url(path.format(**vars(server.seeded))))
    return go


def then(first: Go, *steps: Callable[[Any], None]) -> Go:
    def go(page: Any, server: A11yServer) -> None:
        first(page, server)
        for step in steps:
            step(page)
            page.wait_for_load_state()
    return go


def press(name: str) -> Callable[[Any], None]:
    return lambda page: page.get_by_role("button", name=name, exact=True).first.click()


def password_step(username: str) -> Go:
    def go(page: Any, server: A11yServer) -> None:
        page.goto(server.url("/console/login"))
        page.locator("#username").fill(username)
        page.locator("#password").fill(PASSWORD)
        page.locator("#password").press("Enter")
        page.wait_for_url(re.compile(r"/console/login/(second-factor|enrol)"))
    return go


def new_admin(page: Any, server: A11yServer) -> None:
    """A fresh administrator (a role that must enrol a second factor) at the enrolment
    step of the login."""
    username = f"admin.{len(page.context.pages)}.{id(page)}"
    with db.unit_of_work(server.engine) as s:
        user = directory.add_user(s, directory.authority_by_code(s, "FR-MJ"),
                                  username=username, full_name="Paul Lefèvre", role="admin")
        security.set_password(s, user, PASSWORD)
    password_step(username)(page, server)


def right_code(page: Any) -> None:
    page.locator("#code").fill(pyotp.TOTP(page.locator("#secret").inner_text()).now())
    page.locator("#code").press("Enter")
    page.wait_for_selector("#recovery-codes")


def wrong_code(page: Any) -> None:
    page.locator("#code").fill("000000")
    page.locator("#code").press("Enter")
    page.wait_for_selector("[role=alert]")


def wrong_password(page: Any) -> None:
    page.locator("#username").fill("fr.officer")
    page.locator("#password").fill("not the password")
    page.locator("#password").press("Enter")
    page.wait_for_selector("#login-error")


def duplicate_case(page: Any) -> None:
    """A case reference the authority already uses: refused by the server."""
    page.locator("#reference").fill("KESTREL-2026")
    page.locator("#title").fill("Affaire Kestrel, bis")
    page.get_by_role("button", name="Open the case").click()
    page.wait_for_selector("#case-error")


PAGES = [
    # Logged out.
    Visit("login", "/console/login", None, to("/console/login")),
    Visit("login-wrong-password", "/console/login", None, then(to("/console/login"),
                                                             wrong_password)),
    Visit("second-factor", "/console/login/second-factor", None, password_step(WITH_FACTOR)),
    Visit("second-factor-wrong-code", "/console/login/second-factor", None,
          then(password_step(WITH_FACTOR), wrong_code)),
    Visit("enrol-at-login", "/console/login/enrol", None, new_admin),
    Visit("enrol-wrong-code", "/console/login/enrol", None, then(new_admin, wrong_code)),
    Visit("recovery-codes", "/console/login/enrol", None, then(new_admin, right_code)),
    Visit("sso-not-configured", "/console/login/oidc", None, to("/console/login/oidc")),
    Visit("sso-callback-error", "/console/login/oidc/callback", None,
          to("/console/login/oidc/callback?error=access_denied")),
    # Officers, supervisors, liaison, 24/7 contact point.
    Visit("security-settings", "/console/settings/security", "fr.officer",
          to("/console/settings/security")),
    Visit("enrol-from-settings", "/console/settings/security", "fr.supervisor",
          then(to("/console/settings/security"), press("Set up an authenticator app"))),
    Visit("requests", "/console/requests", "fr.officer", to("/console/requests")),
    Visit("requests-filtered-empty", "/console/requests", "fr.officer",
          to("/console/requests?state=refused&overdue=true&sort=due")),
    Visit("requests-liaison", "/console/requests", "fr.liaison", to("/console/requests")),
    Visit("request-in-execution", "/console/requests/{request_id}", "fr.officer",
          to("/console/requests/{transmitted}")),
    Visit("request-arrested-requested-side", "/console/requests/{request_id}", "ke.officer",
          to("/console/requests/{arrest}")),
    Visit("request-approved-supervisor", "/console/requests/{request_id}", "fr.supervisor",
          to("/console/requests/{approved_fr}")),
    Visit("request-action-refused", "/console/requests/{request_id}", "fr.officer",
          then(to("/console/requests/{approved_fr}"), press("Transmit"))),
    Visit("request-draft", "/console/requests/{request_id}", "fr.officer",
          to("/console/requests/{draft}")),
    Visit("request-liaison-status-view", "/console/requests/{request_id}", "fr.liaison",
          to("/console/requests/{transmitted}")),
    Visit("request-document", "/console/requests/{request_id}/document", "fr.officer",
          to("/console/requests/{arrest}/document?language=en")),
    Visit("translation", "/console/requests/{request_id}/translations", "fr.officer",
          to("/console/requests/{approved_fr}/translations?language=en")),
    Visit("new-choose-template", "/console/new", "fr.officer", to("/console/new")),
    Visit("new-form", "/console/new/{kind}", "fr.officer",
          to("/console/new/extradition.provisional_arrest")),
    Visit("new-form-with-errors", "/console/new/{kind}", "fr.officer",
          then(to("/console/new/extradition.provisional_arrest"),
               press("Submit for review"))),
    Visit("incoming-form-with-errors", "/console/incoming/{kind}", "ke.officer",
          then(to("/console/incoming/extradition.provisional_arrest"),
               press("Register as received"))),
    Visit("edit-draft-checked", "/console/requests/{request_id}/edit", "fr.officer",
          to("/console/requests/{draft}/edit?check=true")),
    Visit("alerts", "/console/alerts", "ke.contact", to("/console/alerts")),
    Visit("oncall", "/console/oncall", "ke.contact", to("/console/oncall")),
    Visit("stats", "/console/stats", "fr.officer", to("/console/stats")),
    Visit("workflows", "/console/workflows", "fr.officer", to("/console/workflows")),
    Visit("workflow-diagram", "/console/workflows/{name}", "fr.officer",
          to("/console/workflows/extradition?state=arrested")),
    Visit("search-results", "/console/search", "fr.officer", to("/console/search?q=Kestrel")),
    Visit("cases", "/console/cases", "fr.officer", to("/console/cases")),
    Visit("cases-open-with-errors", "/console/cases", "fr.officer",
          then(to("/console/cases"), duplicate_case)),
    Visit("case", "/console/cases/{case_id}", "fr.officer", to("/console/cases/{case}")),
    Visit("person", "/console/persons/{person_id}", "fr.officer",
          to("/console/persons/{person}")),
    Visit("profiles", "/console/profiles", "fr.officer", to("/console/profiles")),
    Visit("profile", "/console/profiles/{code}", "fr.officer", to("/console/profiles/KE")),
    Visit("profile-finder", "/console/profiles/find", "fr.officer",
          to("/console/profiles/find?country=KE&measure=search_seizure&place=Nairobi")),
    Visit("not-found", "/console/requests/{request_id}", "us.officer",
          to("/console/requests/{transmitted}")),
]


def test_every_console_page_is_checked() -> None:
    console = {r.path for r in routes(create_app())
               if r.method == "GET" and r.path.startswith("/console")}
    visited = {v.route for v in PAGES}
    assert console - visited - set(NOT_PAGES) == set(), "console pages no accessibility test opens"
    assert (visited | set(NOT_PAGES)) - console == set(), "routes that no longer exist"


@pytest.fixture(scope="module")
def sessions(browser: Any, server: A11yServer) -> Iterator[Callable[[str | None, str], Any]]:
    """A page of a browser context per (user, language), logged in once and reused; a fresh
    context for each logged-out visit."""
    opened: dict[tuple[str, str], Any] = {}

    def get(user: str | None, language: str) -> Any:
        if user is None:
            return new_context(browser, language).new_page()
        if (user, language) not in opened:
            opened[user, language] = log_in(new_context(browser, language), server.base, user)
        return opened[user, language]

    yield get
    for page in opened.values():
        page.context.close()


@pytest.mark.parametrize("language", list(LOCALES))
@pytest.mark.parametrize("visit", PAGES, ids=str)
def test_page_has_no_serious_accessibility_violation(
        visit: Visit, language: str, server: A11yServer,
        sessions: Callable[[str | None, str], Any]) -> None:
    page = sessions(visit.user, language)
    try:
        check(page, visit, language, server)
    finally:
        if visit.user is None:
            page.context.close()


def check(page: Any, visit: Visit, language: str, server: A11yServer) -> None:
    visit.go(page, server)
    page.wait_for_load_state()
    where = f"{visit.name} ({language}) at {page.url}"
    if visit.user is not None:
        assert "/console/login" not in page.url, f"{where}: sent to log in"
    found = axe.blocking(axe.run(page))
    assert not found, f"{where}: serious or critical axe violations:\n{axe.report(found)}"
    # What axe leaves to best practice, a screen-reader user still needs: the page's language,
    # a main landmark to jump to, one top heading that says what the page is.
    assert page.evaluate("document.documentElement.lang"), f"{where}: no lang on <html>"
    assert page.locator("main").count() == 1, f"{where}: not exactly one <main>"
    assert page.locator("h1").count() == 1, f"{where}: not exactly one <h1>"
    # A field marked wrong says why: its message is among what describes it.
    unexplained = page.evaluate("""() => [...document.querySelectorAll('[aria-invalid=true]')]
      .filter(e => !(e.getAttribute('aria-describedby') || '').split(/\\s+/)
        .some(id => id && document.getElementById(id)))
      .map(e => e.id || e.name)""")
    assert not unexplained, f"{where}: fields marked invalid with no message: {unexplained}"
    if REFUSED.search(visit.name):
        # A refused form is announced (role=alert) and the focus is on what went wrong.
        focus = page.evaluate("""() => { const a = document.activeElement;
          return !!a && !!a.closest('[role=alert], #error-summary'); }""")
        assert focus, f"{where}: the focus is not on the problem after a refused form"
