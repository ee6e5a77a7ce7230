"""Delivery channels for pages: e-mail over SMTP and signed webhooks. (The third channel, the
in-app inbox, is the page row itself, read through GET /alerts.)

Delivery is at least once: a sender that crashes after a channel accepted a message but
before recording it sends it again. Every message carries its notification id (e-mail:
`Message-ID` and `X-MLA-Notification-Id`; webhook: `X-MLA-Notification-Id` and the body's
`notification_id`) so receivers drop the duplicate.

Webhook signature: `X-MLA-Signature` is the hex HMAC-SHA256, keyed with the contact point's
secret, of `f"{X-MLA-Timestamp}.{raw body}"`; the timestamp is Unix seconds. Receivers
recompute it and refuse stale timestamps (see `verify_signature`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import smtplib
import ssl
import threading
import time
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

import httpx

from mla import settings

SIGNATURE_HEADER = "X-MLA-Signature"
TIMESTAMP_HEADER = "X-MLA-Timestamp"
ID_HEADER = "X-MLA-Notification-Id"
TIMEOUT_SECONDS = 5.0


def public_url() -> str:
    return settings.get().public_url.rstrip("/")




@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    sender: str
    security: str  # opportunistic, starttls, tls or none
    username: str | None
    password: str | None
    ca_file: str | None


def smtp_settings() -> SmtpSettings:
    try:
        config = settings.get()
    except settings.SettingsError as exc:
        raise DeliveryError(str(exc)) from None
    return SmtpSettings(
        host=config.smtp_host, port=config.smtp_port_or_default, sender=config.smtp_from,
        security=config.smtp_security, username=config.smtp_username,
        password=config.smtp_password, ca_file=config.smtp_ca_file)


class DeliveryError(Exception):
    """The channel did not accept the message; it is retried later."""


@dataclass(frozen=True)
class Message:
    """Everything a channel needs, read from the database before sending."""

    notification_id: int
    page_id: int
    channel: str
    address: str
    secret: str | None
    subject: str
    text: str
    payload: dict[str, Any]
    # Names the message instead of the notification id when it is no page's notification
    # (the dead-man page of mla/ops/deadman.py), so receivers still drop a duplicate.
    key: str | None = None
    # The HTTP request that opened the page (X-Request-ID), for log lines only.
    http_request_id: str | None = None

    @property
    def identifier(self) -> str:
        return self.key or str(self.notification_id)


def sign(secret: str, timestamp: str, body: bytes) -> str:
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body,
                    hashlib.sha256).hexdigest()


def verify_signature(secret: str, timestamp: str, body: bytes, signature: str, *,
                     tolerance: int = 300, now: float | None = None) -> bool:
    """For receivers: the signature matches and the timestamp is fresh."""
    try:
        age = abs((now if now is not None else time.time()) - int(timestamp))
    except ValueError:
        return False
    return age <= tolerance and hmac.compare_digest(sign(secret, timestamp, body), signature)


def _smtp_session(smtp: smtplib.SMTP, settings: SmtpSettings,
                  context: ssl.SSLContext) -> None:
    """TLS as configured, then login. Credentials never travel in clear: without TLS a
    configured login fails the delivery instead."""
    secure = settings.security == "tls"
    if settings.security in ("starttls", "opportunistic"):
        smtp.ehlo()
        if smtp.has_extn("starttls"):
            smtp.starttls(context=context)
            smtp.ehlo()
            secure = True
        elif settings.security == "starttls":
            raise DeliveryError(f"smtp {settings.host}:{settings.port} does not offer "
                                "STARTTLS (MLA_SMTP_SECURITY=starttls)")
    if settings.username:
        if not secure:
            raise DeliveryError(f"smtp {settings.host}:{settings.port}: no TLS, so the "
                                "password is not sent (MLA_SMTP_SECURITY)")
        smtp.login(settings.username, settings.password or "")


def send_email(message: Message) -> None:
    settings = smtp_settings()
    email = EmailMessage()
    email["From"] = settings.sender
    email["To"] = message.address
    email["Subject"] = message.subject
    email["Message-ID"] = f"<mla-notification-{message.identifier}@{settings.host}>"
    email[ID_HEADER] = message.identifier
    email.set_content(message.text)
    send(email, settings)


def send(email: EmailMessage, settings: SmtpSettings | None = None) -> None:
    """Hands one e-mail to the configured SMTP server (TLS and login as configured);
    DeliveryError when it did not take it for every recipient. Also sends requests by
    e-mail (mla/mail/delivery.py)."""
    settings = settings or smtp_settings()
    where = f"smtp {settings.host}:{settings.port}"
    try:
        context = ssl.create_default_context(cafile=settings.ca_file)
        smtp = (smtplib.SMTP_SSL(settings.host, settings.port, timeout=TIMEOUT_SECONDS,
                                 context=context) if settings.security == "tls"
                else smtplib.SMTP(settings.host, settings.port, timeout=TIMEOUT_SECONDS))
        with smtp:
            _smtp_session(smtp, settings, context)
            refused = smtp.send_message(email)
    except (OSError, smtplib.SMTPException) as exc:  # ssl.SSLError is an OSError
        raise DeliveryError(f"{where}: {type(exc).__name__}: {exc}") from exc
    if refused:
        raise DeliveryError(f"{where} refused {', '.join(refused)}")


_client_lock = threading.Lock()
_client: httpx.Client | None = None


def _http() -> httpx.Client:
    # One pooled client: keeps connections to receivers open between pages.
    global _client
    with _client_lock:
        if _client is None:
            _client = httpx.Client(timeout=TIMEOUT_SECONDS, follow_redirects=False)
        return _client


def send_webhook(message: Message) -> None:
    if not message.secret:
        raise DeliveryError("the contact point has no webhook secret")
    body = json.dumps(message.payload, separators=(",", ":"), sort_keys=True).encode()
    timestamp = str(int(time.time()))
    headers = {"Content-Type": "application/json", TIMESTAMP_HEADER: timestamp,
               SIGNATURE_HEADER: sign(message.secret, timestamp, body),
               ID_HEADER: message.identifier}
    try:
        response = _http().post(message.address, content=body, headers=headers)
    except httpx.HTTPError as exc:
        raise DeliveryError(f"webhook: {type(exc).__name__}: {exc}") from exc
    if not 200 <= response.status_code < 300:
        raise DeliveryError(f"webhook answered {response.status_code}")


SENDERS = {"email": send_email, "webhook": send_webhook}


def deliver(message: Message) -> None:
    """Sends over the message's channel; raises DeliveryError if it was not accepted."""
    SENDERS[message.channel](message)
