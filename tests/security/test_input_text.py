"""Issue #16: inputs any client can send that used to end in a 500 (on PostgreSQL above all,
which refuses NUL in text): control characters in any text, numbers past 64 bits, forged
cursors, tokens and entity tags. The rules are applied at one place (api/limits.py with
mla/inputs.py), so the tests walk every route of the application, API and console, rather
than the cases the attack run found. Each refusal names its field; nothing is stored.
On SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import json
import re
import uuid
from typing import Any

import pytest
from sqlalchemy import select

from mla import templates
from mla.models import AuditEvent, ContactPoint, LoginAttempt, Request
from tests import tokens
from tests.api_helpers import PROBLEM, Api, count_rows, problem_fields, refusal
from tests.app_routes import CSRF, console, routes
from tests.transfer.inbound import enable

INT64_MAX = 2**63 - 1





def _filing(**over: Any) -> dict[str, Any]:
    return {"kind": "mla.evidence", "requested_authority": "KE-ODPP", "legal_basis": "untoc",
            "title": "Kestrel", "language": "en",
            "data": templates.example("mla.evidence")} | over


def _refused(response: Any, field: str) -> None:
    """422 naming `field`: problem JSON from the API, a page from the console."""
    assert response.status_code == 422, (response.request.url, response.text[:300])
    if response.headers["content-type"].startswith(PROBLEM):
        assert field in problem_fields(response.json()), response.json()
    else:
        assert response.headers["content-type"].startswith("text/html")
        assert f"{field}:" in response.text


# --- every route: path and query parameters ----------------------------------------------------


def _url(path: str, poisoned: str | None) -> str:
    return re.sub(r"{(\w+)}", lambda m: "%00" if m.group(1) == poisoned else
                  str(uuid.uuid4()) if m.group(1).endswith("_id") and
                  m.group(1) not in ("user_id", "alert_id", "deadline_id", "contact_point_id",
                                     "test_page_id") else "1", path)


def test_nul_in_any_path_or_query_parameter_of_any_route_is_422_by_name(api: Api) -> None:
    checked = 0
    headers = api.headers("fr.admin")
    for route in routes(api.app):
        for name in sorted(route.params):
            response = api.client.request(route.method, _url(route.path, name),
                                          headers=headers, follow_redirects=False)
            _refused(response, name)
            checked += 1
        for name in route.query:
            response = api.client.request(route.method, _url(route.path, None),
                                          params={name: "a\x00b"}, headers=headers,
                                          follow_redirects=False)
            _refused(response, name)
            checked += 1
    assert checked >= 60
    assert count_rows(api, Request) == 0


def _integer_params(schema: dict[str, Any]) -> list[tuple[str, str, str]]:
    found = []
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            for param in operation.get("parameters", []):
                types = [param["schema"], *param["schema"].get("anyOf", [])]
                if any(t.get("type") == "integer" for t in types):
                    found.append((method.upper(), path, param["name"]))
    return found


def test_every_integer_parameter_and_body_field_is_bounded_to_64_bits(api: Api) -> None:
    schema = api.app.openapi()
    components = schema["components"]["schemas"]
    unbounded = []

    def walk(node: dict[str, Any], where: str) -> None:
        node = components[node["$ref"].split("/")[-1]] if "$ref" in node else node
        for option in node.get("anyOf", []):
            walk(option, where)
        low, high = node.get("minimum", -(2**64)), node.get("maximum", 2**64)
        if node.get("type") == "integer" and not -(2**63) <= low <= high <= INT64_MAX:
            unbounded.append(where)
        if isinstance(node.get("items"), dict):
            walk(node["items"], f"{where}[]")
        for name, child in node.get("properties", {}).items():
            walk(child, f"{where}.{name}")

    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            for param in operation.get("parameters", []):
                walk(param["schema"], f"{method.upper()} {path} {param['name']}")
            for content in operation.get("requestBody", {}).get("content", {}).values():
                walk(content.get("schema", {}), f"{method.upper()} {path} body")
    assert unbounded == []


def test_a_number_past_64_bits_in_any_integer_parameter_is_422_by_name(api: Api) -> None:
    params = _integer_params(api.app.openapi())
    assert ("GET", "/audit", "after_id") in params
    headers = api.headers("fr.admin")
    for method, path, name in params:
        if "{" + name + "}" in path:
            url = re.sub(r"{(\w+)}", lambda m, n=name: "1" * 23 if m.group(1) == n else "1",
                         path)
            response = api.client.request(method, url, headers=headers)
        else:
            response = api.client.request(method, _url(path, None), headers=headers,
                                          params={name: "1" * 23})
        _refused(response, name)


# --- bodies -------------------------------------------------------------------------------------


def test_control_characters_in_json_text_are_422_by_name_line_breaks_are_not(api: Api) -> None:
    cases = {
        "title": _filing(title="Kestrel\x00"),
        "data.facts_summary": _filing(data=templates.example("mla.evidence")
                                      | {"facts_summary": "page one\x0cpage two"}),
        "data.offences.1.name": _filing(data=templates.example("mla.evidence") | {
            "offences": [{"name": "Fraud"}, {"name": "Laundering\x1b[31m"}]}),
    }
    for field, body in cases.items():
        _refused(api.call("fr.officer", "POST", "/requests", json=body), field)
    surrogate = json.dumps(_filing()).replace('"Kestrel"', '"Kestrel \\ud800"')
    _refused(api.call("fr.officer", "POST", "/requests", content=surrogate,
                      headers={"Content-Type": "application/json"}), "title")
    too_big = json.dumps(_filing()).replace('"data": {', f'"data": {{"x": {2**64}, ')
    _refused(api.call("fr.officer", "POST", "/requests", content=too_big,
                      headers={"Content-Type": "application/json"}), "data.x")
    not_a_number = json.dumps(_filing()).replace('"data": {', '"data": {"x": NaN, ')
    _refused(api.call("fr.officer", "POST", "/requests", content=not_a_number,
                      headers={"Content-Type": "application/json"}), "data.x")
    assert count_rows(api, Request) == 0
    text = "Between March and June:\n\t- EUR 1.2 million,\r\n\t- EUR 0.3 million."
    created = api.call("fr.officer", "POST", "/requests", json=_filing(
        data=templates.example("mla.evidence") | {"facts_summary": text}))
    assert created.status_code == 201, created.text
    assert created.json()["data"]["facts_summary"] == text


def test_nul_in_a_login_form_is_422_and_records_no_attempt(api: Api) -> None:
    form = {"username": "fr.officer\x00", "password": "whatever it is"}
    _refused(api.client.post("/auth/token", data=form), "username")
    _refused(api.client.post("/auth/token", files={k: (None, v) for k, v in form.items()}),
             "username")
    api.client.cookies.set("mla_console_csrf", CSRF)
    try:
        page = api.client.post("/console/login", data=form | {"csrf_token": CSRF})
    finally:
        api.client.cookies.clear()
    _refused(page, "username")
    assert count_rows(api, LoginAttempt) == 0


def test_a_console_form_with_a_control_character_is_a_page_naming_the_field(api: Api) -> None:
    rid = api.file()["id"]
    response = console(api, "fr.officer", "POST", f"/console/requests/{rid}/events",
                       data={"event": "submit", "reason": "see\x00letter"})
    _refused(response, "reason")
    assert api.call("fr.officer", "GET", f"/requests/{rid}").json()["state"] == "draft"


# --- identifiers the engine parses itself ---------------------------------------------------------


def test_a_token_whose_key_id_is_nul_is_401_everywhere(api: Api) -> None:
    forged = tokens.forge(tokens.claims(api.world["fr.officer"].id, "officer", "FR-MJ"),
                          key=tokens.fresh_ec_pem(), kid="\x00")
    for url in ("/auth/me", "/requests", "/alerts"):
        refusal(api.client.get(url, headers={"Authorization": f"Bearer {forged}"}), 401)
    api.client.cookies.set("mla_console", forged)
    try:
        page = api.client.get("/console/requests", follow_redirects=False)
    finally:
        api.client.cookies.clear()
    assert page.status_code == 303 and "/console/login" in page.headers["location"]


def _cursor(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def test_a_forged_list_cursor_is_422(api: Api) -> None:
    api.file()
    naive = _cursor(["2026-01-01T00:00:00", str(uuid.uuid4())])
    deep = base64.urlsafe_b64encode(b"[" * 3000 + b"]" * 3000).decode()
    for cursor in (naive, deep, _cursor({"a": 1}), _cursor([1, 2]), "%%%"):
        _refused(api.call("fr.officer", "GET", "/requests", params={"cursor": cursor}),
                 "cursor")


def test_an_if_match_that_is_no_version_is_400_and_changes_nothing(api: Api) -> None:
    created = api.file()
    rid = created["id"]
    for tag in ("1" * 5000, '"' + "9" * 20 + '"', "²".encode(), "abc"):
        response = api.call("fr.officer", "PATCH", f"/requests/{rid}", json={"data": {}},
                            headers={"If-Match": tag})
        assert "If-Match" in problem_fields(refusal(response, 400))
    assert api.call("fr.officer", "GET", f"/requests/{rid}").json()["version"] == \
        created["version"]


def test_digits_python_calls_digits_but_int_refuses_are_no_number(api: Api) -> None:
    """`"²".isdigit()` is true and `int("²")` raises: every place that parsed a number that
    way answered 500."""
    rid = api.file()["id"]
    for version in ("²", "1" * 5000):
        # No version at all, so no change: a conflict, never an unchecked change.
        response = console(api, "fr.officer", "POST", f"/console/requests/{rid}/events",
                           data={"event": "submit", "version": version})
        assert response.status_code == 409, response.text[:300]
    assert api.call("fr.officer", "GET", f"/requests/{rid}").json()["state"] == "draft"
    api.session.add(ContactPoint(authority_id=api.world.fr.id, network="budapest_24_7",
                                 name="Desk", languages=["fr"], channels=["email"],
                                 timezone="Europe/Paris"))
    api.session.commit()
    for notify in ("contact:²", "contact:" + "9" * 23):
        response = api.call("fr.admin", "POST", "/oncall/policies", json={
            "network": "budapest_24_7", "steps": [{"notify": notify, "delay_minutes": 0}]})
        assert "steps.0.notify" in problem_fields(refusal(response, 422))


@pytest.mark.parametrize("value", ["\x00", "a\x7fb"])
def test_control_characters_in_a_path_name_the_parameter(api: Api, value: str) -> None:
    from urllib.parse import quote

    response = api.call("fr.officer", "GET", f"/authorities/{quote(value)}")
    _refused(response, "code")


def test_an_email_longer_than_its_column_is_422_not_a_database_error(api: Api) -> None:
    """PostgreSQL refuses text longer than a VARCHAR column where SQLite stores it."""
    email = "a" * 200 + "@example.org"
    created = api.call("fr.admin", "POST", "/users", json={
        "username": "fr.officer2", "full_name": "Claire Martin", "role": "officer",
        "email": email})
    _refused(created, "email")
    user_id = api.world["fr.officer"].id
    _refused(api.call("fr.admin", "PATCH", f"/users/{user_id}", json={"email": email}),
             "email")
    assert api.call("fr.admin", "GET", f"/users/{user_id}").json()["email"] is None


def test_the_inbox_refuses_control_characters_in_key_ids_senders_and_content(
        api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """Anyone can seal an envelope to our public key: what it names is looked up and
    recorded only once it is text PostgreSQL takes."""
    inbound = enable(api, monkeypatch)
    answers = {
        "unknown_key": inbound.post(inbound.seal(enc_kid="\x00")),
        "unknown_sender": inbound.post(inbound.seal(inbound.payload() | {"sender": "FR\x00"})),
        "malformed": inbound.post(inbound.seal(inbound.payload() | {"message_id": "\x00"})),
        "invalid_content": inbound.post(inbound.seal(inbound.payload(title="Inbound\x00"))),
    }
    for reason, response in answers.items():
        assert refusal(response, response.status_code)["reason"] == reason, response.text
        assert 400 <= response.status_code < 500
    assert "body.title" in problem_fields(answers["invalid_content"].json())
    api.session.rollback()
    assert count_rows(api, Request) == 0
    rejected = api.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "transfer.reject")).all()
    assert sorted(e.detail["reason"] for e in rejected) == sorted(answers)
