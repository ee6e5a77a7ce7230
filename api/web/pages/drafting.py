"""The template form: a new draft, an incoming request registered by hand, and editing a
draft until it is submitted for review."""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from starlette.datastructures import FormData

from api.deps import SessionDep
from api.web import forms
from api.web.pages import profiles
from api.web.pages.common import (
    LANGUAGES,
    add_rows,
    form_version,
    kind_label,
    my_offset,
    state_label,
    with_content,
)
from api.web.session import PREFIX, CheckedForm, ConsoleRoute, ConsoleUser, flash, page, redirect
from mla import access, audit, i18n, kinds, legal, templates
from mla.cases import intake, links
from mla.deadlines.rules import urgent_periods
from mla.errors import Conflict, DomainError, FieldProblem, InvalidInput
from mla.i18n import N_, _
from mla.models import Authority, User
from mla.models import Request as MlaRequest
from mla.requests import filing, lifecycle

router = APIRouter(prefix=PREFIX, include_in_schema=False, route_class=ConsoleRoute)

HEADER_TITLES = {"requested_authority": N_("Requested authority"),
                 "legal_basis": N_("Legal basis"), "title": N_("Short title"),
                 "language": N_("Language of the text"),
                 "requesting_authority": N_("Requesting authority"),
                 "counterpart_reference": N_("Their reference"),
                 "urgency_reasons": N_("Reasons for urgency")}
NEW_HEADER = ("requested_authority", "legal_basis", "title", "language", "follows", "link",
              "urgent", "urgency_reasons")
INCOMING_HEADER = ("requesting_authority", "counterpart_reference", "legal_basis", "title",
                   "language", "urgent", "urgency_reasons")


def _header_context(session: SessionDep, user: User, kind: str) -> dict[str, Any]:
    family = kinds.get(kind).family
    return {
        "kind_urgent": kinds.get(kind).urgent,
        "urgent_rules": urgent_periods(kind),
        "authorities": session.scalars(select(Authority).where(
            Authority.id != user.authority_id).order_by(Authority.code)).all(),
        "bases": [b for b in legal.all_bases().values() if family in b.families],
        "languages": sorted(LANGUAGES.items(), key=lambda item: item[1]),
    }


def _form_page(request: Request, session: SessionDep, user: User, *, kind: str,
               version: int, data: dict[str, Any], header: dict[str, Any],
               problems: list[FieldProblem], row: MlaRequest | None = None,
               extra_rows: list[str] | None = None, status_code: int = 200,
               message: str | None = None, incoming: bool = False) -> Response:
    spec = templates.get(kind, version)
    tree = forms.build(spec.root, data, extra_rows=extra_rows or [],
                       default_offset=my_offset(user))
    rest = forms.attach_errors(tree, problems)
    names = forms.titles(tree) | {k: _(v) for k, v in HEADER_TITLES.items()}
    summary = []
    for p in problems:
        parts = p.path.split(".")
        while len(parts) > 1 and ".".join(parts) not in names:
            parts.pop()  # a problem inside a field shows under the nearest one named
        near = ".".join(parts)
        anchor = forms.html_id(near) if near.startswith(forms.ROOT) else f"h-{near}"
        where = names.get(near, p.path)
        inner = p.path[len(near) + 1:] if p.path != near else ""
        summary.append((anchor, where + (f" ({inner})" if inner else ""), i18n.problem(p)))
    # The requested State's requirements the draft does not meet yet (mla/profiles/checks).
    findings = profiles.draft_findings(session, row) if row is not None else []
    ctx = {"kind": kind, "kind_label": kind_label(kind),
           "title": i18n.localized(spec.title) or kind,
           "version": version, "tree": tree, "header": header, "header_errors": rest,
           "summary": summary, "row": row, "nav": "new", "message": message,
           "incoming": incoming, "findings": findings, **_header_context(session, user, kind)}
    return page(request, "form.html", ctx, status_code=status_code)


@router.get("/new", response_class=HTMLResponse)
def choose_kind(request: Request, user: ConsoleUser) -> Response:
    access.require_content(user)
    return page(request, "new.html", {"kinds": [(k, i18n.localized(templates.get(k).title) or k,
                                                 kinds.get(k)) for k in templates.kinds()],
                                      "nav": "new"})


