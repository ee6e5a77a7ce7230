"""Filing a request in a case records the persons its form names: one record per person
however many requests name them, in the same transaction as the filing, with the same
person in the authority's other cases suggested."""

from __future__ import annotations

from typing import Any

from mla import templates
from mla.models import Person
from tests.api_helpers import Api, count_rows, refusal


def _case(api: Api, reference: str, user: str = "fr.officer") -> dict[str, Any]:
    response = api.call(user, "POST", "/cases", json={"reference": reference,
                                                      "title": f"Case {reference}"})
    assert response.status_code == 201, response.text
    return response.json()


def _file_in(api: Api, case: dict[str, Any], request: dict[str, Any],
             user: str = "fr.officer") -> dict[str, Any]:
    response = api.call(user, "POST", f"/cases/{case['id']}/requests",
                        json={"request_id": request["id"]})
    assert response.status_code == 200, response.text
    return response.json()


def _persons(case: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["name"]: p for p in case["persons"]}


def test_persons_of_the_form_become_records_of_the_case_once(api: Api) -> None:
    case = _case(api, "INV-1")
    first = api.file()
    got = _persons(_file_in(api, case, first))
    # mla.evidence's example names a suspect, a company holding the account and the victim.
    assert set(got) == {"OMONDI Jared Kibet", "Kilima Horizon Trading Ltd",
                        "Ateliers Vernier SAS"}
    omondi = got["OMONDI Jared Kibet"]
    assert (omondi["date_of_birth"], omondi["nationality"]) == ("1988-04-17", "KE")
    assert {"type": "identification details", "value": "Kenyan national ID no. 27 554 019; "
            "mobile +254 700 000 123"} in omondi["identifiers"]
    assert omondi["request_ids"] == [first["id"]]
    # A second request naming the same people joins their records (names in another order
    # too); a new name becomes a new record.
    data = templates.example("mla.evidence")
    data["persons"] = [dict(data["persons"][0], full_name="Jared Kibet OMONDI"),
                       {"role": "witness", "full_name": "MWANGI Grace"}]
    second = api.file(requested_authority="US-OIA", data=data)
    again = _persons(_file_in(api, case, second))
    assert set(again) == set(got) | {"MWANGI Grace"}
    assert set(again["OMONDI Jared Kibet"]["request_ids"]) == {first["id"], second["id"]}
    assert again["Kilima Horizon Trading Ltd"]["request_ids"] == [first["id"]]
    assert again["MWANGI Grace"]["request_ids"] == [second["id"]]
    # Filing it again changes nothing.
    assert _persons(_file_in(api, case, second)) == again


def test_person_sought_with_aliases_and_duplicates_in_other_cases(api: Api) -> None:
    earlier = _case(api, "INV-1")
    recorded = api.call("fr.officer", "POST", f"/cases/{earlier['id']}/persons", json={
        "name": "FERAND Lucas Antoine", "date_of_birth": "1991-09-02"}).json()
    case = _case(api, "EXT-1")
    extradition = api.file(kind="extradition.request", legal_basis="ece_1957")
    sought = _persons(_file_in(api, case, extradition))["FERRAND Lucas Antoine"]
    assert sought["date_of_birth"] == "1991-09-02"
    assert {(i["type"], i["value"]) for i in sought["identifiers"]} >= {
        ("alias", "Luc FERRAND"), ("alias", "Lucky")}
    person = api.call("fr.officer", "GET", f"/persons/{sought['id']}").json()
    assert [d["person_id"] for d in person["duplicates"]] == [recorded["id"]]
    # The case's search finds the person by an alias's word.
    hits = api.call("fr.officer", "GET", "/search", params={"q": "Lucky"}).json()
    assert sought["id"] in {h["id"] for h in hits["items"]}


def test_changing_the_form_of_a_draft_in_a_case_adds_its_new_persons(api: Api) -> None:
    case = _case(api, "INV-1")
    draft = api.file()
    _file_in(api, case, draft)
    data = templates.example("mla.evidence")
    data["persons"].append({"role": "witness", "full_name": "NJOROGE Paul",
                            "date_of_birth": "1975-06-30"})
    response = api.call("fr.officer", "PATCH", f"/requests/{draft['id']}", json={"data": data},
                        headers={"If-Match": f'"{draft["version"]}"'})
    assert response.status_code == 200, response.text
    got = _persons(api.call("fr.officer", "GET", f"/cases/{case['id']}").json())
    assert got["NJOROGE Paul"]["request_ids"] == [draft["id"]]
    assert len(got) == 4


def test_a_refused_filing_records_no_person(api: Api) -> None:
    ours = _case(api, "INV-1")
    theirs = _case(api, "ODPP-1", "ke.officer")
    request = api.file()
    _file_in(api, ours, request)
    before = count_rows(api, Person)
    # Already in another case of ours: refused, and nothing of it stays.
    other = _case(api, "INV-2")
    refusal(api.call("fr.officer", "POST", f"/cases/{other['id']}/requests",
                     json={"request_id": request["id"]}), 409)
    assert count_rows(api, Person) == before
    # The counterpart files the same request in its own case: its own records.
    got = _persons(_file_in(api, theirs, request, "ke.officer"))
    assert "OMONDI Jared Kibet" in got
    assert count_rows(api, Person) == before + 3
