"""Odd input to the console's pages and forms gets a page that says what is wrong (4xx),
never a server error, whichever role sends it."""

from __future__ import annotations

import uuid
from typing import Any

from api.web.session import CSRF_COOKIE, CSRF_FIELD, SESSION_COOKIE
from tests.api_helpers import Api

ROLES = ("fr.officer", "fr.supervisor", "fr.liaison", "ke.officer", "ke.contact_point",
         "us.admin")


def _send(api: Api, who: str, method: str, path: str, data: dict[str, Any] | None = None
          ) -> int:
    api.client.cookies.clear()
    api.client.cookies.set(SESSION_COOKIE, api.headers(who)["Authorization"].split()[1])
    api.client.cookies.set(CSRF_COOKIE, "token")
    form = {CSRF_FIELD: "token", **(data or {})} if method == "POST" else None
    response = api.client.request(method, path, data=form, follow_redirects=False)
    return response.status_code


def test_odd_input_never_makes_a_server_error(api: Api) -> None:
    rid = api.file()["id"]
    huge = "9" * 25
    gets = [
        "/console/requests?kind=zzz&state=%00&counterpart=<b>&overdue=maybe",
        "/console/requests?sort=x&page=0", "/console/requests?page=abc",
        "/console/requests?page=99999&sort=due&order=asc&overdue=true",
        "/console/requests/not-a-uuid", f"/console/requests/{uuid.uuid4()}",
        f"/console/requests/{rid}/document?language=ZZZ",
        f"/console/requests/{rid}/document?language=xx",
        f"/console/requests/{rid}/translations", f"/console/requests/{rid}/translations?"
        "language=zz", "/console/new/zzz", "/console/incoming/zzz", "/console/workflows/zzz",
        "/console/alerts?status=zzz", f"/console/attachments/{uuid.uuid4()}",
    ]
    posts: list[tuple[str, dict[str, Any]]] = [
        (f"/console/requests/{rid}/events", {"event": "zzz"}),
        (f"/console/requests/{rid}/events", {"event": "withdraw", "version": huge}),
        (f"/console/requests/{rid}/events", {"event": "refuse", "grounds": "nonsense"}),
        (f"/console/deadlines/{huge}/extensions", {"days": "1", "reason": "x"}),
        (f"/console/requests/{rid}/translations/fr", {"data.nonexistent": "x"}),
        (f"/console/requests/{rid}/translations/fr", {"action": "add:data.persons"}),
        ("/console/new/mla.evidence", {"requested_authority": "ZZ", "legal_basis": "zzz",
                                       "language": "qq", "data.persons.0.date_of_birth": "x"}),
        ("/console/new/mla.evidence", {"requested_authority": "KE-ODPP", "title": "x" * 1000,
                                       "legal_basis": "untoc", "language": "en",
                                       "data.persons.99999.name": "x", "action": "submit"}),
        ("/console/incoming/mla.evidence", {"requesting_authority": "FR-MJ",
                                            "counterpart_reference": "x" * 500,
                                            "legal_basis": "untoc", "title": "t"}),
        ("/console/alerts/1/zzz", {}), (f"/console/alerts/{huge}/acknowledge", {}),
    ]
    failures = []
    for who in ROLES:
        for path in gets:
            status = _send(api, who, "GET", path)
            if status >= 500:
                failures.append((who, "GET", path, status))
        for path, data in posts:
            status = _send(api, who, "POST", path, data)
            if status >= 500:
                failures.append((who, "POST", path, status))
    api.client.cookies.clear()
    assert failures == []
    # And nothing was lost: the request is still there, still a draft.
    assert api.call("fr.officer", "GET", f"/requests/{rid}").json()["state"] == "draft"