@router.get("/new/{kind}", response_class=HTMLResponse)
def new_form(request: Request, kind: str, session: SessionDep, user: ConsoleUser,
             legal_basis: str = "", requested_authority: str = "",
             follows: uuid.UUID | None = None,
             link: Annotated[str, Query(max_length=40)] = "") -> Response:
    """`?legal_basis=eio_2014_41` opens the official form of that instrument (EIO Annex A,
    EAW, EPOC, EPOC-PR) with the basis chosen; `?requested_authority=` is the authority the
    competent-authority finder proposed (console page profiles).
    `?follows=<request>&link=<kind of link>` starts the request that follows another (the
    formal extradition request after the provisional arrest): same parties, basis and
    language, the fields they share filled in, and the link made when it is saved."""
    _filing_role(user)
    _known_kind(kind)
    header = dict.fromkeys(NEW_HEADER, "") | {"language": "en", "legal_basis": legal_basis,
                                              "requested_authority": requested_authority}
    data: dict[str, Any] = {}
    if follows is not None:
        source = with_content(session, follows, user)
        header |= {"requested_authority": source.requested_authority.code
                   if source.requesting_authority_id == user.authority_id
                   else source.requesting_authority.code,
                   "legal_basis": legal_basis or source.legal_basis,
                   "title": source.title, "language": source.language,
                   "follows": str(source.id), "link": link,
                   "follows_reference": source.reference}
        data = filing.follow_up_draft(source, kind)
    return _form_page(request, session, user, kind=kind,
                      version=templates.latest_version(kind, header["legal_basis"] or None),
                      data=data, header=header, problems=[])


@router.post("/new/{kind}", response_class=HTMLResponse)
def file_new(request: Request, kind: str, form: CheckedForm, session: SessionDep,
             user: ConsoleUser) -> Response:
    row = _file_from_form(request, session, user, kind, form, incoming=False)
    if isinstance(row, Response):
        return row
    if str(form.get("action")) == "submit":
        return _submit(request, session, row, user)
    flash(request, _("Draft {reference} saved.", reference=row.reference))
    return redirect(f"{PREFIX}/requests/{row.id}/edit")


@router.get("/incoming/{kind}", response_class=HTMLResponse)
def incoming_form(request: Request, kind: str, session: SessionDep,
                  user: ConsoleUser, legal_basis: str = "") -> Response:
    _filing_role(user)
    _known_kind(kind)
    header = dict.fromkeys(INCOMING_HEADER, "") | {"language": "en", "legal_basis": legal_basis}
    return _form_page(request, session, user, kind=kind,
                      version=templates.latest_version(kind, legal_basis or None),
                      data={}, header=header, problems=[], incoming=True)


@router.post("/incoming/{kind}", response_class=HTMLResponse)
def register_incoming(request: Request, kind: str, form: CheckedForm, session: SessionDep,
                      user: ConsoleUser) -> Response:
    """A request that reached us on paper or by e-mail: recorded as received, which starts
    the requested side's lifecycle and clocks (and pages our 24/7 point if urgent)."""
    row = _file_from_form(request, session, user, kind, form, incoming=True)
    if isinstance(row, Response):
        return row
    flash(request, _("Registered {reference} (their reference {theirs}) as received.",
                     reference=row.reference, theirs=row.counterpart_reference))
    return redirect(f"{PREFIX}/requests/{row.id}")


