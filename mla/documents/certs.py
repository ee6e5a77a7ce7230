"""The authorities' signing certificates: imported from a PKCS#12 file or made self-signed for
a demonstration, stored with the private key encrypted under MLA_SIGNING_KEY_PASSPHRASE, and
opened only to sign (every use is audited by the caller, mla.documents.pades)."""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass
from datetime import timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from sqlalchemy import select
from sqlalchemy.orm import Session

from mla import audit, settings
from mla.clock import utcnow
from mla.errors import FieldProblem, InvalidInput, NotFound, Unavailable
from mla.models import Authority, SigningCertificate, User

KeyTypes = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


@dataclass(frozen=True)
class Signer:
    """A certificate opened for one signature: the key in memory only for that call."""

    certificate: SigningCertificate
    key: KeyTypes
    chain: list[x509.Certificate]


def _passphrase() -> bytes:
    secret = settings.get().signing_key_passphrase
    if not secret:
        raise Unavailable("no MLA_SIGNING_KEY_PASSPHRASE: set it (a long random secret kept "
                          "outside the database) to store and use signing keys")
    return secret.encode("utf-8")


def _name(name: x509.Name) -> str:
    return name.rfc4514_string()[:500]


def _store(session: Session, authority: Authority, key: KeyTypes,
           chain: list[x509.Certificate], *, actor: User | None, how: str) -> SigningCertificate:
    certificate = chain[0]
    if certificate.public_key().public_numbers() != key.public_key().public_numbers():
        raise InvalidInput("the private key does not belong to the certificate",
                           [FieldProblem("file", "a PKCS#12 file with the key and its "
                                                 "certificate")])
    now = utcnow()
    if certificate.not_valid_after_utc <= now:
        raise InvalidInput(f"the certificate expired on "
                           f"{certificate.not_valid_after_utc:%Y-%m-%d}",
                           [FieldProblem("file", "a certificate valid today")])
    fingerprint = certificate.fingerprint(hashes.SHA256()).hex()
    if session.scalar(select(SigningCertificate.id).where(
            SigningCertificate.fingerprint_sha256 == fingerprint)) is not None:
        raise InvalidInput("this certificate is already imported",
                           [FieldProblem("file", f"fingerprint {fingerprint}")])
    row = SigningCertificate(
        authority_id=authority.id, subject=_name(certificate.subject),
        issuer=_name(certificate.issuer), serial=format(certificate.serial_number, "x")[:80],
        fingerprint_sha256=fingerprint, not_before=certificate.not_valid_before_utc,
        not_after=certificate.not_valid_after_utc,
        self_signed=certificate.issuer == certificate.subject,
        chain_pem="".join(c.public_bytes(serialization.Encoding.PEM).decode("ascii")
                          for c in chain),
        encrypted_key=key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(_passphrase())).decode("ascii"),
        created_at=now)
    session.add(row)
    session.flush()
    audit.record(session, f"certs.{how}", actor=actor, object_type="signing_certificate",
                 object_id=str(row.id), authority_id=authority.id,
                 detail={"subject": row.subject, "fingerprint_sha256": fingerprint,
                         "not_after": row.not_after.isoformat()})
    return row


def import_pkcs12(session: Session, authority: Authority, data: bytes, password: str | None,
                  *, actor: User | None = None) -> SigningCertificate:
    """Stores the key and certificate chain of a PKCS#12 (.p12, .pfx) file."""
    _passphrase()
    try:
        key, certificate, others = pkcs12.load_key_and_certificates(
            data, password.encode("utf-8") if password else None)
    except ValueError:
        raise InvalidInput("the file is not a PKCS#12 archive this password opens",
                           [FieldProblem("file", "a .p12/.pfx file and its password")]) from None
    if key is None or certificate is None:
        raise InvalidInput("the PKCS#12 file holds no private key and certificate",
                           [FieldProblem("file", "export the key with its certificate")])
    if not isinstance(key, KeyTypes):
        raise InvalidInput("only RSA and EC keys sign PDF documents here",
                           [FieldProblem("file", f"{type(key).__name__} key")])
    return _store(session, authority, key, [certificate, *others], actor=actor, how="import")


