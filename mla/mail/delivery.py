"""Sending the e-mail outbox (`run_batch`, in `mla worker`): the outbox pattern of
mla/transfer/delivery.py for a counterpart reached over SMTP instead of a peer's inbox.
Due messages are claimed with `FOR UPDATE SKIP LOCKED` and leased, sent outside any
transaction, and each outcome recorded in its own short transaction: sent, or retried with
the transfer's backoff (MLA_TRANSFER_BACKOFF_*), or failed after MLA_TRANSFER_MAX_ATTEMPTS.

A worker killed between the SMTP server's "250" and the commit sends the message again when
the lease runs out: the e-mail keeps its Message-ID, so the receiving side sees a duplicate,
not a second request."""

from __future__ import annotations

import hashlib
import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime

from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session, undefer

from mla import audit, db, settings, wakeup
from mla.clock import utcnow
from mla.errors import NotFound
from mla.mail.outbox import NOTIFY_CHANNEL, message_id_header
from mla.models import Attachment, MailMessage, Request
from mla.oncall import notify
from mla.transfer.delivery import backoff

log = logging.getLogger("mla.mail")
# Longer than one SMTP exchange with a large attachment can take.
LEASE = timedelta(minutes=5)
# Messages claimed per pass of the worker loop.
BATCH = 20


@dataclass
class SendResult:
    claimed: int = 0
    sent: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


def claim(session: Session, now: datetime, limit: int) -> list[int]:
    db.lock_for_write(session, MailMessage.__table__)
    ids = list(session.scalars(
        select(MailMessage.id)
        .where(MailMessage.status == "pending", MailMessage.next_attempt_at <= now)
        .order_by(MailMessage.next_attempt_at).limit(limit)
        .with_for_update(skip_locked=True)))
    if ids:
        session.execute(update(MailMessage).where(MailMessage.id.in_(ids))
                        .values(next_attempt_at=now + LEASE)
                        .execution_options(synchronize_session=False))
    return ids


def build(session: Session, message: MailMessage) -> EmailMessage:
    """The e-mail: the text, the signed PDF, then the attachments that fit, each checked
    against the SHA-256 recorded at transmission."""
    config = settings.get()
    email = EmailMessage()
    email["From"] = config.smtp_from
    email["To"] = ", ".join(message.addresses)
    email["Subject"] = message.subject
    email["Message-ID"] = message_id_header(message.message_id)
    email["Date"] = format_datetime(message.created_at)
    email["X-MLA-Request-Id"] = str(message.request_id)
    email.set_content(message.body)
    email.add_attachment(message.document, maintype="application", subtype="pdf",
                         filename=message.document_filename)
    wanted = {a["id"]: a for a in message.attachments if a.get("attached")}
    if wanted:
        rows = session.scalars(select(Attachment).options(undefer(Attachment.content))
                               .where(Attachment.request_id == message.request_id))
        for row in rows:
            item = wanted.get(str(row.id))
            if item is None:
                continue
            if hashlib.sha256(row.content).hexdigest() != item["sha256"]:
                raise notify.DeliveryError(f"attachment {row.filename} changed since "
                                           f"transmission")
            maintype, _, subtype = (row.content_type.split(";")[0].strip()
                                    or "application/octet-stream").partition("/")
            email.add_attachment(row.content, maintype=maintype,
                                 subtype=subtype or "octet-stream", filename=row.filename)
    return email


def _attempt(session: Session, message_id: int) -> str | None:
    """None when the SMTP server took it; the error otherwise."""
    message = session.get_one(MailMessage, message_id,
                              options=[undefer(MailMessage.document)])
    try:
        notify.send(build(session, message))
    except notify.DeliveryError as exc:
        return str(exc)
    except Exception as exc:  # a bug must not stop the other messages
        log.exception("sending mail outbox message %s failed", message_id)
        return f"{type(exc).__name__}: {exc}"
    return None


