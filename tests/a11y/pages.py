"""The console's pages for the axe-core tests (test_axe_english.py, test_axe_arabic.py: one
module per language, so that pytest-xdist runs them side by side), and what is checked on each:
no serious or critical violation of the WCAG 2.0/2.1 A and AA rules, the page's language on
<html>, one main landmark, one h1, every field marked invalid described by its message, and
after a refused form the focus on the problem.

Which pages: every GET route of the console, read from the app's router, is either visited
(PAGES: pages that need an object get one from the seeded data of conftest.py; forms are also
visited re-rendered with their errors) or listed in NOT_PAGES with the reason;
test_pages_covered.py fails for a new page without a visit."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pyotp

from mla import db, security
from mla.directory import service as directory
from tests.a11y.conftest import WITH_FACTOR, A11yServer
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


def press(button: str) -> Callable[[Any], None]:
    """Clicks a button found by what it does (its form, name and value), not by its words:
    the same visit runs on the Arabic console."""
    return lambda page: page.locator(button).first.click()


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
    page.locator('form[action$="/console/cases"] button[type=submit]').click()
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
          then(to("/console/settings/security"),
               press('form[action$="/settings/security/enrol"] button'))),
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
          then(to("/console/requests/{approved_fr}"), press('button[name=event][value=transmit]'))),
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
               press('button[name=action][value=submit]'))),
    Visit("incoming-form-with-errors", "/console/incoming/{kind}", "ke.officer",
          then(to("/console/incoming/extradition.provisional_arrest"),
               press('button[name=action][value=register]'))),
    Visit("edit-draft-checked", "/console/requests/{request_id}/edit", "fr.officer",
          to("/console/requests/{draft}/edit?check=true")),
    Visit("alerts", "/console/alerts", "ke.contact", to("/console/alerts")),
    Visit("oncall", "/console/oncall", "ke.contact", to("/console/oncall")),
    Visit("my-paging", "/console/oncall/me", "ke.contact", to("/console/oncall/me")),
    Visit("language-settings", "/console/settings/language", "fr.officer",
          to("/console/settings/language")),
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


def check_visit(visit: Visit, language: str, server: A11yServer,
                sessions: Callable[[str | None, str], Any]) -> None:
    """Opens the visit's page as its user in `language`, checks it; a logged-out visit's
    browser context is closed after it."""
    page = sessions(visit.user, language)
    try:
        check(page, visit, language, server)
    finally:
        if visit.user is None:
            page.context.close()


def check(page: Any, visit: Visit, language: str, server: A11yServer) -> None:
    # Imported here: without axe-core the import skips (under CI=true fails) the test.
    from tests.a11y import axe

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
