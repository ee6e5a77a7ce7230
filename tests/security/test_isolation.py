"""No existence leak: every route that addresses an object by id answers 404 to a user of a
third authority. The routes come from the OpenAPI document, so a new route is covered (or
fails here until it gets a sample body) without anyone remembering to add it."""

from __future__ import annotations

import re
from typing import Any

from tests.api_helpers import Api

# Path parameters that name reference data shared by every authority, not owned objects.
PUBLIC_PARAMETERS = {"code", "kind", "name", "table"}
# A secret URL's token is its own credential, whoever holds it (tests/oncall/test_calendar.py).
SECRET_PARAMETERS = {"token"}

# A body that passes validation for each write route, so the 404 is about the object.
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("patch", "/requests/{request_id}"): {"json": {"data": {}}},
    ("post", "/requests/{request_id}/transitions"): {"json": {"event": "submit"}},
    ("put", "/requests/{request_id}/translations/{language}"): {
        "json": {"data": {"facts_summary": "x"}}},
    ("post", "/requests/{request_id}/attachments"): {
        "files": {"file": ("a.txt", b"hello", "text/plain")}},
    ("patch", "/users/{user_id}"): {"json": {"full_name": "Someone Else"}},
    ("post", "/deadlines/{deadline_id}/extensions"): {"json": {"days": 1, "reason": "r"}},
    ("post", "/alerts/{alert_id}/acknowledge"): {"json": {"note": "mine"}},
    ("post", "/alerts/{alert_id}/resolve"): {"json": {}},
    ("post", "/requests/{request_id}/received-documents"): {
        "files": {"file": ("r.pdf", b"%PDF-1.7 not signed", "application/pdf")}},
    ("post", "/requests/{request_id}/mail/acknowledgement"): {"json": {}},
    ("patch", "/cases/{case_id}"): {"json": {"title": "Mine now"}},
    ("post", "/cases/{case_id}/requests"): {"json": {"request_id": "{request_id}"}},
    ("post", "/cases/{case_id}/persons"): {"json": {"name": "Someone"}},
    ("patch", "/persons/{person_id}"): {"json": {"name": "Someone"}},
    ("post", "/contact-points/{contact_id}/calendar-link"): {"json": {}},
    ("post", "/requests/{request_id}/links"): {
        "json": {"kind": "supplementary", "follows": "{request_id}"}},
    ("put", "/contact-points/{contact_point_id}/preferences"): {"json": {"steps": None}},
    ("post", "/contact-points/{contact_point_id}/test-pages"): {"json": {}},
}


def _objects(api: Api) -> dict[str, str]:
    request = api.file()
    attachment = api.call("fr.officer", "POST", f"/requests/{request['id']}/attachments",
                          files={"file": ("a.txt", b"evidence", "text/plain")}).json()
    incoming = api.call("ke.officer", "POST", "/requests/incoming", json={
        "kind": "mla.evidence", "requesting_authority": "FR-MJ", "counterpart_reference": "X-1",
        "legal_basis": "eio_2014_41", "title": "EIO", "language": "en", "data": {}}).json()
    deadline = api.call("ke.officer", "GET", f"/requests/{incoming['id']}/deadlines").json()[0]
    # An urgent request received pages KE's 24/7 point.
    api.call("ke.officer", "POST", "/requests/incoming", json={
        "kind": "mla.e_evidence.preservation", "requesting_authority": "FR-MJ",
        "counterpart_reference": "X-2", "legal_basis": "budapest", "title": "Preserve",
        "language": "en", "data": {}})
    alert = api.call("ke.contact_point", "GET", "/alerts").json()[0]
    received = api.call("ke.officer", "POST", f"/requests/{incoming['id']}/received-documents",
                        files={"file": ("r.pdf", b"%PDF-1.7 not signed", "application/pdf")})
    case = api.call("fr.officer", "POST", "/cases", json={"reference": "INV-1",
                                                          "title": "Kestrel"}).json()
    api.call("fr.officer", "POST", f"/cases/{case['id']}/requests",
             json={"request_id": request["id"]})
    person = api.call("fr.officer", "POST", f"/cases/{case['id']}/persons",
                      json={"name": "IVANOV Sergei"}).json()
    # KE's night desk, linked to KE's contact point account, with a test page.
    desk = api.call("ke.admin", "POST", "/contact-points", json={
        "network": "budapest_24_7", "name": "Night desk", "email": "night@ke.example",
        "channels": ["email"], "timezone": "Africa/Nairobi",
        "account": "ke.contact_point"}).json()
    test_page = api.call("ke.contact_point", "POST",
                         f"/contact-points/{desk['id']}/test-pages").json()
    other = api.file()
    link = api.call("fr.officer", "POST", f"/requests/{other['id']}/links",
                    json={"kind": "follow_up", "follows": request["id"]}).json()
    contact = api.call("fr.admin", "POST", "/contact-points", json={
        "network": "national", "name": "FR desk", "email": "desk@fr.example",
        "channels": ["email"], "timezone": "Europe/Paris"}).json()
    return {"document_id": received.json()["id"], "request_id": request["id"],
            "attachment_id": attachment["id"],
            "case_id": case["id"], "person_id": person["id"], "link_id": str(link["id"]),
            "user_id": str(api.world["fr.officer"].id), "language": "en",
            "deadline_id": str(deadline["id"]), "alert_id": str(alert["id"]),
            "contact_id": str(contact["id"]),
            "contact_point_id": str(desk["id"]), "test_page_id": str(test_page["id"])}


