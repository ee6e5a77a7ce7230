"""Odd input to the console's pages and forms gets a page that says what is wrong (4xx),
never a server error nor a bare JSON document, whichever role sends it."""

from __future__ import annotations

import html
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from mla.clock import frozen
from mla.requests import filing
from tests.api_helpers import Api

ROLES = ("fr.officer", "fr.supervisor", "fr.liaison", "ke.officer", "ke.contact_point",
         "us.admin")
HUGE = "9" * 25
# What a page may say instead, to a role that may not do this at all (or, for another
# authority, may not know the request exists): the refusal, with its reason.
REFUSED = ("Not allowed", "Not found", "only officers of the requesting authority")

# (method, path, form, status for fr.officer, what the page tells fr.officer: where several
# parts are wrong, the page may name any one of them).
CASES: list[tuple[str, str, dict[str, Any] | None, int, str | tuple[str, ...]]] = [
    ("GET", "/console/requests?kind=zzz&state=%00&counterpart=<b>&overdue=maybe", None, 422,
     ("overdue: Input should be a valid boolean", "state: contains the control character")),
    ("GET", "/console/requests?sort=x&page=0", None, 422, "sort: String should match"),
    ("GET", "/console/requests?page=abc", None, 422, "page: Input should be a valid integer"),
    ("GET", "/console/requests/not-a-uuid", None, 422, "request_id: Input should be a valid UUID"),
    ("GET", "/console/requests/{unknown}", None, 404, "no request {unknown}"),
    ("GET", "/console/requests/{rid}/document?language=ZZZ", None, 422,
     "language: String should match pattern"),
    ("GET", "/console/requests/{rid}/document?language=xx", None, 400, "has no text in 'xx'"),
    ("GET", "/console/requests/{rid}/translations", None, 422, "language: Field required"),
    ("GET", "/console/new/zzz", None, 404, "no template for kind 'zzz'"),
    ("GET", "/console/incoming/zzz", None, 404, "no template for kind 'zzz'"),
    ("GET", "/console/workflows/zzz", None, 404, "no workflow named 'zzz'"),
    ("GET", "/console/alerts?status=zzz", None, 422, "status: String should match pattern"),
    ("GET", "/console/attachments/{unknown}", None, 404, "no attachment {unknown}"),
    ("POST", "/console/requests/{rid}/events", {"event": "zzz"}, 409,
     "event 'zzz' is not allowed in state 'draft'; allowed now: submit, withdraw"),
    # Only the version is wrong (the reason withdrawing needs is given): no change happens.
    # On a request of its own, so that a withdrawal let through spoils no other case.
    ("POST", "/console/requests/{spare}/events", {"event": "withdraw", "version": HUGE,
                                                "reason": "x"}, 409,
     f"is at version 1, not {HUGE}; reload it"),
    ("POST", "/console/requests/{rid}/events", {"event": "refuse", "grounds": "nonsense"}, 409,
     "event 'refuse' is not allowed in state 'draft'"),
    ("POST", f"/console/deadlines/{HUGE}/extensions", {"days": "1", "reason": "x"}, 422,
     "deadline_id: Input should be less than or equal to"),
    ("POST", "/console/requests/{rid}/translations/fr", {"data.nonexistent": "x"}, 422,
     "data.nonexistent: holds no free text to translate"),
    ("POST", "/console/new/mla.evidence", {"requested_authority": "ZZ", "legal_basis": "zzz",
                                           "language": "qq",
                                           "data.persons.0.date_of_birth": "x"}, 422,
     "Requested authority : choose the requested authority"),
    ("POST", "/console/new/mla.evidence", {"requested_authority": "KE-ODPP", "title": "x" * 1000,
                                           "legal_basis": "untoc", "language": "en",
                                           "data.persons.99999.name": "x", "action": "submit"},
     422, "Short title : at most 300 characters"),
    ("POST", "/console/new/mla.evidence", {"requested_authority": "KE-ODPP", "title": "t",
                                           "legal_basis": "untoc", "language": "en",
                                           "urgent": "true", "urgency_reasons": " "}, 422,
     "Reasons for urgency : say why the request is urgent"),
    ("POST", "/console/incoming/mla.evidence", {"requesting_authority": "FR-MJ",
                                                "counterpart_reference": "x" * 500,
                                                "legal_basis": "untoc", "title": "t"}, 422,
     "Their reference : at most 80 characters"),
    ("POST", "/console/alerts/1/zzz", {}, 422, "action: String should match pattern"),
    ("POST", f"/console/alerts/{HUGE}/acknowledge", {}, 422,
     "alert_id: Input should be less than or equal to"),
]


def _send(api: Api, who: str, method: str, path: str, data: dict[str, Any] | None = None
          ) -> httpx.Response:
    return api.console(who, method, path, data)  # type: ignore[no-any-return]


