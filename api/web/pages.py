"""Console pages. Like the API routers, they only translate HTTP: every read and write goes
through the domain (`mla.access`, `filing`, `lifecycle`, `deadlines`, `documents`, `alerts`),
so the console can do exactly what the user's token can do through the API."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from starlette.datastructures import FormData, UploadFile

import workflows
from api import projections
from api.deps import SessionDep
from api.web import forms
from api.web.session import (
    PREFIX,
    CheckedForm,
    ConsoleRoute,
    ConsoleUser,
    end_session,
    flash,
    page,
    redirect,
    safe_next,
    start_session,
)
from mla import access, audit, kinds, legal, security, templates
from mla.clock import utcnow
from mla.deadlines import service as deadlines
from mla.errors import (
    Conflict,
    DomainError,
    FieldProblem,
    Forbidden,
    GuardRejected,
    IllegalTransition,
    InvalidInput,
    RateLimited,
    Unauthorized,
)
from mla.models import Authority, Deadline, User
from mla.models import Request as MlaRequest
from mla.oncall import paging
from mla.oncall import service as oncall
from mla.requests import attachments, documents, filing, lifecycle, listing, translations
from mla.transfer import log as transfer_log

router = APIRouter(prefix=PREFIX, include_in_schema=False, route_class=ConsoleRoute)

PER_PAGE = 20
HEADER_TITLES = {"requested_authority": "Requested authority", "legal_basis": "Legal basis",
                 "title": "Short title", "language": "Language of the text",
                 "requesting_authority": "Requesting authority",
                 "counterpart_reference": "Their reference"}
NEW_HEADER = ("requested_authority", "legal_basis", "title", "language")
INCOMING_HEADER = ("requesting_authority", "counterpart_reference", "legal_basis", "title",
                   "language")
LANGUAGES = {"ar": "Arabic", "zh": "Chinese", "en": "English", "fr": "French",
             "ru": "Russian", "es": "Spanish", "de": "German", "it": "Italian",
             "pt": "Portuguese", "sw": "Swahili", "nl": "Dutch"}


# --- helpers ------------------------------------------------------------------------------


def local(instant: datetime | None, tz: str) -> str:
    if instant is None:
        return ""
    return instant.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M")


def countdown(due: datetime, now: datetime) -> str:
    """"in 3 d 4 h" / "overdue by 2 h 5 min": the server's text, refreshed by console.js."""
    seconds = int((due - now).total_seconds())
    past = seconds < 0
    seconds = abs(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        text = f"{days} d {hours} h"
    elif hours:
        text = f"{hours} h {minutes} min"
    else:
        text = f"{minutes} min"
    return f"overdue by {text}" if past else f"in {text}"


def kind_label(kind: str) -> str:
    try:
        return kinds.get(kind).label
    except InvalidInput:
        return kind


def state_label(workflow: str, state: str) -> str:
    wf = workflows.get(workflow)
    found = wf.states.get(state)
    return found.label if found else state


def event_label(workflow: str, event: str) -> str:
    for t in workflows.get(workflow).definition.transitions:
        if t.event == event and t.label:
            return t.label
    return event.replace("_", " ").capitalize()


def _tz(user: User) -> str:
    return user.authority.timezone


def _deadline_rows(items: list[Deadline], user: User) -> list[dict[str, Any]]:
    now = utcnow()
    rows = []
    for d in items:
        out = projections.deadline(d, now)
        rule = deadlines.rules().rules[d.rule_id]
        # The same rule as mla.deadlines.extend: the supervisor whose clock it is, while the
        # rule still allows days; the form is only offered where it can succeed.
        may_extend = (user.role == "supervisor" and user.authority_id == d.acting_authority_id
                      and d.closed_at is None)
        rows.append({
            "out": out, "due_mine": local(d.due_at, _tz(user)),
            "countdown": countdown(d.due_at, now) if out.status in ("running", "overdue")
            else "", "iso": d.due_at.isoformat(),
            "acting_local": out.due_local if out.acting_authority != user.authority.code
            else "",
            "extend_left": rule.extension_max_days - d.extended_days if may_extend else 0,
            "extension_citation": rule.extension_citation or "",
        })
    return rows


def _my_offset(user: User) -> str:
    offset = utcnow().astimezone(ZoneInfo(_tz(user))).isoformat()[-6:]
    return offset


def _with_content(session: SessionDep, request_id: uuid.UUID, user: User) -> MlaRequest:
    """The request, for a role that reads case content (404 if not a party, 403 if the role
    sees only status)."""
    row = access.get_request(session, request_id, user)
    access.require_content(user)
    return row


# --- login ----------------------------------------------------------------------------------


@router.get("", response_class=HTMLResponse)
@router.get("/", response_class=HTMLResponse)
def home() -> Response:
    return redirect(f"{PREFIX}/requests")


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str | None = None) -> Response:
    return page(request, "login.html", {"next": safe_next(next), "username": ""})


