"""Universal templates: every kind validates, renders in six languages, rejects each missing or
invalid field with its path, exports a JSON Schema that agrees with the validator."""

from __future__ import annotations

import copy
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from mla import kinds, templates
from mla.templates import Field, TemplateError
from mla.templates.model import Rule

ALL_VERSIONS = [(k, v) for k in sorted(kinds.all_kinds())
                for v in sorted(templates.load_all()[k].versions)]
ids = [f"{k}-v{v}" for k, v in ALL_VERSIONS]


def test_every_kind_has_a_template() -> None:
    assert templates.kinds() == sorted(kinds.all_kinds())


@pytest.mark.parametrize(("kind", "version"), ALL_VERSIONS, ids=ids)
def test_example_is_complete_and_valid(kind: str, version: int) -> None:
    assert templates.validate(kind, templates.example(kind, version), version) == []


@pytest.mark.parametrize(("kind", "version"), ALL_VERSIONS, ids=ids)
@pytest.mark.parametrize("language", templates.UN_LANGUAGES)
def test_example_renders_in_each_un_language(kind: str, version: int, language: str) -> None:
    tv = templates.get(kind, version)
    data = templates.example(kind, version)
    html = templates.render(kind, data, version=version, language=language, fmt="html",
                            meta={"reference": "FR-MJ-2026-00001"})
    first = tv.fields[0]
    assert f'lang="{language}"' in html
    assert ('dir="rtl"' in html) == (language == "ar")
    assert _escaped(tv.title[language]) in html
    assert _escaped(first.label[language]) in html
    assert "FR-MJ-2026-00001" in html
    md = templates.render(kind, data, version=version, language=language, fmt="md")
    assert tv.title[language] in md and first.label[language] in md
    # A value typed by the officer appears in the document.
    some_text = next(v for v in _leaves(data) if isinstance(v, str) and len(v) > 12)
    assert some_text in md


def test_rendered_html_escapes_what_the_officer_typed() -> None:
    data = templates.example("mla.evidence")
    data["case_subject"] = "<script>alert(1)</script>"
    html = templates.render("mla.evidence", data, language="fr")
    assert "<script>alert(1)" not in html and "&lt;script&gt;" in html


def test_enum_values_are_shown_with_their_label_in_the_reader_language() -> None:
    data = templates.example("mla.evidence")
    field = next(f for f in templates.get("mla.evidence").fields if f.name == "confidentiality")
    assert field.options is not None
    html = templates.render("mla.evidence", data, language="es")
    assert _escaped(field.options[data["confidentiality"]]["es"]) in html


# --- every required or conditional field, removed, fails with its path -------------------


def _required_cases() -> Iterator[tuple[str, int, str]]:
    for kind, version in ALL_VERSIONS:
        tv = templates.get(kind, version)
        for path in _required_paths(tv.root, tv.example, ()):
            yield kind, version, ".".join(path)


