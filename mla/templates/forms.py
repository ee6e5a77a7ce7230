"""Official forms (templates/requests/forms/*.yaml): the EU annexes as the law writes them,
section by section and box by box, each box mapped to where the engine keeps its content, a
field of the template (`field: offences.0.name` style paths, list indexes left out) or a fact
the workflow records (`fact: urgent`). A template version that follows a form (`form:` in the
kind file) renders in the form's order under its headings; the coverage of each form is the
share of its boxes that map to something."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mla.templates.model import UN_LANGUAGES, Field, Labels

# What the workflow knows about a request outside its form, by the name a box maps to. The
# renderer shows each one from the document's `meta` (mla.requests.documents fills it).
FACTS: dict[str, str] = {
    "reference": "the request's reference, given at filing",
    "requesting_authority": "the requesting (issuing) authority and its State",
    "requested_authority": "the requested (executing) authority and its State",
    "legal_basis": "the legal basis the request rests on",
    "date": "the date of the request",
    "urgent": "the request's urgent flag and the officer's reasons for urgency",
    "signature": "the approval by a supervisor and the signed transmission (JWS)",
    "validation": "the validation step by the validating judicial authority (art. 2(c)(ii))",
    "acknowledgement": "the requested side's acknowledge step: who, when, the note given",
    "issuing_reference": "the issuing (requesting) authority's own reference",
    "received": "when the requested authority received the request",
}


class FormError(Exception):
    """A form file that cannot be used; the message starts with `file:line:`."""


@dataclass(frozen=True)
class Box:
    id: str
    text: str  # the annex's wording (English version of the Official Journal)
    field: tuple[str, ...] | None = None
    fact: str | None = None
    option: str | None = None  # a tick box: the enum option of `field` it stands for

    @property
    def mapped(self) -> bool:
        return self.field is not None or self.fact is not None


@dataclass(frozen=True)
class Section:
    id: str
    heading: Labels  # English from the OJ; other languages where an official version exists
    boxes: tuple[Box, ...]

    def top_fields(self) -> list[str]:
        """The template's top-level fields this section shows, in box order, each once."""
        seen: list[str] = []
        for box in self.boxes:
            if box.field and box.field[0] not in seen:
                seen.append(box.field[0])
        return seen

    def facts(self) -> list[str]:
        seen: list[str] = []
        for box in self.boxes:
            if box.fact and box.fact not in seen:
                seen.append(box.fact)
        return seen


@dataclass(frozen=True)
class OfficialForm:
    id: str
    instrument: str
    annex: str
    title: Labels
    legal_bases: tuple[str, ...]
    preamble: Labels
    sections: tuple[Section, ...]
    template: dict[str, Any] | None  # fields, rules, example shared by the kinds using it
    # Which filled forms a judicial authority must validate before transmission, and why:
    # (field path, values that need it, the article).
    validation: tuple[tuple[str, ...], tuple[str, ...], str] | None = None

    def validation_needed(self, data: Any) -> str | None:
        """The article requiring validation when `data` (a filled form) needs it, else None."""
        if self.validation is None:
            return None
        path, values, article = self.validation
        current = data
        for part in path:
            current = current.get(part) if isinstance(current, dict) else None
        return article if current in values else None

    @property
    def boxes(self) -> list[Box]:
        return [b for s in self.sections for b in s.boxes]

    def coverage(self) -> tuple[int, int]:
        """(boxes mapped to a field or a fact, boxes of the annex)."""
        return sum(b.mapped for b in self.boxes), len(self.boxes)


def _labels(node: Any, where: str) -> Labels:
    if isinstance(node, str):
        return {"en": node.strip()}
    if not isinstance(node, dict) or not str(node.get("en", "")).strip():
        raise FormError(f"{where}: needs English text (a string or a mapping with en)")
    unknown = sorted(set(node) - set(UN_LANGUAGES))
    if unknown:
        raise FormError(f"{where}: languages outside the six UN ones: {unknown}")
    return {str(k): str(v).strip() for k, v in node.items()}


def load_form(path: Path, raw: Any) -> OfficialForm:
    line = getattr(raw, "line", 0)
    if not isinstance(raw, dict):
        raise FormError(f"{path}:{line}: a form file is a mapping")
    form_id = raw.get("form")
    if form_id != path.stem:
        raise FormError(f"{path}:{line}: form must be {path.stem!r} (the file's name)")
    sections: list[Section] = []
    ids: set[str] = set()
    for node in raw.get("sections") or []:
        where = f"{path}:{getattr(node, 'line', line)}"
        boxes: list[Box] = []
        for b in node.get("boxes") or []:
            bwhere = f"{path}:{getattr(b, 'line', line)}"
            box_id = str(b.get("id", ""))
            if not box_id or box_id in ids:
                raise FormError(f"{bwhere}: box id {box_id!r} missing or repeated")
            ids.add(box_id)
            if "field" in b and "fact" in b:
                raise FormError(f"{bwhere}: box {box_id} maps to a field or a fact, not both")
            fact = b.get("fact")
            if fact is not None and fact not in FACTS:
                raise FormError(f"{bwhere}: box {box_id}: unknown fact {fact!r}; known: "
                                f"{', '.join(FACTS)}")
            field = tuple(str(b["field"]).split(".")) if b.get("field") else None
            option = b.get("option")
            if option is not None and field is None:
                raise FormError(f"{bwhere}: box {box_id}: an option belongs to a field")
            boxes.append(Box(box_id, str(b.get("text", "")).strip(), field, fact,
                             None if option is None else str(option)))
        if not boxes:
            raise FormError(f"{where}: section {node.get('id')!r} has no boxes")
        sections.append(Section(str(node.get("id")), _labels(node.get("heading"), where),
                                tuple(boxes)))
    if not sections:
        raise FormError(f"{path}:{line}: a form needs sections")
    validation = None
    if raw.get("validation") is not None:
        rule = raw["validation"]
        if not isinstance(rule, dict) or not rule.get("field") or not isinstance(
                rule.get("in"), list) or not rule.get("article"):
            raise FormError(f"{path}:{getattr(rule, 'line', line)}: validation needs field, "
                            "in (a list) and article")
        validation = (tuple(str(rule["field"]).split(".")), tuple(map(str, rule["in"])),
                      str(rule["article"]))
    return OfficialForm(
        id=form_id, instrument=str(raw.get("instrument", "")), annex=str(raw.get("annex", "")),
        title=_labels(raw.get("title"), f"{path}:{line}"),
        legal_bases=tuple(raw.get("legal_bases") or ()),
        preamble=_labels(raw["preamble"], f"{path}:{line}") if raw.get("preamble") else {},
        sections=tuple(sections), template=raw.get("template"), validation=validation,
    )


def resolve(root: Field, path: tuple[str, ...]) -> Field | None:
    """The field at a box's path (objects by name; lists are entered through their item)."""
    current: Field | None = root
    for part in path:
        while current is not None and current.type == "list":
            current = current.item
        if current is None or current.type != "object":
            return None
        current = current.child(part)
    return current


def unmapped_paths(form: OfficialForm, root: Field) -> list[str]:
    """Box paths that name no field of `root`; empty when the template carries the form."""
    broken = []
    for b in form.boxes:
        if not b.field:
            continue
        found = resolve(root, b.field)
        if found is not None and found.type == "list":
            found = found.item
        if found is None:
            broken.append(f"{b.id}: {'.'.join(b.field)}")
        elif b.option is not None and b.option not in (found.options or {}):
            broken.append(f"{b.id}: {'.'.join(b.field)} has no option {b.option!r}")
    return broken
