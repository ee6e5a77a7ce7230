"""SMS pages through a Kannel gateway, acknowledged and resolved by reply.

Sending: each SMS notification goes to Kannel smsbox's HTTP `sendsms` interface
(`MLA_SMS_SENDSMS_URL`, `MLA_SMS_USERNAME`, `MLA_SMS_PASSWORD`, sender `MLA_SMS_SENDER`):
one GSM 03.38 (7-bit) text of at most 160 characters with the request's reference, kind,
the action asked and an acknowledgement code. Kannel answers 202 when it has queued the
message; anything else is a DeliveryError, retried with the pager's backoff. Each message
asks for delivery reports (`dlr-mask`): Kannel calls our `dlr-url` (/sms/dlr) and the
report is recorded on the notification.

Replying: Kannel's `sms-service` passes each SMS received to /sms/inbound; "ACK <code>"
acknowledges, "RES <code>" resolves the page the code was sent for, as the account linked to
the contact point it was sent to, with the same checks and audit as the console. The code
is random (6 of 31 unambiguous characters, about 30 bits), good for one page from one
number, stored only as its SHA-256, valid `MLA_SMS_CODE_MINUTES` and until the page is
resolved; a number sending `MAX_FAILURES` unknown codes within `FAILURE_WINDOW` is not
heard until the window has passed. The answer to each reply is the text of our HTTP
response, which Kannel sends back to the phone.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import unicodedata
from datetime import datetime, timedelta
from urllib.parse import quote

import httpx
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from mla import db, kinds, settings
from mla.clock import utcnow
from mla.errors import Conflict, Forbidden, NotFound
from mla.models import (
    ContactPoint,
    Notification,
    Page,
    Request,
    SmsCode,
    SmsReplyFailure,
    User,
)
from mla.oncall import notify, paging
from mla.oncall.phone import e164

CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L: read aloud at 3 a.m.
CODE_LENGTH = 6
MAX_FAILURES = 5
FAILURE_WINDOW = timedelta(minutes=15)
MAX_LENGTH = 160
# Kannel's dlr-mask bits: delivered, undelivered, buffered, accepted by the SMSC, rejected.
REPORTS = {1: "delivered", 2: "undelivered", 4: "buffered", 8: "accepted", 16: "rejected"}
DLR_MASK = sum(REPORTS)
# A later report never replaces a final one (Kannel may pass "accepted" after "delivered").
_RANK = {"accepted": 1, "buffered": 2, "delivered": 3, "undelivered": 3, "rejected": 3}
_COMMAND = re.compile(r"\s*(ACK|ACKNOWLEDGE|RES|RESOLVE)\s+([A-Z0-9]{1,20})\s*\.?\s*",
                      re.IGNORECASE)
# GSM 03.38 default alphabet (without the escape table): anything else is spelled with it.
_GSM7 = set("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
            "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")


def gsm7(text: str) -> str:
    """The text in the GSM 7-bit default alphabet: accents dropped where the letter is not
    in it, other characters as "?"."""
    out = []
    for char in text:
        if char not in _GSM7:
            char = "".join(c for c in unicodedata.normalize("NFKD", char)
                           if not unicodedata.combining(c)) or "?"
            char = "".join(c if c in _GSM7 else "?" for c in char)
        out.append(char)
    return "".join(out)


def _hash(code: str) -> str:
    return hashlib.sha256(code.upper().encode()).hexdigest()


def issue_code(session: Session, notification: Notification, contact_id: int, phone: str,
               now: datetime) -> str:
    """A fresh code for the notification (a resend replaces the earlier one); in the
    caller's transaction, committed before the SMS leaves."""
    session.execute(delete(SmsCode).where(SmsCode.notification_id == notification.id))
    while True:
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        if session.scalar(select(SmsCode.id).where(SmsCode.code_hash == _hash(code))) is None:
            break
    minutes = settings.get().sms_code_minutes
    session.add(SmsCode(notification_id=notification.id, page_id=notification.page_id,
                        contact_point_id=contact_id, phone=phone, code_hash=_hash(code),
                        created_at=now, expires_at=now + timedelta(minutes=minutes)))
    session.flush()
    return code


def compose(page: Page, request: Request | None, code: str) -> str:
    """The SMS: reference, kind, action asked, the code and how to reply; <= 160 GSM-7."""
    tail = f" Reply ACK {code} to acknowledge, RES {code} to resolve."
    if request is None:
        return gsm7(f"MLA 24/7 TEST page, no action needed.{tail}")[:MAX_LENGTH]
    head = gsm7(f"MLA 24/7 {request.reference} {request.kind}: ")
    action = gsm7(kinds.get(request.kind).label if request.kind in kinds.all_kinds()
                  else page.reason)
    room = MAX_LENGTH - len(head) - len(tail) - 1
    if len(action) > room:
        action = action[:max(room - 1, 0)].rstrip() + "~"
    return f"{head}{action}.{tail}"[:MAX_LENGTH]


def prepare(session: Session, notification: Notification, page: Page,
            request: Request | None, now: datetime) -> str:
    """The text of an SMS notification about to be sent, with a fresh code."""
    contact_id = int(notification.recipient.split(":")[1])
    code = issue_code(session, notification, contact_id, notification.address or "", now)
    return compose(page, request, code)


def _callback_base() -> str:
    config = settings.get()
    return (config.sms_callback_url or config.public_url).rstrip("/")


