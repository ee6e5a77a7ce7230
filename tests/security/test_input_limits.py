"""Issue #16: how much a request may carry. Bodies are limited per route before anything
parses them (MLA_MAX_BODY_BYTES; uploads MLA_MAX_ATTACHMENT_BYTES; the transfer inbox its
envelope limit, audited), every list of a request template has a maximum length, and JSON is
nested at most `inputs.MAX_DEPTH` levels. Each refusal is problem JSON naming what is wrong,
and nothing is stored. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from jose import jws
from sqlalchemy import select

from mla import inputs, settings, templates
from mla.models import Attachment, AuditEvent, InboxMessage, Request
from mla.transfer import canonical, envelope
from tests.api_helpers import Api, count_rows, problem_fields, refusal
from tests.transfer.inbound import FR_SIG_KID, enable

OFFENCE = {"name": "Fraud", "legal_provision": "Art. 1", "max_penalty": "10 years"}





def _filing(**data: Any) -> dict[str, Any]:
    return {"kind": "mla.evidence", "requested_authority": "KE-ODPP", "legal_basis": "untoc",
            "title": "Kestrel", "language": "en",
            "data": templates.example("mla.evidence") | data}


# --- body size ------------------------------------------------------------------------------


def test_ten_megabytes_of_offences_are_refused_and_nothing_is_stored(api: Api) -> None:
    body = json.dumps(_filing(offences=[OFFENCE] * 175_000)).encode()
    assert len(body) > 10_000_000
    response = api.call("fr.officer", "POST", "/requests", content=body,
                        headers={"Content-Type": "application/json"})
    problem = refusal(response, 413)
    assert problem["max_bytes"] == settings.get().max_body_bytes == 2 * 1024 * 1024
    assert count_rows(api, Request) == 0


def test_a_declared_length_over_the_limit_is_refused_without_reading(api: Api) -> None:
    # The body is two bytes: only the header can be what is refused.
    response = api.call("fr.officer", "POST", "/requests", content=b"{}",
                        headers={"Content-Type": "application/json",
                                 "Content-Length": str(10**10)})
    assert refusal(response, 413)["max_bytes"] == 2 * 1024 * 1024
    bad = api.call("fr.officer", "POST", "/requests", content=b"{}",
                   headers={"Content-Type": "application/json", "Content-Length": "1" * 5000})
    refusal(bad, 400)


def test_a_body_without_length_is_read_up_to_the_limit_only(
        api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLA_MAX_BODY_BYTES", "4096")
    sent: list[int] = []

    def chunks() -> Iterator[bytes]:
        for _ in range(100):
            sent.append(1)
            yield b" " * 1024
        yield json.dumps(_filing()).encode()

    response = api.call("fr.officer", "POST", "/requests", content=chunks(),
                        headers={"Content-Type": "application/json"})
    assert "content-length" not in {k.lower() for k in response.request.headers}
    assert refusal(response, 413)["max_bytes"] == 4096
    # A body under the setting still goes through; one over it does not.
    assert len(json.dumps(_filing()).encode()) > 4096
    refusal(api.call("fr.officer", "POST", "/requests", json=_filing()), 413)
    monkeypatch.setenv("MLA_MAX_BODY_BYTES", str(64 * 1024))
    assert api.call("fr.officer", "POST", "/requests", json=_filing()).status_code == 201
    assert count_rows(api, Request) == 1


def test_uploads_have_the_attachment_limit_not_the_body_limit(
        api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    rid = api.file()["id"]
    monkeypatch.setenv("MLA_MAX_BODY_BYTES", "4096")
    big = b"%PDF" + b"x" * (3 * 1024 * 1024)
    up = api.call("fr.officer", "POST", f"/requests/{rid}/attachments",
                  files={"file": ("scan.pdf", big, "application/pdf")})
    assert up.status_code == 201, up.text
    monkeypatch.setenv("MLA_MAX_ATTACHMENT_BYTES", "1000")
    over = api.call("fr.officer", "POST", f"/requests/{rid}/attachments",
                    files={"file": ("scan.pdf", big, "application/pdf")})
    refusal(over, 413)

    def streamed() -> Iterator[bytes]:  # no Content-Length: counted while the route reads
        yield (b'--b\r\nContent-Disposition: form-data; name="file"; filename="s.pdf"\r\n'
               b"Content-Type: application/pdf\r\n\r\n")
        for _ in range(200):
            yield b"x" * 1024
        yield b"\r\n--b--\r\n"

    chunked = api.call("fr.officer", "POST", f"/requests/{rid}/attachments", content=streamed(),
                       headers={"Content-Type": "multipart/form-data; boundary=b"})
    assert "content-length" not in {k.lower() for k in chunked.request.headers}
    refusal(chunked, 413)
    assert count_rows(api, Attachment) == 1


def test_the_inbox_keeps_its_envelope_limit_and_audits_the_refusal(
        api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    inbound = enable(api, monkeypatch)
    monkeypatch.setenv("MLA_MAX_BODY_BYTES", "4096")
    # Over the body limit of other routes, under the envelope limit: read and judged.
    refusal(inbound.post("x" * 100_000), 400)
    monkeypatch.setenv("MLA_TRANSFER_MAX_ENVELOPE_BYTES", "5000")
    declared = api.client.post("/transfer/inbox", content=b"a.b.c.d.e",
                               headers={"Content-Type": "application/jose",
                                        "Content-Length": str(10**10)})
    assert refusal(declared, 413)["reason"] == "too_large"
    assert refusal(inbound.post("x" * 6000), 413)["reason"] == "too_large"
    api.session.rollback()
    reasons = [e.detail["reason"] for e in api.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "transfer.reject"))]
    assert reasons == ["malformed", "too_large", "too_large"]
    assert count_rows(api, InboxMessage) == 0


# --- lists of the request templates -----------------------------------------------------------


def test_a_list_longer_than_its_template_allows_is_refused_by_name(api: Api) -> None:
    over = api.call("fr.officer", "POST", "/requests", json=_filing(offences=[OFFENCE] * 101))
    problem = refusal(over, 422)
    assert "data.offences" in problem_fields(problem)
    assert "at most 100" in json.dumps(problem)
    assert count_rows(api, Request) == 0
    # At the limit it is a draft like any other; a draft cannot be stretched past it either.
    created = api.call("fr.officer", "POST", "/requests", json=_filing(offences=[OFFENCE] * 100))
    assert created.status_code == 201, created.text
    rid = created.json()["id"]
    patched = api.call("fr.officer", "PATCH", f"/requests/{rid}",
                       json={"data": {"offences": [OFFENCE] * 101}},
                       headers={"If-Match": f'"{created.json()["version"]}"'})
    assert "data.offences" in problem_fields(refusal(patched, 422))
    assert len(api.call("fr.officer", "GET", f"/requests/{rid}").json()["data"]["offences"]) \
        == 100


def test_every_list_of_every_template_has_max_items_in_its_json_schema(api: Api) -> None:
    found = 0
    for kind in templates.kinds():
        schema = api.client.get(f"/templates/{kind}/schema").json()
        stack = [schema]
        while stack:
            node = stack.pop()
            if node.get("type") == "array":
                assert isinstance(node.get("maxItems"), int), (kind, node.get("title"))
                found += 1
            stack += [v for v in node.get("properties", {}).values()]
            if isinstance(node.get("items"), dict):
                stack.append(node["items"])
    assert found >= 25
    production = api.client.get("/templates/mla.e_evidence.production/schema").json()
    assert production["properties"]["identifiers"]["maxItems"] == 200
    categories = production["properties"]["data_categories"]
    assert categories["maxItems"] == len(categories["items"]["enum"])


# --- nesting --------------------------------------------------------------------------------


def _nested(depth: int, leaf: Any = "x") -> Any:
    value = leaf
    for _ in range(depth):
        value = [value]
    return value


def test_json_nested_past_the_limit_is_refused_by_name(api: Api) -> None:
    deep = '{"kind": %s}' % ("[" * 10_000 + "]" * 10_000)
    response = api.call("fr.officer", "POST", "/requests", content=deep,
                        headers={"Content-Type": "application/json"})
    assert problem_fields(refusal(response, 422)) == {"body"}
    within = api.call("fr.officer", "POST", "/requests",
                      json=_filing(facts_summary=_nested(40)))
    [field] = problem_fields(refusal(within, 422))
    # The body is level 1: the 33rd level of containers is the one refused.
    assert field.startswith("data.facts_summary.0.0.")
    assert len(field.split(".")) == inputs.MAX_DEPTH
    assert count_rows(api, Request) == 0


def test_the_inbox_refuses_deep_json_outside_and_inside_the_envelope(
        api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    inbound = enable(api, monkeypatch)
    outside = api.client.post("/transfer/inbox",
                              content='{"envelope": %s}' % ("[" * 10_000 + "]" * 10_000),
                              headers={"Content-Type": "application/json"})
    assert refusal(outside, 400)["reason"] == "malformed"
    # Built as text: no JSON library here writes it (they stop at their own depth).
    text = canonical.canonical(inbound.payload(data="DEEP")).replace(
        '"DEEP"', "[" * 5_000 + "]" * 5_000)
    signed = jws.sign(text.encode(), inbound.signing, algorithm="ES256",
                      headers={"kid": FR_SIG_KID, "typ": envelope.ENVELOPE_TYPE})
    assert refusal(inbound.post(inbound.seal(signed=signed)), 400)["reason"] == "malformed"
    within = inbound.seal(inbound.payload(data={"facts_summary": _nested(40)}))
    problem = refusal(inbound.post(within), 422)
    assert problem["reason"] == "invalid_content"
    assert any(f.startswith("body.data.facts_summary.0.") for f in problem_fields(problem))
    assert count_rows(api, InboxMessage) == 0 and count_rows(api, Request) == 0
