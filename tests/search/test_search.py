"""The search box: found across scripts and spelling mistakes, language-aware, ranked and
marked, and never past what the user may read."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.orm import Session

from mla.models import Request
from tests.api_helpers import Api, problem_fields, refusal


def _search(api: Api, user: str, q: str) -> list[dict[str, Any]]:
    response = api.call(user, "GET", "/search", params={"q": q})
    assert response.status_code == 200, response.text
    return response.json()["items"]  # type: ignore[no-any-return]


def _refs(items: list[dict[str, Any]]) -> list[str]:
    return [i["reference"] for i in items]


def _person(name: str, dob: str = "1979-03-02") -> dict[str, Any]:
    return {"role": "suspect", "full_name": name, "date_of_birth": dob}


def test_content_is_found_ranked_and_marked_for_officers_of_the_parties(api: Api) -> None:
    wanted = api.file(title="Kestrel bank records",
                      data={"facts_summary": "Seven transfers to Mara Commercial Bank."})
    api.file(title="Unrelated", data={"facts_summary": "A stolen lorry in Mombasa."})
    for user in ("fr.officer", "fr.supervisor", "ke.officer"):
        items = _search(api, user, "transfers Mara bank")
        assert _refs(items) == [wanted["reference"]]
        assert items[0]["url"] == f"/requests/{wanted['id']}"
        assert "<mark>" in items[0]["excerpt_html"]
        assert "Mara" in items[0]["excerpt_html"]
    # Stemmed words (English): "transferred" finds "transfers".
    assert _refs(_search(api, "fr.officer", "transfer")) == [wanted["reference"]]


def test_a_third_authority_finds_nothing(api: Api) -> None:
    request = api.file(title="Kestrel bank records", data={
        "facts_summary": "Seven transfers to Mara Commercial Bank.",
        "persons": [_person("Иванов Сергей Петрович")]})
    for user in ("us.officer", "us.supervisor", "us.liaison", "us.admin"):
        for q in ("Mara", "Kestrel", "Ivanov", request["reference"], "Иванов"):
            assert _search(api, user, q) == [], (user, q)


def test_liaison_finds_status_by_reference_only(api: Api) -> None:
    request = api.file(title="Kestrel bank records",
                       data={"facts_summary": "Seven transfers to Mara Commercial Bank."})
    for user in ("fr.liaison", "ke.liaison", "fr.contact_point"):
        assert _search(api, user, "Mara") == []
        assert _search(api, user, "Kestrel") == []
        found = _search(api, user, request["reference"][-5:])
        assert _refs(found) == [request["reference"]]
        assert found[0]["title"] is None and found[0]["excerpt_html"] is None
    # Cases (the owner's content) never answer a status-only role.
    api.call("fr.officer", "POST", "/cases", json={"reference": request["reference"],
                                                   "title": "Kestrel"})
    assert [i["type"] for i in _search(api, "fr.liaison", request["reference"])] == ["request"]
    assert {i["type"] for i in _search(api, "fr.officer", request["reference"])} == {
        "request", "case"}


@pytest.mark.parametrize(("stored", "typed"), [
    ("Иванов Сергей Петрович", "Sergey Ivanov"),        # Cyrillic found from Latin
    ("IVANOV Sergei", "Иванов Сергей"),                 # and the reverse
    ("محمد الحسن", "Mohammed Al-Hassan"),               # Arabic from Latin
    ("Muhammad AL-HASAN", "محمد الحسن"),                # and the reverse
    ("OMONDI Jared Kibet", "Omodni"),                   # a typo in the surname
    ("KARAMANLIS Georgios", "Karamanlsi"),
])
def test_names_across_scripts_and_typos(api: Api, stored: str, typed: str) -> None:
    wanted = api.file(title="Bank records", data={"persons": [_person(stored)]})
    api.file(title="Other", data={"persons": [_person("Jean DUPONT")]})
    assert _refs(_search(api, "fr.officer", typed)) == [wanted["reference"]]


def test_french_and_spanish_stop_words_find_nothing(api: Api) -> None:
    api.file(title="Commission rogatoire", language="fr", data={
        "facts_summary": "Les fonds de la société ont été virés sur le compte de la banque "
                         "et une partie des sommes a été retirée en espèces."})
    api.file(title="Solicitud", language="es", data={
        "facts_summary": "Los fondos de la empresa fueron transferidos a una cuenta en el "
                         "banco y el resto se retiró en efectivo por los sospechosos."})
    for q in ("de la", "le la les des", "los de el y", "une et"):
        assert _search(api, "fr.officer", q) == [], q
    # The content words still match, French stems included (virés / virement).
    assert len(_search(api, "fr.officer", "banque")) == 1
    assert len(_search(api, "fr.officer", "fondos transferidos")) == 1


def test_the_index_follows_edits_translations_and_rollbacks(api: Api,
                                                            session: Session) -> None:
    draft = api.file(title="Kestrel", data={"facts_summary": "A heron in the marsh."})
    assert _refs(_search(api, "fr.officer", "heron")) == [draft["reference"]]
    answer = api.call("fr.officer", "PATCH", f"/requests/{draft['id']}", json={
        "data": {"facts_summary": "A falcon over the city."}},
        headers={"If-Match": f'"{draft["version"]}"'})
    assert answer.status_code == 200, answer.text
    assert _search(api, "fr.officer", "heron") == []
    assert _refs(_search(api, "fr.officer", "falcon")) == [draft["reference"]]
    put = api.call("fr.officer", "PUT", f"/requests/{draft['id']}/translations/fr",
                   json={"data": {"facts_summary": "Un faucon au-dessus de la ville."}})
    assert put.status_code == 204, put.text
    assert _refs(_search(api, "fr.officer", "faucon")) == [draft["reference"]]
    # A change rolled back leaves the index as it was: both are written in one transaction.
    request = session.get(Request, __import__("uuid").UUID(draft["id"]))
    assert request is not None
    request.title = "Osprey"
    session.flush()
    session.rollback()
    assert _search(api, "fr.officer", "osprey") == []
    assert _refs(_search(api, "fr.officer", "Kestrel")) == [draft["reference"]]


def test_persons_and_cases_are_found_by_their_authority_only(api: Api) -> None:
    case = api.call("fr.officer", "POST", "/cases", json={
        "reference": "JUNALCO 26-041-0123", "title": "Kestrel CEO fraud"}).json()
    person = api.call("fr.officer", "POST", f"/cases/{case['id']}/persons", json={
        "name": "Иванов Сергей Петрович", "date_of_birth": "1979-03-02"}).json()
    found = _search(api, "fr.officer", "Ivanov Sergey")
    assert [(i["type"], i["id"]) for i in found] == [("person", person["id"])]
    assert _refs(_search(api, "fr.officer", "JUNALCO 26-041")) == ["JUNALCO 26-041-0123"]
    for user in ("ke.officer", "us.officer", "fr.liaison"):
        assert _search(api, user, "Ivanov Sergey") == []
        assert _search(api, user, "JUNALCO") == []


def test_bad_queries_name_the_parameter(api: Api) -> None:
    assert "q" in problem_fields(refusal(api.call("fr.officer", "GET", "/search",
                                                  params={"q": "   "}), 422))
    assert refusal(api.call("fr.officer", "GET", "/search", params={"q": "x" * 201}), 422)
    assert refusal(api.call("fr.officer", "GET", "/search", params={"q": "a", "limit": 0}),
                   422)
    # Query syntax of either engine is just text here.
    for q in ('"unbalanced', "a OR", "NEAR(", "*", "%_\\", "-", "' or 1=1 --", "<script>"):
        assert api.call("fr.officer", "GET", "/search", params={"q": q}).status_code == 200
