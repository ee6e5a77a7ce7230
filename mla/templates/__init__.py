"""Universal request templates (templates/requests/): loading, validation, JSON Schema export,
rendering. `load_all()` at start-up checks every file; the other functions load on first use.
The file format is described in templates/requests/FORMAT.md."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mla import kinds as kinds_module
from mla import settings
from mla.errors import FieldProblem, InvalidInput, NotFound
from mla.templates import document, jsonschema
from mla.templates.document import FORMATS, label_language
from mla.templates.forms import OfficialForm, unmapped_paths
from mla.templates.loader import (
    TemplateError,
    load_forms,
    load_library,
    load_template,
    load_ui,
)
from mla.templates.model import UN_LANGUAGES, Field, Labels, Template, TemplateVersion
from mla.templates.validate import check

__all__ = [
    "FORMATS",
    "UN_LANGUAGES",
    "Field",
    "OfficialForm",
    "Template",
    "TemplateError",
    "TemplateVersion",
    "directory",
    "example",
    "form",
    "forms",
    "get",
    "json_schema",
    "kinds",
    "label_language",
    "latest_version",
    "load_all",
    "render",
    "render_form",
    "translatable_paths",
    "validate",
    "validate_translation",
    "validation_needed",
    "versions",
]


def directory() -> Path:
    """templates/requests/ of this checkout, or MLA_TEMPLATES_DIR."""
    configured = settings.get().templates_dir
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parents[2] / "templates" / "requests"


@dataclass(frozen=True)
class _Registry:
    path: Path
    templates: dict[str, Template]
    ui: dict[str, Labels]
    forms: dict[str, OfficialForm]


_registry: _Registry | None = None


def load_all(path: Path | None = None) -> dict[str, Template]:
    """Reads and checks every template; raises TemplateError naming file and line."""
    global _registry
    path = path or directory()
    if not path.is_dir():
        raise TemplateError(f"{path}:0: template directory not found")
    library = load_library(path)
    official = load_forms(path)
    known = set(kinds_module.all_kinds())
    found: dict[str, Template] = {}
    for file in sorted(path.glob("*.yaml")):
        if file.name.startswith("_"):
            continue
        template = load_template(file, library, known, official)
        found[template.kind] = template
        for version in template.versions.values():
            if version.form is None:
                continue
            form_path, spec = official[version.form]
            # Every box that names a field must find it, or the form's coverage would lie.
            broken = unmapped_paths(spec, version.root)
            if broken:
                raise TemplateError(f"{form_path}:0: boxes naming no field of {template.kind} "
                                    f"v{version.version}: {'; '.join(broken)}")
    missing = sorted(known - set(found))
    if missing:
        raise TemplateError(f"{path}:0: no template for kinds {', '.join(missing)}")
    ui = load_ui(path)
    needed = {"document_title", "reference", "kind", "template_version", "requesting_authority",
              "requested_authority", "legal_basis", "language_of_text", "date", "yes", "no",
              "not_given", "item", "page_note"}
    if needed - set(ui):
        raise TemplateError(f"{path / '_ui.yaml'}:0: missing {sorted(needed - set(ui))}")
    for template in found.values():
        for version in template.versions.values():
            problems = check(version.root, version.example, complete=True)
            if problems:
                raise TemplateError(
                    f"{path / (template.kind + '.yaml')}:0: example of version "
                    f"{version.version} is invalid: "
                    + "; ".join(f"{p.path}: {p.message}" for p in problems)
                )
    for fmt in FORMATS.values():
        if not (path / "layouts" / fmt).is_file():
            raise TemplateError(f"{path / 'layouts' / fmt}:0: layout missing")
    _registry = _Registry(path, found, ui, {k: f for k, (_, f) in official.items()})
    return found


def _reg() -> _Registry:
    if _registry is None:
        load_all()
    assert _registry is not None
    return _registry


def kinds() -> list[str]:
    return sorted(_reg().templates)


def _template(kind: str) -> Template:
    template = _reg().templates.get(kind)
    if template is None:
        raise InvalidInput(f"no template for kind '{kind}'",
                           [FieldProblem("kind", f"must be one of: {', '.join(kinds())}")])
    return template


def versions(kind: str) -> list[int]:
    return sorted(_template(kind).versions)


def latest_version(kind: str, legal_basis: str | None = None) -> int:
    """The version a new request of `kind` under `legal_basis` is filed on: an official
    form's version for its instrument (EIO Annex A under eio_2014_41), else the universal
    template's latest."""
    return _template(kind).latest_for(legal_basis).version


