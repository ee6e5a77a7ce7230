"""Logout ends the session on the server: the console cookie taken before it (or the same
token sent to the API as a bearer token) opens nothing afterwards, earlier tokens of the same
login (before the console renewed it) included; other logins of the user go on; revocations
are pruned once expired; and the check costs no extra statement on an authenticated
request."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
from sqlalchemy import event, select

from api.web.session import CSRF_COOKIE, CSRF_FIELD, SESSION_COOKIE
from mla import clock, security
from mla.models import RevokedToken
from tests.api_helpers import Api

PASSWORD = "correct horse battery staple"
CSRF = "same-in-form-and-cookie"


def _login(api: Api, username: str = "fr.officer") -> str:
    """The session cookie a browser gets from the console's login form."""
    security.set_password(api.session, api.world[username], PASSWORD)
    api.session.commit()
    api.client.cookies.clear()
    api.client.cookies.set(CSRF_COOKIE, CSRF)
    response = api.client.post("/console/login", follow_redirects=False, data={
        "username": username, "password": PASSWORD, CSRF_FIELD: CSRF})
    assert response.status_code == 303, response.text
    cookie = response.cookies.get(SESSION_COOKIE)
    assert cookie
    return cookie


def _console(api: Api, cookie: str, method: str = "GET", path: str = "/console/requests",
             ) -> httpx.Response:
    api.client.cookies.clear()
    api.client.cookies.set(SESSION_COOKIE, cookie)
    api.client.cookies.set(CSRF_COOKIE, CSRF)
    data = {CSRF_FIELD: CSRF} if method == "POST" else None
    try:
        return api.client.request(method, path, data=data, follow_redirects=False)
    finally:
        api.client.cookies.clear()


def _bearer(api: Api, token: str) -> httpx.Response:
    return api.client.get("/auth/me", headers={"Authorization": f"Bearer {token}"})


def _assert_refused(api: Api, token: str) -> None:
    page = _console(api, token)
    assert page.status_code == 303
    assert page.headers["location"].startswith("/console/login?next=")
    me = _bearer(api, token)
    assert me.status_code == 401, me.text
    assert me.headers["content-type"].startswith("application/problem+json")
    assert me.json()["status"] == 401 and "revoked" in me.json()["detail"]


def test_logout_revokes_the_cookie_for_the_console_and_the_api(api: Api) -> None:
    cookie = _login(api)
    other = _login(api)  # the same officer, logged in on another machine
    assert _console(api, cookie).status_code == 200
    assert _bearer(api, cookie).json()["username"] == "fr.officer"

    out = _console(api, cookie, "POST", "/console/logout")
    assert out.status_code == 303 and out.headers["location"] == "/console/login"
    assert 'mla_console=""' in out.headers["set-cookie"]  # this browser drops it

    # A copy of the cookie taken before the logout opens nothing any more.
    _assert_refused(api, cookie)
    # The other login goes on.
    assert _console(api, other).status_code == 200
    assert _bearer(api, other).status_code == 200


def test_logout_ends_the_tokens_the_console_renewed_the_login_from(api: Api) -> None:
    security.set_password(api.session, api.world["fr.officer"], PASSWORD)
    with clock.frozen(clock.utcnow() - timedelta(seconds=security.token_ttl() * 0.6)):
        early, _ = security.issue_access_token(api.session, api.world["fr.officer"])
    api.session.commit()
    page = _console(api, early)  # past half its life: the console renews it
    assert page.status_code == 200
    renewed = page.cookies.get(SESSION_COOKIE)
    assert renewed and renewed != early
    assert _console(api, renewed, "POST", "/console/logout").status_code == 303
    _assert_refused(api, renewed)
    _assert_refused(api, early)


def test_revocations_are_pruned_once_expired(api: Api) -> None:
    now = clock.utcnow()
    api.session.add_all([RevokedToken(jti="expired", expires_at=now - timedelta(seconds=1)),
                         RevokedToken(jti="still-covering", expires_at=now + timedelta(1))])
    api.session.commit()
    cookie = _login(api)
    _console(api, cookie, "POST", "/console/logout")
    api.session.expire_all()
    mine = security.login_id(security._verified_claims(api.session, cookie))
    kept = {r.jti: r.expires_at for r in api.session.scalars(select(RevokedToken))}
    assert set(kept) == {"still-covering", mine}
    # Kept as long as a token of that login may still be presented.
    assert kept[mine] >= now + timedelta(seconds=security.token_ttl())


def test_the_revocation_check_adds_no_statement_to_an_authenticated_request(
        api: Api) -> None:
    token = _login(api)
    assert _bearer(api, token).status_code == 200  # keys and token cached
    statements: list[str] = []

    def count(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
        statements.append(statement)

    engine = api.app.state.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        assert _bearer(api, token).status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", count)
    # GET /auth/me reads the user (with its authority) and nothing else; the revocation is a
    # primary-key probe inside that same statement.
    queries = [s for s in statements if s.lstrip().upper().startswith(("SELECT", "WITH"))]
    assert len(queries) == 1, statements
    assert re.search(r"revoked_tokens", queries[0]) and re.search(r"\busers\b", queries[0])
