"""Cases group an authority's requests, sent and received; no other authority ever sees
them, and at the owner only officers and supervisors do."""

from __future__ import annotations

import csv
import io
from typing import Any

from tests.api_helpers import Api, problem_fields, refusal


def _case(api: Api, user: str = "fr.officer", **overrides: Any) -> dict[str, Any]:
    body = {"reference": "JUNALCO 26-041-0123", "title": "Kestrel - CEO fraud"} | overrides
    response = api.call(user, "POST", "/cases", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def _incoming(api: Api, user: str = "fr.officer", origin: str = "KE-ODPP",
              **overrides: Any) -> dict[str, Any]:
    body = {"kind": "mla.evidence", "requesting_authority": origin,
            "counterpart_reference": "ODPP/MLA/77", "legal_basis": "untoc",
            "title": "Witness in Lyon", "language": "en", "data": {}} | overrides
    response = api.call(user, "POST", "/requests/incoming", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def test_case_groups_requests_sent_and_received_for_its_authority_only(api: Api) -> None:
    case = _case(api)
    to_ke = api.file(title="Kestrel bank records")
    to_us = api.file(requested_authority="US-OIA", title="Kestrel e-mail accounts")
    received = _incoming(api)
    for request in (to_ke, to_us, received):
        answer = api.call("fr.officer", "POST", f"/cases/{case['id']}/requests",
                          json={"request_id": request["id"]})
        assert answer.status_code == 200, answer.text
    got = api.call("fr.supervisor", "GET", f"/cases/{case['id']}").json()
    assert [i["reference"] for i in got["items"]] == [
        to_ke["reference"], to_us["reference"], received["reference"]]
    assert got["requests"] == 3 and got["officers"] == [api.world["fr.officer"].id]

    # The counterparts are parties to the requests, never to the case.
    for user in ("ke.officer", "ke.supervisor", "us.officer", "us.liaison", "ke.admin"):
        assert refusal(api.call(user, "GET", f"/cases/{case['id']}"), 404)
        assert refusal(api.call(user, "GET", f"/cases/{case['id']}/state-of-play.csv"), 404)
    assert api.call("ke.officer", "GET", "/cases").json() == []
    assert api.call("ke.officer", "GET", f"/cases?request_id={to_ke['id']}").json() == []
    # A status-only role of the owner sees the requests' status, not the case.
    assert refusal(api.call("fr.liaison", "GET", f"/cases/{case['id']}"), 403)
    # US, party to one request, cannot file FR's other requests anywhere.
    us_case = _case(api, "us.officer", reference="OIA-1")
    assert refusal(api.call("us.officer", "POST", f"/cases/{us_case['id']}/requests",
                            json={"request_id": to_ke["id"]}), 404)
    # ...but can file the one it is party to in its own case: each authority its own.
    assert api.call("us.officer", "POST", f"/cases/{us_case['id']}/requests",
                    json={"request_id": to_us["id"]}).status_code == 200
    assert [c["reference"] for c in api.call(
        "fr.officer", "GET", f"/cases?request_id={to_us['id']}").json()] == [case["reference"]]


def test_a_request_is_in_one_case_of_an_authority(api: Api) -> None:
    first, second = _case(api), _case(api, reference="JUNALCO 26-041-0999")
    request = api.file()
    api.call("fr.officer", "POST", f"/cases/{first['id']}/requests",
             json={"request_id": request["id"]})
    assert refusal(api.call("fr.officer", "POST", f"/cases/{second['id']}/requests",
                            json={"request_id": request["id"]}), 409)
    assert api.call("fr.officer", "DELETE",
                    f"/cases/{first['id']}/requests/{request['id']}").status_code == 204
    assert api.call("fr.officer", "POST", f"/cases/{second['id']}/requests",
                    json={"request_id": request["id"]}).status_code == 200


def test_bad_case_input_names_the_field(api: Api) -> None:
    _case(api)
    body = refusal(api.call("fr.officer", "POST", "/cases", json={
        "reference": "JUNALCO 26-041-0123", "title": " ",
        "officers": [api.world["ke.officer"].id, api.world["fr.liaison"].id]}), 422)
    assert problem_fields(body) >= {"reference", "title", "officers.0", "officers.1"}
    assert api.call("fr.officer", "GET", "/cases").json()[0]["title"] == "Kestrel - CEO fraud"


def test_links_follow_the_law_and_belong_to_who_made_them(api: Api) -> None:
    case = _case(api)
    preservation = api.file(kind="mla.e_evidence.preservation", legal_basis="budapest",
                            title="Preserve the mailbox")
    production = api.file(kind="mla.e_evidence.production", legal_basis="budapest",
                          title="Produce the mailbox")
    evidence = api.file()
    for r in (preservation, production, evidence):
        api.call("fr.officer", "POST", f"/cases/{case['id']}/requests",
                 json={"request_id": r["id"]})
    made = api.call("fr.officer", "POST", f"/requests/{production['id']}/links", json={
        "kind": "preservation_to_production", "follows": preservation["id"]})
    assert made.status_code == 201, made.text
    assert made.json()["from_reference"] == preservation["reference"]
    # A provisional arrest cannot be followed by an evidence request.
    wrong = refusal(api.call("fr.officer", "POST", f"/requests/{evidence['id']}/links", json={
        "kind": "provisional_arrest_to_extradition", "follows": production["id"]}), 422)
    assert problem_fields(wrong) == {"from_request", "to_request"}
    assert refusal(api.call("fr.officer", "POST", f"/requests/{evidence['id']}/links", json={
        "kind": "supplementary", "follows": evidence["id"]}), 422)
    supplementary = api.call("fr.officer", "POST", f"/requests/{evidence['id']}/links", json={
        "kind": "supplementary", "follows": production["id"], "note": "EIO section D"})
    assert supplementary.status_code == 201
    assert refusal(api.call("fr.officer", "POST", f"/requests/{evidence['id']}/links", json={
        "kind": "supplementary", "follows": production["id"]}), 409)

    mine = api.call("fr.officer", "GET", f"/requests/{production['id']}/links").json()
    assert {(link["kind"], link["to_reference"]) for link in mine} == {
        ("preservation_to_production", production["reference"]),
        ("supplementary", evidence["reference"])}
    # KE is party to the same requests but did not make the links.
    assert api.call("ke.officer", "GET", f"/requests/{production['id']}/links").json() == []
    assert refusal(api.call("ke.officer", "DELETE", f"/links/{mine[0]['id']}"), 404)
    assert refusal(api.call("us.officer", "GET", f"/requests/{production['id']}/links"), 404)
    assert refusal(api.call("fr.liaison", "GET", f"/requests/{production['id']}/links"), 403)

    events = api.call("fr.officer", "GET", f"/cases/{case['id']}/timeline").json()
    assert [e["event"] for e in events].count("file") == 3
    linked = [e for e in events if e["event"] == "linked"]
    assert {(e["reference"], e["other_reference"], e["link_kind"]) for e in linked} == {
        (production["reference"], preservation["reference"], "preservation_to_production"),
        (evidence["reference"], production["reference"], "supplementary")}
    assert events == sorted(events, key=lambda e: e["at"])


def test_state_of_play_lists_each_request_with_state_deadline_and_last_event(
        api: Api) -> None:
    case = _case(api)
    sent = api.file(title="=HYPERLINK(\"http://evil\")")
    received = _incoming(api, legal_basis="eio_2014_41")
    for r in (sent, received):
        api.call("fr.officer", "POST", f"/cases/{case['id']}/requests",
                 json={"request_id": r["id"]})
    api.call("fr.officer", "POST", f"/requests/{sent['id']}/transitions",
             json={"event": "submit"}, headers={"If-Match": f'"{sent["version"]}"'})
    table = api.call("fr.officer", "GET", f"/cases/{case['id']}/state-of-play").json()
    by_ref = {row["reference"]: row for row in table}
    assert by_ref[sent["reference"]]["state"] == "in_review"
    assert by_ref[sent["reference"]]["last_event"] == "submit"
    assert by_ref[sent["reference"]]["direction"] == "outgoing"
    assert by_ref[received["reference"]]["direction"] == "incoming"
    assert by_ref[received["reference"]]["counterpart"] == "KE-ODPP"
    # A request received runs the requested side's clocks (acknowledge, decide).
    assert by_ref[received["reference"]]["next_deadline"] is not None

    response = api.call("fr.officer", "GET", f"/cases/{case['id']}/state-of-play.csv")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [r["reference"] for r in rows] == [r["reference"] for r in table]
    assert {r["state"] for r in rows} == {r["state"] for r in table}
    # A spreadsheet must not run the title as a formula.
    assert rows[0]["title"].startswith("'=")