@router.post("/login", response_class=HTMLResponse)
def login(request: Request, form: CheckedForm, session: SessionDep) -> Response:
    username = str(form.get("username") or "").strip()
    password = str(form.get("password") or "")
    target = safe_next(str(form.get("next") or ""))
    ip = request.client.host if request.client else "unknown"
    try:
        user = security.authenticate(session, username, password, ip)
    except (Unauthorized, RateLimited) as exc:
        status = 429 if isinstance(exc, RateLimited) else 401
        return page(request, "login.html", {"next": target, "username": username,
                                            "error": exc.detail}, status_code=status)
    token, _ = security.issue_access_token(session, user)
    session.commit()
    start_session(request, token)
    return redirect(target)


@router.post("/logout", response_class=HTMLResponse)
def logout(request: Request, form: CheckedForm) -> Response:
    end_session(request)
    flash(request, "You are logged out.")
    return redirect(f"{PREFIX}/login")


# --- requests list ---------------------------------------------------------------------------


@router.get("/requests", response_class=HTMLResponse)
def request_list(
    request: Request,
    session: SessionDep,
    user: ConsoleUser,
    kind: str = "",
    state: str = "",
    counterpart: str = "",
    overdue: bool = False,
    sort: Annotated[str, Query(pattern="^(created|updated|reference|kind|state|due)$")]
    = "created",
    order: Annotated[str, Query(pattern="^(asc|desc)$")] = "desc",
    page_number: Annotated[int, Query(alias="page", ge=1, le=100000)] = 1,
) -> Response:
    found = listing.search(session, user, kind=kind or None, state=state or None,
                           counterpart=counterpart or None, overdue=overdue, sort=sort,
                           descending=order == "desc", page=page_number, per_page=PER_PAGE)
    now = utcnow()
    rows = []
    for r in found.items:
        mine_requesting = r.requesting_authority_id == user.authority_id
        other = r.requested_authority if mine_requesting else r.requesting_authority
        due = found.next_due.get(r.id)
        rows.append({
            "r": r, "kind": kind_label(r.kind), "state": state_label(r.workflow, r.state),
            "side": "outgoing" if mine_requesting else "incoming", "other": other,
            "title": r.title if access.can_read_content(user) else None,
            "due": local(due, _tz(user)) if due else "", "due_iso": due.isoformat() if due
            else "", "countdown": countdown(due, now) if due else "",
            "overdue": bool(due and due < now), "updated": local(r.updated_at, _tz(user)),
        })
    filters = {"kind": kind, "state": state, "counterpart": counterpart,
               "overdue": "true" if overdue else ""}

    def link(**change: Any) -> str:
        params = {**filters, "sort": sort, "order": order, "page": page_number, **change}
        return f"{PREFIX}/requests?" + urlencode({k: v for k, v in params.items() if v})

    def sort_link(column: str) -> str:
        flip = "asc" if sort == column and order == "desc" else "desc"
        return link(sort=column, order=flip, page=1)

    states = sorted({s.name: s.label for name in workflows.names()
                     for s in workflows.get(name).definition.states}.items())
    others = session.scalars(select(Authority).where(Authority.id != user.authority_id)
                             .order_by(Authority.code)).all()
    return page(request, "requests.html", {
        "rows": rows, "found": found, "filters": filters, "sort": sort, "order": order,
        "link": link, "sort_link": sort_link, "kinds": kinds.all_kinds(), "states": states,
        "authorities": others, "tz": _tz(user), "nav": "requests",
        "can_file": user.role in filing.FILING_ROLES,
    })


# --- one request -----------------------------------------------------------------------------


