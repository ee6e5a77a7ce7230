"""A request as a readable document, in a language its reader accepts."""

from __future__ import annotations

from sqlalchemy.orm import Session

from mla import templates
from mla.errors import FieldProblem, InvalidInput
from mla.models import Request
from mla.requests import translations


def render(session: Session, request: Request, *, language: str | None = None,
           fmt: str = "html") -> tuple[str, str]:
    """(document, language of its text). Without `language`: the first language the requested
    authority accepts that the text exists in, else the original. Labels follow the text's
    language when it is a UN language, else the requested authority's first UN language."""
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
        fmt=fmt, meta={
            "reference": request.reference,
            "requesting_authority": f"{request.requesting_authority.name} "
                                    f"({request.requesting_authority.code})",
            "requested_authority": f"{request.requested_authority.name} "
                                   f"({request.requested_authority.code})",
            "legal_basis": request.legal_basis,
            "date": request.created_at.date().isoformat(),
            "language_of_text": language,
        },
    )
    return document, language
