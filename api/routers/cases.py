"""Cases (dossiers) of my authority, the requests they group, links between requests, and
the persons of a case. A case exists only for its own authority: any user of another one
gets 404, status-only roles of the owner 403."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Path, Response, status
from fastapi.responses import PlainTextResponse

from api import projections
from api.deps import IfMatchDep, SessionDep, UserDep
from api.problems import PROBLEM_RESPONSES
from api.schemas.cases import (
    CaseIn,
    CaseOut,
    CaseRequestIn,
    CaseSummary,
    CaseUpdateIn,
    DuplicateOut,
    LinkIn,
    LinkKindOut,
    LinkOut,
    PersonIn,
    PersonOut,
    PersonUpdateIn,
    StateOfPlayRow,
    TimelineEntry,
)
from mla import access, audit
from mla.cases import intake, links, persons, service, state_of_play, timeline
from mla.models import Case, Person, RequestLink, User

router = APIRouter(tags=["cases"], responses=PROBLEM_RESPONSES)
LinkId = Annotated[int, Path(ge=1, le=2**63 - 1)]


def _summary(case: Case, count: int) -> CaseSummary:
    return CaseSummary(id=case.id, reference=case.reference, title=case.title,
                       officers=case.officers, requests=count, created_at=case.created_at,
                       updated_at=case.updated_at, closed_at=case.closed_at,
                       version=case.version)


def _link(link: RequestLink, references: dict[uuid.UUID, str]) -> LinkOut:
    return LinkOut(id=link.id, kind=link.kind, label=links.kinds()[link.kind].label,
                   from_request=link.from_request_id,
                   from_reference=references[link.from_request_id],
                   to_request=link.to_request_id, to_reference=references[link.to_request_id],
                   note=link.note, created_at=link.created_at)


def _person(session: Any, person: Person, *, with_duplicates: bool = False) -> PersonOut:
    out = PersonOut(id=person.id, case_id=person.case_id, name=person.name,
                    name_latin=person.name_latin, date_of_birth=person.date_of_birth,
                    nationality=person.nationality, identifiers=person.identifiers,
                    request_ids=person.request_ids, created_at=person.created_at)
    if with_duplicates:
        out.duplicates = [DuplicateOut(person_id=d.person.id, name=d.person.name,
                                       name_latin=d.person.name_latin, case_id=d.case.id,
                                       case_reference=d.case.reference, score=d.score)
                          for d in persons.duplicates(session, person)]
    return out


def _case_out(session: Any, case: Case, user: User) -> CaseOut:
    requests = service.requests_of(session, case)
    joined = links.links_among(session, user, [r.id for r in requests])
    references = {r.id: r.reference for r in requests}
    missing = {i for link in joined for i in (link.from_request_id, link.to_request_id)
               } - set(references)
    for request_id in missing:
        references[request_id] = access.get_request(session, request_id, user).reference
    return CaseOut(**_summary(case, len(requests)).model_dump(), description=case.description,
                   items=[projections.summary(r, user) for r in requests],
                   links=[_link(link, references) for link in joined],
                   persons=[_person(session, p) for p in persons.persons_of(session, case)])


@router.get("/cases", response_model=list[CaseSummary])
def list_cases(session: SessionDep, user: UserDep, open_only: bool = False,
               request_id: uuid.UUID | None = None) -> list[CaseSummary]:
    """My authority's cases, last changed first; `request_id` gives the case holding that
    request. Authorization: officer or supervisor."""
    if request_id is not None:
        request = access.get_request(session, request_id, user)
        access.require_content(user)
        found = service.case_of(session, request, user)
        cases = [found] if found else []
    else:
        cases = service.list_cases(session, user, open_only=open_only)
    counts = service.request_counts(session, cases)
    return [_summary(c, counts.get(c.id, 0)) for c in cases]


@router.post("/cases", status_code=status.HTTP_201_CREATED, response_model=CaseOut)
def create_case(body: CaseIn, session: SessionDep, user: UserDep,
                response: Response) -> CaseOut:
    """Open a case. Authorization: officer or supervisor."""
    case = service.create_case(session, user, reference=body.reference, title=body.title,
                               description=body.description, officers=body.officers)
    session.commit()
    response.headers["Location"] = f"/cases/{case.id}"
    return _case_out(session, case, user)


@router.get("/cases/{case_id}", response_model=CaseOut)
def get_case(case_id: uuid.UUID, session: SessionDep, user: UserDep) -> CaseOut:
    """The case with its requests, links and persons. Authorization: officer or supervisor
    of the case's authority."""
    case = service.get_case(session, case_id, user)
    audit.record(session, "case.read", actor=user, object_type="case", object_id=str(case.id))
    out = _case_out(session, case, user)
    session.commit()
    return out