def _request_context(session: SessionDep, request_row: MlaRequest, user: User) -> dict[str, Any]:
    content = access.can_read_content(user)
    tz = _tz(user)
    wf = workflows.get(request_row.workflow)
    events = lifecycle.allowed_events(request_row, user)
    actions = []
    for event in events:
        step = wf.candidates(event, request_row.state)[0].definition
        actions.append({"event": event, "label": step.label or event,
                        "reason": "reason_required" in step.guards,
                        "grounds": "refusal_grounds" in step.guards})
    grounds = {}
    if any(a["grounds"] for a in actions):
        grounds = legal.refusal_grounds(request_row.legal_basis, request_row.kind)
    history = []
    for e in lifecycle.history(session, request_row):
        history.append({
            "at": local(e.at, tz), "iso": e.at.isoformat(),
            "event": "Filed" if e.event == "file" else event_label(request_row.workflow,
                                                                   e.event),
            "from": state_label(request_row.workflow, e.from_state) if e.from_state else "",
            "to": state_label(request_row.workflow, e.to_state),
            "actor": (e.actor.username if e.actor else "system") if content else None,
            "reason": e.reason if content else None,
            "data": e.data if content else None,
        })
    ctx: dict[str, Any] = {
        "r": request_row, "content": content, "kind": kind_label(request_row.kind),
        "state": state_label(request_row.workflow, request_row.state),
        "actions": actions, "grounds": grounds, "history": history,
        "deadlines": _deadline_rows(deadlines.for_request(session, request_row), user),
        "transfers": [{"m": m, "at": local(m.at, tz), "delivered": local(m.delivered_at, tz),
                       "retry": local(m.next_attempt_at, tz)}
                      for m in transfer_log.for_request(session, request_row)],
        "tz": tz, "nav": "requests",
        "mine": lifecycle.acting_party(request_row, user),
        "created": local(request_row.created_at, tz),
        "updated": local(request_row.updated_at, tz),
        "final": wf.is_final(request_row.state),
    }
    if content:
        ctx["languages"] = [(lang, LANGUAGES.get(lang, lang))
                            for lang in translations.texts(session, request_row)]
        ctx["attachments"] = attachments.for_request(session, request_row, user)
        ctx["legal_basis"] = legal.all_bases().get(request_row.legal_basis)
        ctx["can_edit"] = (request_row.state == "draft" and ctx["mine"] == "requesting"
                           and user.role in filing.FILING_ROLES)
        if (ctx["mine"] == "requesting" and user.role in filing.FILING_ROLES
                and request_row.state in translations.EDITABLE_STATES):
            accepted = request_row.requested_authority.languages
            ctx["translate_to"] = [
                (code, LANGUAGES.get(code, code), code in accepted)
                for code in dict.fromkeys([*accepted, *LANGUAGES]) if code != request_row.language]
    return ctx


@router.get("/requests/{request_id}", response_class=HTMLResponse)
def request_page(request: Request, request_id: uuid.UUID, session: SessionDep,
                 user: ConsoleUser) -> Response:
    row = access.get_request(session, request_id, user)
    ctx = _request_context(session, row, user)
    if ctx["content"]:
        audit.record(session, "request.read", actor=user, object_type="request",
                     object_id=str(row.id), detail={"via": "console"})
        session.commit()
    return page(request, "request.html", ctx)


@router.post("/requests/{request_id}/events", response_class=HTMLResponse)
def fire_event(request: Request, request_id: uuid.UUID, form: CheckedForm,
               session: SessionDep, user: ConsoleUser) -> Response:
    row = access.get_request(session, request_id, user)
    event = str(form.get("event") or "")
    data: dict[str, Any] = {}
    reason = str(form.get("reason") or "").strip()
    if reason:
        data["reason"] = reason
    grounds = [g for g in form.getlist("grounds") if isinstance(g, str)]
    if grounds:
        data["grounds"] = grounds
    version = str(form.get("version") or "")
    expected = int(version) if version.isdigit() else None
    try:
        result = lifecycle.transition(session, row, event, user, expected_version=expected,
                                      **data)
        session.commit()
    except (GuardRejected, IllegalTransition, Conflict, InvalidInput) as exc:
        session.rollback()
        row = access.get_request(session, request_id, user)
        problems = getattr(exc, "problems", [])
        ctx = _request_context(session, row, user)
        ctx.update(action_error=exc.detail, action_problems=problems, reason=reason,
                   chosen_grounds=grounds)
        return page(request, "request.html", ctx,
                    status_code=409 if isinstance(exc, Conflict | IllegalTransition) else 422)
    flash(request, f"{row.reference}: {event_label(row.workflow, event)} — now "
                   f"{state_label(row.workflow, result.to_state)}.")
    return redirect(f"{PREFIX}/requests/{row.id}")