def _filled(kwargs: dict[str, Any], ids: dict[str, str]) -> dict[str, Any]:
    """A sample body naming an object (`{request_id}`) names the owners' real one."""
    if "json" not in kwargs:
        return kwargs
    body = {k: v.format(**ids) if isinstance(v, str) and "{" in v else v
            for k, v in kwargs["json"].items()}
    return {**kwargs, "json": body}


def test_third_authority_gets_404_on_every_object_route(api: Api) -> None:
    ids = _objects(api)
    spec = api.client.get("/openapi.json").json()
    checked = []
    for path, operations in spec["paths"].items():
        params = set(re.findall(r"{(\w+)}", path))
        if not params or params & (PUBLIC_PARAMETERS | SECRET_PARAMETERS):
            continue
        for method in operations:
            url = path.format(**{p: ids[p] for p in params})
            kwargs = _filled(BODIES.get((method, path), {}), ids)
            if method in ("post", "put", "patch"):
                assert kwargs, f"add a sample body for {method.upper()} {path} to BODIES"
            # The stranger holds every role: none of them may learn the object exists.
            for role in ("officer", "supervisor", "admin", "liaison"):
                response = api.call(f"us.{role}", method.upper(), url, **kwargs)
                assert response.status_code == 404, (method, path, role, response.text)
                assert response.json()["status"] == 404
            checked.append(f"{method} {path}")
    assert len(checked) >= 10, checked
    # And the object is intact for its owners.
    assert api.call("fr.officer", "GET", f"/requests/{ids['request_id']}").json()[
        "state"] == "draft"


def test_unknown_ids_and_foreign_ids_answer_the_same(api: Api) -> None:
    ids = _objects(api)
    foreign = api.call("us.officer", "GET", f"/requests/{ids['request_id']}")
    missing = api.call("us.officer", "GET", "/requests/00000000-0000-0000-0000-000000000000")
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json()["title"] == missing.json()["title"]


# Console forms: what each POST needs to get past its own checks to the object lookup.
CONSOLE_FORMS: dict[str, dict[str, Any]] = {
    "/console/requests/{request_id}/events": {"event": "submit"},
    "/console/requests/{request_id}/edit": {"action": "save"},
    "/console/requests/{request_id}/translations/{language}": {"data.facts_summary": "x"},
    "/console/requests/{request_id}/attachments": {},
    "/console/requests/{request_id}/received-documents": {},
    "/console/deadlines/{deadline_id}/extensions": {"days": "1", "reason": "r"},
    "/console/alerts/{alert_id}/{action}": {"note": "mine"},
    "/console/cases/{case_id}/requests": {"reference": "FR-MJ-2026-00001"},
    "/console/cases/{case_id}/persons": {"name": "Someone"},
    "/console/cases/{case_id}/edit": {"version": "1", "reference": "INV-X", "title": "X"},
    "/console/cases/{case_id}/closure": {"version": "1", "closed": "1"},
    "/console/requests/{request_id}/links": {"kind": "follow_up", "follows": "FR-MJ-2026-00001"},
    "/console/oncall/contacts/{contact_id}/calendar": {},
    "/console/oncall/me/{contact_point_id}/preferences": {"position.email": "1",
                                                         "after.email": "0"},
    "/console/oncall/me/{contact_point_id}/test-page": {},
}


def test_third_authority_gets_404_on_every_console_page_of_an_object(api: Api) -> None:
    """The console's routes are not in the OpenAPI document: walk its routers' routes."""
    from starlette.routing import Route

    from api.web import page_routers
    from api.web.session import CSRF_COOKIE, CSRF_FIELD, SESSION_COOKIE

    ids = _objects(api) | {"action": "acknowledge"}
    checked = []
    for route in [r for router in page_routers() for r in router.routes]:
        if not isinstance(route, Route):
            continue
        params = set(re.findall(r"{(\w+)}", route.path))
        if not params or params & PUBLIC_PARAMETERS:
            continue
        url = route.path.format(**{p: ids[p] for p in params})
        if "translations" in route.path and "GET" in (route.methods or ()):
            url += "?language=en"
        for method in sorted((route.methods or set()) - {"HEAD"}):
            if method == "POST":
                assert route.path in CONSOLE_FORMS, f"add a sample form for {route.path}"
            for role in ("officer", "supervisor", "admin", "liaison"):
                api.client.cookies.clear()
                api.client.cookies.set(SESSION_COOKIE, api.headers(f"us.{role}")[
                    "Authorization"].removeprefix("Bearer "))
                api.client.cookies.set(CSRF_COOKIE, "same-in-form-and-cookie")
                form = {CSRF_FIELD: "same-in-form-and-cookie",
                        **CONSOLE_FORMS.get(route.path, {})}
                response = api.client.request(method, url, data=form if method == "POST"
                                              else None, follow_redirects=False)
                assert response.status_code == 404, (method, route.path, role,
                                                     response.text[:300])
            checked.append(f"{method} {route.path}")
    api.client.cookies.clear()
    assert len(checked) >= 10, checked

