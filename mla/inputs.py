"""What any input from outside must be before the engine works with it: text without control
characters, whole numbers within 64 bits, JSON nested at most `MAX_DEPTH` levels. The rules
live here once; `api/limits.py` applies them to every HTTP request (path, query, JSON and
form bodies), `mla/transfer/envelope.py` to a peer's message, the domain to what it parses
itself (tokens' key ids, cursors, `contact:<id>`).

Why: PostgreSQL refuses NUL in text (and `\\u0000` in JSON), encoding a lone surrogate
fails, a number past 64 bits overflows the driver, and deep JSON exhausts the recursion of
whoever walks it next — each was a 500 any client could cause; here each is a named problem.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import Any

from mla.errors import FieldProblem

MAX_DEPTH = 32
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
# Problems reported per input; the rest of a hostile document is not worth listing.
MAX_PROBLEMS = 20

# Tab, line feed and carriage return belong in free text; no other C0 control does, and
# UTF-16 surrogates are not characters at all (JSON's "\ud800" escape makes one).
_MULTILINE_BAD = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]")
# One-line values (addresses, query parameters, file names, identifiers): no control at all.
_LINE_BAD = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")


def text_problem(value: str, *, single_line: bool = False) -> str | None:
    """Why `value` cannot be taken as text, or None."""
    found = (_LINE_BAD if single_line else _MULTILINE_BAD).search(value)
    if found is None:
        return None
    char = found.group()
    if "\ud800" <= char <= "\udfff":
        return "is not valid Unicode (a lone UTF-16 surrogate)"
    return f"contains the control character U+{ord(char):04X}"


def clean_line(value: str) -> str:
    """`value` with every control character and surrogate removed (for names that are
    repaired rather than refused, such as an attachment's file name)."""
    return _LINE_BAD.sub("", value)


def parse_int(text: str, low: int = 0, high: int = INT64_MAX) -> int | None:
    """The number written in ASCII decimal digits in `text`, if it lies in [low, high].
    (`str.isdigit` also accepts "²", which `int` refuses; and `int` of 5,000 digits raises.)"""
    if not (text.isascii() and text.isdecimal()) or len(text) > len(str(high)):
        return None
    number = int(text)
    return number if low <= number <= high else None


class _Refused:
    """A JSON value the parser met and the walk reports (so the field can be named)."""

    def __init__(self, message: str) -> None:
        self.message = message


def _int(text: str) -> Any:
    digits = text.lstrip("-")
    if len(digits) <= 19 and INT64_MIN <= (number := int(text)) <= INT64_MAX:
        return number
    return _Refused("is a number outside the 64-bit integer range")


def _float(text: str) -> Any:
    number = float(text)
    return number if math.isfinite(number) else _Refused("is a number too large to hold")


def _constant(text: str) -> Any:
    return _Refused(f"is {text}, which JSON does not allow")


class TooDeep(ValueError):
    """JSON nested deeper than the parser (or MAX_DEPTH) allows."""


def load_json(raw: bytes | str) -> Any:
    """Parses JSON, with numbers out of range kept as markers `json_problems` names.
    Raises ValueError (json.JSONDecodeError, UnicodeDecodeError) for what is not JSON and
    TooDeep for nesting the parser cannot follow."""
    try:
        return json.loads(raw, parse_int=_int, parse_float=_float, parse_constant=_constant)
    except RecursionError:
        raise TooDeep(f"nested deeper than {MAX_DEPTH} levels") from None


def json_problems(value: Any, prefix: str = "") -> list[FieldProblem]:
    """Every part of a parsed JSON document (`load_json`) the engine refuses, by dotted path
    (`data.offences.0.name`; `prefix` for the root): nesting past MAX_DEPTH, text with control
    characters (tab, line feed and carriage return allowed), numbers out of range. Walks
    without recursion, so any depth is safe to check."""
    problems: list[FieldProblem] = []
    stack: list[tuple[Any, str, int]] = [(value, prefix, 0)]
    while stack and len(problems) < MAX_PROBLEMS:
        node, path, depth = stack.pop()
        where = path or "body"
        if isinstance(node, dict | list) and depth >= MAX_DEPTH:
            problems.append(FieldProblem(where, f"is nested deeper than {MAX_DEPTH} levels"))
        elif isinstance(node, dict):
            for key, child in reversed(list(node.items())):
                why = text_problem(key, single_line=True)
                if why is not None:
                    problems.append(FieldProblem(where, f"has a member name that {why}"))
                    continue
                stack.append((child, f"{path}.{key}" if path else key, depth + 1))
        elif isinstance(node, list):
            stack.extend((child, f"{path}.{i}" if path else str(i), depth + 1)
                         for i, child in reversed(list(enumerate(node))))
        elif isinstance(node, str):
            why = text_problem(node)
            if why is not None:
                problems.append(FieldProblem(where, why))
        elif isinstance(node, _Refused):
            problems.append(FieldProblem(where, node.message))
    return problems


def fields_problems(pairs: list[tuple[str, str]],
                    single_line: Callable[[str], bool] = lambda name: False
                    ) -> list[FieldProblem]:
    """Problems of name/value pairs (a query string, a posted form); `single_line(name)`
    says which values may not hold line breaks either."""
    problems: list[FieldProblem] = []
    for name, value in pairs:
        why = text_problem(name, single_line=True)
        if why is not None:
            problems.append(FieldProblem("form", f"has a field name that {why}"))
            continue
        why = text_problem(value, single_line=single_line(name))
        if why is not None:
            problems.append(FieldProblem(name, why))
        if len(problems) >= MAX_PROBLEMS:
            break
    return problems
