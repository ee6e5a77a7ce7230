"""A request transmitted to an authority that is not a peer goes by e-mail: the outbox row is
written with the transition, the worker hands it to a real SMTP server (aiosmtpd on
loopback), the attached PDF verifies, and the acknowledgement is recorded by the officer or
read from the reply."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage, Message
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mla import db
from mla.documents import certs, pades
from mla.errors import GuardRejected
from mla.mail import acknowledgements, addresses
from mla.mail import delivery as mail_delivery
from mla.models import MailMessage
from mla.requests import attachments, lifecycle
from tests.conftest import World
from tests.documents.conftest import approved_request, pdfsig
from tests.receivers import Mailbox, free_port, smtp_server

pytestmark = pytest.mark.usefixtures("passphrase")
KE_DESK = "mla-desk@odpp.example.ke"


@pytest.fixture
def smtp(monkeypatch: pytest.MonkeyPatch) -> Iterator[Mailbox]:
    with smtp_server() as (mailbox, port):
        monkeypatch.setenv("MLA_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("MLA_SMTP_PORT", str(port))
        monkeypatch.setenv("MLA_SMTP_SECURITY", "none")
        monkeypatch.setenv("MLA_SMTP_FROM", "central-authority@justice.example.fr")
        yield mailbox


def _ready(session: Session, world: World) -> None:
    certs.self_signed(session, world.fr)
    addresses.replace(session, world.ke, [KE_DESK])
    session.commit()


def _transmit(session: Session, world: World, *, evidence: bytes = b"bank statement"):
    request = approved_request(session, world)
    attachments.add(session, request, world["fr.officer"], filename="statement.txt",
                    content_type="text/plain", content=evidence)
    session.commit()
    lifecycle.transition(session, request, "transmit", world["fr.officer"])
    session.commit()
    return request


def _send(session: Session) -> mail_delivery.SendResult:
    engine = session.get_bind()
    with db.session_factory(engine)() as worker:
        return mail_delivery.run_batch(worker)


def _parsed(raw: Message) -> EmailMessage:
    # The test server keeps compat32 messages; read them as a mail client does today.
    email = message_from_bytes(raw.as_bytes(), policy=policy.default)
    assert isinstance(email, EmailMessage)
    return email


def _parts(raw: Message) -> dict[str, bytes]:
    return {part.get_filename(): part.get_payload(decode=True)
            for part in _parsed(raw).iter_attachments()}


def _text(raw: Message) -> str:
    body = _parsed(raw).get_body(("plain",))
    assert body is not None
    return str(body.get_content())


def test_transmit_sends_the_signed_pdf_and_attachments(
        session: Session, world: World, smtp: Mailbox, tmp_path: Path) -> None:
    _ready(session, world)
    request = _transmit(session, world)
    message = session.scalars(select(MailMessage)).one()
    assert message.status == "pending" and smtp.messages == []
    result = _send(session)
    assert result.sent == 1, result.errors
    ((rcpt, email),) = smtp.messages
    assert rcpt == [KE_DESK]
    assert f"[MLA {request.reference}]" in email["Subject"]
    assert email["Message-ID"] == f"<{message.message_id}@mla.invalid>"
    parts = _parts(email)
    document = parts[f"{request.reference}-en.pdf"]
    # The PDF that arrived verifies with poppler and with pyHanko.
    assert "Signature is Valid." in pdfsig(document, tmp_path)
    assert pades.validate(document)["signatures"][0]["intact"]
    assert parts["statement.txt"] == b"bank statement"
    body = _text(email)
    assert hashlib.sha256(document).hexdigest() in body
    assert hashlib.sha256(b"bank statement").hexdigest() in body
    session.expire_all()
    sent = session.scalars(select(MailMessage)).one()
    assert sent.status == "sent" and sent.sent_at is not None
    # Sending again finds nothing: the message went once.
    assert _send(session).claimed == 0 and len(smtp.messages) == 1


def test_large_attachments_are_listed_by_hash(session: Session, world: World, smtp: Mailbox,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLA_MAIL_MAX_ATTACHMENT_BYTES", "10")
    _ready(session, world)
    _transmit(session, world, evidence=b"a scan too large to e-mail")
    assert _send(session).sent == 1
    ((_, email),) = smtp.messages
    assert "statement.txt" not in _parts(email)
    body = _text(email)
    assert hashlib.sha256(b"a scan too large to e-mail").hexdigest() in body
    assert "too large for e-mail" in body


def test_no_certificate_refuses_the_transmission_and_writes_nothing(
        session: Session, world: World) -> None:
    addresses.replace(session, world.ke, [KE_DESK])
    session.commit()
    request = approved_request(session, world)
    with pytest.raises(GuardRejected, match="signing certificate"):
        lifecycle.transition(session, request, "transmit", world["fr.officer"])
    session.rollback()
    session.refresh(request)
    assert request.state == "approved"
    assert session.scalar(select(func.count()).select_from(MailMessage)) == 0


def test_without_addresses_nothing_is_mailed(session: Session, world: World) -> None:
    certs.self_signed(session, world.fr)
    session.commit()
    _transmit(session, world)
    assert session.scalar(select(func.count()).select_from(MailMessage)) == 0


def test_smtp_down_keeps_the_message_and_retries(session: Session, world: World,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    _ready(session, world)
    _transmit(session, world)
    monkeypatch.setenv("MLA_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("MLA_SMTP_PORT", str(free_port()))  # nobody listens
    monkeypatch.setenv("MLA_SMTP_SECURITY", "none")
    result = _send(session)
    assert result.sent == 0 and result.errors
    session.expire_all()
    message = session.scalars(select(MailMessage)).one()
    assert message.status == "pending" and message.attempts == 1
    assert message.last_error and "smtp" in message.last_error
    assert message.next_attempt_at > message.created_at


def test_acknowledgement_by_the_officer_and_by_reply(session: Session, world: World,
                                                     smtp: Mailbox, api) -> None:
    _ready(session, world)
    request = _transmit(session, world)
    _send(session)
    mail = api.call("fr.officer", "GET", f"/requests/{request.id}/mail").json()
    assert "awaiting acknowledgement" in mail[0]["summary"]
    assert mail[0]["smtp_message_id"] == smtp.messages[0][1]["Message-ID"]
    # The other parties see no e-mail list of ours; a stranger gets 404.
    assert api.call("ke.officer", "GET", f"/requests/{request.id}/mail").json() == []
    assert api.call("us.officer", "GET", f"/requests/{request.id}/mail").status_code == 404
    # The MLA workflow's own "acknowledge" event records it.
    lifecycle.transition(session, request, "acknowledge", world["fr.officer"])
    session.commit()
    mail = api.call("fr.officer", "GET", f"/requests/{request.id}/mail").json()
    assert mail[0]["acknowledged_via"] == "officer"
    assert "acknowledged on" in mail[0]["summary"]

    second = _transmit(session, world)
    _send(session)
    sent = smtp.messages[-1][1]
    reply = EmailMessage()
    reply["From"] = KE_DESK
    reply["Subject"] = f"RE: {sent['Subject']}"
    reply["In-Reply-To"] = sent["Message-ID"]
    reply.set_content("Received, thank you.")
    acknowledgements.from_reply(session, reply.as_bytes(), None)
    session.commit()
    row = session.scalars(select(MailMessage).where(MailMessage.request_id == second.id)).one()
    assert row.acknowledged_via == "reply" and row.acknowledged_at is not None


def test_mla_worker_sends_it_on_its_own_thread(session: Session, world: World,
                                               smtp: Mailbox) -> None:
    from cli import worker

    _ready(session, world)
    request = _transmit(session, world)
    worker.run(session.get_bind(), once=True)
    ((_, email),) = smtp.messages
    assert f"[MLA {request.reference}]" in email["Subject"]
    session.expire_all()
    assert session.scalars(select(MailMessage)).one().status == "sent"
