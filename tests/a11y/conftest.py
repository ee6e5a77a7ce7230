"""`mla serve` for the accessibility tests, seeded so that every console page has something to
show (the demo, its country profiles, a draft, a request awaiting translation, a case with a
person, an account with a second factor and one that must enrol), and one Chromium."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pyotp
import pytest
from sqlalchemy import select

from cli import demo
from cli import profiles as demo_profiles
from mla import db, security, templates
from mla.cases import persons
from mla.cases import service as cases
from mla.directory import service as directory
from mla.identity import totp
from mla.models import ContactPoint, User
from mla.oncall import testpage
from mla.requests import filing, lifecycle
from tests.console.conftest import PASSWORD, Server
from tests.serving import mla_serve

# The account that logs in with a second factor (TOTP) it already has.
WITH_FACTOR = "fr.secure"
# The role that must enrol a second factor at login (fr.admin has none yet).
ENROL_ROLE = "admin"
# Browser locales: Chromium sends them as Accept-Language.
LOCALES = {"en": "en-GB", "ar": "ar"}


@dataclass(frozen=True)
class Seeded:
    """The ids the pages of the walk need."""

    transmitted: str  # FR's MLA request to KE, in execution (demo)
    arrest: str  # FR's provisional arrest, arrested by KE (demo)
    draft: str  # a draft of fr.officer, incomplete
    approved_fr: str  # approved, written in French: waits for an English translation
    case: str
    person: str
    attachment: str | None = None


class A11yServer(Server):
    def __init__(self, base: str, engine: Any, seeded: Seeded) -> None:
        super().__init__(base, engine)
        self.seeded = seeded


def _seed(engine: Any) -> Seeded:
    transmitted, arrest = demo.run(engine, lambda line: None)
    with db.unit_of_work(engine) as s:
        demo_profiles.seed_demo(s)
        users = {u.username: u for u in s.scalars(select(User))}
        ke = directory.authority_by_code(s, "KE-ODPP")
        draft_data = templates.example("mla.evidence")
        draft_data.pop("facts_summary", None)
        draft = filing.file_request(
            s, users["fr.officer"], kind="mla.evidence", requested_authority_id=ke.id,
            legal_basis="untoc", title="Brouillon - affaire Héron", language="fr",
            data=draft_data)
        data = templates.example("mla.evidence")
        data["facts_summary"] = "Virements frauduleux vers des comptes à Nairobi."
        approved = filing.file_request(
            s, users["fr.officer"], kind="mla.evidence", requested_authority_id=ke.id,
            legal_basis="untoc", title="Virements Nairobi", language="fr", data=data)
        lifecycle.transition(s, approved, "submit", users["fr.officer"])
        lifecycle.transition(s, approved, "approve", users["fr.supervisor"])
        case = cases.create_case(s, users["fr.officer"], reference="KESTREL-2026",
                                 title="Affaire Kestrel", description="Fraude bancaire.")
        s.flush()
        cases.add_request(s, case, users["fr.officer"], transmitted)
        person = persons.add_person(s, case, users["fr.officer"], name="Lucas Ferrand",
                                    nationality="FR")
        us = directory.add_authority(s, code="US-OIA", country="US",
                                     timezone="America/New_York", languages=["en"],
                                     name="Office of International Affairs")
        stranger = directory.add_user(s, us, username="us.officer", full_name="Sam Reed",
                                      role="officer")
        security.set_password(s, stranger, PASSWORD)
        secure = directory.add_user(s, directory.authority_by_code(s, "FR-MJ"),
                                    username=WITH_FACTOR, full_name="Inès Moreau",
                                    role="officer")
        security.set_password(s, secure, PASSWORD)
        secret = totp.start_enrolment(s, secure)
        totp.confirm(s, secure, pyotp.TOTP(secret).now(), "127.0.0.1")
        # My paging (/console/oncall/me): KE's 24/7 point acts as ke.contact and has been
        # sent a test page, so the preferences form and the outcome table are both shown.
        demo.seed_oncall(s)
        ke_desk = s.scalars(select(ContactPoint).where(
            ContactPoint.authority_id == ke.id, ContactPoint.name == "Achieng Njoroge")).one()
        ke_desk.user_id = users["ke.contact"].id
        testpage.send_test_page(s, ke_desk, users["ke.contact"])
        s.flush()
        return Seeded(transmitted=str(transmitted), arrest=str(arrest), draft=str(draft.id),
                      approved_fr=str(approved.id), case=str(case.id), person=str(person.id))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[A11yServer]:
    workdir = tmp_path_factory.mktemp("a11y")
    url = f"sqlite:///{workdir / 'a11y.db'}"
    env = {**os.environ, "MLA_DATABASE_URL": url, "MLA_SECOND_FACTOR_ROLES": ENROL_ROLE}
    upgraded = subprocess.run([sys.executable, "-m", "cli", "db", "upgrade"], cwd=workdir,
                              env=env, capture_output=True, text=True, timeout=120)
    assert upgraded.returncode == 0, upgraded.stderr
    engine = db.make_engine(url)
    seeded = _seed(engine)
    try:
        with mla_serve(workdir, env) as base:
            yield A11yServer(base, engine, seeded)
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    # Imported here: without Chromium (or Playwright) the import skips the tests that need a
    # browser (fails them under CI=true), not the route check of test_pages_covered.py.
    from tests.console.browser import chromium

    with chromium() as launched:
        yield launched


def new_context(browser: Any, language: str) -> Any:
    """A browser whose language is `language` (its Accept-Language), laptop-sized; the
    page's CSP does not stop axe's injection (`bypass_csp`), nothing else is changed."""
    from tests.console.browser import LAPTOP

    return browser.new_context(viewport=LAPTOP, timezone_id="Europe/Paris",
                               locale=LOCALES[language], bypass_csp=True)


def log_in(context: Any, base: str, username: str) -> Any:
    page = context.new_page()
    page.goto(base + "/console/login")
    page.locator("#username").fill(username)
    page.locator("#password").fill(PASSWORD)
    page.locator("#password").press("Enter")
    page.wait_for_url("**/console/requests")
    return page


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
