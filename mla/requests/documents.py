"""A request as a readable document, in a language its reader accepts: the filled form, or
an official form the workflow fills by itself (EIO Annex B, the confirmation of receipt the
acknowledge step produces)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from mla import templates
from mla.errors import Conflict, FieldProblem, InvalidInput
from mla.models import HistoryEvent, Request
from mla.requests import lifecycle, translations

# Official forms made from the request's history alone, and the step that produces each.
STEP_FORMS = {"eio_annex_b": "acknowledge"}


def render(session: Session, request: Request, *, language: str | None = None,
           fmt: str = "html", form: str | None = None) -> tuple[str, str]:
    """(document, language of its text). Without `language`: the first language the requested
    authority accepts that the text exists in, else the original. Labels follow the text's
    language when it is a UN language, else the requested authority's first UN language.
    `form="eio_annex_b"`: the confirmation of receipt, once the requested side acknowledged."""
    if form is not None:
        return _step_form(session, request, form, language=language, fmt=fmt)
    texts = translations.texts(session, request)
    accepted = list(request.requested_authority.languages)
    if language is None:
        language = next((lang for lang in accepted if lang in texts), request.language)
    if language not in texts:
        raise InvalidInput(
            f"request {request.reference} has no text in '{language}'",
            [FieldProblem("language", f"available: {', '.join(texts)}")],
        )
    labels = templates.label_language([language, *accepted])
    document = templates.render(
        request.kind, texts[language], version=request.template_version, language=labels,
        fmt=fmt, meta={**facts(session, request), "language_of_text": language},
    )
    return document, language


def _party(authority: Any) -> str:
    return f"{authority.name} ({authority.code})"


def _step(event: HistoryEvent | None) -> str | None:
    """Who took a step and when, as the forms' signature boxes print it."""
    if event is None:
        return None
    # The authority too: on one instance the requesting officer may record the other side's
    # acknowledgement; a step received from a peer instance has no local actor.
    who = (f"{event.actor.full_name} ({event.actor.authority.code})" if event.actor
           else "—")
    text = f"{who}, {event.at.strftime('%Y-%m-%d %H:%M UTC')}"
    return f"{text}: {event.reason}" if event.reason else text


def facts(session: Session, request: Request) -> dict[str, Any]:
    """What the workflow knows, by the fact names official forms map boxes to
    (mla.templates.forms.FACTS)."""
    last: dict[str, HistoryEvent] = {}
    for event in lifecycle.history(session, request):
        last[event.event] = event
    signature = _step(last.get("approve"))
    if signature and "transmit" in last:
        signature += "; transmitted signed (JWS) " + last["transmit"].at.strftime("%Y-%m-%d")
    received = request.counterpart_reference is not None
    return {
        "reference": request.reference,
        "requesting_authority": _party(request.requesting_authority),
        "requested_authority": _party(request.requested_authority),
        "legal_basis": request.legal_basis,
        "date": request.created_at.date().isoformat(),
        "urgent": request.urgent,
        "urgency_reasons": request.urgency_reasons,
        "signature": signature,
        "validation": _step(last.get("validate")),
        "acknowledgement": _step(last.get("acknowledge")),
        "issuing_reference": request.counterpart_reference if received else request.reference,
        "received": request.created_at.strftime("%Y-%m-%d %H:%M UTC") if received else None,
    }


def _step_form(session: Session, request: Request, form: str, *, language: str | None,
               fmt: str) -> tuple[str, str]:
    step = STEP_FORMS.get(form)
    if step is None:
        raise InvalidInput("no such form for a request",
                           [FieldProblem("form", f"one of: {', '.join(STEP_FORMS)}")])
    spec = templates.form(form)
    if spec.legal_bases and request.legal_basis not in spec.legal_bases:
        raise InvalidInput(f"{form} exists for requests under {', '.join(spec.legal_bases)}",
                           [FieldProblem("form", f"request {request.reference} rests on "
                                                 f"{request.legal_basis}")])
    known = facts(session, request)
    if known.get(step if step != "acknowledge" else "acknowledgement") is None:
        raise Conflict(f"request {request.reference} has no {step} step yet; {form} is made "
                       "by it", current_version=request.version)
    labels = templates.label_language([language or "", *request.requested_authority.languages])
    return templates.render_form(form, language=labels, fmt=fmt, meta=known), labels