@router.post("/deadlines/{deadline_id}/extensions", response_class=HTMLResponse)
def extend_deadline(request: Request, deadline_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
                    form: CheckedForm, session: SessionDep, user: ConsoleUser) -> Response:
    deadline = deadlines.get(session, deadline_id, user)
    days_text = str(form.get("days") or "").strip()
    reason = str(form.get("reason") or "").strip()
    try:
        if not days_text.isdigit():
            raise InvalidInput("the extension needs a number of days",
                               [FieldProblem("days", "a whole number of days")])
        deadlines.extend(session, deadline, user, days=int(days_text), reason=reason)
        session.commit()
    except InvalidInput as exc:
        session.rollback()
        row = access.get_request(session, deadline.request_id, user)
        ctx = _request_context(session, row, user)
        ctx.update(extend_error={"id": deadline_id, "detail": exc.detail,
                                 "problems": exc.problems, "days": days_text,
                                 "reason": reason})
        return page(request, "request.html", ctx, status_code=422)
    flash(request, f"{deadline.request.reference}: {deadline.rule_id} extended by "
                   f"{days_text} days.")
    return redirect(f"{PREFIX}/requests/{deadline.request_id}#deadlines-h")


@router.get("/requests/{request_id}/document", response_class=HTMLResponse)
def document(request: Request, request_id: uuid.UUID, session: SessionDep, user: ConsoleUser,
             language: Annotated[str | None, Query(pattern="^[a-z]{2}$")] = None) -> Response:
    row = _with_content(session, request_id, user)
    text, lang = documents.render(session, row, language=language, fmt="html")
    audit.record(session, "request.document", actor=user, object_type="request",
                 object_id=str(row.id), detail={"language": lang, "format": "html",
                                                "via": "console"})
    session.commit()
    # The layout carries its own print styles inline; it runs no script.
    return HTMLResponse(text, headers={
        "Content-Language": lang, "Cache-Control": "no-store",
        "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
                                   "img-src data:; frame-ancestors 'none'"})


@router.post("/requests/{request_id}/attachments", response_class=HTMLResponse)
def upload(request: Request, request_id: uuid.UUID, form: CheckedForm, session: SessionDep,
           user: ConsoleUser) -> Response:
    row = _with_content(session, request_id, user)
    file = form.get("file")
    if not isinstance(file, UploadFile) or not file.filename:
        flash(request, "Choose a file to attach first.")
        return redirect(f"{PREFIX}/requests/{row.id}#attachments")
    content = attachments.read_limited(iter(lambda: file.file.read(1024 * 1024), b""))
    added = attachments.add(session, row, user, filename=file.filename,
                            content_type=file.content_type or "", content=content)
    session.commit()
    flash(request, f"Attached {added.filename} (SHA-256 {added.sha256[:16]}…).")
    return redirect(f"{PREFIX}/requests/{row.id}#attachments")


@router.get("/attachments/{attachment_id}")
def download(attachment_id: uuid.UUID, session: SessionDep, user: ConsoleUser) -> Response:
    from api.routers.attachments import download as api_download

    # The API's own answer (digest header, safe file name, nosniff), same checks.
    return api_download(attachment_id, session, user)


# --- translations -------------------------------------------------------------------------


def _translation_root(row: MlaRequest) -> Any:
    """The template's form cut down to the fields that hold free text."""
    spec = templates.get(row.kind, row.template_version)
    paths = set(templates.translatable_paths(row.kind, row.template_version))
    return dataclasses.replace(spec.root, fields=tuple(f for f in spec.root.fields
                                                       if f.name in paths))


def _translation_page(request: Request, session: SessionDep, user: User, row: MlaRequest,
                      language: str, data: dict[str, Any], *,
                      problems: list[FieldProblem] | None = None,
                      extra_rows: list[str] | None = None, status_code: int = 200,
                      message: str | None = None) -> Response:
    tree = forms.build(_translation_root(row), data, extra_rows=extra_rows or [],
                       default_offset=_my_offset(user))
    rest = forms.attach_errors(tree, problems or [])
    return page(request, "translation.html", {
        "row": row, "language": language, "language_name": LANGUAGES.get(language, language),
        "original": LANGUAGES.get(row.language, row.language), "tree": tree,
        "form_errors": [m for messages in rest.values() for m in messages],
        "message": message, "accepted": language in row.requested_authority.languages,
    }, status_code=status_code)