def self_signed(session: Session, authority: Authority, *, days: int = 365,
                actor: User | None = None) -> SigningCertificate:
    """A demonstration certificate (RSA 3072) naming the authority; a counterpart's validator
    reports it as untrusted, as it should."""
    _passphrase()
    key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    name = x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, authority.country),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, authority.name[:64]),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "Central authority"),
        x509.NameAttribute(NameOID.COMMON_NAME, f"{authority.code} (demonstration)"[:64]),
    ])
    now = utcnow()
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=True,
                                     key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, key_cert_sign=False, crl_sign=False,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]),
                       critical=False)
        .sign(key, hashes.SHA256()))
    return _store(session, authority, key, [certificate], actor=actor, how="self_signed")


def listing(session: Session, authority: Authority | None = None) -> list[SigningCertificate]:
    query = select(SigningCertificate).order_by(SigningCertificate.authority_id,
                                                SigningCertificate.created_at.desc(),
                                                SigningCertificate.id.desc())
    if authority is not None:
        query = query.where(SigningCertificate.authority_id == authority.id)
    return list(session.scalars(query))


def current(session: Session, authority_id: int) -> SigningCertificate | None:
    """The newest certificate of the authority that is valid now and not retired."""
    now = utcnow()
    return session.scalar(
        select(SigningCertificate)
        .where(SigningCertificate.authority_id == authority_id,
               SigningCertificate.retired_at.is_(None),
               SigningCertificate.not_before <= now, SigningCertificate.not_after > now)
        .order_by(SigningCertificate.created_at.desc(), SigningCertificate.id.desc()).limit(1))


def retire(session: Session, fingerprint: str, *, actor: User | None = None) -> None:
    row = session.scalar(select(SigningCertificate).where(
        SigningCertificate.fingerprint_sha256 == fingerprint.lower().replace(":", "")))
    if row is None:
        raise NotFound(f"no signing certificate with fingerprint {fingerprint}")
    row.retired_at = utcnow()
    audit.record(session, "certs.retire", actor=actor, object_type="signing_certificate",
                 object_id=str(row.id), authority_id=row.authority_id,
                 detail={"fingerprint_sha256": row.fingerprint_sha256})


# Opened keys kept in this process's memory for a while: decrypting and checking an RSA key
# (the check guards against a corrupted key leaking itself through faulty signatures) costs
# more than signing. Keyed by the passphrase too, so changing it takes effect at once.
OPEN_FOR_SECONDS = 600.0
_opened: dict[tuple[str, str], tuple[float, Signer]] = {}
_opened_lock = threading.Lock()


def open_signer(row: SigningCertificate) -> Signer:
    """The key, ready to sign. The caller records each use in the audit log."""
    key = (row.fingerprint_sha256, hashlib.sha256(_passphrase()).hexdigest())
    now = time.monotonic()
    with _opened_lock:
        cached = _opened.get(key)
        if cached is not None and cached[0] > now and row.retired_at is None:
            return cached[1]
    signer = _decrypt(row)
    with _opened_lock:
        for stale in [k for k, (until, _) in _opened.items() if until <= now]:
            del _opened[stale]
        _opened[key] = (now + OPEN_FOR_SECONDS, signer)
    return signer


def _decrypt(row: SigningCertificate) -> Signer:
    try:
        key = serialization.load_pem_private_key(row.encrypted_key.encode("ascii"),
                                                 _passphrase())
    except ValueError:
        raise Unavailable("MLA_SIGNING_KEY_PASSPHRASE does not open the signing key of "
                          f"{row.subject}: it changed since the key was stored") from None
    assert isinstance(key, KeyTypes)
    chain = x509.load_pem_x509_certificates(row.chain_pem.encode("ascii"))
    return Signer(row, key, chain)


def fingerprint_of(pem_or_der: bytes) -> str:
    return hashlib.sha256(pem_or_der).hexdigest()
