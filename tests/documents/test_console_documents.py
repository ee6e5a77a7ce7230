"""The console's request page: PDF download buttons, what the signature will be, the e-mail
status of a request sent to a non-peer, and received PDFs with their validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from mla.documents import certs
from mla.mail import addresses
from tests.app_routes import console
from tests.documents.conftest import pdfsig

pytestmark = pytest.mark.usefixtures("passphrase")


def _fire(api, rid: str, *steps: tuple[str, str]) -> None:
    for who, event in steps:
        done = api.call(who, "POST", f"/requests/{rid}/transitions", json={"event": event})
        assert done.status_code == 200, done.text


def test_request_page_offers_signed_pdf_and_shows_mail_status(api, tmp_path: Path) -> None:
    rid = api.file()["id"]
    page = console(api, "fr.officer", "GET", f"/console/requests/{rid}").text
    assert "format=pdf" in page
    assert "signed once a supervisor approves" in page
    certs.self_signed(api.session, api.world.fr)
    addresses.replace(api.session, api.world.ke, ["desk@odpp.example.ke"])
    api.session.commit()
    _fire(api, rid, ("fr.officer", "submit"), ("fr.supervisor", "approve"))
    page = console(api, "fr.officer", "GET", f"/console/requests/{rid}").text
    assert "The PDF is signed (PAdES) with CN=FR-MJ (demonstration)" in page
    pdf = console(api, "fr.officer", "GET", f"/console/requests/{rid}/document",
                  params={"language": "en", "format": "pdf"})
    assert pdf.status_code == 200 and pdf.headers["x-mla-signature"] == "signed"
    assert "Signature is Valid." in pdfsig(pdf.content, tmp_path)
    _fire(api, rid, ("fr.officer", "transmit"))
    page = console(api, "fr.officer", "GET", f"/console/requests/{rid}").text
    assert "e-mail to desk@odpp.example.ke queued" in page
    assert console(api, "us.officer", "GET", f"/console/requests/{rid}/document",
                   params={"format": "pdf"}).status_code == 404


def test_requested_side_registers_a_received_pdf(api) -> None:
    certs.self_signed(api.session, api.world.fr)
    api.session.commit()
    rid = api.file()["id"]
    _fire(api, rid, ("fr.officer", "submit"), ("fr.supervisor", "approve"))
    signed = api.call("fr.officer", "GET", f"/requests/{rid}/document",
                      params={"format": "pdf"}).content
    incoming = api.call("ke.officer", "POST", "/requests/incoming", json={
        "kind": "mla.evidence", "requesting_authority": "FR-MJ", "counterpart_reference": "F-9",
        "legal_basis": "untoc", "title": "By e-mail", "language": "en", "data": {}}).json()
    url = f"/console/requests/{incoming['id']}"
    assert "Register the signed PDF received" in console(api, "ke.officer", "GET", url).text
    tampered = bytearray(signed)
    tampered[-3] ^= 1
    for content in (signed, bytes(tampered)):
        done = console(api, "ke.officer", "POST", f"{url}/received-documents",
                       files={"file": ("request.pdf", content, "application/pdf")})
        assert done.status_code == 303, done.text
    page = console(api, "ke.officer", "GET", url).text
    assert 'class="signature-untrusted">untrusted' in page
    assert 'class="signature-invalid">invalid' in page
