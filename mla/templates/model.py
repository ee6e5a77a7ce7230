"""What a loaded request template is: fields, conditional rules, versions."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

UN_LANGUAGES = ("ar", "zh", "en", "fr", "ru", "es")

SCALAR_TYPES = frozenset({
    "string", "text", "integer", "boolean", "date", "datetime", "enum", "country", "language",
    "timezone", "email",
})
TYPES = SCALAR_TYPES | {"object", "list"}

DEFAULT_MAX_LENGTH = {"string": 500, "text": 20000}
# Items a list may hold unless its field says otherwise (`max_items`); a list of enum values
# may hold each value once by default. The request body limit (MLA_MAX_BODY_BYTES) bounds
# the whole form; this bounds what a single list can make the engine store and render.
DEFAULT_MAX_ITEMS = 100
# Whole numbers in forms: what a signed 64-bit column or a JSON consumer takes.
INTEGER_RANGE = (-(2**63), 2**63 - 1)

Labels = dict[str, str]


@dataclass(frozen=True)
class Rule:
    """`when` the field at `when_path` matches, every path in `require` must have a value."""

    when_path: tuple[str, ...]
    op: str  # equals | in | present | contains
    value: Any
    require: tuple[tuple[str, ...], ...]
    message: Labels | None = None

    def describe(self) -> str:
        path = ".".join(self.when_path)
        if self.op == "present":
            return f"{path} is given"
        if self.op == "contains":
            return f"{path} includes {self.value}"
        if self.op == "in":
            return f"{path} is one of {', '.join(map(str, self.value))}"
        shown = str(self.value).lower() if isinstance(self.value, bool) else self.value
        return f"{path} is {shown}"


@dataclass(frozen=True)
class Field:
    name: str
    type: str
    label: Labels
    help: Labels
    required: bool = False
    max_length: int | None = None
    options: dict[str, Labels] | None = None
    fields: tuple[Field, ...] = ()
    item: Field | None = None
    min_items: int = 0
    max_items: int = DEFAULT_MAX_ITEMS
    rules: tuple[Rule, ...] = ()

    def child(self, name: str) -> Field | None:
        return next((f for f in self.fields if f.name == name), None)

    def has_free_text(self) -> bool:
        if self.type == "text":
            return True
        if self.type == "list" and self.item is not None:
            return self.item.has_free_text()
        return any(f.has_free_text() for f in self.fields)


@dataclass(frozen=True)
class TemplateVersion:
    kind: str
    version: int
    published: date
    title: Labels
    root: Field  # an object field holding the form's top-level fields and rules
    example: dict[str, Any]
    # An official form's version (e.g. EIO Annex A) applies only to its legal bases; a
    # version with none applies to every basis the kind allows.
    legal_bases: tuple[str, ...] = ()
    form: str | None = None  # id of the official form (templates/requests/forms/) it follows

    def applies_to(self, legal_basis: str | None) -> bool:
        return not self.legal_bases or legal_basis in self.legal_bases

    @property
    def fields(self) -> tuple[Field, ...]:
        return self.root.fields


@dataclass
class Template:
    kind: str
    title: Labels
    versions: dict[int, TemplateVersion] = field(default_factory=dict)

    @property
    def latest(self) -> TemplateVersion:
        return self.versions[max(self.versions)]

    def latest_for(self, legal_basis: str | None) -> TemplateVersion:
        """The version new filings under `legal_basis` take: the highest that applies to it
        (an official form's version for its instrument, the universal one otherwise). A kind
        that exists only on an official form (EIO Annex C) answers its latest version, which
        filing then refuses for another basis."""
        fitting = [n for n, v in self.versions.items() if v.applies_to(legal_basis)]
        return self.versions[max(fitting or self.versions)]


def label(labels: Labels | None, language: str) -> str:
    """The text in `language`, falling back to English (help texts are English-first)."""
    if not labels:
        return ""
    return labels.get(language) or labels.get("en", "")
