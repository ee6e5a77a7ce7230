"""Filing a request: the birth of a request from a template, as a draft of its workflow."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

import workflows
from mla import audit, kinds, legal, templates
from mla.clock import utcnow
from mla.errors import Conflict, FieldProblem, Forbidden, InvalidInput
from mla.models import Authority, HistoryEvent, ReferenceCounter, Request, User
from mla.requests import lifecycle

FILING_ROLES = ("officer", "supervisor")


def next_reference(session: Session, authority: Authority) -> str:
    """Next human reference for the authority, e.g. FR-MJ-2026-00042, gap-free per year."""
    year = utcnow().year
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = (
        insert(ReferenceCounter)
        .values(authority_id=authority.id, year=year, last=1)
        .on_conflict_do_update(
            index_elements=["authority_id", "year"],
            set_={"last": ReferenceCounter.last + 1},
        )
        .returning(ReferenceCounter.last)
    )
    number = session.execute(stmt).scalar_one()
    return f"{authority.code}-{year}-{number:05d}"


def _check_text(name: str, value: str | None, column: Any, required: str,
                problems: list[FieldProblem]) -> None:
    """Required, and within its column's length (PostgreSQL refuses longer; SQLite would
    keep it silently)."""
    limit = column.type.length
    if not value or not value.strip():
        problems.append(FieldProblem(name, required))
    elif len(value.strip()) > limit:
        problems.append(FieldProblem(name, f"at most {limit} characters"))


URGENCY_REASONS_MAX = 4000


def _urgency(kind: kinds.Kind, urgent: bool, reasons: str | None,
             problems: list[FieldProblem], *, officer: bool = True) -> tuple[bool, str | None]:
    """The officer's urgency: it shortens the periods where the law gives an urgent one
    (data/deadlines.yaml `urgent_period`) and pages the 24/7 point, so it needs its reasons.
    Kinds urgent by nature (provisional arrest, expedited preservation) always are. A request
    received from another instance (`officer=False`) keeps the sender's urgency as sent."""
    reasons = reasons.strip() if isinstance(reasons, str) and reasons.strip() else None
    if urgent and reasons is None and officer:
        problems.append(FieldProblem("urgency_reasons", "say why the request is urgent; the "
                                     "reasons go with it to the requested authority"))
    elif reasons is not None and len(reasons) > URGENCY_REASONS_MAX:
        problems.append(FieldProblem("urgency_reasons",
                                     f"at most {URGENCY_REASONS_MAX} characters"))
    return bool(urgent) or kind.urgent, reasons


def _check_language(language: str, problems: list[FieldProblem]) -> None:
    if not (isinstance(language, str) and len(language) == 2 and language.isalpha()
            and language.islower()):
        problems.append(FieldProblem("language", "ISO 639-1 code in lower case, e.g. en"))


def file_request(
    session: Session,
    actor: User,
    *,
    kind: str,
    requested_authority_id: int,
    legal_basis: str,
    title: str,
    language: str,
    data: Mapping[str, Any] | None = None,
    urgent: bool = False,
    urgency_reasons: str | None = None,
) -> Request:
    """Creates a draft request of `kind` from the actor's authority to another one, urgent
    when the officer says so (with reasons).

    The form may be incomplete (it is a draft) but what is there must be well-formed;
    every problem is reported at once.
    """
    if actor.role not in FILING_ROLES:
        raise Forbidden(f"filing a request needs the role officer or supervisor; you are "
                        f"{actor.role}")
    problems: list[FieldProblem] = []
    kind_spec = kinds.get(kind)
    try:
        legal.get(legal_basis, kind)
    except InvalidInput as exc:
        problems.extend(exc.problems)
    requested = session.get(Authority, requested_authority_id)
    if requested is None:
        problems.append(FieldProblem("requested_authority", "no such authority"))
    elif requested.id == actor.authority_id:
        problems.append(FieldProblem("requested_authority", "cannot be your own authority"))
    _check_text("title", title, Request.title, "a short title is required", problems)
    _check_language(language, problems)
    urgent, urgency_reasons = _urgency(kind_spec, urgent, urgency_reasons, problems)
    form = dict(data or {})
    version = templates.latest_version(kind, legal_basis)
    problems.extend(_basis_fits(kind, version, legal_basis))
    problems.extend(
        FieldProblem(f"data.{p.path}", p.message)
        for p in templates.validate(kind, form, version, complete=False)
    )
    if problems:
        raise InvalidInput(f"the {kind} request cannot be filed as given", problems)

    assert requested is not None
    return _create(
        session, actor, kind_spec.workflow("requesting"), actor.authority,
        kind=kind, requesting=actor.authority, requested=requested, legal_basis=legal_basis,
        title=title, language=language, data=form, version=version, urgent=urgent,
        urgency_reasons=urgency_reasons,
    )


