"""The requests list and one request: its events, deadline extensions, document and
attachments."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from starlette.datastructures import UploadFile

import workflows
from api import projections
from api.deps import SessionDep
from api.headers import csp_for
from api.web.pages.cases import request_case_context
from api.web.pages.common import (
    LANGUAGES,
    countdown,
    event_label,
    form_version,
    kind_label,
    local,
    reader_language,
    state_label,
    user_tz,
    with_content,
)
from api.web.session import PREFIX, CheckedForm, ConsoleRoute, ConsoleUser, flash, page, redirect
from mla import access, audit, inputs, kinds, legal
from mla.clock import utcnow
from mla.deadlines import service as deadlines
from mla.documents import incoming
from mla.documents import service as document_service
from mla.errors import (
    Conflict,
    FieldProblem,
    Forbidden,
    GuardRejected,
    IllegalTransition,
    InvalidInput,
)
from mla.i18n import N_, _
from mla.mail import outbox as mail_outbox
from mla.models import Authority, Deadline, User
from mla.models import Request as MlaRequest
from mla.profiles.model import RETURN_REASONS
from mla.requests import attachments, documents, filing, lifecycle, listing, translations
from mla.transfer import log as transfer_log
from workflows.guards import REPORT_CHANNELS

RETURN_EVENTS = ("request_info", "refuse")

router = APIRouter(prefix=PREFIX, include_in_schema=False, route_class=ConsoleRoute)

PER_PAGE = 20


def _deadline_rows(items: list[Deadline], user: User, lang: str) -> list[dict[str, Any]]:
    now = utcnow()
    rows = []
    for d in items:
        out = projections.deadline(d, user, now)
        rule = deadlines.rules().rules[d.rule_id]
        # The same rule as mla.deadlines.extend: the supervisor whose clock it is, while the
        # rule still allows days; the form is only offered where it can succeed.
        may_extend = (user.role == "supervisor" and user.authority_id == d.acting_authority_id
                      and d.closed_at is None)
        rows.append({
            "out": out, "due_mine": local(d.due_at, user_tz(user)),
            "countdown": countdown(d.due_at, now) if out.status in ("running", "overdue")
            else "", "iso": d.due_at.isoformat(),
            "acting_local": out.due_local if out.acting_authority != user.authority.code
            else "",
            "extend_left": rule.extension_left(d.extended_days) if may_extend else 0,
            "extension_citation": rule.extension_citation or "",
            "title": rule.title_in(lang), "ours": d.acting_authority_id == user.authority_id,
            "follow_up": rule.follow_up,
        })
    return rows


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
    content = access.can_read_content(user)
    rows = []
    for r in found.items:
        mine_requesting = r.requesting_authority_id == user.authority_id
        other = r.requested_authority if mine_requesting else r.requesting_authority
        due = found.next_due.get(r.id)
        rows.append({
            "r": r, "kind": kind_label(r.kind), "state": state_label(r.workflow, r.state),
            "side": "outgoing" if mine_requesting else "incoming",
            "side_label": _("outgoing") if mine_requesting else _("incoming"), "other": other,
            "title": r.title if content else None,
            "due": local(due, user_tz(user)) if due else "", "due_iso": due.isoformat() if due
            else "", "countdown": countdown(due, now) if due else "",
            "overdue": bool(due and due < now), "updated": local(r.updated_at, user_tz(user)),
        })
    filters = {"kind": kind, "state": state, "counterpart": counterpart,
               "overdue": "true" if overdue else ""}

    def link(**change: Any) -> str:
        params = {**filters, "sort": sort, "order": order, "page": page_number, **change}
        return f"{PREFIX}/requests?" + urlencode({k: v for k, v in params.items() if v})

    def sort_link(column: str) -> str:
        flip = "asc" if sort == column and order == "desc" else "desc"
        return link(sort=column, order=flip, page=1)

    states = sorted({s.name: _(s.label) for name in workflows.names()
                     for s in workflows.get(name).definition.states}.items())
    others = session.scalars(select(Authority).where(Authority.id != user.authority_id)
                             .order_by(Authority.code)).all()
    return page(request, "requests.html", {
        "rows": rows, "found": found, "filters": filters, "sort": sort, "order": order,
        "link": link, "sort_link": sort_link, "kinds": kinds.all_kinds(), "states": states,
        "authorities": others, "tz": user_tz(user), "nav": "requests",
        "can_file": user.role in filing.FILING_ROLES, "content": content,
    })


# --- one request -----------------------------------------------------------------------------


def _report(data: dict[str, Any] | None, by_officer: bool, other: str) -> str:
    """"received from KE on 2026-11-28 by e-mail": the other authority's act as an officer
    recorded it from a report; empty for steps that are not such reports."""
    if not by_officer or not data or "received_on" not in data:
        return ""
    channel = REPORT_CHANNELS.get(str(data.get("channel")), "")
    if channel:
        return _("received from {other} on {day} by {channel}", other=other,
                 day=data["received_on"], channel=_(channel))
    return _("received from {other} on {day}", other=other, day=data["received_on"])


def _request_context(request: Request, session: SessionDep, request_row: MlaRequest,
                     user: User) -> dict[str, Any]:
    content = access.can_read_content(user)
    tz = user_tz(user)
    wf = workflows.get(request_row.workflow)
    events = lifecycle.allowed_events(request_row, user)
    actions = []
    for event in events:
        step = wf.candidates(event, request_row.state)[0].definition
        actions.append({"event": event, "label": _(step.label) if step.label else event,
                        "reason": "reason_required" in step.guards,
                        "grounds": "refusal_grounds" in step.guards,
                        "reported": "counterpart_report" in step.guards,
                        "agreed_date": "agreed_date" in step.guards,
                        "occurred_at": "occurred_at" in step.guards})
    grounds = {}
    if any(a["grounds"] for a in actions):
        grounds = legal.refusal_grounds(request_row.legal_basis, request_row.kind)
    history = []
    for e in lifecycle.history(session, request_row):
        history.append({
            "at": local(e.at, tz), "iso": e.at.isoformat(),
            "event": _("Filed") if e.event == "file" else event_label(request_row.workflow,
                                                                      e.event),
            "from": state_label(request_row.workflow, e.from_state) if e.from_state else "",
            "to": state_label(request_row.workflow, e.to_state),
            "actor": (e.actor.username if e.actor else _("system")) if content else None,
            "reason": e.reason if content else None,
            "data": e.data if content else None,
            "report": _report(e.data, e.actor is not None,
                              request_row.requested_authority.code),
        })
    lang = reader_language(request, user)
    ctx: dict[str, Any] = {
        "lang": lang,
        "today": utcnow().astimezone(ZoneInfo(tz)).date().isoformat(),
        "channels": {code: _(name) for code, name in REPORT_CHANNELS.items()},
        "r": request_row, "content": content, "kind": kind_label(request_row.kind),
        "state": state_label(request_row.workflow, request_row.state),
        "actions": actions, "grounds": grounds, "history": history,
        "return_reasons": RETURN_REASONS if any(a["event"] in RETURN_EVENTS for a in actions)
        else {},
        "deadlines": _deadline_rows(deadlines.for_request(session, request_row), user, lang),
        "transfers": [{"m": projections.transfer_message(m, user), "at": local(m.at, tz),
                       "delivered": local(m.delivered_at, tz),
                       "retry": local(m.next_attempt_at, tz)}
                      for m in transfer_log.for_request(session, request_row)],
        "tz": tz, "nav": "requests",
        "mine": lifecycle.acting_party(request_row, user),
        "created": local(request_row.created_at, tz),
        "updated": local(request_row.updated_at, tz),
        "final": wf.is_final(request_row.state),
    }
    # What our side must do before a clock of ours runs out, where the step that stops it is
    # not ours to take (e.g. the formal request after a provisional arrest: we file it).
    ctx["our_clocks"] = [d for d in ctx["deadlines"]
                         if d["ours"] and d["out"].status in ("running", "overdue")]
    ctx["may_file"] = content and user.role in filing.FILING_ROLES
    ctx["follow_up_labels"] = {d["follow_up"].kind: kind_label(d["follow_up"].kind)
                               for d in ctx["our_clocks"] if d["follow_up"]}
    if content:
        ctx["languages"] = [(code, LANGUAGES.get(code, code))
                            for code in translations.texts(session, request_row)]
        ctx["attachments"] = attachments.for_request(session, request_row, user)
        ctx["pdf"] = document_service.available()
        ctx["signature"], ctx["signer"] = document_service.plan(session, request_row, user)
        ctx["mails"] = ([mail_outbox.summary(m) for m in mail_outbox.for_request(session,
                                                                                request_row)]
                        if ctx["mine"] == "requesting" else [])
        ctx["received"] = incoming.for_request(session, request_row)
        ctx.update(request_case_context(session, request_row, user))
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
    ctx = _request_context(request, session, row, user)
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
    wf = workflows.get(row.workflow)
    reported = event in wf.allowed_events(row.state) and any(
        "counterpart_report" in step.definition.guards for step in wf.candidates(event, row.state))
    if reported:
        for name in ("received_on", "channel"):
            value = str(form.get(name) or "").strip()
            if value:
                data[name] = value
    agreed = str(form.get("agreed_date") or "").strip()
    if agreed:
        data["agreed_date"] = agreed
    occurred = str(form.get("occurred_at") or "").strip()
    if occurred:
        # The browser's local time, read in the user's time zone (the page says which).
        data["occurred_at"] = _local_instant(occurred, user_tz(user))
    # Why the request came back (mla/stats/returns.py); the menu offers only known reasons.
    return_reason = str(form.get("return_reason") or "")
    if event in RETURN_EVENTS and return_reason in RETURN_REASONS:
        data["return_reason"] = return_reason
    version = str(form.get("version") or "")
    expected = form_version(version)
    try:
        result = lifecycle.transition(session, row, event, user, expected_version=expected,
                                      **data)
        session.commit()
    except (GuardRejected, IllegalTransition, Conflict, InvalidInput) as exc:
        session.rollback()
        row = access.get_request(session, request_id, user)
        problems = getattr(exc, "problems", [])
        ctx = _request_context(request, session, row, user)
        ctx.update(action_error=exc.detail, action_title=_(exc.title),
                   action_problems=problems, reason=reason,
                   received_on=data.get("received_on"), channel=data.get("channel"),
                   chosen_grounds=grounds, agreed_date=agreed, occurred_at=occurred)
        return page(request, "request.html", ctx,
                    status_code=409 if isinstance(exc, Conflict | IllegalTransition) else 422)
    flash(request, _("{reference}: {step} — now {state}.", reference=row.reference,
                     step=event_label(row.workflow, event),
                     state=state_label(row.workflow, result.to_state)))
    return redirect(f"{PREFIX}/requests/{row.id}")


def _local_instant(text: str, tz: str) -> str:
    """`2026-06-10T06:00` in `tz` as an ISO instant with its offset; the text as typed when it
    is not a date and time (the step's guard then names the field)."""
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return text
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=ZoneInfo(tz))
    return parsed.isoformat()