def _text(response: httpx.Response) -> str:
    """What a person reads on the page: tags dropped, entities decoded, spaces collapsed."""
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", response.text)))


def test_odd_input_gets_a_4xx_page_that_says_what_is_wrong(api: Api) -> None:
    rid, spare = api.file()["id"], api.file()["id"]
    unknown = str(uuid.uuid4())
    failures = []
    for method, template, data, status, says in CASES:
        path = template.format(rid=rid, spare=spare, unknown=unknown)
        problems = [p.format(unknown=unknown) for p in ((says,) if isinstance(says, str)
                                                          else says)]
        for who in ROLES:
            response = _send(api, who, method, path, data)
            text = _text(response)
            page = response.headers.get("content-type", "").startswith("text/html")
            named = any(p in text for p in problems)
            if who == "fr.officer":
                ok = response.status_code == status and page and named
            else:
                ok = 400 <= response.status_code < 500 and page and (
                    named or any(r in text for r in REFUSED))
            if not ok:
                failures.append((who, method, path, response.status_code, says, text[:200]))
    assert failures == [], "\n".join(map(str, failures))
    # And nothing was lost: the requests are still there, still drafts.
    for request_id in (rid, spare):
        assert api.call("fr.officer", "GET", f"/requests/{request_id}").json()["state"] == \
            "draft"


def test_unusual_but_valid_input_gets_its_page(api: Api) -> None:
    created = api.file()
    rid = created["id"]
    beyond = _send(api, "fr.officer", "GET", "/console/requests?page=99999&sort=due&order=asc")
    assert beyond.status_code == 200
    assert "No request matches these filters." in _text(beyond)
    # Any ISO 639-1 code may be translated into; the page says KE does not accept it.
    rare = _send(api, "fr.officer", "GET", f"/console/requests/{rid}/translations?language=zz")
    assert rare.status_code == 200
    assert f"zz translation of {created['reference']}" in _text(rare)
    assert "KE-ODPP does not list this language among those it accepts" in _text(rare)
    row = _send(api, "fr.officer", "POST", f"/console/requests/{rid}/translations/fr",
                {"action": "add:data.persons"})
    # One row more than the empty list's form shows (row 0), for the translator to fill.
    assert row.status_code == 200
    assert 'name="data.persons.1.' in row.text


def test_the_officer_marks_a_request_urgent_on_the_form(api: Api) -> None:
    form = {"requested_authority": "KE-ODPP", "legal_basis": "e_evidence_2023_1543",
            "title": "Emergency EPOC", "language": "en", "urgent": "true",
            "urgency_reasons": "Child in danger; the account is live"}
    page = _send(api, "fr.officer", "GET", "/console/new/mla.e_evidence.production")
    assert "e-Evidence emergency" in _text(page) and "8 hours" in _text(page)
    response = _send(api, "fr.officer", "POST", "/console/new/mla.e_evidence.production", form)
    assert response.status_code == 303, _text(response)[:300]
    rid = response.headers["location"].split("/")[-2]
    made = api.call("fr.officer", "GET", f"/requests/{rid}").json()
    assert made["urgent"] is True
    assert made["urgency_reasons"] == "Child in danger; the account is live"
    shown = _text(_send(api, "fr.officer", "GET", f"/console/requests/{rid}"))
    assert "Reasons for urgency: Child in danger" in shown
    status = _text(_send(api, "fr.liaison", "GET", f"/console/requests/{rid}"))
    assert "Child in danger" not in status


def test_a_legal_trigger_recorded_late_on_the_request_page(api: Api) -> None:
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    with frozen(now - timedelta(hours=3)):  # filed earlier, as the API would
        rid = filing.register_incoming(
            api.session, api.world["ke.officer"], kind="extradition.request",
            requesting_authority_id=api.world.fr.id, counterpart_reference="EAW-9",
            legal_basis="eaw_2002_584", title="EAW", language="en", data={}).id
        api.session.commit()
    page = _text(_send(api, "ke.officer", "GET", f"/console/requests/{rid}"))
    assert "When it happened, if earlier than now" in page
    # Typed in Nairobi time (UTC+3, the officer's authority): two hours ago.
    arrested = now - timedelta(hours=2)
    typed = arrested.astimezone(ZoneInfo("Africa/Nairobi")).strftime("%Y-%m-%dT%H:%M")
    response = _send(api, "ke.officer", "POST", f"/console/requests/{rid}/events",
                     {"event": "arrest", "version": "1", "occurred_at": typed})
    assert response.status_code == 303, _text(response)[:300]
    clocks = api.call("ke.officer", "GET", f"/requests/{rid}/deadlines").json()
    assert [c["rule"] for c in clocks] == ["eaw.decision"]
    assert datetime.fromisoformat(clocks[0]["opened_at"]) == arrested