def _request_id(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise InvalidInput("the request this one follows is not a request id", [
            FieldProblem("follows", "open the form again from the earlier request")]) from None


def _file_from_form(request: Request, session: SessionDep, user: User, kind: str,
                    form: FormData, *, incoming: bool) -> MlaRequest | Response:
    """The new request (a draft we send, or one we received), or the form again: with a
    row added, or with what is wrong."""
    _filing_role(user)
    _known_kind(kind)
    header = {k: str(form.get(k) or "").strip() for k in
              (INCOMING_HEADER if incoming else NEW_HEADER)}
    # The legal basis picks the version: an EU instrument's official form, or the universal
    # template (a form filled on the other shows again on the right one, values kept).
    version = templates.latest_version(kind, header.get("legal_basis") or None)
    data = forms.parse(templates.get(kind, version).root, form)

    def again(**kw: Any) -> Response:
        return _form_page(request, session, user, kind=kind, version=version, data=data,
                          header=header, incoming=incoming, **kw)

    if add_rows(form):
        return again(problems=[], extra_rows=add_rows(form))
    other = "requesting_authority" if incoming else "requested_authority"
    party = session.scalar(select(Authority).where(Authority.code == header[other]))
    try:
        if party is None:
            raise InvalidInput("choose the other authority", [FieldProblem(
                other, "choose the authority that sent the request" if incoming
                else "choose the requested authority")])
        common = {"kind": kind, "legal_basis": header["legal_basis"],
                  "title": header["title"], "language": header["language"], "data": data,
                  "urgent": header["urgent"] == "true",
                  "urgency_reasons": header["urgency_reasons"] or None}
        row = (filing.register_incoming(session, user, requesting_authority_id=party.id,
                                        counterpart_reference=header["counterpart_reference"],
                                        **common) if incoming
               else filing.file_request(session, user, requested_authority_id=party.id,
                                        **common))
        if header.get("follows"):
            # In the same transaction: a request saved without the link it was started
            # for would have to be found and linked by hand.
            links.create_link(session, user, from_request_id=_request_id(header["follows"]),
                              to_request_id=row.id, kind=header["link"])
        session.commit()
    except InvalidInput as exc:
        session.rollback()
        return again(problems=exc.problems, status_code=422,
                     message=f"The request was not {'registered' if incoming else 'saved'}: "
                             "correct the fields marked below.")
    return row


@router.get("/requests/{request_id}/edit", response_class=HTMLResponse)
def edit_form(request: Request, request_id: uuid.UUID, session: SessionDep, user: ConsoleUser,
              check: bool = False) -> Response:
    row = _draft(session, request_id, user)
    # The draft's whole form, as the request page shows it to content roles.
    audit.record(session, "request.read", actor=user, object_type="request",
                 object_id=str(row.id), detail={"via": "console", "page": "edit"})
    session.commit()
    problems = []
    message = None
    if check:
        problems = [replace(p, path=f"data.{p.path}") for p in
                    templates.validate(row.kind, row.data, row.template_version)]
        if problems:
            message = _("Draft {reference} is saved, but it cannot be submitted for review "
                        "until the {count} problem(s) below are fixed.",
                        reference=row.reference, count=len(problems))
    return _form_page(request, session, user, kind=row.kind, version=row.template_version,
                      data=row.data, header=_header_of(row), problems=problems, row=row,
                      status_code=422 if problems else 200, message=message)


@router.post("/requests/{request_id}/edit", response_class=HTMLResponse)
def save_draft(request: Request, request_id: uuid.UUID, form: CheckedForm, session: SessionDep,
               user: ConsoleUser) -> Response:
    row = _draft(session, request_id, user)
    data = forms.parse(templates.get(row.kind, row.template_version).root, form)
    if add_rows(form):
        return _form_page(request, session, user, kind=row.kind, version=row.template_version,
                          data=data, header=_header_of(row), problems=[], row=row,
                          extra_rows=add_rows(form))
    version = str(form.get("version") or "")
    try:
        filing.update_draft(session, row, user, data=data,
                            expected_version=form_version(version))
        intake.form_changed(session, row, user)
        session.commit()
    except (InvalidInput, Conflict) as exc:
        session.rollback()
        row = _draft(session, request_id, user)
        return _form_page(request, session, user, kind=row.kind, version=row.template_version,
                          data=data, header=_header_of(row),
                          problems=getattr(exc, "problems", []), row=row,
                          status_code=409 if isinstance(exc, Conflict) else 422,
                          message=("Someone else changed this draft; your text is below, "
                                   "the saved version has moved on: " + exc.detail)
                          if isinstance(exc, Conflict) else
                          "The draft was not saved: correct the fields marked below.")
    if str(form.get("action")) == "submit":
        return _submit(request, session, row, user)
    flash(request, _("Draft {reference} saved.", reference=row.reference))
    return redirect(f"{PREFIX}/requests/{row.id}/edit")


def _submit(request: Request, session: SessionDep, row: MlaRequest, user: User) -> Response:
    # Reviewers get complete forms: the console checks what transmission will require, now,
    # while the drafter can still fix it field by field.
    if templates.validate(row.kind, row.data, row.template_version):
        return redirect(f"{PREFIX}/requests/{row.id}/edit?check=true")
    try:
        lifecycle.transition(session, row, "submit", user)
        session.commit()
    except DomainError as exc:
        session.rollback()
        flash(request, _("Saved, but not submitted: {detail}", detail=exc.detail))
        return redirect(f"{PREFIX}/requests/{row.id}")
    flash(request, _("{reference} submitted for review.", reference=row.reference))
    return redirect(f"{PREFIX}/requests/{row.id}")


def _draft(session: SessionDep, request_id: uuid.UUID, user: User) -> MlaRequest:
    row = with_content(session, request_id, user)
    if lifecycle.acting_party(row, user) != "requesting" or user.role not in \
            filing.FILING_ROLES:
        from mla.errors import Forbidden

        raise Forbidden("only officers of the requesting authority edit the draft")
    if row.state != "draft":
        raise Conflict(f"request {row.reference} is {state_label(row.workflow, row.state)}; "
                       f"only drafts are edited")
    return row


def _header_of(row: MlaRequest) -> dict[str, Any]:
    return {"requested_authority": row.requested_authority.code,
            "legal_basis": row.legal_basis, "title": row.title, "language": row.language}


def _filing_role(user: User) -> None:
    if user.role not in filing.FILING_ROLES:
        from mla.errors import Forbidden

        raise Forbidden(f"filing a request needs the role officer or supervisor; you are "
                        f"{user.role}")


def _known_kind(kind: str) -> None:
    if kind not in templates.kinds():
        from mla.errors import NotFound

        raise NotFound(f"no template for kind '{kind}'")
