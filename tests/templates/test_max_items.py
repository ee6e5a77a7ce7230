"""Every list of a request template has a maximum length (`max_items`, issue #16): a default
for every list, per-field overrides, checked at load, enforced on drafts and complete forms,
exported as JSON Schema `maxItems`; whole numbers stay within 64 bits."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import jsonschema
import pytest

from mla import templates
from mla.templates import Field, TemplateError
from mla.templates.jsonschema import _field
from mla.templates.model import DEFAULT_MAX_ITEMS
from mla.templates.validate import check

OFFENCE = {"name": "Fraud", "legal_provision": "Art. 1", "max_penalty": "10 years"}


def _lists(spec: Field) -> list[Field]:
    found = [spec] if spec.type == "list" else []
    for child in (*spec.fields, *([spec.item] if spec.item else [])):
        found += _lists(child)
    return found


def test_every_list_has_a_maximum_and_the_overrides_hold() -> None:
    for kind in templates.kinds():
        for spec in _lists(templates.get(kind).root):
            assert spec.min_items <= spec.max_items, (kind, spec.name)
            if spec.item is not None and spec.item.options is not None:
                assert spec.max_items == len(spec.item.options), (kind, spec.name)
    production = templates.get("mla.e_evidence.production").root
    assert production.child("identifiers").max_items == 200  # type: ignore[union-attr]
    evidence = templates.get("mla.evidence").root
    assert evidence.child("offences").max_items == DEFAULT_MAX_ITEMS == 100  # type: ignore[union-attr]


@pytest.mark.parametrize("complete", [True, False])
def test_a_list_past_its_maximum_is_one_problem_at_its_path(complete: bool) -> None:
    data = templates.example("mla.evidence")
    data["offences"] = [OFFENCE] * 101 + [{"name": 42}]
    problems = templates.validate("mla.evidence", data, complete=complete)
    assert [(p.path, p.message) for p in problems if p.path.startswith("offences")] == [
        ("offences", "has 102 items; at most 100 are allowed")]
    data["offences"] = [OFFENCE] * 100
    assert not [p for p in templates.validate("mla.evidence", data, complete=complete)
                if p.path.startswith("offences")]
    production = templates.example("mla.e_evidence.production")
    production["data_categories"] = ["subscriber"] * 6
    assert "data_categories" in {p.path for p in templates.validate(
        "mla.e_evidence.production", production, complete=complete)}


def test_json_schema_refuses_what_the_validator_refuses() -> None:
    validator = jsonschema.Draft202012Validator(templates.json_schema("mla.evidence"))
    data = templates.example("mla.evidence")
    data["offences"] = [OFFENCE] * 101
    assert any(e.validator == "maxItems" for e in validator.iter_errors(data))


def test_whole_numbers_stay_within_64_bits() -> None:
    root = Field(name="form", type="object", label={}, help={},
                 fields=(Field(name="count", type="integer", label={}, help={}),))
    assert check(root, {"count": 2**63 - 1}, complete=True) == []
    assert [p.path for p in check(root, {"count": 2**63}, complete=False)] == ["count"]
    assert [p.path for p in check(root, {"count": -(2**63) - 1}, complete=True)] == ["count"]
    assert _field(root.fields[0])["maximum"] == 2**63 - 1


@pytest.fixture
def template_copy(tmp_path: Path) -> Path:
    target = tmp_path / "requests"
    shutil.copytree(templates.directory(), target)
    return target


@pytest.mark.parametrize(("value", "where"), [
    ("0", "offences"), ("many", "offences"), ("true", "offences"), ("5", "facts_summary")])
def test_a_bad_max_items_stops_the_start_naming_file_and_line(
        template_copy: Path, value: str, where: str) -> None:
    path = template_copy / "_fields.yaml"
    text = path.read_text("utf-8")
    match = re.search(rf"^{where}:\n  type: \w+\n", text, re.M)
    assert match
    path.write_text(text[:match.end()] + f"  max_items: {value}\n" + text[match.end():],
                    "utf-8")
    try:
        # A library field is reported where a kind uses it, like any of its mistakes.
        with pytest.raises(TemplateError, match=rf"\.yaml:\d+: field '{where}': .*max_items"):
            templates.load_all(template_copy)
    finally:
        templates.load_all()
