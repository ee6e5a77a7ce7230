"""Paging an authority's 24/7 point until a human acknowledges.

A page opens in the transaction of what caused it: an urgent request transmitted, or
registered as received by the requested authority (lifecycle hook), or an urgent deadline
escalated to the contact point role (worker alert hook). Step 1 of the authority's escalation
policy is notified at once; a page not acknowledged within the step's delay climbs to the
next step, and round again `repeat` times. Every message is a `Notification` row (recipient,
channel, attempts, when sent, last error); the in-app inbox is the page itself. The climbing
and the sending are the worker's batch (mla/oncall/delivery.py).

Drafts page nobody: filing a draft does not reach the requested authority, so only filing
a request *received* (registered on the requested side) and transmitting one page it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, select, text, update
from sqlalchemy.orm import Session, lazyload

from mla import audit, inputs, kinds, logcontext
from mla.clock import utcnow
from mla.errors import Conflict, FieldProblem, Forbidden, InvalidInput, NotFound
from mla.models import (
    ROLES,
    Authority,
    ContactPoint,
    EscalationPolicy,
    Notification,
    Page,
    Peer,
    Request,
    User,
)
from mla.oncall import preferences
from mla.oncall import service as oncall
from mla.requests import lifecycle

log = logging.getLogger("mla.paging")

# Which network's policy pages for a kind, in order of preference; then any policy of the
# authority. Preservation of computer data is the Budapest 24/7 network's business (art.
# 35), provisional arrest goes through INTERPOL NCBs.
KIND_NETWORKS: dict[str, tuple[str, ...]] = {
    "mla.e_evidence.preservation": ("budapest_24_7", "g7", "national"),
    "mla.e_evidence.production": ("budapest_24_7", "g7", "national"),
    "extradition.provisional_arrest": ("interpol_ncb", "national"),
}
DEFAULT_NETWORKS = ("national",)

ACK_ROLES = ("contact_point", "supervisor")
NOTIFY_CHANNEL = "mla_paging"


# --- policies ---------------------------------------------------------------------------

def check_steps(session: Session, authority_id: int, steps: Any, repeat: Any,
                prefix: str = "") -> list[FieldProblem]:
    problems: list[FieldProblem] = []
    if not isinstance(repeat, int) or isinstance(repeat, bool) or not 0 <= repeat <= 10:
        problems.append(FieldProblem(f"{prefix}repeat", "a whole number from 0 to 10"))
    if not isinstance(steps, list) or not 1 <= len(steps) <= 20:
        problems.append(FieldProblem(f"{prefix}steps", "a list of 1 to 20 steps"))
        return problems
    for i, step in enumerate(steps):
        where = f"{prefix}steps.{i}"
        if not isinstance(step, dict) or set(step) - {"notify", "delay_minutes"}:
            problems.append(FieldProblem(where, "{notify, delay_minutes}"))
            continue
        delay = step.get("delay_minutes")
        if not isinstance(delay, int) or isinstance(delay, bool) or not 0 <= delay <= 10080:
            problems.append(FieldProblem(f"{where}.delay_minutes",
                                         "whole minutes from 0 to 10080 (a week)"))
        target = step.get("notify")
        kind, _, value = str(target).partition(":")
        if target == "on_call":
            continue
        if kind == "role" and value in ROLES:
            continue
        contact_id = inputs.parse_int(value, 1, inputs.INT64_MAX)
        if kind == "contact" and contact_id is not None:
            contact = session.get(ContactPoint, contact_id)
            if contact is not None and contact.authority_id == authority_id:
                continue
            problems.append(FieldProblem(f"{where}.notify",
                                         f"no contact point {value} of this authority"))
            continue
        problems.append(FieldProblem(f"{where}.notify",
                                     "on_call, contact:<id> or role:<role>"))
    return problems


def set_policy(session: Session, authority_id: int, *, network: str,
               steps: Sequence[dict[str, Any]], repeat: int = 0) -> EscalationPolicy:
    """Creates or replaces the authority's escalation policy on `network`."""
    problems: list[FieldProblem] = []
    oncall.check_network(network, "network", problems)
    problems.extend(check_steps(session, authority_id, list(steps), repeat))
    if problems:
        raise InvalidInput("the escalation policy is not valid", problems)
    policy = session.scalar(select(EscalationPolicy).where(
        EscalationPolicy.authority_id == authority_id, EscalationPolicy.network == network))
    if policy is None:
        policy = EscalationPolicy(authority_id=authority_id, network=network)
        session.add(policy)
    policy.steps = [dict(s) for s in steps]
    policy.repeat = repeat
    session.flush()
    return policy


def policies(session: Session, authority_id: int) -> list[EscalationPolicy]:
    return list(session.scalars(select(EscalationPolicy).where(
        EscalationPolicy.authority_id == authority_id).order_by(EscalationPolicy.network)))


