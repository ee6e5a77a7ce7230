"""The console's cases, links and search box, as an officer uses them."""

from __future__ import annotations

import re

from tests.api_helpers import Api
from tests.app_routes import console


def _case_id(response) -> str:  # type: ignore[no-untyped-def]
    assert response.status_code == 303, response.text[:300]
    found = re.search(r"/console/cases/([0-9a-f-]{36})", response.headers["location"])
    assert found
    return found.group(1)


def test_officer_opens_a_case_files_requests_records_a_person_and_exports(api: Api) -> None:
    case_id = _case_id(console(api, "fr.officer", "POST", "/console/cases", data={
        "reference": "JUNALCO 26-041-0123", "title": "Kestrel"}))
    sent = api.file(title="Kestrel bank records")
    answer = console(api, "fr.officer", "POST", f"/console/cases/{case_id}/requests",
                     data={"reference": sent["reference"]})
    assert answer.status_code == 303
    wrong = console(api, "fr.officer", "POST", f"/console/cases/{case_id}/requests",
                    data={"reference": "NOPE-1"})
    assert wrong.status_code == 422 and "no request of your authority" in wrong.text
    person = console(api, "fr.officer", "POST", f"/console/cases/{case_id}/persons", data={
        "name": "Иванов Сергей", "date_of_birth": "1979-03-02", "request_ids": sent["id"]})
    assert person.status_code == 303, person.text[:500]
    bad = console(api, "fr.officer", "POST", f"/console/cases/{case_id}/persons", data={
        "name": "X", "date_of_birth": "02/03/1979"})
    assert bad.status_code == 422 and "date_of_birth" in bad.text

    page = console(api, "fr.officer", "GET", f"/console/cases/{case_id}")
    assert page.status_code == 200
    assert sent["reference"] in page.text and "Ivanov Sergey" in page.text
    assert "Kestrel bank records" in page.text
    csv_answer = console(api, "fr.officer", "GET",
                         f"/console/cases/{case_id}/state-of-play.csv")
    assert csv_answer.headers["content-type"].startswith("text/csv")
    assert sent["reference"] in csv_answer.text

    # The request page names the case; the counterpart's does not.
    mine = console(api, "fr.officer", "GET", f"/console/requests/{sent['id']}")
    assert "JUNALCO 26-041-0123" in mine.text
    theirs = console(api, "ke.officer", "GET", f"/console/requests/{sent['id']}")
    assert theirs.status_code == 200 and "JUNALCO" not in theirs.text
    assert console(api, "ke.officer", "GET", f"/console/cases/{case_id}").status_code == 404
    assert console(api, "fr.liaison", "GET", f"/console/cases/{case_id}").status_code == 403


def test_linking_from_the_request_page_and_searching_from_the_header(api: Api) -> None:
    earlier = api.file(kind="extradition.provisional_arrest", legal_basis="ece_1957",
                       title="Arrest of IVANOV")
    later = api.file(kind="extradition.request", legal_basis="ece_1957",
                     title="Extradition of IVANOV")
    answer = console(api, "fr.officer", "POST", f"/console/requests/{later['id']}/links",
                     data={"kind": "provisional_arrest_to_extradition",
                           "follows": earlier["reference"]})
    assert answer.status_code == 303
    page = console(api, "fr.officer", "GET", f"/console/requests/{later['id']}")
    assert earlier["reference"] in page.text
    assert "Formal request after the provisional arrest" in page.text

    found = console(api, "fr.officer", "GET", "/console/search", params={"q": "Extradition"})
    assert found.status_code == 200 and later["reference"] in found.text
    assert "<mark>Extradition</mark>" in found.text or "<mark>extradition" in found.text.lower()
    # The box is on every page; a liaison officer finds by reference, not by words.
    assert 'role="search"' in page.text
    liaison = console(api, "fr.liaison", "GET", "/console/search", params={"q": "IVANOV"})
    assert later["reference"] not in liaison.text
    by_ref = console(api, "fr.liaison", "GET", "/console/search",
                     params={"q": later["reference"]})
    assert later["reference"] in by_ref.text and "Extradition of IVANOV" not in by_ref.text


def _version(page_html: str) -> str:
    found = re.search(r'id="case-edit".*?name="version" value="(\d+)"', page_html, re.S)
    assert found, "no edit form on the case page"
    return found.group(1)


