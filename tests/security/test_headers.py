"""Security headers on every HTML page of the application, not only the console's: the HTML
routes are found by asking every GET route of the app (API and console) and keeping those
that answer HTML, so a new page is checked without anyone remembering to add it. And the API
description pages load nothing from outside the instance."""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

import httpx

from api.app import create_app
from api.docs import ASSETS
from mla.stats import charts
from tests.api_helpers import Api
from tests.app_routes import console, routes

STATIC = ("/console/static/", f"{ASSETS}/")
# HTML pages that must be among those found (the walk sees real data, not only errors).
EXPECTED_HTML = {
    "/docs", "/redoc", "/docs/oauth2-redirect", "/console/stats",
    "/requests/{request_id}/document", "/console/requests/{request_id}/document",
    "/console/login", "/console/requests", "/console/requests/{request_id}",
    "/console/alerts", "/console/oncall", "/console/workflows/{name}",
}


def _values(api: Api) -> dict[str, list[str]]:
    request = api.file()
    attachment = api.call("fr.officer", "POST", f"/requests/{request['id']}/attachments",
                          files={"file": ("a.txt", b"evidence", "text/plain")}).json()
    api.call("fr.officer", "POST", "/requests/incoming", json={
        "kind": "mla.e_evidence.preservation", "requesting_authority": "KE-ODPP",
        "counterpart_reference": "X-2", "legal_basis": "budapest", "title": "Preserve",
        "language": "en", "data": {}})
    alert = api.call("fr.contact_point", "GET", "/alerts").json()[0]
    received = api.call("ke.officer", "POST", f"/requests/{request['id']}/received-documents",
                        files={"file": ("r.pdf", b"%PDF-1.7 unsigned", "application/pdf")})
    case = api.call("fr.officer", "POST", "/cases", json={"reference": "INV-1",
                                                          "title": "Kestrel"}).json()
    person = api.call("fr.officer", "POST", f"/cases/{case['id']}/persons",
                      json={"name": "IVANOV Sergei"}).json()
    return {"document_id": [received.json()["id"]], "request_id": [request["id"]],
            "attachment_id": [attachment["id"]],
            "case_id": [case["id"]], "person_id": [person["id"]], "link_id": ["1"],
            "alert_id": [str(alert["id"])], "user_id": [str(api.world["fr.officer"].id)],
            "code": ["FR-MJ"], "kind": ["mla.evidence"], "language": ["en"],
            "contact_point_id": ["1"], "test_page_id": ["1"],
            "token": ["no-such-calendar-token-000000"],
            "table": list(api.call("fr.officer", "GET", "/stats").json()["tables"])}


def _walk(api: Api, users: tuple[str, ...]) -> list[tuple[str, str, httpx.Response]]:
    values = _values(api)
    answers = []
    for route in routes(create_app()):
        if route.method != "GET":
            continue
        names = {"name": list(charts.CHARTS)} if route.path.startswith("/stats/") else \
            {"name": ["mla_requesting"]}
        params = values | names
        url = route.path.format(**{p: params[p][0] for p in route.params})
        for user in users:
            if url.startswith("/console"):
                response = console(api, user, "GET", url)
            else:
                response = api.call(user, "GET", url)
            answers.append((route.path, user, response))
    return answers


def _policy(header: str) -> dict[str, list[str]]:
    policy = {}
    for directive in filter(None, (d.strip() for d in header.split(";"))):
        name, *sources = directive.split()
        policy[name] = sources
    return policy


def test_every_html_page_carries_the_security_headers(api: Api) -> None:
    # An officer (content) and a liaison officer (status view, 403 pages) of a party.
    answers = _walk(api, ("fr.officer", "fr.liaison"))
    html, problems = set(), []
    for path, user, response in answers:
        headers = response.headers
        where = (path, user, response.status_code)
        if headers.get("x-content-type-options") != "nosniff":
            problems.append((*where, "nosniff"))
        if not headers.get("content-type", "").startswith("text/html"):
            if headers.get("cache-control") != "no-store":
                problems.append((*where, "Cache-Control"))
            continue
        html.add(path)
        policy = _policy(headers.get("content-security-policy", ""))
        scripts = policy.get("script-src", policy.get("default-src"))
        if not scripts or "'unsafe-inline'" in scripts or "*" in scripts:
            problems.append((*where, f"script-src {scripts}"))
        if policy.get("frame-ancestors") != ["'none'"]:
            problems.append((*where, "frame-ancestors"))
        if policy.get("base-uri") != ["'none'"]:
            problems.append((*where, "base-uri"))
        for name, expected in (("x-frame-options", "DENY"), ("referrer-policy", "same-origin"),
                               ("cache-control", "no-store")):
            if headers.get(name) != expected:
                problems.append((*where, f"{name}: {headers.get(name)}"))
    assert problems == [], problems
    assert html >= EXPECTED_HTML, EXPECTED_HTML - html


def _inline_hashes(text: str, tag: str) -> set[str]:
    return {"'sha256-" + base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
            + "'" for body in re.findall(rf"<{tag}>(.*?)</{tag}>", text, re.S)}


def test_pages_with_inline_styles_allow_exactly_theirs_by_hash(api: Api) -> None:
    rid = api.file()["id"]
    pages: list[Any] = [
        api.call("fr.officer", "GET", f"/requests/{rid}/document"),
        console(api, "fr.officer", "GET", f"/console/requests/{rid}/document"),
    ]
    for response in pages:
        assert response.status_code == 200, response.text
        policy = _policy(response.headers["content-security-policy"])
        styles = _inline_hashes(response.text, "style")
        assert styles and set(policy["style-src"]) == styles, policy
        assert policy["default-src"] == ["'none'"] and policy["script-src"] == ["'none'"]


def test_api_description_pages_load_nothing_from_outside(api: Api) -> None:
    for path in ("/docs", "/redoc", "/docs/oauth2-redirect"):
        page = api.client.get(path)
        assert page.status_code == 200
        assert not re.findall(r"https?://|//[a-z]", page.text, re.I), path
        for url in re.findall(r'(?:src|href)="([^"]+)"', page.text):
            assert url.startswith(STATIC), (path, url)
            asset = api.client.get(url)
            assert asset.status_code == 200 and len(asset.content) > 500, url
            assert asset.headers["x-content-type-options"] == "nosniff"
        policy = _policy(page.headers["content-security-policy"])
        assert policy["default-src"] == ["'none'"]
        assert set(policy["script-src"]) - {"'self'"} == _inline_hashes(page.text, "script")
    # Swagger UI would send the document to a public validator for its badge.
    assert '"validatorUrl": null' in api.client.get("/docs").text
