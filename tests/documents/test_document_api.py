"""The PDF over HTTP: `GET /requests/{id}/document?format=pdf` (signed once approved, for the
requesting authority), received signed PDFs registered with their validation (a tampered
one flagged), and who may do what (another authority gets 404)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mla.documents import certs
from tests.api_helpers import refusal
from tests.documents.conftest import pdfsig

pytestmark = pytest.mark.usefixtures("passphrase")


def _approved(api) -> dict:
    request = api.file()
    for user, event in (("fr.officer", "submit"), ("fr.supervisor", "approve")):
        done = api.call(user, "POST", f"/requests/{request['id']}/transitions",
                        json={"event": event})
        assert done.status_code == 200, done.text
    return request


def _pdf(api, user: str, request_id: str, **params: str):
    return api.call(user, "GET", f"/requests/{request_id}/document",
                    params={"format": "pdf", **params})


def test_pdf_is_signed_once_approved(api, tmp_path: Path) -> None:
    certs.self_signed(api.session, api.world.fr)
    api.session.commit()
    draft = api.file()
    unsigned = _pdf(api, "fr.officer", draft["id"])
    assert unsigned.status_code == 200
    assert unsigned.headers["content-type"] == "application/pdf"
    assert unsigned.headers["x-mla-signature"] == "not_approved"
    assert "Signature is Valid." not in pdfsig(unsigned.content, tmp_path)
    request = _approved(api)
    signed = _pdf(api, "fr.officer", request["id"])
    assert signed.headers["x-mla-signature"] == "signed"
    assert f"{request['reference']}-en.pdf" in signed.headers["content-disposition"]
    assert "Signature is Valid." in pdfsig(signed.content, tmp_path)
    # The requested side reads the same document; only the requesting authority signs.
    theirs = _pdf(api, "ke.officer", request["id"])
    assert theirs.status_code == 200
    assert theirs.headers["x-mla-signature"] == "not_requesting_side"


def test_pdf_authorization_and_bad_input(api) -> None:
    request = api.file()
    assert refusal(_pdf(api, "us.officer", request["id"]), 404)
    assert refusal(_pdf(api, "fr.liaison", request["id"]), 403)
    body = refusal(_pdf(api, "fr.officer", request["id"], language="ar"), 422)
    assert "language" in {e["field"] for e in body["errors"]}
    assert refusal(api.call("fr.officer", "GET", f"/requests/{request['id']}/document",
                            params={"format": "docx"}), 422)


def test_received_pdf_is_validated_and_a_tampered_one_flagged(api) -> None:
    certs.self_signed(api.session, api.world.fr)
    api.session.commit()
    signed = _pdf(api, "fr.officer", _approved(api)["id"]).content
    incoming = api.call("ke.officer", "POST", "/requests/incoming", json={
        "kind": "mla.evidence", "requesting_authority": "FR-MJ",
        "counterpart_reference": "FR-MJ-2026-00002", "legal_basis": "untoc",
        "title": "Received by e-mail", "language": "en", "data": {}}).json()
    url = f"/requests/{incoming['id']}/received-documents"
    good = api.call("ke.officer", "POST", url,
                    files={"file": ("request.pdf", signed, "application/pdf")})
    assert good.status_code == 201, good.text
    assert good.json()["status"] == "untrusted"  # intact, self-signed: no trust anchor
    assert good.json()["signer"].startswith("Common Name: FR-MJ (demonstration)")
    tampered = bytearray(signed)
    tampered[signed.index(b"stream", 2000) + 40] ^= 1
    bad = api.call("ke.officer", "POST", url,
                   files={"file": ("request.pdf", bytes(tampered), "application/pdf")})
    assert bad.status_code == 201
    assert bad.json()["status"] == "invalid"
    assert "altered" in bad.json()["validation"]["summary"]
    listed = api.call("ke.officer", "GET", url).json()
    assert [d["status"] for d in listed] == ["untrusted", "invalid"]
    copy = api.call("ke.officer", "GET", f"{url}/{listed[1]['id']}")
    assert copy.content == bytes(tampered) and copy.headers["x-mla-signature"] == "invalid"
    # Not a PDF: 422 naming the field; the requesting side does not register; strangers 404.
    assert "file" in {e["field"] for e in refusal(api.call(
        "ke.officer", "POST", url, files={"file": ("a.txt", b"hello", "text/plain")}),
        422)["errors"]}
    assert refusal(api.call("fr.officer", "POST", url,
                            files={"file": ("r.pdf", signed, "application/pdf")}), 403)
    assert refusal(api.call("us.officer", "GET", url), 404)
    assert refusal(api.call("us.officer", "GET", f"{url}/{listed[0]['id']}"), 404)
