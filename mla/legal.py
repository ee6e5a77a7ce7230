"""Legal bases and their refusal grounds, read from data/legal_bases.yaml."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

from mla import i18n, kinds
from mla.errors import FieldProblem, InvalidInput


@dataclass(frozen=True)
class LegalBasis:
    code: str
    title: str  # English: what the API, exports and logs carry
    citation: str
    families: tuple[str, ...]
    refusal_grounds: dict[str, dict[str, str]]
    # The title in the six UN languages, for people (the console shows the reader's).
    titles: dict[str, str]


def _titles(code: str, node: object) -> dict[str, str]:
    if not isinstance(node, dict):
        raise ValueError(f"legal_bases.yaml: {code}: title is a mapping of the six UN languages")
    missing = [lang for lang in i18n.LANGUAGES
               if not isinstance(node.get(lang), str) or not node[lang].strip()]
    if missing:
        raise ValueError(f"legal_bases.yaml: {code}: title needs the languages {missing}")
    return {lang: node[lang].strip() for lang in i18n.LANGUAGES}


@cache
def all_bases() -> dict[str, LegalBasis]:
    raw = yaml.safe_load((Path(__file__).parent / "data" / "legal_bases.yaml").read_text("utf-8"))
    return {
        code: LegalBasis(
            code=code,
            title=_titles(code, spec["title"])["en"],
            citation=spec["citation"],
            families=tuple(spec["families"]),
            refusal_grounds=spec["refusal_grounds"],
            titles=_titles(code, spec["title"]),
        )
        for code, spec in raw.items()
    }


def get(code: str, kind: str) -> LegalBasis:
    """The basis, checked to be one a request of this kind may rest on."""
    family = kinds.get(kind).family
    usable = [b.code for b in all_bases().values() if family in b.families]
    basis = all_bases().get(code)
    if basis is None or family not in basis.families:
        raise InvalidInput(
            f"'{code}' is not a legal basis for {kind} requests",
            [FieldProblem("legal_basis", f"must be one of: {', '.join(usable)}")],
        )
    return basis


def refusal_grounds(code: str, kind: str) -> dict[str, str]:
    """Grounds (code -> citation text) on which a request of this kind may be refused."""
    return get(code, kind).refusal_grounds[kinds.get(kind).family]


def title(code: str, lang: str | None = None) -> str:
    """The basis's title in `lang` (default: the reader's), the code itself if unknown."""
    basis = all_bases().get(code)
    return i18n.localized(basis.titles, lang) if basis else code
