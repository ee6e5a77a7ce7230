"""Reads templates/requests/*.yaml into checked `Template`s. Every mistake names file and line,
so a bad template stops the service at start-up instead of surprising an officer at filing."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from mla.templates.forms import FormError, OfficialForm, load_form
from mla.templates.model import (
    DEFAULT_MAX_ITEMS,
    DEFAULT_MAX_LENGTH,
    TYPES,
    UN_LANGUAGES,
    Field,
    Labels,
    Rule,
    Template,
    TemplateVersion,
)

NAME = re.compile(r"^[a-z][a-z0-9_]*$")
VERSION_KEYS = {"version", "published", "fields", "rules", "example", "form", "legal_bases"}
FIELD_KEYS = {"name", "type", "required", "label", "help", "max_length", "options", "fields",
              "item", "min_items", "max_items", "rules", "use"}


class TemplateError(Exception):
    """A template file that cannot be used; the message starts with `file:line:`."""


class _Map(dict[str, Any]):
    line = 0


class _List(list[Any]):
    line = 0


# libyaml's parser where PyYAML was built with it: every start of the API and of `mla` reads
# all the templates, several times faster this way; the marks carry the same line numbers.
_SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_SafeLoader):  # type: ignore[valid-type, misc]
    """Keeps line numbers on mappings and lists; leaves dates as text (forms hold ISO strings)."""


_Loader.yaml_implicit_resolvers = {
    key: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _construct_map(loader: _Loader, node: yaml.MappingNode) -> _Map:
    loader.flatten_mapping(node)
    result = _Map()
    result.line = node.start_mark.line + 1
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in result:
            raise TemplateError(
                f"{node.start_mark.name}:{key_node.start_mark.line + 1}: duplicate key '{key}'"
            )
        result[key] = loader.construct_object(value_node, deep=True)
    return result


def _construct_list(loader: _Loader, node: yaml.SequenceNode) -> _List:
    result = _List(loader.construct_object(child, deep=True) for child in node.value)
    result.line = node.start_mark.line + 1
    return result


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_map)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_list)


def read_yaml(path: Path) -> Any:
    try:
        with path.open(encoding="utf-8") as fh:
            return yaml.load(fh, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 0
        raise TemplateError(f"{path}:{line}: {exc.problem or exc}") from None
    except (OSError, yaml.YAMLError) as exc:
        raise TemplateError(f"{path}:0: {exc}") from None


def plain(value: Any) -> Any:
    """Strips the line-number wrappers, for data handed to users (examples)."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


