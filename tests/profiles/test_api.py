"""Profiles over HTTP: any logged-in user reads them (shared reference data); an
authority's admins and supervisors change its own profile, its admins its country's;
nobody else (403, the profile being visible). Our UNODC entry is ours only (404). Return
reasons on request_info and refusals, counted in the statistics."""

from __future__ import annotations

from typing import Any

from mla.profiles.model import RETURN_REASONS
from tests.api_helpers import Api, problem_fields, refusal
from tests.profiles.data import load

KE_ODPP = {"languages": {"*": ["en", "sw"]}, "transmission": {"*": "central"},
           "contact": {"email": "mla@odpp.example", "office_hours": "Mon-Fri 08:00-17:00"},
           "notes": [{"text": "Originals follow by courier.", "source": "ODPP circular",
                      "date": "2026-03-01"}]}


def test_any_user_reads_profiles(api: Api) -> None:
    load(api.session, [{"code": "KE", "languages": {"*": ["en"]}}], rows=[])
    for user in ("us.liaison", "fr.contact_point", "ke.officer"):
        assert [p["code"] for p in api.call(user, "GET", "/profiles").json()] == ["KE"]
        body = api.call(user, "GET", "/profiles/KE").json()
        assert body["body"]["languages"] == {"*": ["en"]} and body["editable"] is False
    assert refusal(api.call("fr.officer", "GET", "/profiles/BR"), 404)
    assert api.call(None, "GET", "/profiles/KE").status_code == 401
    measures = api.call("fr.officer", "GET", "/profiles/measures").json()
    assert "eio.c.interception" in measures and "mla.search_seizure" in measures


def test_admins_and_supervisors_edit_their_own_authority_only(api: Api) -> None:
    for user in ("ke.admin", "ke.supervisor"):
        r = api.call(user, "PUT", "/profiles/KE-ODPP", json=KE_ODPP)
        assert r.status_code == 200, r.text
        assert r.json()["editable"] and r.json()["country"] == "KE"
    for user in ("ke.officer", "ke.liaison", "fr.admin", "us.admin", "us.supervisor"):
        body = refusal(api.call(user, "PUT", "/profiles/KE-ODPP",
                                json={"languages": {"*": ["fr"]}}), 403)
        assert "may not change the profile KE-ODPP" in body["detail"]
    # Nothing changed by the refused writes.
    stored = api.call("us.officer", "GET", "/profiles/KE-ODPP").json()["body"]
    assert stored["languages"] == {"*": ["en", "sw"]}
    # The country's profile: its admins only.
    assert api.call("ke.admin", "PUT", "/profiles/KE", json={
        "certified_translation": True}).status_code == 200
    assert refusal(api.call("ke.supervisor", "PUT", "/profiles/KE", json={}), 403)
    assert refusal(api.call("fr.admin", "PUT", "/profiles/KE", json={}), 403)
    reqs = api.call("fr.officer", "GET", "/authorities/KE-ODPP/requirements").json()
    assert reqs["sources"] == ["KE", "KE-ODPP"]
    assert reqs["body"]["certified_translation"] is True
    assert reqs["body"]["transmission"] == {"*": "central"}


def test_bad_profile_is_422_naming_each_field(api: Api) -> None:
    r = api.call("ke.admin", "PUT", "/profiles/KE-ODPP", json={
        "languages": {"*": ["English"]}, "channels": ["fax"],
        "penalty_thresholds": {"eaw_2002_584": {"maximum_months": -1}},
        "notes": [{"text": "x", "source": "", "date": "yesterday"}]})
    assert problem_fields(refusal(r, 422)) == {
        "languages.*", "channels", "penalty_thresholds.eaw_2002_584", "notes.0.source",
        "notes.0.date"}
    unknown = api.call("ke.admin", "PUT", "/profiles/KE-ODPP", json={"colour": "red"})
    assert refusal(unknown, 422)
    assert refusal(api.call("fr.officer", "GET", "/profiles/KE-ODPP"), 404)


