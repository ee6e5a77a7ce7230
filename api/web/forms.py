"""HTML forms generated from request templates, and the posted form read back into the
template's data. Input names are the data paths the validator reports (`data.offences.0.name`),
so each problem lands next to its field."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from starlette.datastructures import FormData

from mla import i18n
from mla.errors import FieldProblem
from mla.i18n import N_, _
from mla.templates.model import Field, label

ROOT = "data"
BOOLEAN_MARKER = "__boolean"  # names the checkboxes a form showed, ticked or not
OFFSET_SUFFIX = "__offset"  # the UTC offset half of a datetime input
INDEX = re.compile(r"^\d{1,4}$")
OFFSET = re.compile(r"^(Z|[+-]\d{2}:\d{2})$")

INPUT_TYPES = {"string": "text", "integer": "text", "email": "email", "date": "date",
               "country": "text", "language": "text", "timezone": "text"}
HINTS = {"country": N_("Two-letter ISO code, e.g. FR"),
         "language": N_("Two-letter ISO code, e.g. en"),
         "timezone": N_("IANA name, e.g. Europe/Paris"), "integer": N_("A whole number")}


def html_id(path: str) -> str:
    # Field names are [a-z][a-z0-9_]*, so "--" cannot occur in one.
    return "f-" + path.replace(".", "--")


@dataclass
class Widget:
    """One field of the form as rendered: where it is, what it holds, what is wrong with it."""

    path: str
    spec: Field
    value: Any = None
    errors: list[str] = field(default_factory=list)
    children: list[Widget] = field(default_factory=list)
    items: list[Widget] = field(default_factory=list)
    blank: Widget | None = None  # list only: a new item, its index a placeholder
    placeholder: str = ""
    offset: str = "+00:00"

    @property
    def id(self) -> str:
        return html_id(self.path)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def type(self) -> str:
        return self.spec.type

    @property
    def label(self) -> str:
        return label(self.spec.label, i18n.language()) or \
            self.spec.name.replace("_", " ").capitalize()

    @property
    def help(self) -> str:
        return label(self.spec.help, i18n.language())

    @property
    def hint(self) -> str:
        hint = HINTS.get(self.type)
        return _(hint) if hint else ""

    @property
    def input_type(self) -> str:
        return INPUT_TYPES.get(self.type, "text")

    @property
    def options(self) -> list[tuple[str, str]]:
        lang = i18n.language()
        return [(code, label(labels, lang)) for code, labels in (self.spec.options or {}).items()]

    @property
    def item_label(self) -> str:
        assert self.spec.item is not None
        return label(self.spec.item.label, i18n.language()) or _singular(self.label)

    @property
    def text_value(self) -> str:
        if self.value is None:
            return ""
        if self.type == "datetime":
            return _local_part(self.value)
        return str(self.value)

    @property
    def describedby(self) -> str:
        ids = []
        if self.help or self.hint:
            ids.append(self.id + "-help")
        if self.errors:
            ids.append(self.id + "-error")
        return " ".join(ids)


def _singular(text: str) -> str:
    return text[:-1] if text.endswith("s") else text


def _local_part(value: Any) -> str:
    try:
        return datetime.fromisoformat(str(value)).strftime("%Y-%m-%dT%H:%M:%S")
    except ValueError:
        return str(value)


def _offset_part(value: Any, default: str) -> str:
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return default
    if parsed.tzinfo is None:
        return default
    text = parsed.isoformat()[-6:]
    return "Z" if text == "+00:00" and str(value).endswith("Z") else text


def build(root: Field, data: Mapping[str, Any] | None, *, extra_rows: Iterable[str] = (),
          default_offset: str = "+00:00") -> Widget:
    """The widget tree of a form; lists show their items, at least one row, and one more for
    each path in `extra_rows` (the no-JavaScript "add" button)."""
    extra = list(extra_rows)
    return _build(root, dict(data or {}), ROOT, extra, default_offset, depth=0)


def _build(spec: Field, value: Any, path: str, extra: list[str], offset: str,
           depth: int) -> Widget:
    widget = Widget(path=path, spec=spec, value=value, offset=offset)
    if spec.type == "object":
        current = value if isinstance(value, Mapping) else {}
        widget.children = [_build(f, current.get(f.name), f"{path}.{f.name}", extra, offset,
                                  depth) for f in spec.fields]
    elif spec.type == "list":
        assert spec.item is not None
        items = list(value) if isinstance(value, list) else []
        rows = max(len(items), 1) + extra.count(path)
        items += [None] * (rows - len(items))
        widget.items = [_build(spec.item, item, f"{path}.{i}", extra, offset, depth + 1)
                        for i, item in enumerate(items)]
        widget.placeholder = f"__i{depth}__"
        widget.blank = _build(spec.item, None, f"{path}.{widget.placeholder}", [], offset,
                              depth + 1)
    elif spec.type == "datetime":
        widget.offset = _offset_part(value, offset) if value else offset
    return widget


def walk(widget: Widget) -> Iterable[Widget]:
    yield widget
    for child in (*widget.children, *widget.items):
        yield from walk(child)


def titles(tree: Widget) -> dict[str, str]:
    """Each field's label with those of the groups it sits in ("Offences > Offence 2 >
    Offence"), for the list of problems at the top of the form."""
    out: dict[str, str] = {}

    def visit(widget: Widget, trail: tuple[str, ...]) -> None:
        out[widget.path] = " \u203a ".join(trail) or _("The form")
        for child in widget.children:
            visit(child, (*trail, child.label))
        for i, item in enumerate(widget.items):
            visit(item, (*trail, f"{widget.item_label} {i + 1}"))

    visit(tree, ())
    return out