def register_incoming(
    session: Session,
    actor: User,
    *,
    kind: str,
    requesting_authority_id: int,
    counterpart_reference: str,
    legal_basis: str,
    title: str,
    language: str,
    data: Mapping[str, Any],
    template_version: int | None = None,
    urgent: bool = False,
    urgency_reasons: str | None = None,
) -> Request:
    """Records a request received by this (requested) authority, on paper, by e-mail or
    electronically; it starts the requested-side lifecycle and its clocks."""
    if actor.role not in FILING_ROLES:
        raise Forbidden(f"registering a request needs the role officer or supervisor; you are "
                        f"{actor.role}")
    return register_received(
        session, actor, actor.authority, kind=kind,
        requesting=session.get(Authority, requesting_authority_id),
        counterpart_reference=counterpart_reference, legal_basis=legal_basis, title=title,
        language=language, data=data, template_version=template_version, urgent=urgent,
        urgency_reasons=urgency_reasons,
    )


def register_received(
    session: Session,
    actor: User | None,
    requested: Authority,
    *,
    kind: str,
    requesting: Authority | None,
    counterpart_reference: str,
    legal_basis: str,
    title: str,
    language: str,
    data: Mapping[str, Any],
    template_version: int | None = None,
    urgent: bool = False,
    urgency_reasons: str | None = None,
) -> Request:
    """`register_incoming` without the role check, for `requested` (this instance's authority);
    `actor=None` is the system itself, e.g. a request received from the requesting
    authority's instance (mla.transfer)."""
    kind_spec = kinds.get(kind)
    problems: list[FieldProblem] = []
    try:
        legal.get(legal_basis, kind)
    except InvalidInput as exc:
        problems.extend(exc.problems)
    if requesting is None:
        problems.append(FieldProblem("requesting_authority", "no such authority"))
    elif requesting.id == requested.id:
        problems.append(FieldProblem("requesting_authority", "cannot be your own authority"))
    _check_text("counterpart_reference", counterpart_reference,
                Request.counterpart_reference, "the sender's reference", problems)
    _check_text("title", title, Request.title, "a short title is required", problems)
    _check_language(language, problems)
    urgent, urgency_reasons = _urgency(kind_spec, urgent, urgency_reasons, problems,
                                       officer=actor is not None)
    version = template_version or templates.latest_version(kind, legal_basis)
    if isinstance(version, int) and version in templates.versions(kind):
        problems.extend(_basis_fits(kind, version, legal_basis))
    # Received as sent: what the sender left out is for the assessment, not a reason to lose
    # the request, so only the shape of what is there is checked.
    problems.extend(
        FieldProblem(f"data.{p.path}", p.message)
        for p in templates.validate(kind, data, version, complete=False)
    )
    if problems:
        raise InvalidInput(f"the incoming {kind} request cannot be registered", problems)
    assert requesting is not None
    return _create(
        session, actor, kind_spec.workflow("requested"), requested,
        kind=kind, requesting=requesting, requested=requested, legal_basis=legal_basis,
        title=title, language=language, data=data, version=version, urgent=urgent,
        urgency_reasons=urgency_reasons, counterpart_reference=counterpart_reference.strip(),
    )


