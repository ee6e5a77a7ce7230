"""The REST API as officers, supervisors and liaison officers use it."""

from __future__ import annotations

import hashlib
import json

import pytest

from mla import audit, security
from tests.api_helpers import Api

PROBLEM = "application/problem+json"


def _problem(response, status: int) -> dict:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert body["status"] == status and body["title"] and body["detail"]
    return body


def _advance(api: Api, request_id: str, *steps: tuple[str, str]) -> dict:
    body: dict = {}
    for user, event in steps:
        response = api.call(user, "POST", f"/requests/{request_id}/transitions",
                            json={"event": event})
        assert response.status_code == 200, response.text
        body = response.json()
    return body


def test_login_issues_a_token_that_opens_the_api(api: Api) -> None:
    security.set_password(api.session, api.world["fr.officer"], "correct horse battery")
    api.session.commit()
    response = api.client.post("/auth/token", data={"username": "fr.officer",
                                                    "password": "correct horse battery"})
    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    me = api.client.get("/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert me.json()["username"] == "fr.officer" and me.json()["authority"] == "FR-MJ"
    bad = api.client.post("/auth/token", data={"username": "fr.officer", "password": "nope"})
    _problem(bad, 401)
    assert bad.headers["www-authenticate"] == "Bearer"


def test_repeated_failed_logins_are_rate_limited(api: Api) -> None:
    security.set_password(api.session, api.world["fr.officer"], "correct horse battery")
    api.session.commit()
    statuses = [api.client.post("/auth/token", data={"username": "fr.officer",
                                                     "password": f"wrong{i}"}).status_code
                for i in range(8)]
    assert statuses[0] == 401 and statuses[-1] == 429
    limited = api.client.post("/auth/token", data={"username": "fr.officer",
                                                   "password": "correct horse battery"})
    _problem(limited, 429)
    assert int(limited.headers["retry-after"]) > 0


def test_jwks_publishes_the_verification_key(api: Api) -> None:
    api.headers("fr.officer")
    keys = api.client.get("/.well-known/jwks.json").json()["keys"]
    assert keys and all(k["kty"] == "EC" and k["kid"] and "d" not in k for k in keys)


def test_no_token_is_401_problem(api: Api) -> None:
    _problem(api.client.get("/requests"), 401)
    _problem(api.client.get("/requests", headers={"Authorization": "Bearer nonsense"}), 401)


def test_officer_files_edits_and_moves_a_request(api: Api) -> None:
    created = api.file()
    rid = created["id"]
    assert created["state"] == "draft" and created["reference"].startswith("FR-MJ-")
    assert "submit" in created["allowed_events"]
    # A stale If-Match is refused with the current version.
    stale = api.call("fr.officer", "PATCH", f"/requests/{rid}", json={"data": created["data"]},
                     headers={"If-Match": '"99"'})
    assert _problem(stale, 409)["current_version"] == created["version"]
    edited = api.call("fr.officer", "PATCH", f"/requests/{rid}",
                      json={"data": created["data"] | {"case_subject": "Laundering ring"}},
                      headers={"If-Match": f'"{created["version"]}"'})
    assert edited.status_code == 200 and edited.json()["data"]["case_subject"] == "Laundering ring"
    assert edited.headers["etag"] == f'"{edited.json()["version"]}"'
    moved = _advance(api, rid, ("fr.officer", "submit"), ("fr.supervisor", "approve"),
                     ("fr.officer", "transmit"))
    assert moved["to_state"] == "transmitted"
    incoming = api.call("ke.officer", "GET", f"/requests/{rid}").json()
    assert incoming["state"] == "transmitted" and incoming["data"]["case_subject"]
    history = api.call("fr.officer", "GET", f"/requests/{rid}/history").json()
    assert [h["event"] for h in history] == ["file", "submit", "approve", "transmit"]
    assert history[2]["actor"] == "fr.supervisor"


def test_bad_form_is_422_naming_every_field(api: Api) -> None:
    body = {"kind": "mla.evidence", "requested_authority": "KE-ODPP", "legal_basis": "untoc",
            "title": "x", "language": "english",
            "data": {"desired_deadline": "tomorrow", "confidentiality": "top"}}
    problem = _problem(api.call("fr.officer", "POST", "/requests", json=body), 422)
    fields = {e["field"] for e in problem["errors"]}
    assert {"language", "data.desired_deadline", "data.confidentiality"} <= fields
    shape = _problem(api.call("fr.officer", "POST", "/requests", json={"kind": 3}), 422)
    assert "requested_authority" in {e["field"] for e in shape["errors"]}


def test_transmit_with_incomplete_form_is_422_with_paths(api: Api) -> None:
    created = api.file(data={"case_subject": "only this"})
    rid = created["id"]
    _advance(api, rid, ("fr.officer", "submit"), ("fr.supervisor", "approve"))
    problem = _problem(api.call("fr.officer", "POST", f"/requests/{rid}/transitions",
                                json={"event": "transmit"}), 422)
    assert "data.facts_summary" in {e["field"] for e in problem["errors"]}
    assert api.call("fr.officer", "GET", f"/requests/{rid}").json()["state"] == "approved"


def test_illegal_event_is_409_listing_allowed_events(api: Api) -> None:
    rid = api.file()["id"]
    problem = _problem(api.call("fr.officer", "POST", f"/requests/{rid}/transitions",
                                json={"event": "close"}), 409)
    assert problem["state"] == "draft" and "submit" in problem["allowed_events"]


def test_officer_cannot_approve(api: Api) -> None:
    rid = api.file()["id"]
    _advance(api, rid, ("fr.officer", "submit"))
    _problem(api.call("fr.officer", "POST", f"/requests/{rid}/transitions",
                      json={"event": "approve"}), 403)


def test_liaison_sees_status_only(api: Api) -> None:
    created = api.file()
    rid = created["id"]
    secrets = {created["data"]["facts_summary"], created["data"]["case_subject"],
               created["title"]}
    api.call("fr.officer", "POST", f"/requests/{rid}/attachments",
             files={"file": ("order.pdf", b"%PDF-1.4 secret", "application/pdf")})
    _advance(api, rid, ("fr.officer", "submit"))
    seen = []
    for url in (f"/requests/{rid}", f"/requests/{rid}/history", "/requests"):
        response = api.call("fr.liaison", "GET", url)
        assert response.status_code == 200
        seen.append(response.text)
    status = json.loads(seen[0])
    assert status["state"] == "in_review" and status["reference"] == created["reference"]
    assert not {"data", "title", "legal_basis", "allowed_events"} & set(status)
    assert all(set(h) == {"at", "event", "from_state", "to_state"} for h in json.loads(seen[1]))
    assert json.loads(seen[2])["items"][0]["title"] is None
    for text in seen:
        assert not any(s in text for s in secrets)
    for url in (f"/requests/{rid}/document", f"/requests/{rid}/attachments",
                f"/requests/{rid}/translations"):
        _problem(api.call("fr.liaison", "GET", url), 403)


def test_list_filters_and_pages(api: Api) -> None:
    ids = [api.file(title=f"case {i}")["id"] for i in range(5)]
    api.file(kind="mla.e_evidence.preservation")
    page = api.call("fr.officer", "GET", "/requests", params={"kind": "mla.evidence",
                                                              "limit": 2}).json()
    seen = [i["id"] for i in page["items"]]
    while page["next_cursor"]:
        page = api.call("fr.officer", "GET", "/requests",
                        params={"kind": "mla.evidence", "limit": 2,
                                "cursor": page["next_cursor"]}).json()
        seen += [i["id"] for i in page["items"]]
    assert sorted(seen) == sorted(ids) and len(seen) == 5
    assert len(api.call("ke.officer", "GET", "/requests",
                        params={"counterpart": "FR-MJ"}).json()["items"]) == 6
    assert api.call("us.officer", "GET", "/requests").json()["items"] == []
    _problem(api.call("fr.officer", "GET", "/requests", params={"cursor": "@@"}), 422)


def test_document_renders_in_the_requested_language(api: Api) -> None:
    created = api.file(language="fr")
    rid = created["id"]
    original = api.call("fr.officer", "GET", f"/requests/{rid}/document")
    assert original.status_code == 200 and original.headers["content-language"] == "fr"
    assert '<html lang="fr"' in original.text
    english = {k: v for k, v in created["data"].items() if isinstance(v, str) and len(v) > 20}
    put = api.call("fr.officer", "PUT", f"/requests/{rid}/translations/en",
                   json={"data": english})
    assert put.status_code == 204, put.text
    doc = api.call("fr.officer", "GET", f"/requests/{rid}/document",
                   params={"format": "md"})
    # KE accepts en, so the default document is the English text with English labels.
    assert doc.headers["content-language"] == "en"
    assert doc.headers["content-type"].startswith("text/markdown")
    _problem(api.call("fr.officer", "GET", f"/requests/{rid}/document",
                      params={"language": "ru"}), 422)


def test_attachment_upload_records_sha256_and_download_returns_it(api: Api) -> None:
    rid = api.file()["id"]
    payload = b"scanned court order " * 100
    up = api.call("fr.officer", "POST", f"/requests/{rid}/attachments",
                  files={"file": ("ordonnance.pdf", payload, "application/pdf")})
    assert up.status_code == 201, up.text
    meta = up.json()
    assert meta["sha256"] == hashlib.sha256(payload).hexdigest() and meta["size"] == len(payload)
    down = api.call("ke.officer", "GET", f"/attachments/{meta['id']}")
    assert down.status_code == 200 and down.content == payload
    assert down.headers["repr-digest"].startswith("sha-256=:")
    listed = api.call("ke.officer", "GET", f"/requests/{rid}/attachments").json()
    assert [a["sha256"] for a in listed] == [meta["sha256"]]


def test_attachment_over_the_limit_is_413_and_stores_nothing(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLA_MAX_ATTACHMENT_BYTES", "1000")
    rid = api.file()["id"]
    response = api.call("fr.officer", "POST", f"/requests/{rid}/attachments",
                        files={"file": ("big.bin", b"x" * 1001, "application/octet-stream")})
    assert _problem(response, 413)["max_bytes"] == 1000
    assert api.call("fr.officer", "GET", f"/requests/{rid}/attachments").json() == []


def test_admin_manages_users_of_own_authority(api: Api) -> None:
    created = api.call("fr.admin", "POST", "/users", json={
        "username": "fr.officer2", "full_name": "Claire Martin", "role": "officer",
        "password": "a long enough passphrase"})
    assert created.status_code == 201, created.text
    uid = created.json()["id"]
    login = api.client.post("/auth/token", data={"username": "fr.officer2",
                                                 "password": "a long enough passphrase"})
    token = login.json()["access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    assert api.client.get("/requests", headers=auth).status_code == 200
    off = api.call("fr.admin", "PATCH", f"/users/{uid}", json={"active": False})
    assert off.json()["active"] is False
    _problem(api.client.get("/requests", headers=auth), 401)
    _problem(api.call("fr.officer", "GET", "/users"), 403)
    short = api.call("fr.admin", "POST", "/users", json={
        "username": "fr.x", "full_name": "X", "role": "officer", "password": "short"})
    assert "password" in {e["field"] for e in _problem(short, 422)["errors"]}


def test_every_write_and_content_read_is_audited(api: Api) -> None:
    rid = api.file()["id"]
    _advance(api, rid, ("fr.officer", "submit"))
    api.call("fr.officer", "GET", f"/requests/{rid}")
    events = api.call("fr.admin", "GET", "/audit").json()
    actions = [e["action"] for e in events]
    assert {"request.file", "request.transition", "request.read"} <= set(actions)
    assert all(e["authority_id"] == api.world.fr.id for e in events)
    assert api.call("ke.admin", "GET", "/audit").json() == []
    _problem(api.call("fr.officer", "GET", "/audit"), 403)
    assert audit.verify(api.session).ok


def test_every_operation_states_its_authorization_rule(api: Api) -> None:
    spec = api.client.get("/openapi.json").json()
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            assert "Authorization:" in op.get("description", ""), f"{method} {path}"
            assert op.get("responses"), f"{method} {path}"


def test_template_schema_is_public_and_versioned(api: Api) -> None:
    listing = api.client.get("/templates").json()
    evidence = next(t for t in listing if t["kind"] == "mla.evidence")
    assert evidence["versions"] == [1, 2, 3] and evidence["latest"] == 2
    # Version 3 is EIO Annex A, which filings under the EIO Directive take.
    assert evidence["official_forms"] == [
        {"version": 3, "form": "eio_annex_a", "legal_bases": ["eio_2014_41"]}]
    # What a translation may give: free text, not the dates and codes around it.
    assert {"facts_summary", "evidence_purpose"} <= set(evidence["translatable"])
    assert "desired_deadline" not in evidence["translatable"]
    schema = api.client.get("/templates/mla.evidence/schema", params={"version": 1}).json()
    assert schema["$schema"].endswith("2020-12/schema") and schema["x-template-version"] == 1
    assert "evidence_form" not in schema["properties"]
    _problem(api.client.get("/templates/mla.nothing/schema"), 404)
    _problem(api.client.get("/templates/mla.evidence/schema", params={"version": 9}), 404)
    diagram = api.client.get("/workflows/extradition/diagram")
    assert diagram.text.startswith("stateDiagram-v2")
