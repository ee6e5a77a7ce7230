"""The console over plain HTTP against `mla serve` (no browser needed): login needs its CSRF
token and the same origin, cookies are HttpOnly and SameSite, the console's session is no API
credential, and the console stays out of the API's OpenAPI document."""

from __future__ import annotations

import re

import httpx

from tests.console.conftest import PASSWORD, Server


def test_forms_need_their_csrf_token_and_console_stays_out_of_openapi(server: Server) -> None:
    with httpx.Client(base_url=server.base) as client:
        login_page = client.get("/console/login")
        cookie = login_page.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie
        token = re.search(r'name="csrf_token" value="([^"]+)"', login_page.text).group(1)
        form = {"username": "fr.officer", "password": PASSWORD}
        assert client.post("/console/login", data=form).status_code == 403
        assert client.post("/console/login", data=form | {"csrf_token": token},
                           headers={"Origin": "http://evil.example"}).status_code == 403
        wrong = client.post("/console/login", data=form | {"csrf_token": token,
                                                            "password": "wrong password!"})
        assert wrong.status_code == 401 and "invalid username or password" in wrong.text
        ok = client.post("/console/login", data=form | {"csrf_token": token})
        assert ok.status_code == 303 and ok.headers["location"] == "/console/requests"
        assert client.get("/console/requests").status_code == 200
        # The session is not an API credential the other way round, nor the reverse.
        assert client.get("/auth/me").status_code == 401
    schema = httpx.get(server.url("/openapi.json")).json()
    assert not [p for p in schema["paths"] if p.startswith("/console")]