def follow_up_draft(source: Request, kind: str) -> dict[str, Any]:
    """The form of a new request of `kind` that follows `source` (the formal extradition
    request after the provisional arrest): every field of `source` the new template has
    with the same name and type, and that is valid there (the person, the offence, the
    facts are not typed twice)."""
    version = templates.latest_version(kind, source.legal_basis)
    root = templates.get(kind, version).root
    carried = {}
    for name, value in (source.data or {}).items():
        mine = templates.get(source.kind, source.template_version).root.child(name)
        theirs = root.child(name)
        if mine is not None and theirs is not None and mine.type == theirs.type:
            carried[name] = value
    wrong = {p.path.split(".")[0] for p in templates.validate(kind, carried, version,
                                                               complete=False)}
    return {k: v for k, v in carried.items() if k not in wrong}


def _basis_fits(kind: str, version: int, legal_basis: str) -> list[FieldProblem]:
    """An official form's version (EIO Annex A, EAW, EPOC…) is for its instrument only."""
    spec = templates.get(kind, version)
    if spec.applies_to(legal_basis):
        return []
    return [FieldProblem("legal_basis", f"{kind} v{version} follows the official form "
                                        f"{spec.form}, for {', '.join(spec.legal_bases)} only")]


def _create(
    session: Session,
    actor: User | None,
    workflow_name: str,
    owner: Authority,
    *,
    kind: str,
    requesting: Authority,
    requested: Authority,
    legal_basis: str,
    title: str,
    language: str,
    data: Mapping[str, Any],
    version: int,
    urgent: bool,
    urgency_reasons: str | None = None,
    counterpart_reference: str | None = None,
) -> Request:
    workflow = workflows.get(workflow_name)
    now = utcnow()
    request = Request(
        reference=next_reference(session, owner),
        counterpart_reference=counterpart_reference,
        kind=kind,
        workflow=workflow.name,
        legal_basis=legal_basis,
        requesting_authority_id=requesting.id,
        requested_authority_id=requested.id,
        requesting_authority=requesting,
        requested_authority=requested,
        title=title.strip(),
        urgent=urgent,
        urgency_reasons=urgency_reasons,
        state=workflow.definition.received_state(kind) if counterpart_reference
        else workflow.definition.initial,
        template_version=version,
        language=language,
        data=dict(data),
        created_by_id=actor.id if actor else None,
        created_at=now,
        updated_at=now,
    )
    session.add(request)
    session.flush()
    session.add(
        HistoryEvent(request_id=request.id, at=now, actor_id=actor.id if actor else None,
                     event="file", from_state=None, to_state=request.state)
    )
    session.flush()
    audit.record(session, "request.file", actor=actor, object_type="request",
                 object_id=str(request.id),
                 detail={"reference": request.reference, "kind": kind, "state": request.state,
                         "urgent": urgent})
    result = lifecycle.TransitionResult(
        request_id=request.id, event="file", from_state=None, to_state=request.state,
        version=request.version, opens=workflow.definition.initial_opens, closes=(),
        actor=actor,
    )
    lifecycle.run_hooks(session, request, result)
    return request


def update_draft(
    session: Session,
    request: Request,
    actor: User,
    *,
    data: Mapping[str, Any],
    expected_version: int | None = None,
) -> Request:
    """Replaces the form of a request still being drafted by its own authority."""
    if lifecycle.acting_party(request, actor) != "requesting" or actor.role not in FILING_ROLES:
        raise Forbidden("only officers of the requesting authority edit the draft")
    if request.state != "draft":
        raise Conflict(f"request {request.reference} is {request.state}; only drafts change",
                       current_version=request.version)
    if expected_version is not None and expected_version != request.version:
        raise Conflict(f"request {request.reference} is at version {request.version}",
                       current_version=request.version)
    problems = [
        FieldProblem(f"data.{p.path}", p.message)
        for p in templates.validate(request.kind, data, request.template_version,
                                    complete=False)
    ]
    if problems:
        raise InvalidInput("the form has problems", problems)
    request.data = dict(data)
    request.updated_at = utcnow()
    session.flush()
    audit.record(session, "request.update_draft", actor=actor, object_type="request",
                 object_id=str(request.id), detail={"version": request.version})
    return request
