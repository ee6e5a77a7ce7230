"""The TOTP second factor of local accounts, through the console and the API on a real
database: enrolment with a QR code drawn by the server, login with a code, the same code
refused the second time, recovery codes each good once, wrong codes rate-limited, supervisors
and admins made to enrol (MLA_SECOND_FACTOR_ROLES), and every step in the audit chain."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pyotp
import pytest
from sqlalchemy import select

from mla import clock, security
from mla.models import AuditEvent, RecoveryCode, TotpFactor
from tests.api_helpers import Api, refusal

PASSWORD = "correct horse battery"


def csrf(api: Api, path: str = "/console/login") -> str:
    page = api.client.get(path)
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found, page.text[:500]
    return found.group(1)


def console_password_login(api: Api, username: str) -> Any:
    api.client.cookies.clear()
    return api.client.post("/console/login", follow_redirects=False, data={
        "csrf_token": csrf(api), "username": username, "password": PASSWORD,
        "next": "/console/requests"})


def enrol_in_console(api: Api, username: str) -> tuple[str, list[str]]:
    """The supervisor's first login: password, then the enrolment page (QR code), then the
    code from the app; returns the secret and the recovery codes shown."""
    security.set_password(api.session, api.world[username], PASSWORD)
    api.session.commit()
    response = console_password_login(api, username)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/console/login/enrol")
    # No session yet: the password alone opens nothing.
    assert api.client.get("/console/requests", follow_redirects=False).status_code == 303
    page = api.client.get(response.headers["location"])
    assert page.status_code == 200
    assert "<svg" in page.text and "QR code to scan" in page.text
    assert "https://" not in page.text.split("<svg", 1)[1].split("</svg>", 1)[0]
    secret = re.search(r'<code id="secret">([A-Z2-7]+)</code>', page.text)
    assert secret, page.text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token
    # A wrong code first: the page says so and the enrolment goes on.
    wrong = api.client.post("/console/login/enrol", data={
        "csrf_token": token.group(1), "code": "000000", "next": "/console/requests"})
    assert wrong.status_code == 400 and "not the one the app shows" in wrong.text
    secret = re.search(r'<code id="secret">([A-Z2-7]+)</code>', wrong.text)
    assert secret
    done = api.client.post("/console/login/enrol", data={
        "csrf_token": token.group(1), "code": pyotp.TOTP(secret.group(1)).at(clock.utcnow()),
        "next": "/console/requests"})
    assert done.status_code == 200, done.text
    codes = re.findall(r"<li><code>([0-9a-f-]+)</code></li>", done.text)
    assert len(codes) == 10
    # Logged in now.
    assert api.client.get("/console/requests", follow_redirects=False).status_code == 200
    api.client.cookies.clear()
    return secret.group(1), codes


def token_with(api: Api, username: str, otp: str | None) -> Any:
    data = {"username": username, "password": PASSWORD} | ({"otp": otp} if otp else {})
    return api.client.post("/auth/token", data=data)


def test_enrolment_then_login_with_a_code_and_the_same_code_refused_again(api: Api) -> None:
    # Minutes ago, so that the tokens issued on the way are valid at the real time as well.
    now = clock.utcnow() - timedelta(minutes=3)
    with clock.frozen(now):
        secret, codes = enrol_in_console(api, "fr.supervisor")
    api.session.commit()
    stored = api.session.get(TotpFactor, api.world["fr.supervisor"].id)
    assert stored is not None and stored.confirmed_at is not None
    # Recovery codes are kept hashed, never as shown.
    hashes = api.session.scalars(select(RecoveryCode.code_hash)).all()
    assert len(hashes) == 10 and not set(codes) & set(hashes)
    assert all(h.startswith("$argon2id$") for h in hashes)

    code = pyotp.TOTP(secret).at(now)
    with clock.frozen(now + timedelta(seconds=5)):
        # The code that confirmed the enrolment was used: it opens nothing more.
        body = refusal(token_with(api, "fr.supervisor", code), 401)
        assert "already used" in body["detail"]
        # Without a code, the password alone is refused and the answer says what is missing.
        assert "otp" in refusal(token_with(api, "fr.supervisor", None), 401)["detail"]
    with clock.frozen(now + timedelta(seconds=30)):
        fresh = pyotp.TOTP(secret).at(clock.utcnow())
        response = token_with(api, "fr.supervisor", fresh)
        assert response.status_code == 200, response.text
        assert response.json()["access_token"]
        # Replayed within its validity: refused.
        assert "already used" in refusal(token_with(api, "fr.supervisor", fresh), 401)["detail"]
    # In the console too: password, then the second-factor page, then in.
    with clock.frozen(now + timedelta(seconds=60)):
        step = console_password_login(api, "fr.supervisor")
        assert step.headers["location"].startswith("/console/login/second-factor")
        page = api.client.get(step.headers["location"])
        assert "authenticator app" in page.text
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token
        done = api.client.post("/console/login/second-factor", follow_redirects=False, data={
            "csrf_token": token.group(1), "code": pyotp.TOTP(secret).at(clock.utcnow()),
            "next": "/console/requests"})
        assert done.status_code == 303 and done.headers["location"] == "/console/requests"
    assert api.client.get("/console/requests", follow_redirects=False).status_code == 200
    api.client.cookies.clear()


def test_a_recovery_code_opens_one_login_only(api: Api) -> None:
    _, codes = enrol_in_console(api, "fr.admin")
    assert token_with(api, "fr.admin", codes[3]).status_code == 200
    assert refusal(token_with(api, "fr.admin", codes[3]), 401)["detail"] == "wrong code"
    assert token_with(api, "fr.admin", codes[4].upper()).status_code == 200
    api.session.commit()
    used = api.session.scalars(select(RecoveryCode).where(RecoveryCode.used_at.is_not(None)))
    assert len(used.all()) == 2


def test_wrong_codes_are_rate_limited_per_account(api: Api) -> None:
    secret, _ = enrol_in_console(api, "ke.supervisor")
    # The wrong code typed at enrolment counts: four more and the account is held.
    for _ in range(4):
        refusal(token_with(api, "ke.supervisor", "123456"), 401)
    limited = token_with(api, "ke.supervisor", pyotp.TOTP(secret).at(
        clock.utcnow() + timedelta(seconds=30)))
    body = refusal(limited, 429)
    assert "too many" in body["detail"] and int(limited.headers["retry-after"]) > 0


def test_roles_that_require_a_second_factor_must_enrol_and_others_need_not(
        api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    for username in ("fr.officer", "fr.supervisor"):
        security.set_password(api.session, api.world[username], PASSWORD)
    api.session.commit()
    assert token_with(api, "fr.officer", None).status_code == 200
    body = refusal(token_with(api, "fr.supervisor", None), 403)
    assert "requires a second factor" in body["detail"]
    monkeypatch.setenv("MLA_SECOND_FACTOR_ROLES", "none")
    assert token_with(api, "fr.supervisor", None).status_code == 200
    monkeypatch.setenv("MLA_SECOND_FACTOR_ROLES", "officer")
    refusal(token_with(api, "fr.officer", None), 403)


def test_every_step_is_in_the_audit_chain(api: Api) -> None:
    _, codes = enrol_in_console(api, "fr.supervisor")
    refusal(token_with(api, "fr.supervisor", "999999"), 401)
    token_with(api, "fr.supervisor", codes[0])
    api.client.post("/auth/token", data={"username": "fr.supervisor", "password": "wrong!"})
    api.session.commit()
    user_id = str(api.world["fr.supervisor"].id)
    rows = api.session.execute(select(AuditEvent.action, AuditEvent.detail)
                               .where(AuditEvent.object_id == user_id)
                               .order_by(AuditEvent.id)).all()
    actions = [a for a, _ in rows]
    assert "second_factor.enrol" in actions
    assert "second_factor.recovery_code_used" in actions
    methods = [d["method"] for a, d in rows if a == "login"]
    assert methods == ["password+totp enrolment", "password+recovery code"]
    failures = [d["reason"] for a, d in rows if a == "login.failed"]
    assert any("not the one the app shows" in r for r in failures)
    assert "wrong or expired code" in failures
    assert "invalid username or password" in failures