@router.patch("/cases/{case_id}", response_model=CaseOut)
def update_case(case_id: uuid.UUID, body: CaseUpdateIn, session: SessionDep,
                user: UserDep, expected: IfMatchDep, response: Response) -> CaseOut:
    """Change the reference, title, description, responsible officers, or close / reopen.
    Send `If-Match: "<version>"` (409 if the case changed since). Authorization: officer or
    supervisor of the case's authority."""
    case = service.get_case(session, case_id, user)
    service.update_case(session, case, user, reference=body.reference, title=body.title,
                        description=body.description, officers=body.officers,
                        closed=body.closed, expected_version=expected)
    session.commit()
    response.headers["ETag"] = f'"{case.version}"'
    return _case_out(session, case, user)


@router.post("/cases/{case_id}/requests", response_model=CaseOut)
def add_request(case_id: uuid.UUID, body: CaseRequestIn, session: SessionDep,
                user: UserDep) -> CaseOut:
    """File a request (sent or received) in the case. Authorization: officer or supervisor
    of the case's authority, which must be a party to the request."""
    case = service.get_case(session, case_id, user)
    intake.file_in_case(session, case, user, body.request_id)
    session.commit()
    return _case_out(session, case, user)


@router.delete("/cases/{case_id}/requests/{request_id}", status_code=204)
def remove_request(case_id: uuid.UUID, request_id: uuid.UUID, session: SessionDep,
                   user: UserDep) -> Response:
    """Take a request out of the case. Authorization: officer or supervisor of the case's
    authority."""
    case = service.get_case(session, case_id, user)
    service.remove_request(session, case, user, request_id)
    session.commit()
    return Response(status_code=204)


@router.get("/cases/{case_id}/timeline", response_model=list[TimelineEntry])
def case_timeline(case_id: uuid.UUID, session: SessionDep,
                  user: UserDep) -> list[TimelineEntry]:
    """Every state change of the case's requests and the links between them, oldest first.
    Authorization: officer or supervisor of the case's authority."""
    case = service.get_case(session, case_id, user)
    return [TimelineEntry(**vars(e)) for e in timeline.timeline(session, case, user)]


@router.get("/cases/{case_id}/state-of-play", response_model=list[StateOfPlayRow])
def case_state_of_play(case_id: uuid.UUID, session: SessionDep,
                       user: UserDep) -> list[StateOfPlayRow]:
    """Every request of the case with its state, next time limit and last event and
    message. Authorization: officer or supervisor of the case's authority."""
    case = service.get_case(session, case_id, user)
    out = [StateOfPlayRow(**vars(r)) for r in state_of_play.rows(session, case, user)]
    audit.record(session, "case.state_of_play", actor=user, object_type="case",
                 object_id=str(case.id))
    session.commit()
    return out


@router.get("/cases/{case_id}/state-of-play.csv", response_class=PlainTextResponse,
            responses={200: {"content": {"text/csv": {}}}})