def forms() -> dict[str, OfficialForm]:
    """The official forms, by id (templates/requests/forms/)."""
    return dict(_reg().forms)


def form(form_id: str) -> OfficialForm:
    found = _reg().forms.get(form_id)
    if found is None:
        raise NotFound(f"no official form {form_id!r}; forms: {', '.join(sorted(_reg().forms))}")
    return found


def get(kind: str, version: int | None = None) -> TemplateVersion:
    template = _template(kind)
    if version is None:
        # Unqualified, a kind's template is the universal one (an official form's version is
        # asked for by number or through latest_version(kind, legal_basis)).
        return template.latest_for(None)
    if version not in template.versions:
        raise NotFound(f"template {kind} has no version {version}; versions: "
                       f"{', '.join(map(str, sorted(template.versions)))}")
    return template.versions[version]


def validate(kind: str, data: Any, version: int | None = None, *,
             complete: bool = True) -> list[FieldProblem]:
    """Every problem of the form at once; `complete=False` accepts a partly filled draft."""
    return check(get(kind, version).root, data, complete=complete)


def json_schema(kind: str, version: int | None = None) -> dict[str, Any]:
    return jsonschema.schema(get(kind, version))


def example(kind: str, version: int | None = None, *,
            legal_basis: str | None = None) -> dict[str, Any]:
    """A complete form: of `version`, else of the version a filing under `legal_basis`
    takes (an official form's under its instrument), else of the universal template."""
    if version is None and legal_basis is not None:
        version = latest_version(kind, legal_basis)
    return copy.deepcopy(get(kind, version).example)


def translatable_paths(kind: str, version: int | None = None) -> list[str]:
    """Top-level fields holding free text; a translation gives these in another language."""
    return [f.name for f in get(kind, version).fields if f.has_free_text()]


def validate_translation(kind: str, version: int | None, data: Any) -> list[FieldProblem]:
    if not isinstance(data, Mapping) or not data:
        return [FieldProblem("", "give at least one translated field")]
    template = get(kind, version)
    allowed = set(translatable_paths(kind, version))
    problems = [FieldProblem(key, "holds no free text to translate")
                for key in data if key not in allowed]
    subset = Field(name="translation", type="object", label={}, help={},
                   fields=tuple(f for f in template.fields if f.name in data))
    return problems + check(subset, {k: v for k, v in data.items() if k in allowed},
                            complete=False)


def render(kind: str, data: Mapping[str, Any], *, version: int | None = None,
           language: str = "en", fmt: str = "html",
           meta: Mapping[str, Any] | None = None) -> str:
    """The filled form as a document; labels in `language` (one of the six UN languages)."""
    if fmt not in FORMATS:
        raise InvalidInput("unknown document format",
                           [FieldProblem("format", f"must be one of: {', '.join(FORMATS)}")])
    if language not in UN_LANGUAGES:
        raise InvalidInput("labels exist in the six UN languages only",
                           [FieldProblem("language", f"must be one of: {', '.join(UN_LANGUAGES)}")])
    reg = _reg()
    spec = get(kind, version)
    return document.render(reg.path / "layouts", spec, reg.ui, data, language=language,
                           fmt=fmt, meta=meta,
                           form=reg.forms[spec.form] if spec.form else None)


def render_form(form_id: str, *, language: str = "en", fmt: str = "html",
                meta: Mapping[str, Any] | None = None) -> str:
    """An official form that holds only workflow facts (EIO Annex B), as a document."""
    if fmt not in FORMATS:
        raise InvalidInput("unknown document format",
                           [FieldProblem("format", f"must be one of: {', '.join(FORMATS)}")])
    reg = _reg()
    return document.render_facts(reg.path / "layouts", form(form_id), reg.ui,
                                 language=language, fmt=fmt, meta=meta or {})


def validation_needed(kind: str, version: int, data: Any) -> str | None:
    """The article under which a judicial authority must validate this filled form before it
    is transmitted (EIO issued by a police authority: art. 2(c)(ii)), or None."""
    spec = get(kind, version)
    return form(spec.form).validation_needed(data) if spec.form else None
