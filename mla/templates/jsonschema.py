"""JSON Schema (2020-12) export of a template version, so other systems can check a form before
sending it. Conditional requirements become `if`/`then`; labels travel as `x-labels`."""

from __future__ import annotations

from typing import Any

from mla.templates.model import (
    INTEGER_RANGE,
    UN_LANGUAGES,
    Field,
    Rule,
    TemplateVersion,
    label,
)

DRAFT = "https://json-schema.org/draft/2020-12/schema"

_SCALARS: dict[str, dict[str, Any]] = {
    "string": {"type": "string", "pattern": r"^[^\n]*\S[^\n]*$"},
    "text": {"type": "string", "pattern": r"\S"},
    "integer": {"type": "integer", "minimum": INTEGER_RANGE[0], "maximum": INTEGER_RANGE[1]},
    "boolean": {"type": "boolean"},
    "date": {"type": "string", "format": "date", "pattern": r"^\d{4}-\d{2}-\d{2}$"},
    "datetime": {"type": "string", "format": "date-time",
                 "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$"},
    "country": {"type": "string", "pattern": "^[A-Z]{2}$"},
    "language": {"type": "string", "pattern": "^[a-z]{2}$"},
    "timezone": {"type": "string", "pattern": r"^[A-Za-z_]+(/[A-Za-z0-9_+\-]+)*$"},
    "email": {"type": "string", "format": "email", "pattern": r"^[^@\s]+@[^@\s]+\.[^@\s]+$"},
}


def schema(version: TemplateVersion, base_url: str = "urn:mla:templates") -> dict[str, Any]:
    body = _field(version.root)
    return {
        "$schema": DRAFT,
        "$id": f"{base_url}/{version.kind}/v{version.version}",
        "title": f"{label(version.title, 'en')} (template version {version.version})",
        "x-kind": version.kind,
        "x-template-version": version.version,
        "x-published": version.published.isoformat(),
        "x-title": version.title,
        **{k: v for k, v in body.items() if k not in ("title", "x-labels")},
        "examples": [version.example],
    }


def _field(f: Field) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if f.label:
        out["title"] = label(f.label, "en")
        out["x-labels"] = {lang: f.label[lang] for lang in UN_LANGUAGES if lang in f.label}
    if f.help:
        out["description"] = label(f.help, "en")
    if f.type in _SCALARS:
        out.update(_SCALARS[f.type])
        if f.max_length:
            out["maxLength"] = f.max_length
    elif f.type == "enum":
        assert f.options is not None
        out["enum"] = list(f.options)
        out["x-option-labels"] = f.options
    elif f.type == "list":
        assert f.item is not None
        out.update(type="array", items=_field(f.item), maxItems=f.max_items)
        if f.min_items:
            out["minItems"] = f.min_items
        elif f.required:
            out["minItems"] = 1
    else:
        out.update(
            type="object",
            properties={c.name: _field(c) for c in f.fields},
            additionalProperties=False,
        )
        required = [c.name for c in f.fields if c.required]
        if required:
            out["required"] = required
        conditions = [_rule(r) for r in f.rules]
        if conditions:
            out["allOf"] = conditions
    return out


def _nest(path: tuple[str, ...], leaf: dict[str, Any]) -> dict[str, Any]:
    """`{"properties": {a: {"properties": {b: leaf}, "required": [b]}}, "required": [a]}`."""
    node = leaf
    for part in reversed(path):
        node = {"properties": {part: node}, "required": [part]}
    return node


def _rule(rule: Rule) -> dict[str, Any]:
    *parents, last = rule.when_path
    if rule.op == "present":
        condition = _nest(tuple(parents), {"required": [last]})
    elif rule.op == "contains":
        condition = _nest(rule.when_path, {"type": "array", "contains": {"const": rule.value}})
    else:
        values = rule.value if rule.op == "in" else [rule.value]
        condition = _nest(rule.when_path, {"enum": values})
    then: dict[str, Any] = {"allOf": [
        _nest(tuple(target[:-1]), {"required": [target[-1]]}) for target in rule.require
    ]}
    return {"if": condition, "then": then, "description": f"required when {rule.describe()}"}