def case_state_of_play_csv(case_id: uuid.UUID, session: SessionDep,
                           user: UserDep) -> Response:
    """The state of play as CSV (UTF-8, comma-separated, one header row). Authorization:
    officer or supervisor of the case's authority."""
    case = service.get_case(session, case_id, user)
    body = state_of_play.to_csv(state_of_play.rows(session, case, user))
    audit.record(session, "case.export", actor=user, object_type="case",
                 object_id=str(case.id))
    session.commit()
    name = "".join(c if c.isalnum() or c in "-_" else "_" for c in case.reference)
    return Response(body, media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="state-of-play-{name}.csv"'})


@router.post("/cases/{case_id}/persons", status_code=status.HTTP_201_CREATED,
             response_model=PersonOut)
def add_person(case_id: uuid.UUID, body: PersonIn, session: SessionDep,
               user: UserDep) -> PersonOut:
    """Record a person of the case once, naming the case's requests about them; the answer
    lists possible duplicates in my authority's other records. Authorization: officer or
    supervisor of the case's authority."""
    case = service.get_case(session, case_id, user)
    person = persons.add_person(
        session, case, user, name=body.name, name_latin=body.name_latin,
        date_of_birth=body.date_of_birth, nationality=body.nationality,
        identifiers=[i.model_dump() for i in body.identifiers],
        request_ids=[str(i) for i in body.request_ids])
    session.commit()
    return _person(session, person, with_duplicates=True)


@router.get("/persons/{person_id}", response_model=PersonOut)
def get_person(person_id: uuid.UUID, session: SessionDep, user: UserDep) -> PersonOut:
    """A person with the duplicates suggested for them. Authorization: officer or supervisor
    of the authority whose case holds the person."""
    person = persons.get_person(session, person_id, user)
    out = _person(session, person, with_duplicates=True)
    audit.record(session, "person.read", actor=user, object_type="person",
                 object_id=str(person.id))
    session.commit()
    return out


@router.patch("/persons/{person_id}", response_model=PersonOut)
def update_person(person_id: uuid.UUID, body: PersonUpdateIn, session: SessionDep,
                  user: UserDep) -> PersonOut:
    """Correct a person's names, date of birth, identifiers or requests. Authorization:
    officer or supervisor of the authority whose case holds the person."""
    person = persons.get_person(session, person_id, user)
    changes = body.model_dump(exclude_unset=True)
    if "identifiers" in changes and changes["identifiers"] is not None:
        changes["identifiers"] = [dict(i) for i in changes["identifiers"]]
    if changes.get("request_ids") is not None:
        changes["request_ids"] = [str(i) for i in changes["request_ids"]]
    persons.update_person(session, person, user, **changes)
    session.commit()
    return _person(session, person, with_duplicates=True)


@router.get("/links/kinds", response_model=list[LinkKindOut])
def link_kinds(user: UserDep) -> list[LinkKindOut]:
    """How requests can follow one another, with the text each comes from. Authorization:
    any role."""
    return [LinkKindOut(kind=k.name, label=k.label, source=k.source,
                        from_kinds=list(k.from_kinds) if k.from_kinds else None,
                        to_kinds=list(k.to_kinds) if k.to_kinds else None)
            for k in links.kinds().values()]


@router.get("/requests/{request_id}/links", response_model=list[LinkOut])
def request_links(request_id: uuid.UUID, session: SessionDep,
                  user: UserDep) -> list[LinkOut]:
    """My authority's links to and from the request. Authorization: officer or supervisor of
    either party (each sees only its own links)."""
    request = access.get_request(session, request_id, user)
    access.require_content(user)
    found = links.links_of(session, user, request)
    references = {request.id: request.reference} | {f.other.id: f.other.reference
                                                    for f in found}
    return [_link(f.link, references) for f in found]


@router.post("/requests/{request_id}/links", status_code=status.HTTP_201_CREATED,
             response_model=LinkOut)
def link_request(request_id: uuid.UUID, body: LinkIn, session: SessionDep,
                 user: UserDep) -> LinkOut:
    """Record that this request follows an earlier one (`follows`). Authorization: officer
    or supervisor of a party to both requests."""
    link = links.create_link(session, user, from_request_id=body.follows,
                             to_request_id=request_id, kind=body.kind, note=body.note)
    session.commit()
    references = {r.id: r.reference for r in (
        access.get_request(session, link.from_request_id, user),
        access.get_request(session, link.to_request_id, user))}
    return _link(link, references)


@router.delete("/links/{link_id}", status_code=204)
def unlink(link_id: LinkId, session: SessionDep, user: UserDep) -> Response:
    """Remove a link. Authorization: officer or supervisor of the authority that made it."""
    links.delete_link(session, user, link_id)
    session.commit()
    return Response(status_code=204)