@router.post("/deadlines/{deadline_id}/extensions", response_class=HTMLResponse)
def extend_deadline(request: Request, deadline_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
                    form: CheckedForm, session: SessionDep, user: ConsoleUser) -> Response:
    deadline = deadlines.get(session, deadline_id, user)
    days_text = str(form.get("days") or "").strip()
    reason = str(form.get("reason") or "").strip()
    try:
        days = inputs.parse_int(days_text)
        if days is None:
            raise InvalidInput("the extension needs a number of days",
                               [FieldProblem.of("days", N_("a whole number of days"))])
        deadlines.extend(session, deadline, user, days=days, reason=reason)
        session.commit()
    except InvalidInput as exc:
        session.rollback()
        row = access.get_request(session, deadline.request_id, user)
        ctx = _request_context(request, session, row, user)
        ctx.update(extend_error={"id": deadline_id, "detail": exc.detail,
                                 "problems": exc.problems, "days": days_text,
                                 "reason": reason})
        return page(request, "request.html", ctx, status_code=422)
    title = deadlines.rules().rules[deadline.rule_id].title_in(reader_language(request, user))
    flash(request, _("{reference}: {title} extended by {days} days.",
                     reference=deadline.request.reference, title=title, days=days_text))
    return redirect(f"{PREFIX}/requests/{deadline.request_id}#deadlines-h")


