"""Translations of a request's free text: one stored text per language."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mla import audit, templates
from mla.clock import utcnow
from mla.errors import Conflict, FieldProblem, Forbidden, InvalidInput
from mla.models import Request, RequestText, User
from mla.requests import lifecycle

# Until it leaves the authority the text can still be translated or corrected.
EDITABLE_STATES = ("draft", "in_review", "approved", "translating")


def put_translation(
    session: Session,
    request: Request,
    actor: User,
    *,
    language: str,
    data: Mapping[str, Any],
) -> RequestText:
    """Stores (or replaces) the translation of the request's free text into `language`."""
    if lifecycle.acting_party(request, actor) != "requesting" or actor.role not in (
        "officer", "supervisor"
    ):
        raise Forbidden("only officers of the requesting authority add translations")
    if request.state not in EDITABLE_STATES:
        raise Conflict(f"request {request.reference} is {request.state}; its text is final",
                       current_version=request.version)
    problems = [FieldProblem("language", "ISO 639-1 code in lower case, e.g. fr")] if not (
        len(language) == 2 and language.isalpha() and language.islower()
    ) else []
    if language == request.language:
        problems.append(FieldProblem("language", "this is the language of the original"))
    problems.extend(
        FieldProblem(f"data.{p.path}", p.message)
        for p in templates.validate_translation(request.kind, request.template_version, data)
    )
    if problems:
        raise InvalidInput("the translation cannot be stored as given", problems)
    text = session.scalar(
        select(RequestText).where(RequestText.request_id == request.id,
                                  RequestText.language == language)
    )
    if text is None:
        text = RequestText(request_id=request.id, language=language, data=dict(data),
                           created_by_id=actor.id)
        session.add(text)
    else:
        text.data = dict(data)
        text.created_by_id = actor.id
        text.created_at = utcnow()
    session.flush()
    audit.record(session, "request.translation", actor=actor, object_type="request",
                 object_id=str(request.id), detail={"language": language})
    return text


def texts(session: Session, request: Request) -> dict[str, dict[str, Any]]:
    """Every language the request's text exists in, the original first."""
    found = {request.language: dict(request.data)}
    for t in session.scalars(select(RequestText).where(RequestText.request_id == request.id)):
        found[t.language] = {**request.data, **t.data}
    return found
