"""WebAuthn security keys for local accounts, in Chromium with a virtual authenticator (the
DevTools protocol's WebAuthn domain, through Playwright): registration on the security page,
then a login whose second step is the key; a key's answer for another origin is refused."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from mla import db
from mla.models import AuditEvent, User, WebAuthnCredential
from tests.console.browser import LAPTOP
from tests.identity.conftest import PASSWORD, Console
from tests.identity.test_console_sso import browser, expect, shot

__all__ = ["browser"]  # the fixture, shared with the single sign-on tests


def with_authenticator(browser: Any) -> Any:
    context = browser.new_context(viewport=LAPTOP, locale="en-GB")
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
        "protocol": "ctap2", "transport": "usb", "hasResidentKey": False,
        "hasUserVerification": True, "isUserVerified": True,
        "automaticPresenceSimulation": True}})
    return page


def password_login(page: Any, console: Console, username: str) -> None:
    page.goto(console.url("/console/login"))
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


def test_a_security_key_is_registered_then_opens_the_login(browser: Any,
                                                          local_console: Console) -> None:
    page = with_authenticator(browser)
    password_login(page, local_console, "fr.officer")
    page.wait_for_url("**/console/requests")  # officers need no second factor by default
    page.get_by_role("link", name="Security").click()
    page.get_by_role("button", name="Add a security key").click()
    expect(page.locator("#key-count")).to_contain_text("Security keys registered: 1")
    shot(page, "webauthn-1-registered")
    with db.session_factory(local_console.engine)() as s:
        user = s.scalar(select(User).where(User.username == "fr.officer"))
        assert user is not None
        key = s.scalar(select(WebAuthnCredential).where(WebAuthnCredential.user_id == user.id))
        assert key is not None and key.public_key
        enrolments = s.scalars(select(AuditEvent.detail).where(
            AuditEvent.action == "second_factor.enrol", AuditEvent.actor_id == user.id)).all()
        assert [d["kind"] for d in enrolments] == ["security key"]

    # Log out; the password alone no longer opens the console: the key does.
    page.get_by_role("button", name="Log out", exact=True).click()
    page.wait_for_url("**/console/login**")
    password_login(page, local_console, "fr.officer")
    page.wait_for_url("**/console/login/second-factor**")
    shot(page, "webauthn-2-second-factor")
    assert "/console/requests" not in page.url
    page.get_by_role("button", name="Use your security key").click()
    page.wait_for_url("**/console/requests")
    expect(page.locator(".who")).to_contain_text("officer · FR-MJ")
    with db.session_factory(local_console.engine)() as s:
        methods = s.scalars(select(AuditEvent.detail).where(
            AuditEvent.action == "login", AuditEvent.actor_id == user.id)).all()
        assert {"method": "password+security key"} in methods
    page.context.close()


def test_a_key_answer_for_another_origin_or_challenge_is_refused(browser: Any,
                                                                local_console: Console) -> None:
    """What a look-alike site relaying the login would hold: an answer the browser signed
    for its own origin. Replayed here, it opens nothing."""
    page = with_authenticator(browser)
    password_login(page, local_console, "ke.officer")
    page.wait_for_url("**/console/requests")
    page.get_by_role("link", name="Security").click()
    page.get_by_role("button", name="Add a security key").click()
    expect(page.locator("#key-count")).to_contain_text("Security keys registered: 1")
    page.get_by_role("button", name="Log out", exact=True).click()
    page.wait_for_url("**/console/login**")
    password_login(page, local_console, "ke.officer")
    page.wait_for_url("**/console/login/second-factor**")
    # The page's own script, with the answer's origin rewritten before it is sent.
    page.evaluate("""() => {
      const original = PublicKeyCredential.prototype.toJSON;
      PublicKeyCredential.prototype.toJSON = function () {
        const body = original.call(this);
        const data = JSON.parse(atob(body.response.clientDataJSON.replace(/-/g, '+')
                                                                 .replace(/_/g, '/')));
        data.origin = 'https://mla-console.example';
        body.response.clientDataJSON = btoa(JSON.stringify(data)).replace(/\\+/g, '-')
          .replace(/\\//g, '_').replace(/=+$/, '');
        return body;
      };
    }""")
    page.get_by_role("button", name="Use your security key").click()
    expect(page.locator("#key-status")).to_contain_text("does not check out")
    assert "/console/login/second-factor" in page.url
    page.context.close()
