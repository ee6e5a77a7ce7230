"""Guards: rules that refuse a transition with a reason a user can act on.

Each guard raises `GuardRejected`; returning means the rule is satisfied.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select

from mla import legal, templates
from mla.clock import utcnow
from mla.errors import FieldProblem, GuardRejected
from mla.i18n import N_
from mla.models import HistoryEvent, RequestText
from mla.profiles import checks as profile_checks
from workflows.base import Context


def reason_required(ctx: Context) -> None:
    reason = ctx.data.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise GuardRejected(
            "a reason is required for this step",
            [FieldProblem("reason", "give the reason, it is recorded in the history")],
        )


def refusal_grounds(ctx: Context) -> None:
    """Refusal needs at least one ground, each from the list of the request's legal basis."""
    request = ctx.request
    grounds = ctx.data.get("grounds")
    allowed = legal.refusal_grounds(request.legal_basis, request.kind)
    codes = ", ".join(sorted(allowed))
    if not isinstance(grounds, list | tuple) or not grounds:
        raise GuardRejected(
            "a refusal must state its grounds",
            [FieldProblem("grounds", f"choose one or more of: {codes}")],
        )
    unknown = [g for g in grounds if g not in allowed]
    if unknown:
        raise GuardRejected(
            f"grounds not available under {request.legal_basis}: {', '.join(map(str, unknown))}",
            [FieldProblem("grounds", f"choose one or more of: {codes}")],
        )


def template_complete(ctx: Context) -> None:
    """The filled template must be complete and valid before it leaves the authority."""
    request = ctx.request
    problems = templates.validate(request.kind, request.data, version=request.template_version)
    if problems:
        raise GuardRejected(
            f"the request form has {len(problems)} problem(s); fix them before transmitting",
            [FieldProblem(f"data.{p.path}", p.message) for p in problems],
        )


def text_in_accepted_language(ctx: Context) -> None:
    """The requested authority must be able to read it: original or a translation it accepts."""
    request = ctx.request
    accepted = list(request.requested_authority.languages)
    if request.language in accepted:
        return
    found = ctx.session.scalar(
        select(RequestText.id)
        .where(RequestText.request_id == request.id, RequestText.language.in_(accepted))
        .limit(1)
    )
    if found is None:
        raise GuardRejected(
            f"the request is in '{request.language}' but {request.requested_authority.code} "
            f"accepts only {', '.join(accepted)}; add a translation first",
            [FieldProblem("translations", f"add a text in one of: {', '.join(accepted)}")],
        )


# How a report of the other authority's act reached us when it did not come through this
# system (it then comes as a status message, recorded by the system with no actor).
REPORT_CHANNELS = {"email": N_("e-mail"), "phone": N_("telephone"), "post": N_("post"),
                   "fax": N_("fax"), "diplomatic": N_("diplomatic channel"),
                   "in_person": N_("in person"), "other": N_("other")}


def counterpart_report(ctx: Context) -> None:
    """An officer records what the other authority did (acknowledged, asked for information,
    refused...) from a report received outside this system: the day it was received and the
    channel, when given, must be possible ones. The day defaults to the day it is recorded."""
    if ctx.actor_role is None:
        return
    request = ctx.request
    problems = []
    received = ctx.data.get("received_on")
    if received is not None:
        try:
            day = received if isinstance(received, date) else date.fromisoformat(str(received))
        except ValueError:
            day = None
            problems.append(FieldProblem("received_on", "a date as YYYY-MM-DD"))
        if day is not None:
            tz = ZoneInfo(request.requesting_authority.timezone)
            today = utcnow().astimezone(tz).date()
            sent = request.transmitted_at.astimezone(tz).date() if request.transmitted_at \
                else None
            if day > today:
                problems.append(FieldProblem("received_on", f"not after today ({today})"))
            elif sent is not None and day < sent:
                problems.append(FieldProblem(
                    "received_on", f"not before the request was transmitted ({sent})"))
    channel = ctx.data.get("channel")
    if channel is not None and channel not in REPORT_CHANNELS:
        problems.append(FieldProblem("channel", f"one of: {', '.join(REPORT_CHANNELS)}"))
    if problems:
        raise GuardRejected(
            f"the report from {request.requested_authority.code} cannot be recorded as given",
            problems)


