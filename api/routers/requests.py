"""Requests: file from a template, list, read, edit the draft, fire events, history,
translations (the document: api/routers/documents.py). Officers and supervisors see content;
other roles get the status projection."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status

from api import projections
from api.deps import IfMatchDep, SessionDep, UserDep
from api.problems import PROBLEM_RESPONSES
from api.schemas.requests import (
    FileRequestIn,
    HistoryOut,
    HistoryStatusOut,
    IncomingIn,
    RequestOut,
    RequestPage,
    StatusOut,
    TransitionIn,
    TransitionOut,
    TranslationIn,
    UpdateDraftIn,
)
from mla import access, audit
from mla.cases import intake
from mla.deadlines import service as deadlines
from mla.directory import service as directory
from mla.errors import FieldProblem, InvalidInput, NotFound
from mla.requests import filing, lifecycle, listing, translations

router = APIRouter(prefix="/requests", tags=["requests"], responses=PROBLEM_RESPONSES)

def _etag(response: Response, version: int) -> None:
    response.headers["ETag"] = f'"{version}"'


@router.get("", response_model=RequestPage)
def list_requests(
    session: SessionDep,
    user: UserDep,
    kind: str | None = None,
    state: str | None = None,
    counterpart: Annotated[str | None, Query(description="Code of the other authority")] = None,
    side: Annotated[str | None, Query(pattern="^(requesting|requested)$",
                                      description="My authority's side")] = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=listing.MAX_LIMIT)] = 50,
) -> RequestPage:
    """Requests my authority is a party to, newest first. Authorization: any role."""
    page = listing.list_requests(session, user, kind=kind, state=state, counterpart=counterpart,
                                 side=side, cursor=cursor, limit=limit)
    return RequestPage(items=[projections.summary(r, user) for r in page.items],
                       next_cursor=page.next_cursor)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=RequestOut)
def file_request(body: FileRequestIn, session: SessionDep, user: UserDep,
                 response: Response) -> RequestOut:
    """File a draft from a template. Authorization: officer or supervisor."""
    requested = _authority(session, body.requested_authority, "requested_authority")
    request = filing.file_request(
        session, user, kind=body.kind, requested_authority_id=requested.id,
        legal_basis=body.legal_basis, title=body.title, language=body.language, data=body.data,
        urgent=body.urgent, urgency_reasons=body.urgency_reasons,
    )
    session.commit()
    response.headers["Location"] = f"/requests/{request.id}"
    _etag(response, request.version)
    return projections.full(session, request, user)


@router.post("/incoming", status_code=status.HTTP_201_CREATED, response_model=RequestOut)
def register_incoming(body: IncomingIn, session: SessionDep, user: UserDep,
                      response: Response) -> RequestOut:
    """Register a request received outside the system (paper, e-mail). Authorization: officer
    or supervisor of the requested authority."""
    requesting = _authority(session, body.requesting_authority, "requesting_authority")
    request = filing.register_incoming(
        session, user, kind=body.kind, requesting_authority_id=requesting.id,
        counterpart_reference=body.counterpart_reference, legal_basis=body.legal_basis,
        title=body.title, language=body.language, data=body.data, urgent=body.urgent,
        urgency_reasons=body.urgency_reasons,
    )
    session.commit()
    response.headers["Location"] = f"/requests/{request.id}"
    _etag(response, request.version)
    return projections.full(session, request, user)


@router.get("/{request_id}", response_model=RequestOut | StatusOut)
def get_request(request_id: uuid.UUID, session: SessionDep, user: UserDep,
                response: Response) -> Any:
    """The request; liaison, contact point and admin roles get the status projection.
    Authorization: a user of either party."""
    request = access.get_request(session, request_id, user)
    _etag(response, request.version)
    clocks = [projections.deadline(d, user) for d in deadlines.for_request(session, request)]
    if not access.can_read_content(user):
        return projections.status(request).model_copy(update={"deadlines": clocks})
    audit.record(session, "request.read", actor=user, object_type="request",
                 object_id=str(request.id))
    out = projections.full(session, request, user).model_copy(update={"deadlines": clocks})
    session.commit()
    return out


@router.patch("/{request_id}", response_model=RequestOut)
def update_draft(request_id: uuid.UUID, body: UpdateDraftIn, session: SessionDep,
                 user: UserDep, expected: IfMatchDep, response: Response) -> RequestOut:
    """Replace the form of a draft. Send `If-Match: "<version>"`. Authorization: officer or
    supervisor of the requesting authority."""
    request = access.get_request(session, request_id, user)
    filing.update_draft(session, request, user, data=body.data, expected_version=expected)
    intake.form_changed(session, request, user)
    session.commit()
    _etag(response, request.version)
    return projections.full(session, request, user)


@router.post("/{request_id}/transitions", response_model=TransitionOut)
def fire_event(request_id: uuid.UUID, body: TransitionIn, session: SessionDep,
               user: UserDep, expected: IfMatchDep, response: Response) -> TransitionOut:
    """Fire a workflow event (see `allowed_events`). Send `If-Match: "<version>"` to be sure
    nobody changed the request since you read it. Authorization: the party and role the
    workflow names for the event."""
    request = access.get_request(session, request_id, user)
    data = body.model_dump(mode="json", exclude={"event"}, exclude_none=True)
    result = lifecycle.transition(session, request, body.event, user, expected_version=expected,
                                  **data)
    session.commit()
    _etag(response, result.version)
    return TransitionOut(reference=request.reference, event=result.event,
                         from_state=result.from_state, to_state=result.to_state,
                         version=result.version,
                         allowed_events=lifecycle.allowed_events(request, user))


@router.get("/{request_id}/history",
            response_model=list[HistoryOut] | list[HistoryStatusOut])
def history(request_id: uuid.UUID, session: SessionDep, user: UserDep) -> Any:
    """Every state change, oldest first; actors and reasons for content roles only.
    Authorization: a user of either party."""
    request = access.get_request(session, request_id, user)
    events = [projections.history(e, user) for e in lifecycle.history(session, request)]
    if access.can_read_content(user):
        # Who acted and the reasons they gave are the case's content.
        audit.record(session, "request.read_history", actor=user, object_type="request",
                     object_id=str(request.id))
        session.commit()
    return events


@router.get("/{request_id}/translations", response_model=dict[str, dict[str, Any]])
def list_translations(request_id: uuid.UUID, session: SessionDep,
                      user: UserDep) -> dict[str, dict[str, Any]]:
    """The free text in every language it exists in. Authorization: officer or supervisor of
    a party."""
    request = access.get_request(session, request_id, user)
    access.require_content(user)
    audit.record(session, "request.read_translations", actor=user, object_type="request",
                 object_id=str(request.id))
    texts = translations.texts(session, request)
    session.commit()
    return texts


@router.put("/{request_id}/translations/{language}", status_code=status.HTTP_204_NO_CONTENT)
def put_translation(request_id: uuid.UUID, language: str, body: TranslationIn,
                    session: SessionDep, user: UserDep) -> Response:
    """Store the translation of the free-text fields into `language`. Authorization: officer
    or supervisor of the requesting authority, before transmission."""
    request = access.get_request(session, request_id, user)
    translations.put_translation(session, request, user, language=language, data=body.data)
    session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _authority(session: SessionDep, code: str, field: str) -> Any:
    try:
        return directory.authority_by_code(session, code)
    except NotFound:
        raise InvalidInput(f"unknown authority '{code}'",
                           [FieldProblem(field, "no authority with this code")]) from None
