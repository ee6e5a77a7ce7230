"""PAdES signatures of request documents, checked by verifiers that are not ours: poppler's
`pdfsig` (C++, NSS) and pyHanko's validator; a one-byte change breaks them; the private key
is stored encrypted and every use is audited."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID
from sqlalchemy import select
from sqlalchemy.orm import Session

from mla import audit
from mla.documents import certs, pades
from mla.documents import service as document_service
from mla.errors import InvalidInput, Unavailable
from mla.models import AuditEvent, SigningCertificate
from tests.conftest import World
from tests.documents.conftest import approved_request, pdfsig, pdftotext
from tests.lifecycle_helpers import new_request

pytestmark = pytest.mark.usefixtures("passphrase")


def _flip(pdf: bytes, offset: int) -> bytes:
    changed = bytearray(pdf)
    changed[offset] ^= 0x01
    return bytes(changed)


def _signed(session: Session, world: World) -> bytes:
    certs.self_signed(session, world.fr)
    request = approved_request(session, world)
    made = document_service.signed_pdf(session, request, actor=world["fr.officer"],
                                       purpose="test")
    session.commit()
    assert made.signature == "signed"
    return made.content


def test_pdfsig_and_pyhanko_verify_our_signature(session: Session, world: World,
                                                 tmp_path: Path) -> None:
    signed = _signed(session, world)
    report = pdfsig(signed, tmp_path)
    assert "Signature is Valid." in report, report
    assert "Total document signed" in report, report
    assert "FR-MJ (demonstration)" in report
    assert "ETSI.CAdES.detached" in report  # PAdES, not the legacy PKCS#7 subfilter
    result = pades.validate(signed)
    (signature,) = result["signatures"]
    assert signature["intact"] and signature["valid"] and signature["covers_whole_file"]
    # Self-signed and no trust anchor configured: intact but not trusted.
    assert result["status"] == "untrusted"


def test_visible_block_says_who_when_and_in_which_capacity(
        session: Session, world: World, tmp_path: Path) -> None:
    signed = _signed(session, world)
    pages = int(subprocess.run(["pdfinfo", "-"], input=signed, capture_output=True)
                .stdout.decode().split("Pages:")[1].split()[0])
    last_page = pdftotext(signed, tmp_path, first=pages, last=pages)
    assert "Digitally signed by: FR-MJ (demonstration)" in last_page
    assert "in its capacity as central authority" in last_page
    assert f"Approved by: {world['fr.supervisor'].full_name}, supervisor" in last_page
    assert "Signed at: 20" in last_page


@pytest.mark.parametrize("where", ["content", "signature", "end"])
def test_one_byte_changed_breaks_verification(session: Session, world: World, tmp_path: Path,
                                              where: str) -> None:
    signed = _signed(session, world)
    contents = signed.index(b"/Contents <") + len(b"/Contents <")
    offset = {"content": signed.index(b"stream", 2000) + 40,
              "signature": contents + 800, "end": len(signed) - 3}[where]
    tampered = _flip(signed, offset)
    assert "Signature is Valid." not in pdfsig(tampered, tmp_path)
    assert pades.validate(tampered)["status"] == "invalid"


def test_trust_anchor_makes_it_valid(session: Session, world: World, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    signed = _signed(session, world)
    row = session.scalars(select(SigningCertificate)).one()
    anchors = tmp_path / "anchors.pem"
    anchors.write_text(row.chain_pem)
    monkeypatch.setenv("MLA_SIGNING_TRUST_ANCHORS", str(anchors))
    result = pades.validate(signed)
    assert result["status"] == "valid", result
    assert "FR-MJ (demonstration)" in result["summary"]


def test_key_is_stored_encrypted_and_each_use_is_audited(
        session: Session, world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    _signed(session, world)
    row = session.scalars(select(SigningCertificate)).one()
    assert row.encrypted_key.startswith("-----BEGIN ENCRYPTED PRIVATE KEY-----")
    uses = session.scalars(select(AuditEvent).where(AuditEvent.action == "document.sign")).all()
    assert len(uses) == 1
    assert uses[0].detail["certificate_sha256"] == row.fingerprint_sha256
    assert audit.verify(session).ok
    monkeypatch.setenv("MLA_SIGNING_KEY_PASSPHRASE", "another secret")
    with pytest.raises(Unavailable, match="does not open the signing key"):
        certs.open_signer(row)
    monkeypatch.delenv("MLA_SIGNING_KEY_PASSPHRASE")
    with pytest.raises(Unavailable, match="MLA_SIGNING_KEY_PASSPHRASE"):
        certs.self_signed(session, world.ke)


def test_drafts_and_the_requested_side_get_unsigned_documents(
        session: Session, world: World) -> None:
    certs.self_signed(session, world.fr)
    draft = new_request(session, world, "mla.evidence")
    made = document_service.signed_pdf(session, draft, actor=world["fr.officer"], purpose="t")
    assert made.signature == "not_approved"
    assert pades.validate(made.content)["status"] == "unsigned"
    approved = approved_request(session, world)
    made = document_service.signed_pdf(session, approved, actor=world["ke.officer"],
                                       purpose="t")
    assert made.signature == "not_requesting_side"


def _ca_and_p12(tmp_path: Path, password: bytes) -> tuple[Path, Path]:
    now = dt.datetime.now(dt.UTC)
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test Justice Root CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - dt.timedelta(days=1))
          .not_valid_after(now + dt.timedelta(days=30))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False,
                                       False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME,
                                                        "Bureau de l'entraide pénale")]))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=10))
            .add_extension(x509.KeyUsage(True, True, False, False, False, False, False, False,
                                         False), critical=True)
            .sign(ca_key, hashes.SHA256()))
    p12 = tmp_path / "fr.p12"
    p12.write_bytes(pkcs12.serialize_key_and_certificates(
        b"fr", key, cert, [ca], serialization.BestAvailableEncryption(password)))
    anchor = tmp_path / "ca.pem"
    anchor.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    return p12, anchor


def _mla(*args: str, db_url: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cli", *args], capture_output=True, text=True,
                          env=os.environ | env | {"MLA_DATABASE_URL": db_url}, timeout=120)


def test_certs_cli_imports_a_p12_whose_signatures_chain_to_the_ca(
        session: Session, world: World, db_url: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, passphrase: str) -> None:
    p12, anchor = _ca_and_p12(tmp_path, b"p12 secret")
    env = {"MLA_SIGNING_KEY_PASSPHRASE": passphrase}
    wrong = _mla("certs", "import", str(p12), "--authority", "FR-MJ", "--password", "nope",
                 db_url=db_url, env=env)
    assert wrong.returncode == 1 and "Traceback" not in wrong.stderr
    assert wrong.stderr.startswith("Error: the file is not a PKCS#12 archive this password")
    done = _mla("certs", "import", str(p12), "--authority", "FR-MJ", "--password",
                "p12 secret", db_url=db_url, env=env)
    assert done.returncode == 0, done.stderr
    assert "Bureau de l'entraide pénale" in done.stdout
    listed = _mla("certs", "list", db_url=db_url, env=env)
    assert "FR-MJ" in listed.stdout and "Test Justice Root CA" in listed.stdout
    session.expire_all()
    request = approved_request(session, world)
    made = document_service.signed_pdf(session, request, actor=world["fr.supervisor"],
                                       purpose="test")
    monkeypatch.setenv("MLA_SIGNING_TRUST_ANCHORS", str(anchor))
    result = pades.validate(made.content)
    assert result["status"] == "valid", result
    assert "Test Justice Root CA" in result["signatures"][0]["issuer"]


def test_a_p12_is_refused_without_its_key_or_twice(session: Session, world: World,
                                                   tmp_path: Path) -> None:
    p12, _ = _ca_and_p12(tmp_path, b"pw")
    certs.import_pkcs12(session, world.fr, p12.read_bytes(), "pw")
    with pytest.raises(InvalidInput, match="already imported"):
        certs.import_pkcs12(session, world.fr, p12.read_bytes(), "pw")
    with pytest.raises(InvalidInput, match="PKCS#12"):
        certs.import_pkcs12(session, world.fr, b"not a p12", "pw")
