"""With MLA_SIGNING_TSA_URL the signature carries an RFC 3161 time stamp (PAdES B-T), asked of
a time-stamping authority over real HTTP on loopback."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from asn1crypto import tsp
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pyhanko.keys.internal import (
    translate_pyca_cryptography_cert_to_asn1,
    translate_pyca_cryptography_key_to_asn1,
)
from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper
from sqlalchemy.orm import Session

from mla.documents import certs, pades
from mla.documents import service as document_service
from tests.conftest import World
from tests.documents.conftest import approved_request, pdfsig

pytestmark = pytest.mark.usefixtures("passphrase")


@pytest.fixture
def tsa(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """An RFC 3161 responder (application/timestamp-query over HTTP POST) with its own
    certificate; the list counts the requests it answered."""
    now = dt.datetime.now(dt.UTC)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Loopback TSA")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]),
                           critical=True)
            .sign(key, hashes.SHA256()))
    stamper = DummyTimeStamper(tsa_cert=translate_pyca_cryptography_cert_to_asn1(cert),
                               tsa_key=translate_pyca_cryptography_key_to_asn1(key))
    answered: list[int] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            query = tsp.TimeStampReq.load(self.rfile.read(int(self.headers["Content-Length"])))
            body = stamper.request_tsa_response(query).dump()
            answered.append(1)
            self.send_response(200)
            self.send_header("Content-Type", "application/timestamp-reply")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("MLA_SIGNING_TSA_URL", f"http://127.0.0.1:{server.server_port}/tsa")
    try:
        yield answered
    finally:
        server.shutdown()


def test_signature_carries_the_tsa_time_stamp(session: Session, world: World,
                                              tsa: list[int], tmp_path: Path) -> None:
    certs.self_signed(session, world.fr)
    request = approved_request(session, world)
    made = document_service.signed_pdf(session, request, actor=world["fr.officer"],
                                       purpose="test")
    assert tsa, "the TSA was never asked"
    result = pades.validate(made.content)
    (signature,) = result["signatures"]
    assert signature["intact"] and signature["valid"]
    assert signature["timestamp"] is not None
    assert "Signature is Valid." in pdfsig(made.content, tmp_path)