class _Reader:
    def __init__(self, path: Path, library: dict[str, Any]) -> None:
        self.path = path
        self.library = library

    def fail(self, node: Any, message: str) -> TemplateError:
        return TemplateError(f"{self.path}:{getattr(node, 'line', 0)}: {message}")

    def labels(self, node: Any, what: str, *, all_languages: bool = True) -> Labels:
        if not isinstance(node, dict):
            raise self.fail(node, f"{what} must map languages to text")
        needed = UN_LANGUAGES if all_languages else ("en",)
        missing = [lang for lang in needed if not _text(node.get(lang))]
        if missing:
            raise self.fail(node, f"{what} lacks {', '.join(missing)}")
        unknown = sorted(set(node) - set(UN_LANGUAGES))
        if unknown:
            raise self.fail(node, f"{what} has languages outside the six UN ones: {unknown}")
        return {k: str(v).strip() for k, v in node.items()}

    def field(self, node: Any, *, named: bool = True, seen: tuple[str, ...] = ()) -> Field:
        if isinstance(node, str):
            node = self._use(node, None)
        elif isinstance(node, dict) and "use" in node:
            node = self._use(node["use"], node)
        if not isinstance(node, dict):
            raise self.fail(node, "a field is a mapping or the name of a library field")
        unknown = sorted(set(node) - FIELD_KEYS)
        if unknown:
            raise self.fail(node, f"unknown keys {unknown}")
        name = node.get("name", "")
        if named and not (isinstance(name, str) and NAME.match(name)):
            raise self.fail(node, f"field name {name!r} must be snake_case")
        where = f"field '{name}'" if name else "list item"
        ftype = node.get("type")
        if ftype not in TYPES:
            raise self.fail(node, f"{where}: type {ftype!r} is not one of {sorted(TYPES)}")
        required = node.get("required", False)
        if not isinstance(required, bool):
            raise self.fail(node, f"{where}: required must be true or false")
        options = None
        if ftype == "enum":
            raw = node.get("options")
            if not isinstance(raw, dict) or not raw:
                raise self.fail(node, f"{where}: an enum needs options")
            options = {str(code): self.labels(lbl, f"{where} option '{code}'")
                       for code, lbl in raw.items()}
        elif "options" in node:
            raise self.fail(node, f"{where}: only enums have options")
        fields: tuple[Field, ...] = ()
        rules: tuple[Rule, ...] = ()
        if ftype == "object":
            raw_fields = node.get("fields")
            if not isinstance(raw_fields, list) or not raw_fields:
                raise self.fail(node, f"{where}: an object needs fields")
            fields = tuple(self.field(f, seen=(*seen, name)) for f in raw_fields)
            names = [f.name for f in fields]
            dupes = sorted({n for n in names if names.count(n) > 1})
            if dupes:
                raise self.fail(raw_fields, f"{where}: duplicate fields {dupes}")
        elif "fields" in node:
            raise self.fail(node, f"{where}: only objects have fields")
        item = None
        if ftype == "list":
            if "item" not in node:
                raise self.fail(node, f"{where}: a list needs an item definition")
            item = self.field(node["item"], named=False, seen=(*seen, name))
            if item.type == "list":
                raise self.fail(node["item"], f"{where}: lists of lists are not supported")
        elif "item" in node:
            raise self.fail(node, f"{where}: only lists have an item")
        max_length = node.get("max_length", DEFAULT_MAX_LENGTH.get(ftype))
        if max_length is not None and (not isinstance(max_length, int) or max_length < 1):
            raise self.fail(node, f"{where}: max_length must be a positive integer")
        min_items = node.get("min_items", 0)
        if not isinstance(min_items, int) or min_items < 0:
            raise self.fail(node, f"{where}: min_items must be a non-negative integer")
        max_items = DEFAULT_MAX_ITEMS
        if item is not None and item.options is not None:
            max_items = len(item.options)
        if "max_items" in node:
            if ftype != "list":
                raise self.fail(node, f"{where}: only lists have max_items")
            max_items = node["max_items"]
            if isinstance(max_items, bool) or not isinstance(max_items, int) \
                    or max_items < max(1, min_items):
                raise self.fail(node, f"{where}: max_items must be a positive integer, at "
                                      "least min_items")
        result = Field(
            name=name or "item",
            type=ftype,
            label=self.labels(node.get("label"), f"{where} label") if named or "label" in node
            else {},
            help=self.labels(node["help"], f"{where} help", all_languages=False)
            if "help" in node else {},
            required=required,
            max_length=max_length,
            options=options,
            fields=fields,
            item=item,
            min_items=min_items,
            max_items=max_items,
        )
        if ftype == "object" and "rules" in node:
            rules = self.rules(node["rules"], result)
            result = Field(**{**result.__dict__, "rules": rules})
        elif "rules" in node:
            raise self.fail(node, f"{where}: only objects carry rules")
        return result

    def _use(self, name: Any, overrides: dict[str, Any] | None) -> dict[str, Any]:
        base = self.library.get(name) if isinstance(name, str) else None
        if base is None:
            raise self.fail(overrides, f"no library field named {name!r} in _fields.yaml")
        merged = _Map({"name": name, **base})
        merged.line = getattr(overrides, "line", 0) or getattr(base, "line", 0)
        for key, value in (overrides or {}).items():
            if key != "use":
                merged[key] = value
        return merged

    def rules(self, node: Any, scope: Field) -> tuple[Rule, ...]:
        if not isinstance(node, list):
            raise self.fail(node, "rules must be a list")
        return tuple(self.rule(r, scope) for r in node)

    def rule(self, node: Any, scope: Field) -> Rule:
        if not isinstance(node, dict) or set(node) - {"when", "require", "message"}:
            raise self.fail(node, "a rule has when, require and optionally message")
        when = node.get("when")
        if not isinstance(when, dict) or "field" not in when:
            raise self.fail(node, "rule.when needs a field")
        ops = [op for op in ("equals", "in", "present", "contains") if op in when]
        if len(ops) != 1:
            raise self.fail(when, "rule.when needs exactly one of equals, in, present, "
                                  "contains")
        op = ops[0]
        when_path = tuple(str(when["field"]).split("."))
        target = self._resolve(scope, when_path, when)
        value = when[op]
        if op == "in" and not isinstance(value, list):
            raise self.fail(when, "rule.when.in needs a list")
        if op == "contains":
            # A ticked box of a list of enum values (EIO section C measures).
            if target.type != "list" or target.item is None or target.item.type != "enum":
                raise self.fail(when, "rule.when.contains needs a list of enum values")
            assert target.item.options is not None
            if value not in target.item.options:
                raise self.fail(when, f"rule looks for unknown option {value!r} in "
                                      f"{'.'.join(when_path)}")
        elif target.type == "enum" and op != "present":
            assert target.options is not None
            bad = [v for v in (value if op == "in" else [value]) if v not in target.options]
            if bad:
                raise self.fail(when, f"rule compares {'.'.join(when_path)} with unknown "
                                      f"options {bad}")
        require = node.get("require")
        if not isinstance(require, list) or not require:
            raise self.fail(node, "rule.require needs a list of field paths")
        paths = tuple(tuple(str(p).split(".")) for p in require)
        for p in paths:
            self._resolve(scope, p, node)
        message = (self.labels(node["message"], "rule message")
                   if "message" in node else None)
        return Rule(when_path, op, value, paths, message)

    def _resolve(self, scope: Field, path: tuple[str, ...], node: Any) -> Field:
        current = scope
        for part in path:
            found = current.child(part) if current.type == "object" else None
            if found is None:
                raise self.fail(node, f"rule refers to unknown field {'.'.join(path)}")
            current = found
        return current


