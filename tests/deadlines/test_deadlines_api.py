"""Deadlines through the API: my authority's list, per request, extension rules."""

from __future__ import annotations

from tests.api_helpers import Api


def _incoming_eaw(api: Api) -> dict:
    """KE registers an EAW received from FR."""
    created = api.call("ke.officer", "POST", "/requests/incoming", json={
        "kind": "extradition.request", "requesting_authority": "FR-MJ",
        "counterpart_reference": "EAW-2026-7", "legal_basis": "eaw_2002_584",
        "title": "EAW - R. Vernier", "language": "en", "data": {}})
    assert created.status_code == 201, created.text
    return created.json()


def test_upcoming_deadlines_of_my_authority(api: Api) -> None:
    rid = api.file(legal_basis="untoc")["id"]
    for user, event in (("fr.officer", "submit"), ("fr.supervisor", "approve"),
                        ("fr.officer", "transmit")):
        assert api.call(user, "POST", f"/requests/{rid}/transitions",
                        json={"event": event}).status_code == 200
    mine = api.call("fr.officer", "GET", "/deadlines").json()
    assert [d["rule"] for d in mine] == ["untoc.suggested_date"]
    assert mine[0]["citation"].startswith("UNTOC art. 18(24)")
    assert mine[0]["acting_authority"] == "KE-ODPP" and mine[0]["status"] in ("running",
                                                                              "overdue")
    assert mine[0]["due_local"].endswith("Africa/Nairobi")
    assert api.call("ke.supervisor", "GET", "/deadlines").json()[0]["id"] == mine[0]["id"]
    assert api.call("us.officer", "GET", "/deadlines").json() == []
    # The liaison officer sees the clock in the status view, nothing of the case.
    status = api.call("fr.liaison", "GET", f"/requests/{rid}").json()
    assert [d["rule"] for d in status["deadlines"]] == ["untoc.suggested_date"]
    assert "data" not in status


def test_extension_by_the_acting_supervisor_only(api: Api) -> None:
    # An EAW's decision clock opens at the arrest of the person (art. 17(3)).
    request = _incoming_eaw(api)
    assert request["workflow"] == "extradition"
    # Registered by the requested authority, it starts where the formal request arrives.
    assert request["state"] == "formal_request_received"
    rid = request["id"]
    assert api.call("ke.officer", "GET", f"/requests/{rid}/deadlines").json() == []
    future = api.call("ke.officer", "POST", f"/requests/{rid}/transitions",
                      json={"event": "arrest", "occurred_at": "2999-01-01T00:00:00+00:00"})
    assert future.status_code == 422
    assert [e["field"] for e in future.json()["errors"]] == ["occurred_at"]
    response = api.call("ke.officer", "POST", f"/requests/{rid}/transitions",
                        json={"event": "arrest"})
    assert response.status_code == 200, response.text
    clocks = api.call("ke.officer", "GET", f"/requests/{rid}/deadlines").json()
    assert [c["rule"] for c in clocks] == ["eaw.decision"]
    assert clocks[0]["titles"]["fr"] == "Décision définitive sur le mandat d'arrêt européen"
    assert clocks[0]["trigger"] == "arrest of the requested person"
    did = clocks[0]["id"]
    body = {"days": 30, "reason": "Expert report awaited (art. 17(4))"}
    assert api.call("ke.officer", "POST", f"/deadlines/{did}/extensions",
                    json=body).status_code == 403
    too_long = api.call("ke.supervisor", "POST", f"/deadlines/{did}/extensions",
                        json=body | {"days": 31})
    assert too_long.status_code == 422
    assert {e["field"] for e in too_long.json()["errors"]} == {"days"}
    ok = api.call("ke.supervisor", "POST", f"/deadlines/{did}/extensions", json=body)
    assert ok.status_code == 200 and ok.json()["extended_days"] == 30
    assert api.call("us.supervisor", "POST", f"/deadlines/{did}/extensions",
                    json=body).status_code == 404


def test_urgency_is_the_filing_officers_input(api: Api) -> None:
    body = {"kind": "mla.e_evidence.production", "requested_authority": "KE-ODPP",
            "legal_basis": "e_evidence_2023_1543", "title": "Emergency EPOC",
            "language": "en", "data": {}, "urgent": True}
    missing = api.call("fr.officer", "POST", "/requests", json=body)
    assert missing.status_code == 422
    assert [e["field"] for e in missing.json()["errors"]] == ["urgency_reasons"]
    made = api.call("fr.officer", "POST", "/requests",
                    json=body | {"urgency_reasons": "kidnapping in progress"})
    assert made.status_code == 201, made.text
    assert made.json()["urgent"] is True
    assert made.json()["urgency_reasons"] == "kidnapping in progress"
    status = api.call("fr.liaison", "GET", f"/requests/{made.json()['id']}").json()
    assert status["urgent"] is True and "urgency_reasons" not in status
    plain = api.call("fr.officer", "POST", "/requests", json=body | {"urgent": False})
    assert plain.status_code == 201 and plain.json()["urgent"] is False
    incoming = api.call("ke.officer", "POST", "/requests/incoming", json={
        "kind": "mla.evidence", "requesting_authority": "FR-MJ", "counterpart_reference": "X-1",
        "legal_basis": "untoc", "title": "t", "language": "en", "data": {}, "urgent": True,
        "urgency_reasons": "suspect leaves on Friday"})
    assert incoming.status_code == 201 and incoming.json()["urgent"] is True
    # Registering an urgent request pages KE's own 24/7 point.
    pages = api.call("ke.contact_point", "GET", "/alerts").json()
    assert [p["reference"] for p in pages] == [incoming.json()["reference"]]