@router.get("/requests/{request_id}/translations", response_class=HTMLResponse)
def translation_form(request: Request, request_id: uuid.UUID, session: SessionDep,
                     user: ConsoleUser,
                     language: Annotated[str, Query(pattern="^[a-z]{2}$")]) -> Response:
    row = _with_content(session, request_id, user)
    texts = translations.texts(session, row)
    paths = templates.translatable_paths(row.kind, row.template_version)
    # Start from the stored translation, else from the original for the translator to
    # overwrite field by field.
    source = texts.get(language, row.data)
    data = {k: v for k, v in source.items() if k in paths}
    return _translation_page(request, session, user, row, language, data)


@router.post("/requests/{request_id}/translations/{language}", response_class=HTMLResponse)
def save_translation(request: Request, request_id: uuid.UUID,
                     language: Annotated[str, Path(pattern="^[a-z]{2}$")], form: CheckedForm,
                     session: SessionDep, user: ConsoleUser) -> Response:
    row = _with_content(session, request_id, user)
    data = forms.parse(_translation_root(row), form)
    if _add_rows(form):
        return _translation_page(request, session, user, row, language, data,
                                 extra_rows=_add_rows(form))
    try:
        translations.put_translation(session, row, user, language=language, data=data)
        session.commit()
    except (InvalidInput, Conflict, Forbidden) as exc:
        session.rollback()
        row = _with_content(session, request_id, user)
        return _translation_page(
            request, session, user, row, language, data,
            problems=getattr(exc, "problems", None) or [FieldProblem("", exc.detail)],
            status_code={InvalidInput: 422, Conflict: 409}.get(type(exc), 403),
            message="The translation was not saved: " + exc.detail)
    flash(request, f"{row.reference}: {LANGUAGES.get(language, language)} translation saved.")
    return redirect(f"{PREFIX}/requests/{row.id}#documents-h")


# --- the template form --------------------------------------------------------------------


def _header_context(session: SessionDep, user: User, kind: str) -> dict[str, Any]:
    family = kinds.get(kind).family
    return {
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
                       default_offset=_my_offset(user))
    rest = forms.attach_errors(tree, problems)
    names = forms.titles(tree) | HEADER_TITLES
    summary = []
    for p in problems:
        parts = p.path.split(".")
        while len(parts) > 1 and ".".join(parts) not in names:
            parts.pop()  # a problem inside a field shows under the nearest one named
        near = ".".join(parts)
        anchor = forms.html_id(near) if near.startswith(forms.ROOT) else f"h-{near}"
        where = names.get(near, p.path)
        inner = p.path[len(near) + 1:] if p.path != near else ""
        summary.append((anchor, where + (f" ({inner})" if inner else ""), p.message))
    ctx = {"kind": kind, "kind_label": kind_label(kind), "title": spec.title.get("en", kind),
           "version": version, "tree": tree, "header": header, "header_errors": rest,
           "summary": summary, "row": row, "nav": "new", "message": message,
           "incoming": incoming, **_header_context(session, user, kind)}
    return page(request, "form.html", ctx, status_code=status_code)


def _add_rows(form: FormData) -> list[str]:
    action = str(form.get("action") or "")
    return [action[4:]] if action.startswith("add:") else []


@router.get("/new", response_class=HTMLResponse)
def choose_kind(request: Request, user: ConsoleUser) -> Response:
    access.require_content(user)
    return page(request, "new.html", {"kinds": [(k, templates.get(k).title.get("en", k),
                                                 kinds.get(k)) for k in templates.kinds()],
                                      "nav": "new"})


@router.get("/new/{kind}", response_class=HTMLResponse)
def new_form(request: Request, kind: str, session: SessionDep, user: ConsoleUser) -> Response:
    _filing_role(user)
    _known_kind(kind)
    header = dict.fromkeys(NEW_HEADER, "") | {"language": "en"}
    return _form_page(request, session, user, kind=kind, version=templates.latest_version(kind),
                      data={}, header=header, problems=[])


