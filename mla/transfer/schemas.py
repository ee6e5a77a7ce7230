"""The JSON Schemas of the transfer protocol (mla/transfer/schemas/v1/*.json, served at
/transfer/schemas/v1/NAME.json): what a message, a receipt and the inbox's answers hold.
The inbox validates every message with them; validators are compiled once per process
(the inbox's hot path)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from mla.errors import FieldProblem

FOLDER = Path(__file__).parent / "schemas" / "v1"
NAMES = ("message", "receipt", "inbox-response", "problem", "identity")
# Enough to say what is wrong without walking a hostile message's every member.
MAX_PROBLEMS = 20


@cache
def document(name: str) -> dict[str, Any]:
    """The schema `name` (one of NAMES) as published."""
    if name not in NAMES:
        raise KeyError(name)
    loaded: dict[str, Any] = json.loads((FOLDER / f"{name}.json").read_text("utf-8"))
    return loaded


@cache
def _registry() -> Registry[Any]:
    resources = [(document(n)["$id"], Resource.from_contents(document(n))) for n in NAMES]
    return Registry().with_resources(resources)


@cache
def validator(name: str) -> Draft202012Validator:
    return Draft202012Validator(document(name), registry=_registry())


def problems(name: str, instance: Any) -> list[FieldProblem]:
    """Where `instance` breaks schema `name`, by dotted path (`body.title`); [] if valid."""
    found: dict[tuple[str, str], FieldProblem] = {}
    for error in validator(name).iter_errors(instance):
        path = ".".join(str(p) for p in error.absolute_path)
        if error.validator == "required":
            # One error per missing member, each naming them all in validator_value.
            for member in error.validator_value:
                if isinstance(error.instance, dict) and member not in error.instance:
                    where = f"{path}.{member}" if path else member
                    found[(where, "required")] = FieldProblem(where, "is required")
        else:
            problem = FieldProblem(path or "payload", _message(error))
            found[(problem.path, problem.message)] = problem
        if len(found) >= MAX_PROBLEMS:
            break
    return sorted(found.values(), key=lambda p: p.path)


def _message(error: Any) -> str:
    # jsonschema quotes the offending value, which may be a whole attachment: say the rule.
    rule = error.validator
    value = error.validator_value
    if rule == "type":
        return f"must be of type {value}"
    if rule == "const":
        return f"must be {json.dumps(value)}"
    if rule == "enum":
        return f"must be one of {', '.join(map(json.dumps, value))}"
    if rule == "pattern":
        return f"must match {value}"
    if rule in ("minLength", "maxLength", "minimum", "maximum", "minItems"):
        return f"breaks {rule} {value}"
    return str(error.message)[:200]
