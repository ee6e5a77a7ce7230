"""The requesting side records the other authority's acts (acknowledgement, refusal...) itself
when that authority has no instance of its own: as reports received on a given day by e-mail,
phone or post, never as if it had acknowledged anything itself."""

from __future__ import annotations

import html
import re
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update

from mla.clock import utcnow
from mla.models import HistoryEvent
from mla.models import Request as MlaRequest
from tests.api_helpers import Api, problem_fields, refusal


def _transmitted(api: Api, days_ago: int = 0) -> dict[str, Any]:
    filed = api.file()
    rid = filed["id"]
    for who, event in (("fr.officer", "submit"), ("fr.supervisor", "approve"),
                       ("fr.officer", "transmit")):
        response = api.call(who, "POST", f"/requests/{rid}/transitions", json={"event": event})
        assert response.status_code == 200, response.text
    if days_ago:
        api.session.execute(update(MlaRequest).where(MlaRequest.id == uuid.UUID(rid)).values(
            transmitted_at=utcnow() - timedelta(days=days_ago)))
        api.session.commit()
    return filed


def _state(api: Api, rid: str) -> str:
    return api.call("fr.officer", "GET", f"/requests/{rid}").json()["state"]


def test_api_records_the_day_and_channel_of_an_acknowledgement_received(api: Api) -> None:
    rid = _transmitted(api, days_ago=6)["id"]
    received = (utcnow() - timedelta(days=3)).date().isoformat()
    response = api.call("fr.officer", "POST", f"/requests/{rid}/transitions", json={
        "event": "acknowledge", "received_on": received, "channel": "phone"})
    assert response.status_code == 200, response.text
    history = api.call("fr.officer", "GET", f"/requests/{rid}/history").json()
    assert history[-1]["event"] == "acknowledge"
    assert history[-1]["data"] == {"received_on": received, "channel": "phone"}


def test_impossible_reports_are_refused_naming_the_field_and_change_nothing(api: Api) -> None:
    rid = _transmitted(api)["id"]
    tomorrow = (utcnow() + timedelta(days=2)).date().isoformat()
    before_sending = (utcnow() - timedelta(days=3)).date().isoformat()
    for body, field in (({"received_on": tomorrow}, "received_on"),
                        ({"received_on": before_sending}, "received_on"),
                        ({"received_on": "28/11/2026"}, "received_on"),
                        ({"channel": "pigeon"}, "channel")):
        response = api.call("fr.officer", "POST", f"/requests/{rid}/transitions",
                            json={"event": "acknowledge", **body})
        problem = refusal(response, 422)
        assert field in {f.removeprefix("body.") for f in problem_fields(problem)}, problem
        assert _state(api, rid) == "transmitted"


def test_a_refusal_received_by_post_keeps_its_grounds_and_its_report(api: Api) -> None:
    rid = _transmitted(api, days_ago=10)["id"]
    response = api.call("fr.officer", "POST", f"/requests/{rid}/transitions", json={
        "event": "refuse", "grounds": ["essential_interests"], "reason": "letter of 2 Nov",
        "received_on": (utcnow() - timedelta(days=1)).date().isoformat(), "channel": "post"})
    assert response.status_code == 200, response.text
    assert _state(api, rid) == "refused"


def test_console_asks_when_and_how_the_acknowledgement_came_and_says_so(api: Api) -> None:
    rid = _transmitted(api, days_ago=4)["id"]
    page = api.console("fr.officer", "GET", f"/console/requests/{rid}")
    assert page.status_code == 200
    text = html.unescape(page.text)
    assert "Acknowledgement received" in text
    assert "Record acknowledgement" not in text
    assert "Report from KE-ODPP received outside this system" in text
    assert re.search(r'<input type="date" id="received_on" name="received_on" value="[0-9-]{10}"',
                     page.text)

    received = (utcnow() - timedelta(days=2)).date().isoformat()
    future = (utcnow() + timedelta(days=3)).date().isoformat()
    wrong = api.console("fr.officer", "POST", f"/console/requests/{rid}/events",
                     {"event": "acknowledge", "received_on": future, "channel": "email"})
    assert wrong.status_code == 422
    assert "received_on" in wrong.text and f'value="{future}"' in wrong.text
    assert _state(api, rid) == "transmitted"

    done = api.console("fr.officer", "POST", f"/console/requests/{rid}/events",
                    {"event": "acknowledge", "received_on": received, "channel": "email"})
    assert done.status_code == 303, done.text[:300]
    text = html.unescape(api.console("fr.officer", "GET", f"/console/requests/{rid}").text)
    assert f"received from KE-ODPP on {received} by e-mail" in text
    assert "recorded by fr.officer" in text


def test_steps_that_are_not_reports_carry_no_report(api: Api) -> None:
    rid = _transmitted(api)["id"]
    done = api.console("fr.officer", "POST", f"/console/requests/{rid}/events",
                    {"event": "withdraw", "reason": "no longer needed",
                     "received_on": "2026-01-01", "channel": "email"})
    assert done.status_code == 303
    api.session.rollback()
    last = api.session.scalars(select(HistoryEvent).order_by(HistoryEvent.id.desc())).first()
    assert last is not None and last.event == "withdraw" and last.data is None
