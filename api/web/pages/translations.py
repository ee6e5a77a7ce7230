"""Translations of a request's free text, in the template's form cut down to those fields."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, Response

from api.deps import SessionDep
from api.web import forms
from api.web.pages.common import LANGUAGES, add_rows, my_offset, with_content
from api.web.session import PREFIX, CheckedForm, ConsoleRoute, ConsoleUser, flash, page, redirect
from mla import audit, templates
from mla.errors import Conflict, FieldProblem, Forbidden, InvalidInput
from mla.i18n import _
from mla.models import Request as MlaRequest
from mla.models import User
from mla.requests import translations

router = APIRouter(prefix=PREFIX, include_in_schema=False, route_class=ConsoleRoute)


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
                       default_offset=my_offset(user))
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
    row = with_content(session, request_id, user)
    texts = translations.texts(session, row)
    paths = templates.translatable_paths(row.kind, row.template_version)
    # Start from the stored translation, else from the original for the translator to
    # overwrite field by field.
    source = texts.get(language, row.data)
    data = {k: v for k, v in source.items() if k in paths}
    audit.record(session, "request.read_translations", actor=user, object_type="request",
                 object_id=str(row.id), detail={"via": "console"})
    session.commit()
    return _translation_page(request, session, user, row, language, data)


@router.post("/requests/{request_id}/translations/{language}", response_class=HTMLResponse)
def save_translation(request: Request, request_id: uuid.UUID,
                     language: Annotated[str, Path(pattern="^[a-z]{2}$")], form: CheckedForm,
                     session: SessionDep, user: ConsoleUser) -> Response:
    row = with_content(session, request_id, user)
    data = forms.parse(_translation_root(row), form)
    if add_rows(form):
        return _translation_page(request, session, user, row, language, data,
                                 extra_rows=add_rows(form))
    try:
        translations.put_translation(session, row, user, language=language, data=data)
        session.commit()
    except (InvalidInput, Conflict, Forbidden) as exc:
        session.rollback()
        row = with_content(session, request_id, user)
        return _translation_page(
            request, session, user, row, language, data,
            problems=getattr(exc, "problems", None) or [FieldProblem("", exc.detail)],
            status_code={InvalidInput: 422, Conflict: 409}.get(type(exc), 403),
            message="The translation was not saved: " + exc.detail)
    flash(request, _("{reference}: {language} translation saved.", reference=row.reference,
                     language=LANGUAGES.get(language, language)))
    return redirect(f"{PREFIX}/requests/{row.id}#documents-h")
