"""A person named in several requests is one record of the case, with the same person in the
authority's other cases suggested across scripts."""

from __future__ import annotations

from typing import Any

from mla.search import names
from tests.api_helpers import Api, problem_fields, refusal


def _case(api: Api, reference: str, user: str = "fr.officer") -> dict[str, Any]:
    response = api.call(user, "POST", "/cases", json={"reference": reference,
                                                      "title": f"Case {reference}"})
    assert response.status_code == 201, response.text
    return response.json()


def _person(api: Api, case: dict[str, Any], user: str = "fr.officer",
            **body: Any) -> dict[str, Any]:
    response = api.call(user, "POST", f"/cases/{case['id']}/persons", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def test_one_person_across_the_requests_of_a_case(api: Api) -> None:
    case = _case(api, "INV-1")
    first, second = api.file(), api.file(requested_authority="US-OIA")
    for r in (first, second):
        api.call("fr.officer", "POST", f"/cases/{case['id']}/requests",
                 json={"request_id": r["id"]})
    person = _person(api, case, name="Иванов Сергей Петрович", date_of_birth="1979-03-02",
                     nationality="RU", identifiers=[{"type": "passport", "value": "75 1234567"}],
                     request_ids=[first["id"], second["id"]])
    assert person["name_latin"] == "Ivanov Sergey Petrovich"
    assert set(person["request_ids"]) == {first["id"], second["id"]}
    got = api.call("fr.officer", "GET", f"/cases/{case['id']}").json()
    # Beside the three persons the requests' forms name (tests/cases/test_persons_from_forms).
    assert [p["name"] for p in got["persons"]][-1] == "Иванов Сергей Петрович"
    assert len(got["persons"]) == 4
    # A request outside the case cannot be named; bad fields are named.
    outside = api.file()
    body = refusal(api.call("fr.officer", "POST", f"/cases/{case['id']}/persons", json={
        "name": " ", "nationality": "Russia", "request_ids": [outside["id"]]}), 422)
    assert problem_fields(body) == {"name", "nationality", "request_ids.0"}
    # Corrected spelling, chosen by the officer, is kept.
    fixed = api.call("fr.officer", "PATCH", f"/persons/{person['id']}",
                     json={"name_latin": "IVANOV Sergei Petrovich"}).json()
    assert fixed["name_latin"] == "IVANOV Sergei Petrovich"
    assert fixed["name"] == "Иванов Сергей Петрович"


def test_duplicates_suggested_across_cases_and_scripts_same_birth_date(api: Api) -> None:
    cyrillic = _person(api, _case(api, "INV-1"), name="Иванов Сергей",
                       date_of_birth="1979-03-02")
    latin = _person(api, _case(api, "INV-2"), name="IVANOV Sergei", date_of_birth="1979-03-02")
    assert [(d["person_id"], d["case_reference"]) for d in latin["duplicates"]] == [
        (cyrillic["id"], "INV-1")]
    # A typo in the surname still suggests; another birth date or another name does not.
    typo = _person(api, _case(api, "INV-3"), name="IVANVO Sergei", date_of_birth="1979-03-02")
    assert {d["person_id"] for d in typo["duplicates"]} == {cyrillic["id"], latin["id"]}
    other_day = _person(api, _case(api, "INV-4"), name="IVANOV Sergei",
                        date_of_birth="1980-03-02")
    assert other_day["duplicates"] == []
    other_name = _person(api, _case(api, "INV-5"), name="PETROV Alexei",
                         date_of_birth="1979-03-02")
    assert other_name["duplicates"] == []
    # Arabic and its Latin spelling, same birth date.
    arabic = _person(api, _case(api, "INV-6"), name="محمد الحسن", date_of_birth="1990-01-01")
    latin_ar = _person(api, _case(api, "INV-7"), name="Mohammed AL-HASSAN",
                       date_of_birth="1990-01-01")
    assert [d["person_id"] for d in latin_ar["duplicates"]] == [arabic["id"]]
    assert [d["person_id"] for d in api.call(
        "fr.officer", "GET", f"/persons/{arabic['id']}").json()["duplicates"]] == [latin_ar["id"]]


def test_another_authority_never_sees_or_is_suggested_our_persons(api: Api) -> None:
    ours = _person(api, _case(api, "INV-1"), name="IVANOV Sergei", date_of_birth="1979-03-02")
    theirs = _person(api, _case(api, "ODPP-1", "ke.officer"), name="Иванов Сергей",
                     date_of_birth="1979-03-02", user="ke.officer")
    assert theirs["duplicates"] == []
    for user in ("ke.officer", "us.admin", "us.liaison"):
        assert refusal(api.call(user, "GET", f"/persons/{ours['id']}"), 404)
        assert refusal(api.call(user, "PATCH", f"/persons/{ours['id']}",
                                json={"name": "X"}), 404)
    assert refusal(api.call("fr.liaison", "GET", f"/persons/{ours['id']}"), 403)


def test_similarity_is_pg_trgm_s() -> None:
    """The Python port agrees with pg_trgm's documented values (SQLite relies on it)."""
    assert names.similarity("word", "two words") == 4 / 11   # pg_trgm: 0.36363637
    assert names.word_similarity("word", "two words") == 0.8  # pg_trgm: 0.8
    assert names.key("محمد الحسن").split()[:2] == names.key("Mohammed Al-Hassan").split()[2:]
