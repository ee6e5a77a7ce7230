"""ORM objects to response bodies, by what the user may see."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.schemas.common import AuthorityRef
from api.schemas.deadlines import DeadlineOut
from api.schemas.requests import HistoryOut, HistoryStatusOut, RequestOut, RequestSummary, StatusOut
from api.schemas.users import UserOut
from mla import access
from mla.clock import utcnow
from mla.deadlines.rules import rules
from mla.models import Authority, Deadline, HistoryEvent, Request, RequestText, User
from mla.requests import lifecycle


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
                   authority=user.authority.code)


def deadline(d: Deadline, now: datetime | None = None) -> DeadlineOut:
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
        timer=d.timer, citation=rule.citation, acting_authority=acting.code,
        opened_at=d.opened_at, due_at=d.due_at,
        due_local=f"{local.isoformat(timespec='minutes')} {acting.timezone}", status=state,
        closed_at=d.closed_at, extended_days=d.extended_days,
        extension_reason=d.extension_reason,
    )