def test_unodc_entry_of_our_own_authority_only(api: Api) -> None:
    api.call("ke.admin", "PUT", "/profiles/KE-ODPP", json=KE_ODPP | {
        "legal_bases": ["untoc", "uncac"], "channels": ["email_signed_pdf", "interpol"]})
    entry = api.call("ke.officer", "GET", "/profiles/KE-ODPP/unodc").json()
    authority = entry["authority"]
    assert entry["state"] == "KE" and "2322" in entry["prepared_under"]
    assert authority["email"] == "mla@odpp.example"
    assert authority["untoc_as_legal_basis"] is True
    assert "UNTOC art. 18(13) (mutual legal assistance)" in authority["designated_under"]
    assert authority["urgent_requests"] == {"by_email": True, "through_interpol": True}
    assert authority["notes"][0]["source"] == "ODPP circular"
    for user in ("fr.admin", "us.officer"):
        assert refusal(api.call(user, "GET", "/profiles/KE-ODPP/unodc"), 404)


def _to_acknowledged(api: Api) -> dict[str, Any]:
    request = api.file()
    for user, event in (("fr.officer", "submit"), ("fr.supervisor", "approve"),
                        ("fr.officer", "transmit"), ("fr.officer", "acknowledge")):
        r = api.call(user, "POST", f"/requests/{request['id']}/transitions",
                     json={"event": event})
        assert r.status_code == 200, r.text
    return request


def test_return_reasons_are_structured_and_counted(api: Api) -> None:
    from api.schemas.requests import ReturnReason

    assert set(ReturnReason.__args__) == set(RETURN_REASONS)
    asked = _to_acknowledged(api)
    url = f"/requests/{asked['id']}/transitions"
    bad = api.call("fr.officer", "POST", url, json={
        "event": "request_info", "reason": "r", "return_reason": "bad_weather"})
    assert problem_fields(refusal(bad, 422)) == {"return_reason"}
    wrong_event = api.call("fr.officer", "POST", url, json={
        "event": "start_execution", "return_reason": "language"})
    assert refusal(wrong_event, 422)
    assert api.call("fr.officer", "POST", url, json={
        "event": "request_info", "reason": "KE asks for the dual criminality statement",
        "return_reason": "incomplete"}).status_code == 200
    refused = _to_acknowledged(api)
    r = api.call("fr.officer", "POST", f"/requests/{refused['id']}/transitions", json={
        "event": "refuse", "grounds": ["essential_interests"], "reason": "not ours",
        "return_reason": "wrong_authority"})
    assert r.status_code == 200, r.text
    plain = _to_acknowledged(api)
    api.call("fr.officer", "POST", f"/requests/{plain['id']}/transitions", json={
        "event": "request_info", "reason": "questions"})
    history = api.call("fr.officer", "GET", f"/requests/{asked['id']}/history").json()
    assert history[-1]["data"] == {"return_reason": "incomplete"}
    for user in ("fr.officer", "ke.officer"):
        rows = _records(api, user, "return_reasons")
        assert {r["reason"]: (r["info_requested"], r["refused"]) for r in rows} == {
            "incomplete": (1, 0), "wrong_authority": (0, 1), "language": (0, 0),
            "not_stated": (1, 0)}
    # A third authority counts none of it.
    assert all(r["total"] == 0 for r in _records(api, "us.officer", "return_reasons"))
    assert sum(r["returns"] for r in _records(api, "fr.officer", "returns_by_period")) == 3


def _records(api: Api, user: str, name: str) -> list[dict[str, Any]]:
    table = api.call(user, "GET", "/stats").json()["tables"][name]
    return [dict(zip(table["columns"], row, strict=True)) for row in table["rows"]]


def test_odd_json_shapes_are_422_never_500(api: Api) -> None:
    for body in ({"channels": [{"a": 1}]}, {"legal_bases": [["untoc"]]},
                 {"transmission": {"*": ["central"]}},
                 {"dual_criminality": {"measures": [{"x": 1}]}},
                 {"languages": {"*": [1]}}, {"notes": [[]]}, {"contact": {"email": 5}},
                 {"execution_days": {"*": True}}, {"penalty_thresholds": {"untoc": [12]}}):
        assert refusal(api.call("ke.admin", "PUT", "/profiles/KE-ODPP", json=body), 422)
