"""Console login through the ministry's identity provider, in Chromium (Debian's, headless,
driven by Playwright) against `mla serve` and the real OpenID provider on loopback: the
authorization code flow with PKCE, `state` and `nonce`; the refusal page of a person the
claim mapping gives nothing; "log out everywhere". Screenshots go to test-output/identity/."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from mla import db
from mla.models import AuditEvent, User
from tests.console.browser import CHROMIUM, CHROMIUM_ARGS, LAPTOP, playwright_api
from tests.identity.conftest import Console

SHOTS = Path(__file__).resolve().parents[2] / "test-output" / "identity"
expect = playwright_api.expect


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    shutil.rmtree(SHOTS, ignore_errors=True)
    SHOTS.mkdir(parents=True, exist_ok=True)
    with playwright_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def shot(page: Any, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def sso_login(browser: Any, console: Console, account: str, shots: str = "") -> Any:
    """A fresh browser: the console sends it to log in, the person picks the ministry
    account, signs in at the provider, and comes back."""
    context = browser.new_context(viewport=LAPTOP, locale="en-GB")
    page = context.new_page()
    page.goto(console.url("/console/requests"))
    assert "/console/login" in page.url
    if shots:
        shot(page, f"{shots}-1-console-login")
    page.get_by_role("link", name="Sign in with your ministry account").click()
    page.wait_for_url(re.compile(r".*/interaction/.*"))
    assert not page.url.startswith(console.base)  # the provider's own page
    page.locator('input[name="login"]').fill(account)
    page.locator('input[name="password"]').fill("the person's password at the ministry")
    if shots:
        shot(page, f"{shots}-2-provider-login")
    page.get_by_role("button", name="Sign-in").click()
    return page


def test_an_officer_signs_in_with_the_ministry_account(browser: Any, console: Console) -> None:
    page = sso_login(browser, console, "amina", shots="amina")
    page.wait_for_url("**/console/requests")
    shot(page, "amina-3-requests")
    expect(page.locator(".who")).to_contain_text("Amina Diallo · officer · FR-MJ")
    # Created at first login, from the provider's claims, and the login audited.
    with db.session_factory(console.engine)() as s:
        user = s.scalar(select(User).where(User.username == "amina.fr"))
        assert user is not None and user.role == "officer" and user.authority.code == "FR-MJ"
        logins = s.scalars(select(AuditEvent.detail).where(
            AuditEvent.action == "login", AuditEvent.actor_id == user.id)).all()
        assert {"method": "oidc"} in logins
    # The session is this instance's own: the console keeps working, page after page.
    page.get_by_role("link", name="Alerts").click()
    expect(page.locator("h1")).to_be_visible()
    assert "/console/login" not in page.url
    page.context.close()


def test_a_person_the_mapping_gives_nothing_gets_a_refusal_page(browser: Any,
                                                                console: Console) -> None:
    page = sso_login(browser, console, "nobody")
    expect(page.locator("h1")).to_have_text("No access to this instance")
    expect(page.locator(".error-detail")).to_contain_text("no group of this instance")
    shot(page, "nobody-refused")
    # No session was opened: the console still asks to log in.
    page.goto(console.url("/console/requests"))
    assert "/console/login" in page.url
    page.context.close()


def test_a_callback_without_this_browsers_state_opens_nothing(console: Console) -> None:
    """Login CSRF: a code and state delivered to another browser are refused, and a state is
    used once only."""
    with httpx.Client(base_url=console.base, follow_redirects=False) as client:
        started = client.get("/console/login/oidc", params={"next": "/console/requests"})
        assert started.status_code == 303
        state = re.search(r"[?&]state=([^&]+)", started.headers["location"])
        assert state is not None
        # Another browser (no state cookie) arriving with this state and some code:
        with httpx.Client(base_url=console.base) as other:
            refused = other.get("/console/login/oidc/callback",
                                params={"state": state.group(1), "code": "stolen"})
        assert refused.status_code == 401
        assert "not started in this browser" in refused.text
        with db.session_factory(console.engine)() as s:
            failures = s.scalars(select(AuditEvent.detail)
                                 .where(AuditEvent.action == "login.failed")).all()
            assert any(f["method"] == "oidc" and "not started in this browser" in f["reason"]
                       for f in failures)
        assert "mla_console=" not in refused.headers.get("set-cookie", "")
        # The provider's error comes back as a page, not a 500.
        denied = client.get("/console/login/oidc/callback",
                            params={"error": "access_denied", "state": "x"})
        assert denied.status_code == 401 and "access_denied" in denied.text


def test_log_out_everywhere_ends_the_other_browsers_session(browser: Any,
                                                            console: Console) -> None:
    office = sso_login(browser, console, "amina")
    office.wait_for_url("**/console/requests")
    home = sso_login(browser, console, "amina")
    home.wait_for_url("**/console/requests")
    office.get_by_role("link", name="Security").click()
    shot(office, "security-page")
    office.get_by_role("button", name="Log out everywhere").click()
    office.wait_for_url("**/console/login**")
    expect(office.locator(".flash")).to_contain_text("logged out everywhere")
    home.reload()
    assert "/console/login" in home.url  # the other browser's session ended too
    office.context.close()
    home.context.close()
