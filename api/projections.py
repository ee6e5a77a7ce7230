"""ORM objects to response bodies, by what the user may see."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.schemas.alerts import AlertOut, NotificationOut
from api.schemas.audit import AuditEventOut
from api.schemas.common import AuthorityRef
from api.schemas.deadlines import DeadlineOut
from api.schemas.requests import HistoryOut, HistoryStatusOut, RequestOut, RequestSummary, StatusOut
from api.schemas.transfer import TransferMessageOut
from api.schemas.users import UserOut
from mla import access
from mla.clock import utcnow
from mla.deadlines.rules import rules
from mla.models import (
    AuditEvent,
    Authority,
    Deadline,
    HistoryEvent,
    Notification,
    Page,
    Request,
    RequestText,
    User,
)
from mla.oncall import paging
from mla.requests import lifecycle
from mla.transfer.log import Message


def authority_ref(authority: Authority) -> AuthorityRef:
    return AuthorityRef(code=authority.code, name=authority.name,
                        country=authority.country)


def status(request: Request) -> StatusOut:
    return StatusOut(
        id=request.id, reference=request.reference, kind=request.kind,
        workflow=request.workflow, requesting=authority_ref(request.requesting_authority),
        requested=authority_ref(request.requested_authority), state=request.state,
        urgent=request.urgent, version=request.version, created_at=request.created_at,
        updated_at=request.updated_at,
    )


def full(session: Session, request: Request, user: User) -> RequestOut:
    return RequestOut(
        **status(request).model_dump(),
        counterpart_reference=request.counterpart_reference,
        urgency_reasons=request.urgency_reasons,
        legal_basis=request.legal_basis, title=request.title,
        template_version=request.template_version, language=request.language,
        languages=_languages(session, request),
        data=request.data, allowed_events=lifecycle.allowed_events(request, user),
    )


def _languages(session: Session, request: Request) -> list[str]:
    """The original's language first, then those of its translations (as
    translations.texts orders them), without loading the texts themselves."""
    found = dict.fromkeys([request.language])
    found.update(dict.fromkeys(session.scalars(
        select(RequestText.language).where(RequestText.request_id == request.id))))
    return list(found)


def summary(request: Request, user: User) -> RequestSummary:
    return RequestSummary(
        **status(request).model_dump(),
        title=request.title if access.can_read_content(user) else None,
    )


def history(event: HistoryEvent, user: User) -> HistoryStatusOut:
    if not access.can_read_content(user):
        return HistoryStatusOut(at=event.at, event=event.event,
                                from_state=event.from_state, to_state=event.to_state)
    return HistoryOut(at=event.at, event=event.event, from_state=event.from_state,
                      to_state=event.to_state,
                      actor=event.actor.username if event.actor else None,
                      reason=event.reason, data=event.data)


def user_out(user: User) -> UserOut:
    return UserOut(id=user.id, username=user.username, full_name=user.full_name,
                   email=user.email, role=user.role, active=user.active,
                   authority=user.authority.code, matrix_id=user.matrix_id)


def deadline(d: Deadline, user: User, now: datetime | None = None) -> DeadlineOut:
    now = now or utcnow()
    rule = rules().rules[d.rule_id]
    acting = d.request.requested_authority if rule.acts == "requested" else \
        d.request.requesting_authority
    if d.closed_at is not None:
        state = "closed"
    elif d.suspended_at is not None:
        state = "suspended"
    else:
        state = "overdue" if d.due_at <= now else "running"
    local = d.due_at.astimezone(ZoneInfo(acting.timezone))
    return DeadlineOut(
        id=d.id, request_id=d.request_id, reference=d.request.reference, rule=d.rule_id,
        timer=d.timer, titles=dict(rule.title), citation=rule.citation,
        trigger=rule.trigger, acting_authority=acting.code,
        opened_at=d.opened_at, due_at=d.due_at,
        due_local=f"{local.isoformat(timespec='minutes')} {acting.timezone}", status=state,
        closed_at=d.closed_at, extended_days=d.extended_days,
        # The supervisor's reason is case text (DESIGN.md §8): status roles see the days only.
        extension_reason=d.extension_reason if access.can_read_content(user) else None,
    )


def alert_notes_visible(user: User) -> bool:
    """Notes on alerts are the 24/7 desk's working record: the roles that act on alerts
    (contact point, supervisor) and the content roles read them; liaison and admin, who only
    follow where things stand, do not."""
    return access.can_read_content(user) or user.role in paging.ACK_ROLES


def alert(page: Page, user: User, notifications: list[Notification] | None = None) -> AlertOut:
    def name(who: User | None) -> str | None:
        return who.username if who else None

    return AlertOut(
        id=page.id, request_id=page.request_id, reference=page.request.reference,
        kind=page.request.kind, urgent=page.request.urgent, authority=page.authority.code,
        network=page.network, source=page.source, reason=page.reason, status=page.status,
        step=page.step_index + 1, round=page.repeat_round + 1,
        next_escalation_at=page.next_escalation_at, opened_at=page.opened_at,
        acknowledged_at=page.acknowledged_at, acknowledged_by=name(page.acknowledged_by),
        acknowledged_via=page.acknowledged_via, resolved_at=page.resolved_at,
        resolved_by=name(page.resolved_by),
        note=page.note if alert_notes_visible(user) else None,
        notifications=None if notifications is None else alert_notifications(notifications))


def alert_notifications(notifications: list[Notification]) -> list[NotificationOut]:
    return [NotificationOut(step=n.step_index + 1, round=n.round + 1, recipient=n.recipient,
                            channel=n.channel, status=n.status, attempts=n.attempts,
                            sent_at=n.sent_at, next_attempt_at=n.next_attempt_at,
                            last_error=n.last_error, delivery_status=n.delivery_status,
                            delivery_reported_at=n.delivery_reported_at)
            for n in notifications]


def transfer_message(m: Message, user: User) -> TransferMessageOut:
    """Delivery state is status; the last error quotes the other instance's answer, which
    may describe the case's content, so status roles see that an attempt failed, not why."""
    out = TransferMessageOut(**vars(m))
    if not access.can_read_content(user):
        out.last_error = None
    return out


# Audit detail members that quote case text (reasons, file names, the other side's
# reference, errors that may echo content); what a transition carried besides its event and
# states (reason, refusal grounds, data) counts as such too.
_CASE_TEXT_KEYS = frozenset({"reason", "note", "filename", "their_reference", "error",
                             "errors", "grounds", "data"})
_TRANSITION_STATUS_KEYS = frozenset({"event", "from", "to"})


def audit_event(row: AuditEvent) -> AuditEventOut:
    """The audit trail is read by admins, a status role: what happened, when, by whom, to
    which object, without the case text some entries quote. `entry_hash` and `hash` still
    cover the stored entry; `mla audit verify` checks them on the database."""
    detail = row.detail
    withheld: list[str] = []
    if isinstance(detail, dict):
        keep = (_TRANSITION_STATUS_KEYS.__contains__ if row.action == "request.transition"
                else lambda key: key not in _CASE_TEXT_KEYS)
        withheld = sorted(k for k in detail if not keep(k))
        detail = {k: v for k, v in detail.items() if keep(k)}
    return AuditEventOut(id=row.id, at=row.at, actor_id=row.actor_id,
                         authority_id=row.authority_id, action=row.action,
                         object_type=row.object_type, object_id=row.object_id, detail=detail,
                         withheld=withheld, entry_hash=row.entry_hash, hash=row.hash)