def _required_paths(spec: Field, value: Any, prefix: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
    if spec.type == "object" and isinstance(value, dict):
        for child in spec.fields:
            path = (*prefix, child.name)
            if child.required:
                yield path
            if child.name in value:
                yield from _required_paths(child, value[child.name], path)
    elif spec.type == "list" and isinstance(value, list) and value and spec.item is not None:
        yield from _required_paths(spec.item, value[0], (*prefix, "0"))


REQUIRED = list(_required_cases())


@pytest.mark.parametrize(("kind", "version", "path"), REQUIRED,
                         ids=[f"{k}-v{v}-{p}" for k, v, p in REQUIRED])
def test_missing_required_field_is_reported_at_its_path(kind: str, version: int,
                                                        path: str) -> None:
    data = templates.example(kind, version)
    _delete(data, path.split("."))
    problems = templates.validate(kind, data, version)
    assert path in {p.path for p in problems}, problems
    # A draft may be incomplete.
    assert templates.validate(kind, data, version, complete=False) == []


def _rule_cases() -> Iterator[tuple[str, int, str, Rule, str]]:
    for kind, version in ALL_VERSIONS:
        tv = templates.get(kind, version)
        yield from _rules(kind, version, tv.root, tv.example, ())


def _rules(kind: str, version: int, spec: Field, value: Any,
           prefix: tuple[str, ...]) -> Iterator[tuple[str, int, str, Rule, str]]:
    if spec.type == "object":
        for rule in spec.rules:
            for target in rule.require:
                yield kind, version, ".".join(prefix), rule, ".".join(target)
        if isinstance(value, dict):
            for child in spec.fields:
                yield from _rules(kind, version, child, value.get(child.name),
                                  (*prefix, child.name))
    elif spec.type == "list" and spec.item is not None:
        yield from _rules(kind, version, spec.item, value[0] if value else {}, (*prefix, "0"))


RULES = list(_rule_cases())


@pytest.mark.parametrize(("kind", "version", "scope", "rule", "target"), RULES,
                         ids=[f"{k}-v{v}-{s or 'form'}-{t}" for k, v, s, _, t in RULES])
def test_conditional_requirement_is_reported_at_its_path(
    kind: str, version: int, scope: str, rule: Rule, target: str
) -> None:
    tv = templates.get(kind, version)
    data = templates.example(kind, version)
    scope_path = scope.split(".") if scope else []
    holder = _ensure(data, scope_path, tv.root)
    trigger = _triggering_value(tv.root, [*scope_path, *rule.when_path], rule)
    _set(holder, list(rule.when_path), trigger)
    _delete(holder, target.split("."))
    full = ".".join([*scope_path, target])
    problems = templates.validate(kind, data, version)
    assert full in {p.path for p in problems}, problems
    # Without the condition the same gap is fine unless the field is required anyway.
    if rule.op != "present" or rule.value:
        _delete(holder, list(rule.when_path))
        still = {p.path for p in templates.validate(kind, data, version)}
        if not _plainly_required(tv.root, full.split(".")) and not _other_rule_needs(
                tv.root, scope_path, target):
            assert full not in still


def test_the_conditions_named_by_practice() -> None:
    evidence = templates.example("mla.evidence")
    evidence["coercive_measures"] = True
    evidence.pop("dual_criminality_statement", None)
    assert "dual_criminality_statement" in _paths("mla.evidence", evidence)

    production = templates.example("mla.e_evidence.production")
    production["identifiers"][0].update(type="ip_address", value="203.0.113.7")
    production["identifiers"][0].pop("timezone")
    production["identifiers"][0]["timestamp"] = "2026-02-03T10:00:00"
    assert {"identifiers.0.timezone", "identifiers.0.timestamp"} <= _paths(
        "mla.e_evidence.production", production)

    extradition = templates.example("extradition.request")
    extradition["warrant"]["kind"] = "conviction_judgment"
    extradition["penalty"].pop("remaining_to_serve", None)
    assert "penalty.remaining_to_serve" in _paths("extradition.request", extradition)


# --- wrong types ------------------------------------------------------------------------

BAD_VALUE = {
    "string": 42, "text": ["not", "text"], "integer": "3", "boolean": "yes",
    "date": "31/12/2025", "datetime": "2026-02-03T10:00:00", "enum": "no-such-option",
    "country": "France", "language": "French", "timezone": "Paris", "email": "nobody",
    "object": "flat", "list": {"not": "a list"},
}


def _typed_cases() -> Iterator[tuple[str, int, str, str]]:
    for kind, version in ALL_VERSIONS:
        tv = templates.get(kind, version)
        for path, spec in _filled(tv.root, tv.example, ()):
            yield kind, version, ".".join(path), spec.type


def _filled(spec: Field, value: Any, prefix: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...],
                                                                             Field]]:
    if spec.type == "object" and isinstance(value, dict):
        for child in spec.fields:
            if child.name in value:
                yield (*prefix, child.name), child
                yield from _filled(child, value[child.name], (*prefix, child.name))
    elif spec.type == "list" and isinstance(value, list) and value and spec.item is not None:
        yield from _filled(spec.item, value[0], (*prefix, "0"))


TYPED = list(_typed_cases())


@pytest.mark.parametrize(("kind", "version", "path", "ftype"), TYPED,
                         ids=[f"{k}-v{v}-{p}" for k, v, p, _ in TYPED])
def test_invalid_value_is_reported_at_its_path(kind: str, version: int, path: str,
                                               ftype: str) -> None:
    data = templates.example(kind, version)
    _set(data, path.split("."), BAD_VALUE[ftype])
    problems = templates.validate(kind, data, version)
    assert path in {p.path for p in problems}, problems
    assert path in {p.path for p in templates.validate(kind, data, version, complete=False)}


def test_every_problem_is_reported_at_once() -> None:
    data = templates.example("mla.evidence")
    del data["case_subject"]
    data["contact_officer"]["email"] = "not-an-address"
    data["unknown_field"] = 1
    paths = _paths("mla.evidence", data)
    assert {"case_subject", "contact_officer.email", "unknown_field"} <= paths


# --- coverage of DESIGN.md §2 -------------------------------------------------------------

MLA_MINIMUM = ["competent_authority", "case_subject", "proceeding_stage", "facts_summary",
               "offences", "assistance_sought", "procedure_to_follow", "persons",
               "evidence_purpose", "desired_deadline", "urgency_reasons", "confidentiality",
               "contact_officer"]
E_EVIDENCE = ["provider", "identifiers", "data_categories", "date_range",
              "preservation_reference"]
EXTRADITION = ["person_sought", "warrant", "offences", "penalty", "acts", "assurances"]
OFFENCE_PARTS = {"name", "legal_provision", "max_penalty"}