def policy_for(session: Session, authority_id: int, kind: str) -> EscalationPolicy | None:
    policies = {p.network: p for p in session.scalars(
        select(EscalationPolicy).where(EscalationPolicy.authority_id == authority_id)
        .order_by(EscalationPolicy.id))}
    for network in KIND_NETWORKS.get(kind, DEFAULT_NETWORKS):
        if network in policies:
            return policies[network]
    return next(iter(policies.values()), None)


# --- opening a page and notifying a step --------------------------------------------------

def _targets(session: Session, page: Page, policy: EscalationPolicy,
             now: datetime) -> list[tuple[str, str, str, int]]:
    """(recipient, channel, address, after minutes) for the page's current step; a contact
    point's channels as its preferences order and delay them."""
    target = policy.steps[page.step_index]["notify"]
    kind, _, value = target.partition(":")
    contacts: list[ContactPoint] = []
    if target == "on_call":
        who = oncall.on_call(session, page.authority_id, policy.network, now)
        if who is None:
            log.warning("page %s: nobody on call for authority %s on %s", page.id,
                        page.authority_id, policy.network)
        else:
            contacts.append(who.member)
    elif kind == "contact":
        contact = session.get(ContactPoint, int(value))
        if contact is not None and contact.authority_id == page.authority_id:
            contacts.append(contact)
    elif kind == "role":
        users = session.scalars(select(User).options(lazyload("*")).where(
            User.authority_id == page.authority_id, User.role == value,
            User.active.is_(True)).order_by(User.id))
        return [(f"user:{u.id}", "email", u.email, 0) for u in users if u.email]
    return [(f"contact:{contact.id}", channel, address, after)
            for contact in contacts if contact.active
            for channel, address, after in preferences.plan(contact)]


def notify_step(session: Session, page: Page, policy: EscalationPolicy | None,
                now: datetime) -> int:
    """Writes the messages of the page's current step; the inbox entry counts as sent."""
    rows = [Notification(page_id=page.id, step_index=page.step_index, round=page.repeat_round,
                         recipient="inbox", channel="inbox", status="sent", attempts=1,
                         created_at=now, sent_at=now)]
    targets = []
    desk = session.scalar(select(Authority.matrix_room_id).where(
        Authority.id == page.authority_id)) if page.step_index == page.repeat_round == 0 else None
    if desk:
        # The 24/7 desk's Matrix room sees every page once, when it opens.
        targets.append(("desk", "matrix", desk, 0))
    if policy is not None and policy.steps:
        targets += _targets(session, page, policy, now)
    if targets:
        seen = set()
        for recipient, channel, address, after in targets:
            if (recipient, channel) in seen:
                continue
            seen.add((recipient, channel))
            rows.append(Notification(page_id=page.id, step_index=page.step_index,
                                     round=page.repeat_round, recipient=recipient,
                                     channel=channel, address=address, status="pending",
                                     attempts=0, next_attempt_at=now + timedelta(minutes=after),
                                     created_at=now))
    session.add_all(rows)
    return len(rows) - 1


def step_delay(policy: EscalationPolicy | None, step_index: int) -> timedelta | None:
    if policy is None or not policy.steps:
        return None
    return timedelta(minutes=policy.steps[step_index]["delay_minutes"])


def wake_workers(session: Session) -> None:
    # Delivered at commit: sleeping workers start sending at once instead of at their poll.
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"NOTIFY {NOTIFY_CHANNEL}"))


def open_page(session: Session, request: Request, reason: str, *,
              authority_id: int | None = None, source: str = "manual",
              alert_id: int | None = None, now: datetime | None = None) -> Page:
    """Pages `authority_id` (default: the requested authority) about `request`, in the
    caller's transaction. While a page on the request is still unacknowledged there, that
    page is returned instead of a second one."""
    authority_id = authority_id or request.requested_authority_id
    existing = session.scalar(select(Page).options(lazyload("*")).where(
        Page.request_id == request.id, Page.authority_id == authority_id,
        Page.status == "open").limit(1))
    if existing is not None:
        return existing
    now = now or utcnow()
    policy = policy_for(session, authority_id, request.kind)
    delay = step_delay(policy, 0)
    page = Page(request_id=request.id, authority_id=authority_id,
                policy_id=policy.id if policy else None,
                network=policy.network if policy else None, source=source, alert_id=alert_id,
                reason=reason, status="open", step_index=0, repeat_round=0,
                next_escalation_at=now + delay if delay is not None else None, opened_at=now,
                http_request_id=logcontext.current())
    session.add(page)
    session.flush()
    notify_step(session, page, policy, now)
    session.flush()
    audit.record(session, "page.open", object_type="page", object_id=str(page.id),
                 detail={"request": str(request.id), "authority_id": authority_id,
                         "source": source, "policy": page.policy_id})
    wake_workers(session)
    return page