def _text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def load_library(directory: Path) -> dict[str, Any]:
    path = directory / "_fields.yaml"
    raw = read_yaml(path)
    if not isinstance(raw, dict):
        raise TemplateError(f"{path}:1: the field library is a mapping name -> field")
    return raw


def load_ui(directory: Path) -> dict[str, Labels]:
    path = directory / "_ui.yaml"
    raw = read_yaml(path)
    if not isinstance(raw, dict):
        raise TemplateError(f"{path}:1: _ui.yaml maps keys to six-language texts")
    reader = _Reader(path, {})
    return {str(k): reader.labels(v, f"ui string '{k}'") for k, v in raw.items()}


def load_forms(directory: Path) -> dict[str, tuple[Path, OfficialForm]]:
    """templates/requests/forms/*.yaml, by form id (none when the folder is absent)."""
    found: dict[str, tuple[Path, OfficialForm]] = {}
    for file in sorted((directory / "forms").glob("*.yaml")):
        try:
            found[file.stem] = (file, load_form(file, read_yaml(file)))
        except FormError as exc:
            raise TemplateError(str(exc)) from None
    return found


def _merged(base: Any, overrides: Any) -> Any:
    """A form's shared example with a kind's own values laid over it, key by key (a null
    removes the form's value)."""
    if isinstance(base, dict) and isinstance(overrides, dict):
        out = _Map({**base})
        for key, value in overrides.items():
            if value is None:
                out.pop(key, None)
            else:
                out[key] = _merged(base.get(key), value)
        return out
    if overrides is None:
        return base
    return overrides


def load_template(path: Path, library: dict[str, Any], kind_names: set[str],
                  forms: dict[str, tuple[Path, OfficialForm]] | None = None) -> Template:
    raw = read_yaml(path)
    reader = _Reader(path, library)
    if not isinstance(raw, dict):
        raise reader.fail(raw, "a template file is a mapping with kind, title, versions")
    kind = raw.get("kind")
    if kind not in kind_names:
        raise reader.fail(raw, f"kind {kind!r} is not a known request kind")
    if path.name != f"{kind}.yaml":
        raise reader.fail(raw, f"the file for kind {kind} must be named {kind}.yaml")
    template = Template(kind=kind, title=reader.labels(raw.get("title"), "title"))
    versions = raw.get("versions")
    if not isinstance(versions, list) or not versions:
        raise reader.fail(raw, "versions must be a non-empty list")
    for node in versions:
        if not isinstance(node, dict):
            raise reader.fail(versions, "each version is a mapping")
        number = node.get("version")
        if not isinstance(number, int) or number < 1 or number in template.versions:
            raise reader.fail(node, f"version {number!r} must be a new positive integer")
        try:
            published = date.fromisoformat(str(node.get("published")))
        except ValueError:
            raise reader.fail(node, "published must be a date YYYY-MM-DD") from None
        unknown = sorted(set(node) - VERSION_KEYS)
        if unknown:
            raise reader.fail(node, f"version {number}: unknown keys {unknown}")
        spec, version_reader, form_id = node, reader, node.get("form")
        legal_bases = node.get("legal_bases")
        if form_id is not None:
            if form_id not in (forms or {}):
                raise reader.fail(node, f"version {number}: no official form {form_id!r} in "
                                        "forms/")
            form_path, form = (forms or {})[form_id]
            shared = form.template or {}
            # The form's field list, rules and example unless the version gives its own;
            # the version's example values are laid over the form's.
            spec = _Map({"fields": node.get("fields", shared.get("fields")),
                         "rules": node.get("rules", shared.get("rules")),
                         "example": _merged(shared.get("example"), node.get("example"))})
            spec.line = node.line
            if "fields" not in node:
                version_reader = _Reader(form_path, library)
            legal_bases = legal_bases if legal_bases is not None else list(form.legal_bases)
        if legal_bases is not None and (not isinstance(legal_bases, list) or not all(
                isinstance(b, str) for b in legal_bases)):
            raise reader.fail(node, f"version {number}: legal_bases is a list of codes")
        root_node = _Map(name="form", type="object", fields=spec.get("fields"),
                         label=raw.get("title"))
        root_node.line = node.line
        if spec.get("rules") is not None:
            root_node["rules"] = spec["rules"]
        root = version_reader.field(root_node)
        example = spec.get("example")
        if not isinstance(example, dict):
            raise reader.fail(node, f"version {number} needs a complete example")
        template.versions[number] = TemplateVersion(
            kind=kind, version=number, published=published, title=template.title, root=root,
            example=plain(example), legal_bases=tuple(legal_bases or ()), form=form_id,
        )
    return template