@pytest.mark.parametrize("kind", sorted(kinds.all_kinds()))
def test_template_covers_the_universal_minimum(kind: str) -> None:
    for version in templates.load_all()[kind].versions:
        tv = templates.get(kind, version)
        if tv.form is not None:
            continue  # an official form's version carries its annex (tests/templates/test_forms.py)
        names = {f.name for f in tv.fields}
        expected = list(EXTRADITION) if kind.startswith("extradition.") else list(MLA_MINIMUM)
        if kind.startswith("mla.e_evidence."):
            expected += E_EVIDENCE
        assert not set(expected) - names, f"{kind} v{version} lacks {set(expected) - names}"
        offences = next(f for f in tv.fields if f.name == "offences")
        assert offences.item is not None
        assert {f.name for f in offences.item.fields} >= OFFENCE_PARTS
        facts = next((f for f in tv.fields if f.name == "facts_summary"), None)
        if kind == "mla.service":
            assert facts is None or not facts.required
        elif not kind.startswith("extradition."):
            assert facts is not None and facts.required
        if kind.startswith("extradition."):
            assert offences.item.child("provision_text") is not None
            warrant = next(f for f in tv.fields if f.name == "warrant")
            assert {"date", "issuing_authority"} <= {f.name for f in warrant.fields}
            assurances = next(f for f in tv.fields if f.name == "assurances")
            assert {"death_penalty", "speciality", "trial_in_absentia"} <= {
                f.name for f in assurances.fields}


@pytest.mark.parametrize("kind", sorted(kinds.all_kinds()))
def test_labels_exist_in_six_languages_and_differ(kind: str) -> None:
    tv = templates.get(kind)
    for f in _all_fields(tv.root):
        if f.label:
            assert set(templates.UN_LANGUAGES) <= set(f.label)
    # Real translations, not English copies.
    translated = [f for f in tv.fields if f.label["fr"] != f.label["en"]]
    assert len(translated) >= len(tv.fields) // 2


# --- versions ---------------------------------------------------------------------------


def test_new_version_does_not_break_forms_filed_under_the_old_one() -> None:
    tpl = templates.load_all()["mla.evidence"]
    assert len(tpl.versions) >= 2
    old, new = sorted(tpl.versions)[:2]
    # The universal template's latest; the EIO's Annex A version is for eio_2014_41 only.
    assert templates.latest_version("mla.evidence") == max(
        n for n, v in tpl.versions.items() if not v.legal_bases)
    old_form = templates.example("mla.evidence", old)
    assert templates.validate("mla.evidence", old_form, old) == []
    assert templates.validate("mla.evidence", old_form, new) != []
    templates.render("mla.evidence", old_form, version=old, language="ru")


# --- JSON Schema ------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "version"), ALL_VERSIONS, ids=ids)
def test_json_schema_accepts_the_example(kind: str, version: int) -> None:
    schema = templates.json_schema(kind, version)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    assert list(validator.iter_errors(templates.example(kind, version))) == []


@pytest.mark.parametrize(("kind", "version", "path"), REQUIRED[::3],
                         ids=[f"{k}-v{v}-{p}" for k, v, p in REQUIRED[::3]])
def test_json_schema_rejects_what_the_validator_rejects(kind: str, version: int,
                                                        path: str) -> None:
    data = templates.example(kind, version)
    _delete(data, path.split("."))
    validator = jsonschema.Draft202012Validator(templates.json_schema(kind, version))
    assert list(validator.iter_errors(data))


def test_json_schema_carries_conditional_rules() -> None:
    validator = jsonschema.Draft202012Validator(templates.json_schema("extradition.request"))
    data = templates.example("extradition.request")
    data["warrant"]["kind"] = "conviction_judgment"
    data["penalty"].pop("remaining_to_serve", None)
    assert list(validator.iter_errors(data))


# --- broken template files fail at start-up, with file and line ---------------------------


@pytest.fixture
def template_copy(tmp_path: Path) -> Path:
    target = tmp_path / "requests"
    shutil.copytree(templates.directory(), target)
    return target


def test_bad_yaml_names_file_and_line(template_copy: Path) -> None:
    path = template_copy / "mla.service.yaml"
    lines = path.read_text("utf-8").splitlines()
    lines.insert(5, "  broken: [unclosed")
    path.write_text("\n".join(lines) + "\n", "utf-8")
    with pytest.raises(TemplateError, match=r"mla\.service\.yaml:\d+:"):
        templates.load_all(template_copy)
    templates.load_all()