@router.post("/new/{kind}", response_class=HTMLResponse)
def file_new(request: Request, kind: str, form: CheckedForm, session: SessionDep,
             user: ConsoleUser) -> Response:
    row = _file_from_form(request, session, user, kind, form, incoming=False)
    if isinstance(row, Response):
        return row
    if str(form.get("action")) == "submit":
        return _submit(request, session, row, user)
    flash(request, f"Draft {row.reference} saved.")
    return redirect(f"{PREFIX}/requests/{row.id}/edit")


@router.get("/incoming/{kind}", response_class=HTMLResponse)
def incoming_form(request: Request, kind: str, session: SessionDep,
                  user: ConsoleUser) -> Response:
    _filing_role(user)
    _known_kind(kind)
    header = dict.fromkeys(INCOMING_HEADER, "") | {"language": "en"}
    return _form_page(request, session, user, kind=kind, version=templates.latest_version(kind),
                      data={}, header=header, problems=[], incoming=True)


@router.post("/incoming/{kind}", response_class=HTMLResponse)
def register_incoming(request: Request, kind: str, form: CheckedForm, session: SessionDep,
                      user: ConsoleUser) -> Response:
    """A request that reached us on paper or by e-mail: recorded as received, which starts
    the requested side's lifecycle and clocks (and pages our 24/7 point if urgent)."""
    row = _file_from_form(request, session, user, kind, form, incoming=True)
    if isinstance(row, Response):
        return row
    flash(request, f"Registered {row.reference} (their reference "
                   f"{row.counterpart_reference}) as received.")
    return redirect(f"{PREFIX}/requests/{row.id}")


def _file_from_form(request: Request, session: SessionDep, user: User, kind: str,
                    form: FormData, *, incoming: bool) -> MlaRequest | Response:
    """The new request (a draft we send, or one we received), or the form again: with a
    row added, or with what is wrong."""
    _filing_role(user)
    _known_kind(kind)
    version = templates.latest_version(kind)
    data = forms.parse(templates.get(kind, version).root, form)
    header = {k: str(form.get(k) or "").strip() for k in
              (INCOMING_HEADER if incoming else NEW_HEADER)}

    def again(**kw: Any) -> Response:
        return _form_page(request, session, user, kind=kind, version=version, data=data,
                          header=header, incoming=incoming, **kw)

    if _add_rows(form):
        return again(problems=[], extra_rows=_add_rows(form))
    other = "requesting_authority" if incoming else "requested_authority"
    party = session.scalar(select(Authority).where(Authority.code == header[other]))
    try:
        if party is None:
            raise InvalidInput("choose the other authority", [FieldProblem(
                other, "choose the authority that sent the request" if incoming
                else "choose the requested authority")])
        common = {"kind": kind, "legal_basis": header["legal_basis"],
                  "title": header["title"], "language": header["language"], "data": data}
        row = (filing.register_incoming(session, user, requesting_authority_id=party.id,
                                        counterpart_reference=header["counterpart_reference"],
                                        **common) if incoming
               else filing.file_request(session, user, requested_authority_id=party.id,
                                        **common))
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
    problems = []
    message = None
    if check:
        problems = [FieldProblem(f"data.{p.path}", p.message) for p in
                    templates.validate(row.kind, row.data, row.template_version)]
        if problems:
            message = (f"Draft {row.reference} is saved, but it cannot be submitted for review "
                       f"until the {len(problems)} problem(s) below are fixed.")
    return _form_page(request, session, user, kind=row.kind, version=row.template_version,
                      data=row.data, header=_header_of(row), problems=problems, row=row,
                      status_code=422 if problems else 200, message=message)


@router.post("/requests/{request_id}/edit", response_class=HTMLResponse)
def save_draft(request: Request, request_id: uuid.UUID, form: CheckedForm, session: SessionDep,
               user: ConsoleUser) -> Response:
    row = _draft(session, request_id, user)
    data = forms.parse(templates.get(row.kind, row.template_version).root, form)
    if _add_rows(form):
        return _form_page(request, session, user, kind=row.kind, version=row.template_version,
                          data=data, header=_header_of(row), problems=[], row=row,
                          extra_rows=_add_rows(form))
    version = str(form.get("version") or "")
    try:
        filing.update_draft(session, row, user, data=data,
                            expected_version=int(version) if version.isdigit() else None)
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
    flash(request, f"Draft {row.reference} saved.")
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
        flash(request, f"Saved, but not submitted: {exc.detail}")
        return redirect(f"{PREFIX}/requests/{row.id}")
    flash(request, f"{row.reference} submitted for review.")
    return redirect(f"{PREFIX}/requests/{row.id}")


