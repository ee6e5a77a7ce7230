"""Renders a filled form into a readable document through the Jinja2 layouts of
templates/requests/layouts/, with labels in the reader's language."""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import jinja2

from mla.templates.forms import OfficialForm
from mla.templates.model import UN_LANGUAGES, Field, Labels, TemplateVersion, label

FORMATS = {"html": "document.html.j2", "md": "document.md.j2"}
RTL = {"ar"}


@cache
def environment(layouts: Path) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(layouts),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",),
                                            default_for_string=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def label_language(accepted: list[str]) -> str:
    """The first accepted language that has labels; English when none does (e.g. Swahili)."""
    return next((lang for lang in accepted if lang in UN_LANGUAGES), "en")


def direction(text: str) -> str:
    """"rtl" when the first strongly directional character is right-to-left (Unicode bidi
    rules P2-P3), else "ltr": a Latin address or a phone number in an Arabic document keeps
    its own order."""
    for char in text:
        kind = unicodedata.bidirectional(char)
        if kind == "L":
            return "ltr"
        if kind in ("R", "AL"):
            return "rtl"
    return "ltr"


def _display(f: Field, value: Any, lang: str, ui: Mapping[str, str]) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if f.type == "boolean":
        return ui["yes"] if value else ui["no"]
    if f.type == "enum" and f.options and value in f.options:
        return label(f.options[value], lang)
    return str(value)


def node(f: Field, value: Any, lang: str, ui: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {"label": label(f.label, lang) or ui["item"], "help": label(f.help, lang),
                           "type": f.type, "value": None, "dir": None, "children": [],
                           "items": []}
    if f.type == "object":
        value = value if isinstance(value, Mapping) else {}
        out["children"] = [node(c, value.get(c.name), lang, ui) for c in f.fields]
    elif f.type == "list":
        assert f.item is not None
        for i, item in enumerate(value if isinstance(value, list) else []):
            entry = node(f.item, item, lang, ui)
            if f.item.type == "object":
                out["items"].append(entry["children"])
            else:
                entry["label"] = f"{ui['item']} {i + 1}"
                out["items"].append([entry])
    else:
        out["value"] = _display(f, value, lang, ui)
        out["dir"] = direction(out["value"]) if out["value"] else None
    return out


def _fact(name: str, meta: Mapping[str, Any], ui: Mapping[str, str]) -> dict[str, Any]:
    value = meta.get(name)
    if isinstance(value, bool):
        value = ui["yes"] if value else ui["no"]
    if name == "urgent" and meta.get("urgency_reasons") and value == ui["yes"]:
        value = f"{value}: {meta['urgency_reasons']}"
    shown = None if value is None or (isinstance(value, str) and not value.strip()) \
        else str(value)
    return {"label": ui.get(f"fact_{name}") or ui.get(name) or name, "value": shown}


def section_facts(section: Any, meta: Mapping[str, Any],
                  ui: Mapping[str, str]) -> list[dict[str, Any]]:
    """The workflow facts a section shows, then any box the engine has nothing for (it
    prints as not given, as on paper)."""
    return [_fact(f, meta, ui) for f in section.facts()] + [
        {"label": b.text, "value": None} for b in section.boxes if not b.mapped]


def parts(form: OfficialForm, version: TemplateVersion, data: Mapping[str, Any],
          meta: Mapping[str, Any], lang: str, ui: Mapping[str, str]) -> list[dict[str, Any]]:
    """The form's sections in the annex's order, each with the workflow facts and the
    template fields its boxes map to; a field no box names comes last, under "other"."""
    by_name = {f.name: f for f in version.fields}
    shown: set[str] = set()
    out = []
    for section in form.sections:
        names = [n for n in section.top_fields() if n in by_name and n not in shown]
        shown.update(names)
        out.append({"id": section.id, "heading": label(section.heading, lang),
                    "facts": section_facts(section, meta, ui),
                    "nodes": [node(by_name[n], data.get(n), lang, ui) for n in names]})
    rest = [f for f in version.fields if f.name not in shown]
    if rest:
        out.append({"id": "", "heading": ui["other_information"], "facts": [],
                    "nodes": [node(f, data.get(f.name), lang, ui) for f in rest]})
    return out


def render(
    layouts: Path,
    version: TemplateVersion,
    ui_strings: Mapping[str, Labels],
    data: Mapping[str, Any],
    *,
    language: str,
    fmt: str,
    meta: Mapping[str, Any] | None,
    form: OfficialForm | None = None,
) -> str:
    ui = {key: label(texts, language) for key, texts in ui_strings.items()}
    full_meta = {"reference": None, "kind": version.kind, "template_version": version.version,
                 "requesting_authority": None, "requested_authority": None, "legal_basis": None,
                 "date": None, **(meta or {})}
    context = {
        "ui": ui,
        "lang": language,
        "dir": "rtl" if language in RTL else "ltr",
        "title": label(version.title, language),
        "meta": full_meta,
        "sections": [node(f, data.get(f.name), language, ui) for f in version.fields],
        # An official form's version renders as the annex: its sections, headings, order.
        "form": None if form is None else {
            "title": label(form.title, language), "annex": f"{form.instrument}, {form.annex}",
            "preamble": label(form.preamble, language),
            "parts": parts(form, version, data, full_meta, language, ui)},
    }
    return environment(layouts).get_template(FORMATS[fmt]).render(**context)


def render_facts(layouts: Path, form: OfficialForm, ui_strings: Mapping[str, Labels], *,
                 language: str, fmt: str, meta: Mapping[str, Any]) -> str:
    """A form every box of which is a workflow fact (EIO Annex B), in the same layouts."""
    ui = {key: label(texts, language) for key, texts in ui_strings.items()}
    title = label(form.title, language)
    context = {
        "ui": ui, "lang": language, "dir": "rtl" if language in RTL else "ltr", "title": title,
        "meta": {"reference": None, "kind": form.id, "template_version": None,
                 "requesting_authority": None, "requested_authority": None,
                 "legal_basis": None, "date": None, **meta},
        "sections": [],
        "form": {"title": title, "annex": f"{form.instrument}, {form.annex}",
                 "preamble": label(form.preamble, language),
                 "parts": [{"id": s.id, "heading": label(s.heading, language),
                            "facts": section_facts(s, meta, ui), "nodes": []}
                           for s in form.sections]},
    }
    return environment(layouts).get_template(FORMATS[fmt]).render(**context)