def test_unknown_field_type_names_its_line(template_copy: Path) -> None:
    path = template_copy / "mla.evidence.yaml"
    text = path.read_text("utf-8")
    match = re.search(r"^(\s+)type: text$", text, re.M)
    assert match
    line = text[: match.start()].count("\n") + 1
    path.write_text(text[: match.start()] + f"{match.group(1)}type: prose" + text[match.end():])
    with pytest.raises(TemplateError) as err:
        templates.load_all(template_copy)
    assert "mla.evidence.yaml:" in str(err.value) and "prose" in str(err.value)
    reported = int(str(err.value).split("mla.evidence.yaml:")[1].split(":")[0])
    assert line - 3 <= reported <= line  # the line of the field that holds the bad type
    templates.load_all()


def test_invalid_example_is_a_start_up_error(template_copy: Path) -> None:
    path = template_copy / "mla.service.yaml"
    text = path.read_text("utf-8").replace("    example:", "    example:\n      bogus: 1", 1)
    path.write_text(text, "utf-8")
    with pytest.raises(TemplateError, match=r"example of version .* bogus"):
        templates.load_all(template_copy)
    templates.load_all()


# --- translations -----------------------------------------------------------------------


def test_translation_may_only_carry_free_text() -> None:
    paths = templates.translatable_paths("mla.evidence")
    assert "facts_summary" in paths and "confidentiality" not in paths
    problems = templates.validate_translation("mla.evidence", None, {"confidentiality": "none"})
    assert [p.path for p in problems] == ["confidentiality"]
    assert templates.validate_translation("mla.evidence", None,
                                          {"facts_summary": "Les faits."}) == []


# --- helpers ----------------------------------------------------------------------------


def _escaped(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace(
        '"', "&#34;").replace("'", "&#39;")


def _leaves(value: Any) -> Iterator[Any]:
    if isinstance(value, dict):
        for v in value.values():
            yield from _leaves(v)
    elif isinstance(value, list):
        for v in value:
            yield from _leaves(v)
    else:
        yield value


def _paths(kind: str, data: Any) -> set[str]:
    return {p.path for p in templates.validate(kind, data)}


def _all_fields(spec: Field) -> Iterator[Field]:
    for f in spec.fields:
        yield f
        yield from _all_fields(f)
    if spec.item is not None:
        yield from _all_fields(spec.item)


def _delete(data: Any, path: list[str]) -> None:
    *parents, last = path
    for part in parents:
        data = data[int(part)] if isinstance(data, list) else data.setdefault(part, {})
    if isinstance(data, dict):
        data.pop(last, None)


def _set(data: Any, path: list[str], value: Any) -> None:
    *parents, last = path
    for part in parents:
        data = data[int(part)] if isinstance(data, list) else data.setdefault(part, {})
    data[last] = value


def _ensure(data: Any, path: list[str], spec: Field) -> Any:
    """The object at `path`, creating list item 0 / objects where the example has none."""
    for part in path:
        if part.isdigit():
            if not data:
                data.append({})
            data = data[int(part)]
        else:
            child = spec.child(part) if spec.type == "object" else None
            data = data.setdefault(part, [] if child and child.type == "list" else {})
        spec = _step(spec, part)
    return data


def _step(spec: Field, part: str) -> Field:
    if part.isdigit():
        assert spec.item is not None
        return spec.item
    child = spec.child(part)
    assert child is not None
    return child


def _triggering_value(root: Field, path: list[str], rule: Rule) -> Any:
    if rule.op == "equals":
        return rule.value
    if rule.op == "in":
        return rule.value[0]
    if rule.op == "contains":
        return [rule.value]
    spec = root
    for part in path:
        spec = _step(spec, part)
    sample = {"string": "x", "text": "x", "integer": 1, "boolean": True, "date": "2026-01-01",
              "datetime": "2026-01-01T00:00:00+00:00", "country": "FR", "language": "fr",
              "timezone": "UTC", "email": "a@b.org"}
    if spec.type == "enum":
        assert spec.options is not None
        return next(iter(spec.options))
    return copy.deepcopy(sample.get(spec.type, "x"))


def _plainly_required(root: Field, path: list[str]) -> bool:
    spec = root
    for part in path:
        spec = _step(spec, part)
    return spec.required


def _other_rule_needs(root: Field, scope: list[str], target: str) -> bool:
    spec = root
    for part in scope:
        spec = _step(spec, part)
    return sum(1 for r in spec.rules for t in r.require if ".".join(t) == target) > 1


def test_broken_template_stops_the_cli_at_start_up(template_copy: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from cli.main import main

    path = template_copy / "extradition.request.yaml"
    path.write_text(path.read_text("utf-8") + "\n  - [oops\n", "utf-8")
    monkeypatch.setenv("MLA_TEMPLATES_DIR", str(template_copy))
    result = CliRunner().invoke(main, ["templates", "list"])
    assert result.exit_code != 0
    assert re.search(r"extradition\.request\.yaml:\d+:", result.output), result.output
    monkeypatch.delenv("MLA_TEMPLATES_DIR")
    templates.load_all()