def _draft(session: SessionDep, request_id: uuid.UUID, user: User) -> MlaRequest:
    row = _with_content(session, request_id, user)
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


# --- alerts (pages of the 24/7 point) ---------------------------------------------------------


@router.get("/alerts", response_class=HTMLResponse)
def alert_inbox(request: Request, session: SessionDep, user: ConsoleUser,
                status: Annotated[str, Query(pattern="^(open|acknowledged|resolved|all)$")]
                = "all") -> Response:
    items = paging.for_authority(session, user, status=None if status == "all" else status)
    tz = _tz(user)
    rows = [{"p": p, "opened": local(p.opened_at, tz),
             "acknowledged": local(p.acknowledged_at, tz),
             "resolved": local(p.resolved_at, tz)} for p in items]
    return page(request, "alerts.html", {
        "rows": rows, "status": status, "tz": tz, "nav": "alerts",
        "can_act": user.role in paging.ACK_ROLES, "statuses": ("all", *paging.STATUSES)})


@router.post("/alerts/{alert_id}/{action}", response_class=HTMLResponse)
def alert_action(request: Request, alert_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
                 action: Annotated[str, Path(pattern="^(acknowledge|resolve)$")],
                 form: CheckedForm, session: SessionDep, user: ConsoleUser) -> Response:
    note = str(form.get("note") or "").strip()[:2000] or None
    try:
        if action == "acknowledge":
            paging.acknowledge(session, alert_id, user, note=note, via="console")
        else:
            paging.resolve(session, alert_id, user, note=note)
        session.commit()
        flash(request, f"Alert {alert_id} {action}d.")
    except Conflict as exc:
        session.rollback()
        flash(request, exc.detail)
    return redirect(f"{PREFIX}/alerts#alert-{alert_id}")


# --- 24/7 (on call, rotations, escalation, directory) -----------------------------------------


def _step_text(step: dict[str, Any], names: dict[int, str]) -> str:
    """An escalation step as a person reads it: whom, and after how long."""
    notify = str(step.get("notify", ""))
    if notify == "on_call":
        whom = "the person on call"
    elif notify.startswith("contact:"):
        whom = names.get(int(notify.split(":", 1)[1]), notify)
    else:
        whom = notify.split(":", 1)[-1].replace("_", " ") + "s"
    minutes = int(step.get("delay_minutes", 0))
    return f"{whom}, after {minutes} min" if minutes else f"{whom}, at once"


@router.get("/oncall", response_class=HTMLResponse)
def oncall_page(request: Request, session: SessionDep, user: ConsoleUser) -> Response:
    """Who answers for my authority now on each 24/7 network, its rotations and escalation
    policies (my authority's only), and the shared directory of every authority's contact
    points (never webhook addresses or secrets)."""
    tz, now = _tz(user), utcnow()
    everyone = oncall.contacts(session)
    mine = [c for c in everyone if c.authority_id == user.authority_id]
    others = [c for c in everyone if c.authority_id != user.authority_id and c.active]
    names = {c.id: c.name for c in mine}
    rotations = []
    for rotation in oncall.rotations(session, user.authority_id):
        who = oncall.resolve(session, rotation, now)
        rotations.append({"r": rotation, "who": who, "until": local(who.ends_at, tz) if who
                          else None, "members": [names.get(m, f"#{m}") for m in rotation.members]})
    policies = [{"p": p, "steps": [_step_text(s, names) for s in p.steps]}
                for p in paging.policies(session, user.authority_id)]
    return page(request, "oncall.html", {
        "rotations": rotations, "policies": policies, "mine": mine, "others": others,
        "tz": tz, "nav": "oncall"})


# --- workflows -------------------------------------------------------------------------------


@router.get("/workflows", response_class=HTMLResponse)
def workflow_list(request: Request, user: ConsoleUser) -> Response:
    return page(request, "workflows.html", {
        "items": [workflows.get(n) for n in workflows.names()], "nav": "workflows"})


@router.get("/workflows/{name}", response_class=HTMLResponse)
def workflow_page(request: Request, name: str, user: ConsoleUser,
                  state: str | None = None) -> Response:
    from api.web import diagram

    wf = workflows.get(name)
    return page(request, "workflow.html", {
        "wf": wf, "diagram": diagram.layout(wf), "current": state, "nav": "workflows",
        "mermaid": diagram.mermaid_text(wf)})