def test_officer_edits_closes_and_reopens_a_case(api: Api) -> None:
    case_id = _case_id(console(api, "fr.officer", "POST", "/console/cases", data={
        "reference": "JUNALCO 26-041-0123", "title": "Kestrel"}))
    console(api, "fr.officer", "POST", "/console/cases", data={
        "reference": "TAKEN-1", "title": "Another"})
    page = console(api, "fr.officer", "GET", f"/console/cases/{case_id}").text
    read = _version(page)
    supervisor = api.world["fr.supervisor"].id
    edit = {"reference": "JUNALCO 26-041-0124", "title": "Kestrel — CEO fraud, Lyon",
            "description": "Organised fraud", "officers": [str(supervisor)], "version": read}
    saved = console(api, "fr.officer", "POST", f"/console/cases/{case_id}/edit", data=edit)
    assert saved.status_code == 303, saved.text[:500]
    case = api.call("fr.officer", "GET", f"/cases/{case_id}").json()
    assert (case["reference"], case["title"], case["description"], case["officers"]) == (
        "JUNALCO 26-041-0124", "Kestrel — CEO fraud, Lyon", "Organised fraud", [supervisor])
    page = console(api, "fr.officer", "GET", f"/console/cases/{case_id}").text
    assert "Kestrel — CEO fraud, Lyon" in page and "Fr.Supervisor" in page

    # The form as read before that save: refused, nothing of it kept, the current case shown.
    stale = console(api, "fr.officer", "POST", f"/console/cases/{case_id}/edit",
                    data=edit | {"title": "Overwritten"})
    assert stale.status_code == 409 and "changed by someone else" in stale.text
    assert api.call("fr.officer", "GET", f"/cases/{case_id}").json()["title"] == (
        "Kestrel — CEO fraud, Lyon")
    # Another case's reference, or no title: 422 naming the field.
    current = _version(console(api, "fr.officer", "GET", f"/console/cases/{case_id}").text)
    taken = console(api, "fr.officer", "POST", f"/console/cases/{case_id}/edit",
                    data=edit | {"reference": "TAKEN-1", "title": " ", "version": current})
    assert taken.status_code == 422
    assert "<strong>reference</strong>" in taken.text and "<strong>title</strong>" in taken.text

    closed = console(api, "fr.officer", "POST", f"/console/cases/{case_id}/closure",
                     data={"closed": "1", "version": current})
    assert closed.status_code == 303
    page = console(api, "fr.officer", "GET", f"/console/cases/{case_id}").text
    assert "Reopen the case" in page
    assert api.call("fr.officer", "GET", f"/cases/{case_id}").json()["closed_at"]
    reopened = console(api, "fr.supervisor", "POST", f"/console/cases/{case_id}/closure",
                       data={"closed": "0", "version": _version(page)})
    assert reopened.status_code == 303
    assert api.call("fr.officer", "GET", f"/cases/{case_id}").json()["closed_at"] is None

    # Another authority's officer: no such case; our liaison officer: not allowed.
    for user, status in (("ke.officer", 404), ("us.officer", 404), ("fr.liaison", 403)):
        for path, data in (("edit", edit | {"title": "Hijacked"}), ("closure", {"closed": "1"})):
            answer = console(api, user, "POST", f"/console/cases/{case_id}/{path}", data=data)
            assert answer.status_code == status, (user, path, answer.status_code)
    case = api.call("fr.officer", "GET", f"/cases/{case_id}").json()
    assert case["title"] == "Kestrel — CEO fraud, Lyon" and case["closed_at"] is None


def test_api_case_edit_with_a_stale_version_is_refused(api: Api) -> None:
    case = api.call("fr.officer", "POST", "/cases", json={"reference": "INV-1",
                                                         "title": "Kestrel"}).json()
    changed = api.call("fr.officer", "PATCH", f"/cases/{case['id']}", json={"title": "New"},
                       headers={"If-Match": f'"{case["version"]}"'})
    assert changed.status_code == 200 and changed.headers["ETag"] == f'"{case["version"] + 1}"'
    stale = api.call("fr.officer", "PATCH", f"/cases/{case['id']}", json={"title": "Old"},
                     headers={"If-Match": f'"{case["version"]}"'})
    assert stale.status_code == 409 and stale.json()["current_version"] == case["version"] + 1
    assert api.call("fr.officer", "GET", f"/cases/{case['id']}").json()["title"] == "New"
