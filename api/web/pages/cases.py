"""Cases and the search box: the list of my authority's cases, one case (its requests'
state of play, timeline, persons and links), linking a request to an earlier one, and the
search results page. Same services and authorization as api/routers/cases.py and
api/routers/search.py."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.deps import SessionDep
from api.web.pages.common import kind_label, local, state_label, user_tz
from api.web.session import PREFIX, CheckedForm, ConsoleRoute, ConsoleUser, flash, page, redirect
from mla import access, audit
from mla.cases import intake, links, persons, service, state_of_play, timeline
from mla.errors import Conflict, FieldProblem, InvalidInput, NotFound
from mla.i18n import _
from mla.models import Case, User
from mla.models import Request as MlaRequest
from mla.search import query

router = APIRouter(prefix=PREFIX, include_in_schema=False, route_class=ConsoleRoute)


def request_case_context(session: Session, row: MlaRequest, user: User) -> dict[str, Any]:
    """What the request page shows of my authority's case and links (nothing for status
    roles: the case and the links are content)."""
    if not access.can_read_content(user):
        return {}
    return {"case": service.case_of(session, row, user),
            "links": links.links_of(session, user, row), "link_kinds": links.kinds()}


# --- search ---------------------------------------------------------------------------------


@router.get("/search", response_class=HTMLResponse)
def search_page(request: Request, session: SessionDep, user: ConsoleUser,
                q: str = "") -> Response:
    hits: list[query.Hit] = []
    problem = None
    if q.strip():
        try:
            hits = query.search(session, user, q)
        except InvalidInput as exc:
            problem = "; ".join(p.message for p in exc.problems)
    urls = {"request": f"{PREFIX}/requests/{{}}", "case": f"{PREFIX}/cases/{{}}",
            "person": f"{PREFIX}/persons/{{}}"}
    return page(request, "search.html", {
        "q": q, "problem": problem, "nav": "search",
        "hits": [{"h": h, "url": urls[h.object_type].format(h.object_id)} for h in hits]})


# --- cases ----------------------------------------------------------------------------------


@router.get("/cases", response_class=HTMLResponse)
def case_list(request: Request, session: SessionDep, user: ConsoleUser) -> Response:
    cases = service.list_cases(session, user)
    counts = service.request_counts(session, cases)
    tz = user_tz(user)
    return page(request, "cases.html", {
        "nav": "cases", "tz": tz,
        "rows": [{"c": c, "n": counts.get(c.id, 0), "updated": local(c.updated_at, tz)}
                 for c in cases]})


@router.post("/cases", response_class=HTMLResponse)
def open_case(request: Request, form: CheckedForm, session: SessionDep,
              user: ConsoleUser) -> Response:
    values = {k: str(form.get(k) or "") for k in ("reference", "title", "description")}
    try:
        case = service.create_case(session, user, reference=values["reference"],
                                   title=values["title"],
                                   description=values["description"] or None)
        session.commit()
    except InvalidInput as exc:
        session.rollback()
        cases = service.list_cases(session, user)
        return page(request, "cases.html", {
            "nav": "cases", "tz": user_tz(user), "values": values, "problems": exc.problems,
            "rows": [{"c": c, "n": 0, "updated": local(c.updated_at, user_tz(user))}
                     for c in cases]}, status_code=422)
    flash(request, _("Case {reference} opened.", reference=case.reference))
    return redirect(f"{PREFIX}/cases/{case.id}")


def _case_context(session: Session, case: Case, user: User) -> dict[str, Any]:
    tz = user_tz(user)
    table = state_of_play.rows(session, case, user)
    requests = {r.id: r for r in service.requests_of(session, case)}
    return {
        "case": case, "nav": "cases", "tz": tz,
        "rows": [{"r": row, "state": state_label(requests[row.request_id].workflow, row.state),
                  "kind": kind_label(row.kind), "due": local(row.next_deadline, tz),
                  "event_at": local(row.last_event_at, tz),
                  "message_at": local(row.last_message_at, tz)} for row in table],
        "timeline": [{"e": e, "at": local(e.at, tz)}
                     for e in timeline.timeline(session, case, user)],
        "persons": [{"p": p, "dups": persons.duplicates(session, p)}
                    for p in persons.persons_of(session, case)],
        "officers": list(session.scalars(select(User).where(User.id.in_(case.officers)))),
        # Who may be named responsible: the authority's officers and supervisors.
        "colleagues": list(session.scalars(select(User).where(
            User.authority_id == case.authority_id, User.role.in_(access.CONTENT_ROLES))
            .order_by(User.full_name, User.id))),
        "link_kinds": links.kinds(),
    }


@router.get("/cases/{case_id}", response_class=HTMLResponse)
def case_page(request: Request, case_id: uuid.UUID, session: SessionDep,
              user: ConsoleUser) -> Response:
    case = service.get_case(session, case_id, user)
    ctx = _case_context(session, case, user)
    audit.record(session, "case.read", actor=user, object_type="case", object_id=str(case.id),
                 detail={"via": "console"})
    session.commit()
    return page(request, "case.html", ctx)


@router.get("/cases/{case_id}/state-of-play.csv")
def case_csv(case_id: uuid.UUID, session: SessionDep, user: ConsoleUser) -> Response:
    case = service.get_case(session, case_id, user)
    body = state_of_play.to_csv(state_of_play.rows(session, case, user))
    audit.record(session, "case.export", actor=user, object_type="case",
                 object_id=str(case.id), detail={"via": "console"})
    session.commit()
    name = "".join(c if c.isalnum() or c in "-_" else "_" for c in case.reference)
    return Response(body, media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="state-of-play-{name}.csv"',
        "Cache-Control": "no-store"})


def _by_reference(session: Session, user: User, reference: str) -> MlaRequest:
    found = session.scalar(access.visible_requests(user).where(
        MlaRequest.reference == reference.strip()))
    if found is None:
        raise InvalidInput("no such request", [FieldProblem(
            "reference", "no request of your authority has this reference")])
    return found


def _case_error(request: Request, session: SessionDep, case_id: uuid.UUID, user: User,
                exc: InvalidInput | Conflict, values: dict[str, str]) -> Response:
    session.rollback()
    case = service.get_case(session, case_id, user)
    ctx = _case_context(session, case, user)
    ctx.update(error=exc.detail, problems=getattr(exc, "problems", []), values=values)
    return page(request, "case.html", ctx,
                status_code=409 if isinstance(exc, Conflict) else 422)


def _version(form: Any) -> int | None:
    raw = str(form.get("version") or "")
    return int(raw) if raw.isdigit() else None


@router.post("/cases/{case_id}/edit", response_class=HTMLResponse)
def case_edit(request: Request, case_id: uuid.UUID, form: CheckedForm, session: SessionDep,
              user: ConsoleUser) -> Response:
    """The case's reference, title, description and responsible officers, as read at
    `version` (409 with the current case when someone changed it meanwhile)."""
    case = service.get_case(session, case_id, user)
    values = {k: str(form.get(k) or "") for k in ("reference", "title", "description")}
    officers = [int(v) for v in form.getlist("officers") if str(v).isdigit()]
    try:
        service.update_case(session, case, user, reference=values["reference"],
                            title=values["title"], description=values["description"],
                            officers=officers, expected_version=_version(form))
        session.commit()
    except (InvalidInput, Conflict) as exc:
        return _case_error(request, session, case_id, user, exc, values | {"edit": "1"})
    flash(request, _("Case {reference} saved.", reference=case.reference))
    return redirect(f"{PREFIX}/cases/{case.id}")


@router.post("/cases/{case_id}/closure", response_class=HTMLResponse)
def case_closure(request: Request, case_id: uuid.UUID, form: CheckedForm,
                 session: SessionDep, user: ConsoleUser) -> Response:
    """Close the case (`closed=1`) or reopen it (`closed=0`)."""
    case = service.get_case(session, case_id, user)
    closing = str(form.get("closed") or "") == "1"
    try:
        service.update_case(session, case, user, closed=closing,
                            expected_version=_version(form))
        session.commit()
    except Conflict as exc:
        return _case_error(request, session, case_id, user, exc, {})
    flash(request, _("Case {reference} closed.", reference=case.reference) if closing
          else _("Case {reference} reopened.", reference=case.reference))
    return redirect(f"{PREFIX}/cases/{case.id}")


@router.post("/cases/{case_id}/requests", response_class=HTMLResponse)
def case_add_request(request: Request, case_id: uuid.UUID, form: CheckedForm,
                     session: SessionDep, user: ConsoleUser) -> Response:
    case = service.get_case(session, case_id, user)
    reference = str(form.get("reference") or "")
    try:
        row = _by_reference(session, user, reference)
        _filed, named = intake.file_in_case(session, case, user, row.id)
        session.commit()
    except (InvalidInput, Conflict) as exc:
        return _case_error(request, session, case_id, user, exc, {"reference": reference})
    flash(request, _("{reference} filed in case {case}.", reference=row.reference,
                     case=case.reference))
    if named:
        flash(request, _("Persons its form names, recorded in the case: {count}.",
                         count=len(named)))
    return redirect(f"{PREFIX}/cases/{case.id}")


@router.post("/cases/{case_id}/persons", response_class=HTMLResponse)
def case_add_person(request: Request, case_id: uuid.UUID, form: CheckedForm,
                    session: SessionDep, user: ConsoleUser) -> Response:
    case = service.get_case(session, case_id, user)
    values = {k: str(form.get(k) or "").strip()
              for k in ("name", "name_latin", "date_of_birth", "nationality", "identifier")}
    try:
        try:
            born = date.fromisoformat(values["date_of_birth"]) if values["date_of_birth"] \
                else None
        except ValueError:
            raise InvalidInput("bad date", [FieldProblem("date_of_birth", "YYYY-MM-DD")]
                               ) from None
        person = persons.add_person(
            session, case, user, name=values["name"], name_latin=values["name_latin"] or None,
            date_of_birth=born, nationality=values["nationality"].upper() or None,
            identifiers=[{"type": "", "value": values["identifier"]}]
            if values["identifier"] else [],
            request_ids=[str(r) for r in form.getlist("request_ids") if isinstance(r, str)])
        session.commit()
    except InvalidInput as exc:
        return _case_error(request, session, case_id, user, exc, values)
    flash(request, _("{name} recorded in case {case}.", name=person.name,
                     case=case.reference))
    return redirect(f"{PREFIX}/cases/{case.id}#persons")


@router.get("/persons/{person_id}", response_class=HTMLResponse)
def person_page(person_id: uuid.UUID, session: SessionDep, user: ConsoleUser) -> Response:
    person = persons.get_person(session, person_id, user)
    return redirect(f"{PREFIX}/cases/{person.case_id}#person-{person.id}")


@router.post("/requests/{request_id}/links", response_class=HTMLResponse)
def link_request(request: Request, request_id: uuid.UUID, form: CheckedForm,
                 session: SessionDep, user: ConsoleUser) -> Response:
    later = access.get_request(session, request_id, user)
    access.require_content(user)
    kind = str(form.get("kind") or "")
    reference = str(form.get("follows") or "")
    try:
        earlier = _by_reference(session, user, reference)
        links.create_link(session, user, from_request_id=earlier.id, to_request_id=later.id,
                          kind=kind, note=str(form.get("note") or "") or None)
        session.commit()
        flash(request, _("{later} now follows {earlier}.", later=later.reference,
                         earlier=earlier.reference))
    except (InvalidInput, Conflict, NotFound) as exc:
        session.rollback()
        problems = "; ".join(f"{p.path}: {p.message}" for p in getattr(exc, "problems", []))
        flash(request, _("Not linked: {detail}", detail=exc.detail)
              + (" — " + problems if problems else ""))
    return redirect(f"{PREFIX}/requests/{later.id}#links")
