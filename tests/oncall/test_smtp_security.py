"""E-mail pages over TLS with a login, against a real aiosmtpd server on loopback with a
certificate made for the test: STARTTLS, implicit TLS, refused passwords, and a password
that is never sent in clear."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from mla.oncall import notify
from tests.receivers import Mailbox, free_port

USER, PASSWORD = "pager@mla.example.org", "correct horse battery staple"


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1: (certificate, key) files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    folder = tmp_path_factory.mktemp("smtp-tls")
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


class Authenticator:
    def __init__(self) -> None:
        self.logins: list[str] = []

    def __call__(self, server: Any, session: Any, envelope: Any, mechanism: str,
                 auth_data: Any) -> AuthResult:
        assert isinstance(auth_data, LoginPassword)
        user, password = auth_data.login.decode(), auth_data.password.decode()
        self.logins.append(user)
        # handled=False: the server answers the refusal itself (535).
        return AuthResult(success=user == USER and password == PASSWORD, handled=False)


@contextmanager
def server(certificate: tuple[Path, Path] | None, *, implicit: bool = False
           ) -> Iterator[tuple[Mailbox, Authenticator, int]]:
    mailbox, authenticator, port = Mailbox(), Authenticator(), free_port()
    kwargs: dict[str, Any] = {}
    if certificate is not None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(*certificate)
        # Implicit TLS wraps the socket; otherwise the server offers STARTTLS and, like a
        # submission server, refuses mail and logins before it.
        # (aiosmtpd does not count implicit TLS as TLS for AUTH, hence auth_require_tls.)
        kwargs = ({"ssl_context": context, "auth_require_tls": False} if implicit
                  else {"tls_context": context, "require_starttls": True})
    controller = Controller(mailbox, hostname="127.0.0.1", port=port,
                            authenticator=authenticator, **kwargs)
    controller.start()
    try:
        yield mailbox, authenticator, port
    finally:
        controller.stop()


def page(notification_id: int = 1) -> notify.Message:
    return notify.Message(notification_id, 7, "email", "duty@odpp.example.ke", None,
                          "[MLA] FR-MJ-2026-00003 urgent", "Provisional arrest requested",
                          {})


def configure(monkeypatch: pytest.MonkeyPatch, port: int, security: str,
              ca_file: Path | None, password: str | None = PASSWORD) -> None:
    monkeypatch.setenv("MLA_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("MLA_SMTP_PORT", str(port))
    monkeypatch.setenv("MLA_SMTP_SECURITY", security)
    monkeypatch.setenv("MLA_SMTP_USERNAME", USER)
    monkeypatch.setenv("MLA_SMTP_PASSWORD", password or "")
    if ca_file is not None:
        monkeypatch.setenv("MLA_SMTP_CA_FILE", str(ca_file))


@pytest.mark.parametrize("security", ["starttls", "opportunistic"])
def test_starttls_then_login_delivers(monkeypatch: pytest.MonkeyPatch, security: str,
                                      certificate: tuple[Path, Path]) -> None:
    with server(certificate) as (mailbox, authenticator, port):
        configure(monkeypatch, port, security, certificate[0])
        notify.send_email(page())
    assert authenticator.logins == [USER]
    [(recipients, message)] = mailbox.messages
    assert recipients == ["duty@odpp.example.ke"]
    assert message["Subject"] == "[MLA] FR-MJ-2026-00003 urgent"


def test_implicit_tls_delivers(monkeypatch: pytest.MonkeyPatch,
                               certificate: tuple[Path, Path]) -> None:
    with server(certificate, implicit=True) as (mailbox, authenticator, port):
        configure(monkeypatch, port, "tls", certificate[0])
        notify.send_email(page())
    assert authenticator.logins == [USER] and len(mailbox.messages) == 1


def test_wrong_password_is_a_delivery_error_to_retry(monkeypatch: pytest.MonkeyPatch,
                                                     certificate: tuple[Path, Path]) -> None:
    with server(certificate) as (mailbox, authenticator, port):
        configure(monkeypatch, port, "starttls", certificate[0], password="wrong")
        with pytest.raises(notify.DeliveryError, match="SMTPAuthenticationError"):
            notify.send_email(page())
    # smtplib tries each mechanism the server offers before giving up.
    assert set(authenticator.logins) == {USER} and mailbox.messages == []


def test_untrusted_certificate_is_refused(monkeypatch: pytest.MonkeyPatch,
                                          certificate: tuple[Path, Path]) -> None:
    with server(certificate) as (mailbox, authenticator, port):
        configure(monkeypatch, port, "starttls", None)
        with pytest.raises(notify.DeliveryError, match="CERTIFICATE_VERIFY_FAILED"):
            notify.send_email(page())
    assert authenticator.logins == [] and mailbox.messages == []


def test_required_starttls_not_offered_sends_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    with server(None) as (mailbox, _, port):
        configure(monkeypatch, port, "starttls", None)
        with pytest.raises(notify.DeliveryError, match="does not offer STARTTLS"):
            notify.send_email(page())
    assert mailbox.messages == []


def test_password_never_travels_in_clear(monkeypatch: pytest.MonkeyPatch) -> None:
    # Opportunistic TLS against a server without it: the page is not sent rather than the
    # password exposed; the pager retries and the other channels go on.
    with server(None) as (mailbox, authenticator, port):
        configure(monkeypatch, port, "opportunistic", None)
        with pytest.raises(notify.DeliveryError, match="password is not sent"):
            notify.send_email(page())
    assert authenticator.logins == [] and mailbox.messages == []


def test_unknown_security_setting_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLA_SMTP_SECURITY", "ssl")
    with pytest.raises(notify.DeliveryError, match="MLA_SMTP_SECURITY='ssl'"):
        notify.send_email(page())
