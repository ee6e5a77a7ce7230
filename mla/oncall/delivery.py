"""The pager's side of `mla worker`: climbing pages due to the next step of their policy, and
sending their messages (mla/oncall/paging.py opens the pages and writes each step's messages).

`run_batch` (inside `mla worker`) does the work in three short transactions, so no row lock
is held while talking to a mail server or a webhook:

1. claim pages due to climb (`FOR UPDATE SKIP LOCKED`), write the next step's messages;
2. claim due messages the same way and lease them (their next attempt moves `LEASE` ahead,
   so no other worker takes them while they are being sent);
3. after sending (in parallel, each channel on its own), record each outcome: sent, or
   retried with exponential backoff, or failed after `MAX_ATTEMPTS`.

A worker killed between sending and step 3 leaves the lease to expire and the message is
sent again: delivery is at least once, deduplicated by receivers on the notification id
(see mla.oncall.notify).
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, lazyload

from mla import db, i18n, templates
from mla.clock import utcnow
from mla.errors import InvalidInput, NotFound
from mla.i18n import _
from mla.models import (
    Authority,
    ContactPoint,
    EscalationPolicy,
    Notification,
    Page,
    Request,
    User,
)
from mla.oncall import matrix, notify, sms
from mla.oncall.paging import notify_step, step_delay

log = logging.getLogger("mla.paging")

MAX_ATTEMPTS = 8
BACKOFF_BASE = timedelta(seconds=10)
BACKOFF_CAP = timedelta(minutes=15)
# How long a claimed message is kept from other senders; longer than any send can take.
LEASE = timedelta(minutes=2)
# Every channel the pager sends on (mla/oncall/preferences.ADDRESS_FIELDS names their
# addresses); the in-app inbox is the page itself. Matrix's own module reads replies too, so
# it is wired here rather than in notify (which it imports).
SENDERS = {**notify.SENDERS, "sms": sms.send, "matrix": matrix.send_page}

_pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="mla-notify")


@dataclass
class PagingResult:
    escalated: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    busy: bool = False  # a limit was hit: more may be due right now


def _escalate(session: Session, now: datetime, limit: int) -> int:
    db.lock_for_write(session, Page.__table__)
    pages = list(session.scalars(
        select(Page).options(lazyload("*"))
        .where(Page.status == "open", Page.next_escalation_at <= now)
        .order_by(Page.next_escalation_at).limit(limit)
        .with_for_update(skip_locked=True).execution_options(populate_existing=True)))
    for page in pages:
        policy = session.get(EscalationPolicy, page.policy_id) if page.policy_id else None
        if policy is None or not policy.steps:
            page.next_escalation_at = None
            continue
        if page.step_index + 1 < len(policy.steps):
            page.step_index += 1
        elif page.repeat_round < policy.repeat:
            page.repeat_round += 1
            page.step_index = 0
        else:
            # The ladder is exhausted: the page stays open in the inbox, nobody more to call.
            page.next_escalation_at = None
            continue
        notify_step(session, page, policy, now)
        delay = step_delay(policy, page.step_index)
        assert delay is not None
        page.next_escalation_at = now + delay
    session.flush()
    return len(pages)


def _link(page_id: int) -> str:
    return f"{notify.public_url()}/alerts/{page_id}"


def _test_message(n: Notification, page: Page, text: str | None,
                  secret: str | None) -> notify.Message:
    link = f"{notify.public_url()}/console/oncall#contact-{n.recipient.split(':')[-1]}"
    body = "\n".join([
        _("This is a test page of the 24/7 pager ({reason}). No action is needed.",
          reason=page.reason),
        _("It reached you; the console shows, per channel, whether it went out."), "",
        _("Your contact preferences: {link}", link=link), "", _("Notification {id}", id=n.id)])
    payload = {"notification_id": n.id, "event": "test", "test": True, "page_id": page.id,
               "reason": page.reason, "opened_at": page.opened_at.isoformat()}
    return notify.Message(n.id, page.id, n.channel, n.address or "", secret,
                          _("[MLA 24/7] TEST page: no action needed"), text or body, payload)


def _messages(session: Session, ids: list[int], now: datetime) -> list[notify.Message]:
    rows = session.execute(
        select(Notification, Page, Request)
        .join(Page, Page.id == Notification.page_id)
        .outerjoin(Request, Request.id == Page.request_id)
        .options(lazyload("*"))
        .where(Notification.id.in_(ids)).execution_options(populate_existing=True)).all()
    contact_ids = {int(n.recipient.split(":")[1]) for n, _, _ in rows
                   if n.channel == "webhook" and n.recipient.startswith("contact:")}
    secrets = dict(session.execute(select(ContactPoint.id, ContactPoint.webhook_secret)
                                   .where(ContactPoint.id.in_(contact_ids)))
                   .all()) if contact_ids else {}
    parties = {a for _, _, r in rows if r is not None for a in r.party_ids()}
    codes = dict(session.execute(select(Authority.id, Authority.code)
                                 .where(Authority.id.in_(parties))).all())
    readers, authorities = _readers(session, [n for n, _, _ in rows],
                                    {page.authority_id for _, page, _ in rows})
    messages = []
    for n, page, request in rows:
        # An SMS carries a fresh acknowledgement code (stored hashed in this transaction).
        text = sms.prepare(session, n, page, request, now) if n.channel == "sms" else None
        secret = secrets.get(int(n.recipient.split(":")[1])) if n.channel == "webhook" \
            else None
        if request is None:
            with _reading_for(n, page, readers, authorities):
                messages.append(_test_message(n, page, text, secret))
            continue
        link = _link(page.id)
        payload = {
            "notification_id": n.id, "event": "page", "page_id": page.id,
            "request_id": str(request.id), "reference": request.reference,
            "kind": request.kind, "urgent": request.urgent,
            "requesting": codes[request.requesting_authority_id],
            "requested": codes[request.requested_authority_id],
            "reason": page.reason, "step": n.step_index + 1, "round": n.round + 1,
            "opened_at": page.opened_at.isoformat(), "link": link,
            "acknowledge": f"{link}/acknowledge",
        }
        with _reading_for(n, page, readers, authorities):
            subject, body = _text(n, page, request, payload, link)
            if n.channel == "matrix":
                # A person reads it in a chat: the Matrix wording, in their language.
                body = matrix.page_body(payload)
        messages.append(notify.Message(n.id, page.id, n.channel, n.address or "", secret,
                                       subject, text or body, payload,
                                       http_request_id=page.http_request_id))
    return messages


def _reading_for(n: Notification, page: Page,
                 readers: dict[str, tuple[str | None, str | None]],
                 authorities: dict[int, tuple[list[str], str]]) -> Any:
    """The recipient's language and time zone, else the paged authority's."""
    language, timezone = readers.get(n.recipient, (None, None)) or (None, None)
    authority = authorities.get(page.authority_id)
    return i18n.reading(i18n.for_recipient(language, authority[0] if authority else None),
                        timezone or (authority[1] if authority else "UTC"))


def _readers(session: Session, notifications: list[Notification], authority_ids: set[int]
             ) -> tuple[dict[str, tuple[str | None, str | None]],
                        dict[int, tuple[list[str], str]]]:
    """Each recipient's language and time zone: a user's chosen language, a contact point's
    first language and its zone; and each paged authority's languages and zone, for those
    who have none (two queries for the whole batch)."""
    ids: dict[str, set[int]] = {"user": set(), "contact": set()}
    for n in notifications:
        kind, _, value = n.recipient.partition(":")
        if kind in ids and value.isdigit():
            ids[kind].add(int(value))
    readers: dict[str, tuple[str | None, str | None]] = {}
    if ids["user"]:
        for user_id, language in session.execute(
                select(User.id, User.language).where(User.id.in_(ids["user"]))):
            readers[f"user:{user_id}"] = (language, None)
    if ids["contact"]:
        for contact_id, languages, timezone in session.execute(
                select(ContactPoint.id, ContactPoint.languages, ContactPoint.timezone)
                .where(ContactPoint.id.in_(ids["contact"]))):
            readers[f"contact:{contact_id}"] = (i18n.first_of(languages), timezone)
    authorities = {a_id: (languages or [], timezone) for a_id, languages, timezone in
                   session.execute(select(Authority.id, Authority.languages, Authority.timezone)
                                   .where(Authority.id.in_(authority_ids)))}
    return readers, authorities


def _text(n: Notification, page: Page, request: Request, payload: dict[str, Any],
          link: str) -> tuple[str, str]:
    """Subject and body of a page, in the reading's language and time zone; the webhook's
    JSON payload stays as it is (machines read it)."""
    try:
        kind = i18n.localized(templates.get(request.kind).title) or request.kind
    except (InvalidInput, NotFound):
        kind = request.kind
    subject = _("[MLA 24/7] {reference} ({kind}) needs acknowledgement",
                reference=request.reference, kind=kind)
    body = "\n".join([
        _("Urgent matter for your authority: {reason}", reason=page.reason),
        "",
        _("Request: {reference} ({kind})", reference=request.reference, kind=kind),
        _("From {requesting} to {requested}", requesting=payload["requesting"],
          requested=payload["requested"]),
        _("Paged at {time}; step {step}, round {round}. It climbs to the next person until "
          "acknowledged.", time=i18n.full_when(page.opened_at, i18n.current().timezone),
          step=n.step_index + 1, round=n.round + 1),
        "",
        _("Open the alert: {link}", link=link),
        _("Acknowledge: POST {link}/acknowledge (contact point or supervisor)", link=link),
        _("Request: {link}", link=f"{notify.public_url()}/requests/{request.id}"),
        "",
        _("Notification {id}", id=n.id),
    ])
    return subject, body


def _claim(session: Session, now: datetime, limit: int) -> list[notify.Message]:
    db.lock_for_write(session, Notification.__table__)
    ids = list(session.scalars(
        select(Notification.id)
        .where(Notification.status == "pending", Notification.next_attempt_at <= now)
        .order_by(Notification.next_attempt_at).limit(limit)
        .with_for_update(skip_locked=True)))
    if not ids:
        return []
    session.execute(update(Notification).where(Notification.id.in_(ids))
                    .values(attempts=Notification.attempts + 1, next_attempt_at=now + LEASE)
                    .execution_options(synchronize_session=False))
    return _messages(session, ids, now)


def _send(message: notify.Message) -> str | None:
    # The request id of the HTTP request that opened the page, on the lines about it.
    extra = {"request_id": message.http_request_id, "notification_id": message.notification_id,
             "page_id": message.page_id, "channel": message.channel}
    try:
        SENDERS[message.channel](message)
        log.info("notification %s sent (%s)", message.notification_id, message.channel,
                 extra=extra)
        return None
    except notify.DeliveryError as exc:
        log.info("notification %s not accepted: %s", message.notification_id, exc,
                 extra=extra)
        return str(exc)[:1000]
    except Exception as exc:  # a bug in one channel must not stop the others
        log.exception("notification %s", message.notification_id, extra=extra)
        return f"{type(exc).__name__}: {exc}"[:1000]


def backoff(attempts: int) -> timedelta:
    return min(BACKOFF_BASE * 2 ** max(0, attempts - 1), BACKOFF_CAP)


def _record(session: Session, outcomes: list[tuple[int, str | None]], at: datetime,
            result: PagingResult) -> None:
    sent = [i for i, error in outcomes if error is None]
    if sent:
        # Recorded even if an acknowledgement cancelled it meanwhile: it did go out.
        session.execute(update(Notification).where(Notification.id.in_(sent))
                        .values(status="sent", sent_at=at, last_error=None)
                        .execution_options(synchronize_session=False))
        result.sent += len(sent)
    errors = dict((i, e) for i, e in outcomes if e is not None)
    if not errors:
        return
    for n in session.scalars(select(Notification).where(Notification.id.in_(list(errors)))
                             .execution_options(populate_existing=True)):
        n.last_error = errors[n.id]
        if n.status != "pending":
            continue
        if n.attempts >= MAX_ATTEMPTS:
            n.status = "failed"
            n.next_attempt_at = None
            result.failed += 1
            log.error("notification %s failed for good: %s", n.id, n.last_error)
        else:
            n.next_attempt_at = at + backoff(n.attempts)
            result.retried += 1
            log.warning("notification %s: %s; retry at %s", n.id, n.last_error,
                        n.next_attempt_at)
    session.flush()


def run_batch(session: Session, *, now: datetime | None = None,
              limit: int = 200) -> PagingResult:
    """Climbs due pages and sends due messages. Commits as it goes (see the module doc);
    give it a session with no transaction of the caller's in progress."""
    at_fixed = now is not None
    now = now or utcnow()
    result = PagingResult()
    result.escalated = _escalate(session, now, limit)
    session.commit()
    messages = _claim(session, now, limit)
    session.commit()
    result.busy = result.escalated == limit or len(messages) == limit
    if not messages:
        return result
    errors = list(_pool.map(_send, messages)) if len(messages) > 1 else [_send(messages[0])]
    outcomes = [(m.notification_id, e) for m, e in zip(messages, errors, strict=True)]
    _record(session, outcomes, now if at_fixed else utcnow(), result)
    session.commit()
    return result


def next_due(session: Session) -> datetime | None:
    """When the pager next has something to do, for the worker's sleep."""
    times = [session.scalar(select(func.min(Notification.next_attempt_at))
                            .where(Notification.status == "pending")),
             session.scalar(select(func.min(Page.next_escalation_at))
                            .where(Page.status == "open"))]
    present = [t for t in times if t is not None]
    return min(present) if present else None