def on_transition(session: Session, request: Request, result: lifecycle.TransitionResult) -> None:
    if not request.urgent:
        return
    label = kinds.get(request.kind).label
    if result.event == "transmit":
        # A requested authority on its own instance is paged there, when the request
        # arrives: that instance holds its rota and its people, this one does not.
        if session.scalar(select(Peer.id).where(
                Peer.authority_id == request.requested_authority_id)) is None:
            open_page(session, request, f"Urgent request transmitted: {label}",
                      source="transmit")
    elif result.event == "file" and request.counterpart_reference is not None:
        open_page(session, request, f"Urgent request received: {label}", source="file")


def on_alert(session: Session, alert: Any) -> None:
    """`alert`: the row the escalation batch wrote (mla/deadlines/escalation.py WRITTEN)."""
    if alert.role != "contact_point":
        return
    request = session.get(Request, alert.request_id)
    if request is None or not request.urgent:
        return
    open_page(session, request, alert.message, authority_id=alert.authority_id,
              source="deadline", alert_id=alert.id, now=alert.created_at)


# --- acknowledging and resolving ----------------------------------------------------------

def _locked(session: Session, page_id: int, user: User) -> Page:
    page = session.scalar(select(Page).options(lazyload("*")).where(
        Page.id == page_id, Page.authority_id == user.authority_id).with_for_update()
        .execution_options(populate_existing=True))
    if page is None:
        raise NotFound(f"no alert {page_id}")
    if user.role not in ACK_ROLES:
        raise Forbidden(f"alerts are acknowledged by a contact point or supervisor; you are "
                        f"{user.role}")
    return page


def _cancel_pending(session: Session, page: Page) -> None:
    session.execute(update(Notification).where(Notification.page_id == page.id,
                                               Notification.status == "pending")
                    .values(status="cancelled").execution_options(synchronize_session=False))


def _detail(page: Page, via: str, contact_point_id: int | None) -> dict[str, Any]:
    # An SMS reply acts as a contact point: the audit names which one.
    detail: dict[str, Any] = {"request": str(page.request_id), "via": via}
    if contact_point_id is not None:
        detail["contact_point"] = contact_point_id
    return detail


def acknowledge(session: Session, page_id: int, user: User, *, note: str | None = None,
                via: str = "api", contact_point_id: int | None = None) -> Page:
    """Stops the page climbing: someone has it. Other authorities' pages are NotFound."""
    page = _locked(session, page_id, user)
    if page.status != "open":
        raise Conflict(f"alert {page_id} is {page.status} already")
    now = utcnow()
    page.status = "acknowledged"
    page.acknowledged_at = now
    page.acknowledged_by_id = user.id
    page.acknowledged_via = via
    page.next_escalation_at = None
    if note:
        page.note = note
    _cancel_pending(session, page)
    session.flush()
    audit.record(session, "page.acknowledge", actor=user, object_type="page",
                 object_id=str(page.id), detail=_detail(page, via, contact_point_id))
    return page


def resolve(session: Session, page_id: int, user: User, *, note: str | None = None,
            via: str = "api", contact_point_id: int | None = None) -> Page:
    """Closes the page (acknowledged or not)."""
    page = _locked(session, page_id, user)
    if page.status == "resolved":
        raise Conflict(f"alert {page_id} is resolved already")
    page.status = "resolved"
    page.resolved_at = utcnow()
    page.resolved_by_id = user.id
    page.next_escalation_at = None
    if note:
        page.note = note
    _cancel_pending(session, page)
    session.flush()
    audit.record(session, "page.resolve", actor=user, object_type="page",
                 object_id=str(page.id), detail=_detail(page, via, contact_point_id))
    return page


def get(session: Session, page_id: int, user: User) -> Page:
    page = session.scalar(select(Page).where(Page.id == page_id, Page.test.is_(False),
                                             Page.authority_id == user.authority_id))
    if page is None:
        raise NotFound(f"no alert {page_id}")
    return page


STATUSES = ("open", "acknowledged", "resolved")


def for_authority(session: Session, user: User, *, status: str | None = None,
                  limit: int = 100) -> list[Page]:
    """The authority's inbox: open pages first, then acknowledged, then resolved; newest
    first within each."""
    rank = case({s: i for i, s in enumerate(STATUSES)}, value=Page.status, else_=9)
    query = select(Page).where(Page.authority_id == user.authority_id, Page.test.is_(False))
    if status is not None:
        query = query.where(Page.status == status)
    return list(session.scalars(query.order_by(rank, Page.opened_at.desc(), Page.id.desc())
                                .limit(limit)))


def notifications(session: Session, page: Page) -> list[Notification]:
    return list(session.scalars(select(Notification).where(Notification.page_id == page.id)
                                .order_by(Notification.id)))
