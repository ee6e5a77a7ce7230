"""Official EU forms (templates/requests/forms/): every box of an annex maps to a template field
or a workflow fact, the README states each form's coverage, the template versions that follow
a form are filed under its instrument only, their documents follow the annex's sections and
headings, and requests filed on the earlier versions still validate and render."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from mla import templates
from mla.models import Request
from mla.templates.forms import FACTS, resolve
from tests.api_helpers import Api, problem_fields, refusal

README = Path(__file__).resolve().parents[2] / "README.md"
# The forms the issue sets at 100 %, and the kinds filed on them, by legal basis.
GOAL = {"eio_annex_a", "eaw", "epoc", "epoc_pr", "eio_annex_c"}
FILED_ON = {
    "eio_annex_a": ("eio_2014_41", ["mla.evidence", "mla.search_seizure",
                                    "mla.freezing_confiscation", "mla.hearing_videoconference",
                                    "mla.transfer_detained"]),
    "eaw": ("eaw_2002_584", ["extradition.request"]),
    "epoc": ("e_evidence_2023_1543", ["mla.e_evidence.production"]),
    "epoc_pr": ("e_evidence_2023_1543", ["mla.e_evidence.preservation"]),
    "eio_annex_c": ("eio_2014_41", ["mla.interception_notification"]),
}


def _versions_on(form_id: str) -> list[templates.TemplateVersion]:
    return [v for k in templates.kinds() for v in templates.load_all()[k].versions.values()
            if v.form == form_id]


@pytest.mark.parametrize("form_id", sorted(GOAL))
def test_every_box_of_the_annex_maps_to_a_field_or_a_fact(form_id: str) -> None:
    form = templates.form(form_id)
    assert form.coverage() == (len(form.boxes), len(form.boxes))
    versions = _versions_on(form_id)
    assert versions, f"no template version follows {form_id}"
    for version in versions:
        for box in form.boxes:
            if box.fact:
                assert box.fact in FACTS
                continue
            assert box.field is not None, box.id
            spec = resolve(version.root, box.field)
            assert spec is not None, f"{version.kind} v{version.version}: box {box.id}"
            if box.option is not None:
                options = (spec.item if spec.type == "list" else spec).options  # type: ignore[union-attr]
                assert options and box.option in options, box.id


@pytest.mark.parametrize("form_id", sorted(GOAL))
def test_no_field_of_a_form_version_lies_outside_the_annex(form_id: str) -> None:
    """Every field the officer fills appears in a box, so the document loses nothing."""
    form = templates.form(form_id)
    shown = {name for s in form.sections for name in s.top_fields()}
    for version in _versions_on(form_id):
        assert {f.name for f in version.fields} <= shown, version.kind


def test_sections_keep_the_annexes_order() -> None:
    ids = {f: [s.id for s in templates.form(f).sections] for f in templates.forms()}
    assert ids["eio_annex_a"] == ["preamble", *"ABCDEFGHIJKL", "annexes"]
    assert ids["eaw"] == list("abcdefghi")
    assert ids["epoc"] == list("ABCDEFGHIJKL")
    assert ids["epoc_pr"] == list("ABCDEFGH")
    assert ids["eio_annex_b"] == list("ABCDE")
    assert ids["epoc_annex_iii"] == list("ABCDEFGH")
    eio = templates.form("eio_annex_a")
    measures = [b.option for b in eio.sections[3].boxes if b.option]
    assert len(measures) == 14  # section C's measures, each a tick box
    eaw_list = next(b for b in templates.form("eaw").boxes if b.id == "e.I")
    categories = resolve(templates.get("extradition.request", 2).root, eaw_list.field or ())
    assert categories is not None and categories.item is not None
    assert len(categories.item.options or {}) == 32  # art. 2(2)


def test_readme_states_the_coverage_of_each_form() -> None:
    text = README.read_text("utf-8")
    section = text.split("## Official EU forms", 1)[1].split("\n## ", 1)[0]
    rows = {m[0]: (int(m[1]), int(m[2])) for m in re.findall(
        r"^\| `(\w+)` \|[^|]*\|[^|]*\| (\d+) of (\d+) \|", section, flags=re.M)}
    assert rows == {f: templates.form(f).coverage() for f in templates.forms()}


@pytest.mark.parametrize("form_id", sorted(FILED_ON))
def test_new_filings_take_the_form_version_under_its_instrument_only(form_id: str) -> None:
    basis, kinds = FILED_ON[form_id]
    for kind in kinds:
        on_form = templates.get(kind, templates.latest_version(kind, basis))
        assert on_form.form == form_id
        if kind != "mla.interception_notification":  # exists only on its form
            assert templates.get(kind, templates.latest_version(kind, "untoc")).form is None


@pytest.mark.parametrize("language", ["en", "fr", "es", "ar"])
def test_eio_document_follows_annex_a_sections_and_headings(language: str) -> None:
    data = templates.example("mla.evidence", 3)
    html = templates.render("mla.evidence", data, version=3, language=language,
                            meta={"urgent": True, "urgency_reasons": "Evidence being moved"})
    form = templates.form("eio_annex_a")
    headings = [s.heading.get(language, s.heading["en"]) for s in form.sections]
    positions = [html.find(h.replace("'", "&#39;")) for h in headings]
    assert all(p > 0 for p in positions), list(zip(headings, positions, strict=True))
    assert positions == sorted(positions)
    # Section B carries the request's urgent flag and reasons (the workflow fact).
    b, c = positions[2], positions[3]
    assert "Evidence being moved" in html[b:c]
    # Section C ticks the measures, in the reader's language where the template has it.
    measure = templates.get("mla.evidence", 3).root.child("eio_measures")
    assert measure is not None and measure.item is not None and measure.item.options
    assert measure.item.options["bank_accounts"][language] in html[c:positions[4]]


def test_eaw_document_follows_the_form_a_to_i() -> None:
    md = templates.render("extradition.request", templates.example("extradition.request", 2),
                          version=2, language="fr", fmt="md")
    headings = [s.heading["fr"] for s in templates.form("eaw").sections]
    positions = [md.find(f"## {h}") for h in headings]
    assert all(p > 0 for p in positions) and positions == sorted(positions)
    assert "Escroquerie" in md and "Mandat d'arrêt européen" in md


def test_epoc_emergency_and_art_4a_rules() -> None:
    epoc = templates.example("mla.e_evidence.production", 2)
    epoc["data_categories"] = ["content"]
    epoc.pop("serious_offence_ground")
    paths = {p.path for p in templates.validate("mla.e_evidence.production", epoc, 2)}
    assert "serious_offence_ground" in paths
    eaw = templates.example("extradition.request", 2)
    eaw["trial_in_absentia"] = {"appeared": "no", "ground": "to_be_served"}
    paths = {p.path for p in templates.validate("extradition.request", eaw, 2)}
    assert {"trial_in_absentia.retrial_days"} <= paths
    eio = templates.example("mla.evidence", 3)
    eio["eio_measures"].append("interception")
    eio["competent_authority"]["kind"] = "police"
    paths = {p.path for p in templates.validate("mla.evidence", eio, 3)}
    assert {"h7_interception", "validating_authority"} <= paths


# --- through the API, on SQLite and PostgreSQL ------------------------------------------------


def test_eio_is_filed_on_annex_a_and_untoc_on_the_universal_template(api: Api) -> None:
    eio = api.file(legal_basis="eio_2014_41", data=templates.example("mla.evidence", 3))
    assert eio["template_version"] == 3
    plain = api.file()
    assert plain["template_version"] == templates.latest_version("mla.evidence") != 3
    # An Annex A form filed under UNTOC is read against the universal template: refused.
    wrong = api.call("fr.officer", "POST", "/requests", json={
        "kind": "mla.evidence", "requested_authority": "KE-ODPP", "legal_basis": "untoc",
        "title": "x", "language": "en", "data": templates.example("mla.evidence", 3)})
    assert "data.eio_measures" in problem_fields(refusal(wrong, 422))
    notice = api.call("fr.officer", "POST", "/requests", json={
        "kind": "mla.interception_notification", "requested_authority": "KE-ODPP",
        "legal_basis": "untoc", "title": "x", "language": "en", "data": {}})
    assert "legal_basis" in problem_fields(refusal(notice, 422))
    doc = api.call("fr.officer", "GET", f"/requests/{eio['id']}/document",
                   params={"format": "md", "language": "en"})
    assert doc.status_code == 200
    assert doc.text.index("## Section A") < doc.text.index("## Section L")
    assert "FR-MJ" in doc.text.split("## Section A", 1)[1].split("## Section B", 1)[0]


def test_requests_filed_before_the_forms_keep_their_version(api: Api) -> None:
    """A request filed under eio_2014_41 before Annex A existed stays on version 2: its form
    still validates (draft edits, transmission) and renders as before."""
    created = api.file(legal_basis="eio_2014_41",
                       data=templates.example("mla.evidence", legal_basis="eio_2014_41"))
    assert created["template_version"] == 3
    # As it was stored before version 3 existed.
    old_form = templates.example("mla.evidence", 2)
    api.session.execute(update(Request).where(Request.id == uuid.UUID(created["id"]))
                        .values(template_version=2, data=old_form))
    api.session.commit()
    rid = created["id"]
    edited = api.call("fr.officer", "PATCH", f"/requests/{rid}",
                      json={"data": old_form | {"case_subject": "Kestrel ring"}})
    assert edited.status_code == 200, edited.text
    assert edited.json()["template_version"] == 2
    doc = api.call("fr.officer", "GET", f"/requests/{rid}/document", params={"language": "en"})
    assert doc.status_code == 200 and "Kestrel ring" in doc.text
    assert "Section C" not in doc.text  # the universal layout, not the annex
    for event, user in (("submit", "fr.officer"), ("approve", "fr.supervisor"),
                        ("transmit", "fr.officer")):
        moved = api.call(user, "POST", f"/requests/{rid}/transitions", json={"event": event})
        assert moved.status_code == 200, moved.text


def test_acknowledge_step_produces_annex_b(api: Api) -> None:
    body = {"kind": "mla.evidence", "requesting_authority": "FR-MJ",
            "counterpart_reference": "JUNALCO 26-041-0123", "legal_basis": "eio_2014_41",
            "title": "EIO bank records", "language": "en",
            "data": templates.example("mla.evidence", 3)}
    created = api.call("ke.officer", "POST", "/requests/incoming", json=body)
    assert created.status_code == 201, created.text
    rid = created.json()["id"]
    assert created.json()["template_version"] == 3
    before = api.call("ke.officer", "GET", f"/requests/{rid}/document",
                      params={"form": "eio_annex_b"})
    refusal(before, 409)
    moved = api.call("ke.officer", "POST", f"/requests/{rid}/transitions",
                     json={"event": "acknowledge", "reason": "Received by the ODPP desk"})
    assert moved.status_code == 200, moved.text
    annex_b = api.call("ke.officer", "GET", f"/requests/{rid}/document",
                       params={"form": "eio_annex_b", "format": "md"})
    assert annex_b.status_code == 200, annex_b.text
    text = annex_b.text
    assert "Confirmation of the receipt of an EIO" in text
    assert text.index("## (A)") < text.index("## (B)") < text.index("## (E)")
    assert "JUNALCO 26-041-0123" in text.split("## (A)", 1)[1].split("## (B)", 1)[0]
    assert "Ke.Officer (KE-ODPP)" in text and "Received by the ODPP desk" in text
    # Liaison officers see no content; another authority gets 404.
    refusal(api.call("ke.liaison", "GET", f"/requests/{rid}/document",
                     params={"form": "eio_annex_b"}), 403)
    refusal(api.call("us.officer", "GET", f"/requests/{rid}/document",
                     params={"form": "eio_annex_b"}), 404)
    other = api.file()
    refusal(api.call("fr.officer", "GET", f"/requests/{other['id']}/document",
                     params={"form": "eio_annex_b"}), 422)


def test_an_eio_issued_by_the_police_is_validated_before_it_leaves(api: Api) -> None:
    """Directive 2014/41/EU art. 2(c)(ii): the validate step, by a user with the validator
    role, between approval and transmission; section L of the document shows who."""
    validator = api.world["fr.validator"]
    validator.full_name = "Juge Laure VALIDE"
    api.session.commit()
    data = templates.example("mla.evidence", legal_basis="eio_2014_41")
    data["competent_authority"] |= {"kind": "police", "name": "Office central pour la "
                                    "répression de la grande délinquance financière"}
    data["validating_authority"] = {
        "kind": "prosecutor", "name": "Parquet de Paris, JUNALCO", "representative": "L. VALIDE",
        "post": "Procureure adjointe", "address": "Parvis du Tribunal de Paris, 75017 Paris",
        "main_contact": "validating"}
    rid = api.file(legal_basis="eio_2014_41", data=data)["id"]

    def step(user: str, event: str) -> Any:
        return api.call(user, "POST", f"/requests/{rid}/transitions", json={"event": event})

    assert step("fr.officer", "submit").status_code == 200
    assert step("fr.supervisor", "approve").status_code == 200
    blocked = refusal(step("fr.officer", "transmit"), 422)
    assert "art. 2(c)(ii)" in blocked["detail"]
    refusal(step("fr.officer", "validate"), 403)  # not a validator
    validated = step("fr.validator", "validate")
    assert validated.status_code == 200, validated.text
    assert validated.json()["to_state"] == "validated"
    assert step("fr.officer", "transmit").status_code == 200
    doc = api.call("fr.officer", "GET", f"/requests/{rid}/document",
                   params={"format": "md", "language": "en"}).text
    section_l = doc.split("## Section L", 1)[1].split("\n## ", 1)[0]
    assert "Juge Laure VALIDE (FR-MJ)" in section_l and "Parquet de Paris, JUNALCO" in section_l
    # A prosecutor's own EIO needs no validation: the step is refused, transmission is not.
    other = api.file(legal_basis="eio_2014_41",
                     data=templates.example("mla.evidence", legal_basis="eio_2014_41"))["id"]
    for user, event in (("fr.officer", "submit"), ("fr.supervisor", "approve")):
        api.call(user, "POST", f"/requests/{other}/transitions", json={"event": event})
    refusal(api.call("fr.validator", "POST", f"/requests/{other}/transitions",
                     json={"event": "validate"}), 422)


def test_cli_prints_the_coverage_of_each_form() -> None:
    from click.testing import CliRunner

    from cli.main import main

    result = CliRunner().invoke(main, ["templates", "forms"])
    assert result.exit_code == 0, result.output
    for form_id, form in templates.forms().items():
        mapped, total = form.coverage()
        line = next(row for row in result.output.splitlines() if row.startswith(form_id + " "))
        assert f"{mapped} of {total}" in line
    assert "mla.evidence v3" in result.output
