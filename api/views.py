"""ORM objects to response bodies, by what the user may see."""

from __future__ import annotations

from sqlalchemy.orm import Session

from api import schemas
from mla import access, lifecycle, translations
from mla.models import Authority, HistoryEvent, Request, User


def authority_ref(authority: Authority) -> schemas.AuthorityRef:
    return schemas.AuthorityRef(code=authority.code, name=authority.name,
                                country=authority.country)


def status(request: Request) -> schemas.StatusOut:
    return schemas.StatusOut(
        id=request.id, reference=request.reference, kind=request.kind,
        workflow=request.workflow, requesting=authority_ref(request.requesting_authority),
        requested=authority_ref(request.requested_authority), state=request.state,
        urgent=request.urgent, version=request.version, created_at=request.created_at,
        updated_at=request.updated_at,
    )


def full(session: Session, request: Request, user: User) -> schemas.RequestOut:
    return schemas.RequestOut(
        **status(request).model_dump(),
        counterpart_reference=request.counterpart_reference,
        legal_basis=request.legal_basis, title=request.title,
        template_version=request.template_version, language=request.language,
        languages=list(translations.texts(session, request)),
        data=request.data, allowed_events=lifecycle.allowed_events(request, user),
    )


def summary(request: Request, user: User) -> schemas.RequestSummary:
    return schemas.RequestSummary(
        **status(request).model_dump(),
        title=request.title if access.can_read_content(user) else None,
    )


def history(event: HistoryEvent, user: User) -> schemas.HistoryStatusOut:
    if not access.can_read_content(user):
        return schemas.HistoryStatusOut(at=event.at, event=event.event,
                                        from_state=event.from_state, to_state=event.to_state)
    return schemas.HistoryOut(at=event.at, event=event.event, from_state=event.from_state,
                              to_state=event.to_state,
                              actor=event.actor.username if event.actor else None,
                              reason=event.reason, data=event.data)


def user_out(user: User) -> schemas.UserOut:
    return schemas.UserOut(id=user.id, username=user.username, full_name=user.full_name,
                           email=user.email, role=user.role, active=user.active,
                           authority=user.authority.code)