def send(message: notify.Message) -> None:
    """Hands one SMS to Kannel's sendsms; DeliveryError unless Kannel queued it."""
    try:
        config = settings.get()
    except settings.SettingsError as exc:
        raise notify.DeliveryError(str(exc)) from None
    if not config.sms_sendsms_url:
        raise notify.DeliveryError("no SMS gateway: MLA_SMS_SENDSMS_URL is not set")
    params = {"username": config.sms_username or "", "password": config.sms_password or "",
              "from": config.sms_sender, "to": message.address, "text": message.text,
              "charset": "UTF-8", "coding": "0"}
    if config.sms_callback_secret:
        params["dlr-mask"] = str(DLR_MASK)
        params["dlr-url"] = (f"{_callback_base()}/sms/dlr?secret="
                             f"{quote(config.sms_callback_secret, safe='')}"
                             f"&notification={message.notification_id}&type=%d")
    try:
        response = notify._http().get(config.sms_sendsms_url, params=params)
    except httpx.HTTPError as exc:
        raise notify.DeliveryError(f"sms gateway: {type(exc).__name__}: {exc}") from exc
    if not 200 <= response.status_code < 300:
        raise notify.DeliveryError(f"sms gateway answered {response.status_code}: "
                                   f"{response.text.strip()[:200]}")


def record_report(session: Session, notification_id: int, report: int,
                  now: datetime | None = None) -> Notification | None:
    """Records a delivery report on the SMS notification; None if there is no such SMS."""
    status = REPORTS.get(report)
    # Kannel sends a message's reports at once, on parallel connections: on SQLite the read
    # of the current status must already hold the write lock, or "accepted" can overwrite a
    # "delivered" that committed in between (FOR UPDATE does this on PostgreSQL).
    db.lock_for_write(session, Notification.__table__)
    notification = session.scalar(select(Notification).where(
        Notification.id == notification_id, Notification.channel == "sms").with_for_update())
    if notification is None or status is None:
        return None
    current = _RANK.get(notification.delivery_status or "", 0)
    if _RANK[status] >= current:
        notification.delivery_status = status
        notification.delivery_reported_at = now or utcnow()
        if status in ("undelivered", "rejected"):
            notification.last_error = f"the network reports the SMS {status}"
    session.flush()
    return notification


# --- replies ------------------------------------------------------------------------------

HELP = "MLA: reply ACK <code> to acknowledge a page, RES <code> to resolve it."


def _failures(session: Session, phone: str, now: datetime) -> int:
    return session.scalar(select(func.count()).select_from(SmsReplyFailure).where(
        SmsReplyFailure.phone == phone, SmsReplyFailure.at > now - FAILURE_WINDOW)) or 0


def _link(page_id: int) -> str:
    return f"{notify.public_url()}/alerts/{page_id}"


def handle_reply(session: Session, sender: str, text: str,
                 now: datetime | None = None) -> str:
    """Acts on an SMS reply from `sender`; returns the answer to send back. The caller
    commits (also when nothing was done: failed attempts are counted)."""
    now = now or utcnow()
    phone = e164(sender) or sender.strip()[:32]
    if _failures(session, phone, now) >= MAX_FAILURES:
        minutes = int(FAILURE_WINDOW.total_seconds() // 60)
        return (f"MLA: too many wrong codes from this number. Try again in {minutes} "
                "minutes, or acknowledge in the console.")
    match = _COMMAND.fullmatch(text or "")
    if match is None:
        return HELP
    resolve = match[1].upper().startswith("RES")
    code = match[2].upper()
    row = session.scalar(select(SmsCode).where(SmsCode.code_hash == _hash(code))
                         .with_for_update())
    contact = session.get(ContactPoint, row.contact_point_id) if row else None
    # A code only works from the number it was sent to, while that number is the contact
    # point's: from any other phone it is as unknown as a guess.
    if row is None or contact is None or row.phone != phone or contact.phone != phone:
        session.add(SmsReplyFailure(phone=phone, at=now))
        return (f"MLA: unknown code {code}. Reply with the code of a page sent to this "
                "phone: ACK <code> or RES <code>.")
    page = session.get(Page, row.page_id)
    assert page is not None
    if row.used_at is not None or page.status == "resolved":
        return f"MLA: code {code} was already used: alert {page.id} is resolved."
    if row.expires_at <= now:
        return f"MLA: code {code} has expired. Open alert {page.id}: {_link(page.id)}"
    user = session.get(User, contact.user_id) if contact.user_id else None
    if user is None or not user.active:
        return (f"MLA: no active account is linked to {gsm7(contact.name)[:40]}; act in the "
                f"console: {_link(page.id)}")
    try:
        if resolve:
            paging.resolve(session, page.id, user, via="sms", contact_point_id=contact.id)
            row.used_at = now
            return gsm7(f"MLA: alert {page.id} resolved as {contact.name}.")[:MAX_LENGTH]
        paging.acknowledge(session, page.id, user, via="sms", contact_point_id=contact.id)
    except Conflict:
        by = page.acknowledged_by.username if page.acknowledged_by else "someone"
        at = page.acknowledged_at.strftime("%H:%M UTC") if page.acknowledged_at else ""
        return gsm7(f"MLA: alert {page.id} was already acknowledged by {by} {at}. RES {code} "
                    "to resolve.")[:MAX_LENGTH]
    except (Forbidden, NotFound) as exc:
        return gsm7(f"MLA: not done: {exc.detail}")[:MAX_LENGTH]
    if page.test:
        return "MLA: test page acknowledged. Replies from this phone reach MLA."
    return gsm7(f"MLA: alert {page.id} acknowledged as {contact.name}; it no longer "
                f"escalates. RES {code} when dealt with.")[:MAX_LENGTH]