def event_instant(value: object) -> datetime | None:
    """`occurred_at` of a step: an ISO 8601 instant with its UTC offset, or None."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
    else:
        return None
    return parsed if parsed.tzinfo is not None else None


def occurred_at(ctx: Context) -> None:
    """A legal trigger (arrest, consent, final decision, receipt) may be recorded after it
    happened: `occurred_at` says when, and its clock counts from then. Optional; it must not
    be in the future nor before the request existed."""
    value = ctx.data.get("occurred_at")
    if value is None:
        return
    instant = event_instant(value)
    if instant is None:
        raise GuardRejected("when did it happen?", [FieldProblem(
            "occurred_at", "an ISO 8601 instant with its UTC offset, e.g. "
                           "2026-05-04T06:30:00+02:00")])
    if instant > utcnow():
        raise GuardRejected("that is in the future", [FieldProblem(
            "occurred_at", "cannot be later than now")])
    created = getattr(ctx.request, "created_at", None)
    if created is not None and instant < created:
        raise GuardRejected("that is before the request existed", [FieldProblem(
            "occurred_at", f"cannot be before {created.isoformat()}")])


def agreed_date(ctx: Context) -> None:
    """EAW art. 23(3)-(4): the new surrender date the two authorities agreed."""
    value = ctx.data.get("agreed_date")
    try:
        day = value if isinstance(value, date) else date.fromisoformat(str(value))
    except ValueError:
        day = None
    if value is None or day is None:
        raise GuardRejected("the new surrender date is required", [FieldProblem(
            "agreed_date", "the date agreed with the issuing authority, YYYY-MM-DD")])


def _validated_since_approval(ctx: Context) -> bool:
    events = ctx.session.scalars(
        select(HistoryEvent.event).where(HistoryEvent.request_id == ctx.request.id,
                                         HistoryEvent.event.in_(("approve", "validate")))
        .order_by(HistoryEvent.id.desc()).limit(1))
    return events.first() == "validate"


def validation_needed(ctx: Context) -> None:
    """The validate step exists for forms the law has validated (EIO, EPOC, EPOC-PR issued
    by a non-judicial authority), not for others."""
    request = ctx.request
    if templates.validation_needed(request.kind, request.template_version, request.data) is None:
        raise GuardRejected(
            f"request {request.reference} needs no validation: it is issued by a judicial "
            "authority or does not follow an official form that requires it",
            [FieldProblem("event", "transmit it once approved")],
        )


def validated_when_required(ctx: Context) -> None:
    """An order issued by a non-judicial authority leaves only once a judicial authority has
    validated it (Directive 2014/41/EU art. 2(c)(ii); Regulation (EU) 2023/1543 art. 4)."""
    request = ctx.request
    article = templates.validation_needed(request.kind, request.template_version, request.data)
    if article is not None and not _validated_since_approval(ctx):
        raise GuardRejected(
            f"request {request.reference} must be validated by a judicial authority before "
            f"it is transmitted ({article})",
            [FieldProblem("event", "a user with the validator role takes the validate step")],
        )


def profile_requirements(ctx: Context) -> None:
    """What the requested State's profile makes a condition of execution (mla/profiles)."""
    findings = [f for f in profile_checks.check_request(ctx.session, ctx.request) if f.mandatory]
    if findings:
        raise GuardRejected(
            f"{ctx.request.requested_authority.code}'s profile has {len(findings)} requirement(s) "
            f"this request does not meet; fix them before transmitting",
            [FieldProblem(f.path, f.message) for f in findings],
        )


GUARDS = {
    "agreed_date": agreed_date,
    "counterpart_report": counterpart_report,
    "occurred_at": occurred_at,
    "reason_required": reason_required,
    "refusal_grounds": refusal_grounds,
    "template_complete": template_complete,
    "text_in_accepted_language": text_in_accepted_language,
    "validation_needed": validation_needed,
    "validated_when_required": validated_when_required,
    "profile_requirements": profile_requirements,
}