def attach_errors(tree: Widget, problems: Iterable[FieldProblem],
                  others: Mapping[str, Any] | None = None) -> dict[str, list[str]]:
    """Puts each problem on the widget at its path, or the nearest one above it; returns
    those that belong to no data field (header fields, or the form as a whole)."""
    by_path = {w.path: w for w in walk(tree)}
    rest: dict[str, list[str]] = {}
    for problem in problems:
        path = problem.path
        if path != ROOT and not path.startswith(ROOT + "."):
            rest.setdefault(path, []).append(i18n.problem(problem))
            continue
        parts = path.split(".")
        while parts and ".".join(parts) not in by_path:
            parts.pop()
        target = by_path.get(".".join(parts)) if parts else None
        if target is None or target is tree:
            rest.setdefault("", []).append(f"{path}: {i18n.problem(problem)}")
        else:
            where = path[len(target.path) + 1:]
            text = i18n.problem(problem)
            target.errors.append(f"{where}: {text}" if where else text)
    return rest


# --- reading the form back --------------------------------------------------------------


def parse(root: Field, form: FormData) -> dict[str, Any]:
    """The template data from a posted form: paths become nested objects and lists, empty
    inputs and empty rows disappear, numbers and booleans get their types back. Values that
    do not convert stay as typed, so the validator names the field."""
    raw: dict[str, Any] = {}
    # "path|no": unticked is an answer there (a required box, or one saved as false before);
    # elsewhere an unticked box is "not given", as on the paper form.
    shown = [m.split("|", 1) for m in form.getlist(BOOLEAN_MARKER) if isinstance(m, str)]
    answered = {m[0] for m in shown if len(m) == 2 and m[1] == "no"}
    checkboxes = {m[0] for m in shown}
    for key, value in form.multi_items():
        if not isinstance(value, str) or not (key == ROOT or key.startswith(ROOT + ".")):
            continue
        if key.endswith(OFFSET_SUFFIX) or key in checkboxes:
            continue
        parts = key.split(".")[1:]
        if parts:
            _put(raw, parts, value)
    for key in checkboxes:
        if key.startswith(ROOT + ".") and (key in form or key in answered):
            _put(raw, key.split(".")[1:], key in form)
    offsets = {k[: -len(OFFSET_SUFFIX)]: v for k, v in form.multi_items()
               if isinstance(v, str) and k.endswith(OFFSET_SUFFIX)}
    data = _convert(root, raw, ROOT, offsets)
    return data if isinstance(data, dict) else {}


def _put(tree: dict[str, Any], parts: list[str], value: Any) -> None:
    node = tree
    for part in parts[:-1]:
        nxt = node.get(part)
        if not isinstance(nxt, dict):
            nxt = {}
            node[part] = nxt
        node = nxt
    node[parts[-1]] = value


def _convert(spec: Field | None, raw: Any, path: str, offsets: Mapping[str, str]) -> Any:
    """None means "nothing given"."""
    if spec is None:
        # Not a field of the template: kept as sent, the validator says so.
        return raw if raw not in ("", {}) else None
    if spec.type == "object":
        if not isinstance(raw, dict):
            return None
        out = {}
        names = {f.name: f for f in spec.fields}
        for key, value in raw.items():
            converted = _convert(names.get(key), value, f"{path}.{key}", offsets)
            if converted is not None:
                out[key] = converted
        # Only unticked boxes left: the row was not filled in.
        if all(v is False for v in out.values()) and path != ROOT:
            return None
        return out
    if spec.type == "list":
        if not isinstance(raw, dict):
            return None
        indexed = sorted((int(k), v) for k, v in raw.items() if INDEX.match(k))
        items = [_convert(spec.item, v, f"{path}.{i}", offsets) for i, v in indexed]
        items = [i for i in items if i is not None]
        return items or None
    if spec.type == "boolean":
        if isinstance(raw, str):
            return raw.strip().lower() in ("true", "on", "1") if raw.strip() else None
        return raw if isinstance(raw, bool) else None
    if not isinstance(raw, str):
        return None
    text = raw.replace("\r\n", "\n")
    if spec.type != "text":
        text = text.strip()
    if not text.strip():
        return None
    if spec.type == "integer" and re.fullmatch(r"-?\d{1,15}", text):
        return int(text)
    if spec.type == "datetime":
        offset = offsets.get(path, "").strip()
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?", text) and OFFSET.match(offset):
            seconds = "" if text.count(":") == 2 else ":00"
            return f"{text}{seconds}{'+00:00' if offset == 'Z' else offset}"
    return text