@router.get("/requests/{request_id}/document", response_class=HTMLResponse)
def document(request: Request, request_id: uuid.UUID, session: SessionDep, user: ConsoleUser,
             language: Annotated[str | None, Query(pattern="^[a-z]{2}$")] = None,
             format: Annotated[str, Query(pattern="^(html|pdf)$")] = "html") -> Response:
    row = with_content(session, request_id, user)
    if format == "pdf":
        from api.routers.documents import document as api_document

        # The API's own answer (signature header, file name), same checks.
        return api_document(request_id, session, user, format="pdf", language=language)
    text, lang = documents.render(session, row, language=language, fmt="html")
    audit.record(session, "request.document", actor=user, object_type="request",
                 object_id=str(row.id), detail={"language": lang, "format": "html",
                                                "via": "console"})
    session.commit()
    # The layout carries its own print styles inline (allowed by their hash); it runs no
    # script.
    return HTMLResponse(text, headers={"Content-Language": lang, "Cache-Control": "no-store",
                                       "Content-Security-Policy": csp_for(text)})


@router.post("/requests/{request_id}/received-documents", response_class=HTMLResponse)
def receive_pdf(request: Request, request_id: uuid.UUID, form: CheckedForm, session: SessionDep,
                user: ConsoleUser) -> Response:
    row = with_content(session, request_id, user)
    file = form.get("file")
    if not isinstance(file, UploadFile) or not file.filename:
        flash(request, _("Choose the signed PDF first."))
        return redirect(f"{PREFIX}/requests/{row.id}#received-h")
    if user.authority_id != row.requested_authority_id:
        raise Forbidden("only the requested authority registers what it received")
    content = attachments.read_limited(iter(lambda: file.file.read(1024 * 1024), b""))
    try:
        added = incoming.register(session, row, user, filename=file.filename, content=content)
        session.commit()
    except InvalidInput as exc:
        session.rollback()
        flash(request, _("Not registered: {detail}.", detail=exc.detail))
        return redirect(f"{PREFIX}/requests/{row.id}#received-h")
    flash(request, _("Registered {filename}: signature {status} — {summary}.",
                     filename=added.filename, status=added.status,
                     summary=added.validation["summary"]))
    return redirect(f"{PREFIX}/requests/{row.id}#received-h")


@router.post("/requests/{request_id}/attachments", response_class=HTMLResponse)
def upload(request: Request, request_id: uuid.UUID, form: CheckedForm, session: SessionDep,
           user: ConsoleUser) -> Response:
    row = with_content(session, request_id, user)
    file = form.get("file")
    if not isinstance(file, UploadFile) or not file.filename:
        flash(request, _("Choose a file to attach first."))
        return redirect(f"{PREFIX}/requests/{row.id}#attachments")
    content = attachments.read_limited(iter(lambda: file.file.read(1024 * 1024), b""))
    added = attachments.add(session, row, user, filename=file.filename,
                            content_type=file.content_type or "", content=content)
    session.commit()
    flash(request, _("Attached {filename} (SHA-256 {digest}…).", filename=added.filename,
                     digest=added.sha256[:16]))
    return redirect(f"{PREFIX}/requests/{row.id}#attachments")


@router.get("/attachments/{attachment_id}")
def download(attachment_id: uuid.UUID, session: SessionDep, user: ConsoleUser) -> Response:
    from api.routers.attachments import download as api_download

    # The API's own answer (digest header, safe file name, nosniff), same checks.
    return api_download(attachment_id, session, user)
