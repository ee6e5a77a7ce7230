"""Cases: create, read, edit, file requests in them. A case is its authority's alone: a user
of any other authority gets NotFound for it, whatever their role; at the owning authority
only the roles that read content (officer, supervisor) see it."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mla import access, audit
from mla.clock import utcnow
from mla.errors import Conflict, FieldProblem, InvalidInput, NotFound
from mla.models import Case, CaseRequest, Request, User


def _check(field: str, value: str | None, limit: int, problems: list[FieldProblem],
           *, required: bool = True) -> str | None:
    value = value.strip() if isinstance(value, str) else value
    if not value:
        if required:
            problems.append(FieldProblem(field, "required"))
        return None
    if len(value) > limit:
        problems.append(FieldProblem(field, f"at most {limit} characters"))
    return value


def _officers(session: Session, user: User, ids: list[int] | None,
              problems: list[FieldProblem]) -> list[int]:
    ids = list(dict.fromkeys(ids or []))
    if not ids:
        return []
    found = set(session.scalars(select(User.id).where(
        User.id.in_(ids), User.authority_id == user.authority_id,
        User.role.in_(access.CONTENT_ROLES))))
    for i, officer in enumerate(ids):
        if officer not in found:
            problems.append(FieldProblem(f"officers.{i}",
                                         "not an officer or supervisor of your authority"))
    return ids


def create_case(session: Session, user: User, *, reference: str, title: str,
                description: str | None = None, officers: list[int] | None = None) -> Case:
    """The caller commits."""
    access.require_content(user)
    problems: list[FieldProblem] = []
    ref = _check("reference", reference, Case.reference.type.length, problems)
    name = _check("title", title, Case.title.type.length, problems)
    text = _check("description", description, 20000, problems, required=False)
    chosen = _officers(session, user, officers if officers is not None else [user.id],
                       problems)
    if ref and session.scalar(select(Case.id).where(Case.authority_id == user.authority_id,
                                                    Case.reference == ref)):
        problems.append(FieldProblem("reference", "your authority already has a case with "
                                     "this reference"))
    if problems:
        raise InvalidInput("the case cannot be opened as given", problems)
    now = utcnow()
    case = Case(authority_id=user.authority_id, reference=ref, title=name, description=text,
                officers=chosen, created_by_id=user.id, created_at=now, updated_at=now)
    session.add(case)
    session.flush()
    audit.record(session, "case.create", actor=user, object_type="case",
                 object_id=str(case.id), detail={"reference": ref})
    return case


def get_case(session: Session, case_id: Any, user: User) -> Case:
    """NotFound for another authority's case (checked first), Forbidden for a status-only
    role of the owning authority."""
    case = session.get(Case, case_id)
    if case is None or case.authority_id != user.authority_id:
        raise NotFound(f"no case {case_id}")
    access.require_content(user)
    return case


def update_case(session: Session, case: Case, user: User, *, reference: str | None = None,
                title: str | None = None, description: str | None = None,
                officers: list[int] | None = None, closed: bool | None = None,
                expected_version: int | None = None) -> Case:
    """Change what is given (None: unchanged); `closed` closes or reopens the case. With
    `expected_version`, Conflict when someone changed the case since it was read."""
    if expected_version is not None and expected_version != case.version:
        raise Conflict(f"case {case.reference} was changed by someone else (now version "
                       f"{case.version}); reload it and make your change again",
                       current_version=case.version)
    problems: list[FieldProblem] = []
    # Every value checked before any is set: a query below would flush a half-made change.
    changes: dict[str, Any] = {}
    if reference is not None:
        ref = _check("reference", reference, Case.reference.type.length, problems)
        if ref and ref != case.reference and session.scalar(select(Case.id).where(
                Case.authority_id == case.authority_id, Case.reference == ref)):
            problems.append(FieldProblem("reference", "your authority already has a case "
                                         "with this reference"))
        changes["reference"] = ref or case.reference
    if title is not None:
        changes["title"] = _check("title", title, Case.title.type.length, problems) \
            or case.title
    if description is not None:
        changes["description"] = _check("description", description, 20000, problems,
                                         required=False)
    if officers is not None:
        changes["officers"] = _officers(session, user, officers, problems)
    if problems:
        raise InvalidInput("the case cannot be changed as given", problems)
    for key, value in changes.items():
        setattr(case, key, value)
    if closed is not None:
        case.closed_at = (case.closed_at or utcnow()) if closed else None
    case.updated_at = utcnow()
    audit.record(session, "case.update", actor=user, object_type="case",
                 object_id=str(case.id),
                 detail={"closed": closed} if closed is not None else None)
    return case


def list_cases(session: Session, user: User, *, open_only: bool = False) -> list[Case]:
    access.require_content(user)
    query = select(Case).where(Case.authority_id == user.authority_id)
    if open_only:
        query = query.where(Case.closed_at.is_(None))
    return list(session.scalars(query.order_by(Case.updated_at.desc(), Case.id)))


def request_counts(session: Session, cases: list[Case]) -> dict[uuid.UUID, int]:
    if not cases:
        return {}
    return dict(session.execute(
        select(CaseRequest.case_id, func.count()).where(
            CaseRequest.case_id.in_([c.id for c in cases])).group_by(CaseRequest.case_id)
    ).all())


def add_request(session: Session, case: Case, user: User, request_id: Any) -> Request:
    """File a request (outgoing or incoming, one the user's authority is a party to) in the
    case; a request is in at most one case of each authority."""
    request = access.get_request(session, request_id, user)
    taken = session.scalar(select(CaseRequest.case_id).where(
        CaseRequest.authority_id == user.authority_id, CaseRequest.request_id == request.id))
    if taken == case.id:
        return request
    if taken is not None:
        raise Conflict(f"request {request.reference} is already in another case of your "
                       "authority; remove it there first")
    try:
        with session.begin_nested():
            session.add(CaseRequest(case_id=case.id, request_id=request.id,
                                    authority_id=user.authority_id, added_by_id=user.id,
                                    added_at=utcnow()))
    except IntegrityError:
        raise Conflict(f"request {request.reference} was just filed in a case") from None
    case.updated_at = utcnow()
    audit.record(session, "case.add_request", actor=user, object_type="case",
                 object_id=str(case.id), detail={"request": str(request.id)})
    return request


def remove_request(session: Session, case: Case, user: User, request_id: Any) -> None:
    request = access.get_request(session, request_id, user)
    gone = session.execute(delete(CaseRequest).where(
        CaseRequest.case_id == case.id, CaseRequest.request_id == request.id))
    if not gone.rowcount:
        raise NotFound(f"request {request_id} is not in this case")
    case.updated_at = utcnow()
    audit.record(session, "case.remove_request", actor=user, object_type="case",
                 object_id=str(case.id), detail={"request": str(request.id)})


def requests_of(session: Session, case: Case) -> list[Request]:
    """The case's requests, oldest first (a request stays visible to the authority that
    filed it in the case: it is a party to it)."""
    return list(session.scalars(
        select(Request).join(CaseRequest, CaseRequest.request_id == Request.id)
        .where(CaseRequest.case_id == case.id)
        .order_by(Request.created_at, Request.id)))


def case_of(session: Session, request: Request, user: User) -> Case | None:
    """The user's authority's case holding the request, if any (none for status roles)."""
    if not access.can_read_content(user):
        return None
    return session.scalar(select(Case).join(CaseRequest, CaseRequest.case_id == Case.id)
                          .where(CaseRequest.request_id == request.id,
                                 CaseRequest.authority_id == user.authority_id))
