"""Guards: rules that refuse a transition with a reason a user can act on.

Each guard raises `GuardRejected`; returning means the rule is satisfied.
"""

from __future__ import annotations

from sqlalchemy import select

from mla import legal, templates
from mla.errors import FieldProblem, GuardRejected
from mla.models import RequestText
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
    "reason_required": reason_required,
    "refusal_grounds": refusal_grounds,
    "template_complete": template_complete,
    "text_in_accepted_language": text_in_accepted_language,
    "profile_requirements": profile_requirements,
}