def settle(session: Session, message_id: int, error: str | None, now: datetime) -> bool:
    message = session.get(MailMessage, message_id)
    if message is None or message.status != "pending":
        return False
    message.attempts += 1
    if error is None:
        message.status = "sent"
        message.sent_at = now
        message.last_error = None
        audit.record(session, "mail.sent", object_type="request",
                     object_id=str(message.request_id),
                     authority_id=_sender_id(session, message),
                     detail={"message_id": str(message.message_id),
                             "smtp_message_id": message_id_header(message.message_id),
                             "to": message.addresses, "attempts": message.attempts,
                             "pdf_sha256": message.document_sha256})
        return True
    message.last_error = error[:2000]
    limit = settings.get().transfer_max_attempts
    if limit and message.attempts >= limit:
        message.status = "failed"
        audit.record(session, "mail.failed", object_type="request",
                     object_id=str(message.request_id),
                     authority_id=_sender_id(session, message),
                     detail={"message_id": str(message.message_id), "error": message.last_error,
                             "attempts": message.attempts})
    else:
        message.next_attempt_at = now + timedelta(seconds=backoff(message.attempts))
    return False


def _sender_id(session: Session, message: MailMessage) -> int | None:
    return session.scalar(select(Request.requesting_authority_id)
                          .where(Request.id == message.request_id))


def run_batch(session: Session, *, now: datetime | None = None, limit: int = BATCH) -> SendResult:
    """One pass; `session` is not in a transaction. Claims (short transaction), sends each,
    records each outcome in its own transaction."""
    now = now or utcnow()
    with session.begin():
        ids = claim(session, now, limit)
    result = SendResult(claimed=len(ids))
    for message_id in ids:
        error = _attempt(session, message_id)
        session.rollback()  # the read above; nothing of ours was written
        with session.begin():
            sent = settle(session, message_id, error, utcnow())
        if sent:
            result.sent += 1
        elif error:
            result.errors.append(error)
            log.info("e-mail %s not sent, will retry: %s", message_id, error)
    return result


def next_due(session: Session) -> datetime | None:
    return session.scalar(select(func.min(MailMessage.next_attempt_at))
                          .where(MailMessage.status == "pending"))


def run_loop(engine: Engine, *, stop: threading.Event, once: bool = False,
             poll: float | None = None) -> int:
    """The e-mail loop of `mla worker`, on its own thread: a slow SMTP server never delays
    alerts. Sleeps until the next message is due, woken by NOTIFY on PostgreSQL. The number
    of e-mails sent."""
    poll = settings.get().transfer_poll_seconds if poll is None else poll
    sessions = db.session_factory(engine)
    waiter = wakeup.Waker(engine, NOTIFY_CHANNEL)
    total = 0
    try:
        while not stop.is_set():
            try:
                with sessions() as session:
                    result = run_batch(session)
                total += result.sent
                if result.claimed == BATCH:
                    continue  # more are due now
                if once:
                    break
                with sessions() as session:
                    upcoming = next_due(session)
                wait = poll if upcoming is None else max(
                    0.0, min(poll, (upcoming - utcnow()).total_seconds()))
                if wait > 0:
                    waiter.wait(wait, stop)
            except Exception:
                # A database outage must not end the loop; claimed messages come back when
                # their lease runs out.
                log.exception("e-mail loop error")
                if once:
                    raise
                stop.wait(poll)
    finally:
        waiter.close()
    return total


def start_delivery(engine: Engine, stop: threading.Event, *,
                   once: bool = False) -> threading.Thread:
    thread = threading.Thread(target=run_loop, name="mla-mail-delivery", daemon=True,
                              kwargs={"engine": engine, "stop": stop, "once": once})
    thread.start()
    return thread


def retry(session: Session, message_id: int) -> MailMessage:
    """Puts a failed message back to be sent now (`mla mail retry`)."""
    message = session.get(MailMessage, message_id)
    if message is None:
        raise NotFound(f"no e-mail {message_id} in the outbox")
    message.status = "pending"
    message.next_attempt_at = utcnow()
    return message
