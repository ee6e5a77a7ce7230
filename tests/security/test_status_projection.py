"""Status-only roles read no case text (DESIGN.md §8): as a liaison officer, a contact point
and an admin of either party, every GET route of the application (API and console, read from
the app itself, so a new route is walked without anyone remembering to add it) answers
without any of the free text written into the requests: titles, the other side's reference,
form text, translations, reasons given on steps and on deadline extensions, attachment names
and content, and the other instance's answer to a failed delivery.

The one text a status role reads on purpose is the 24/7 desk's own: notes left on alerts,
shown to the contact points who work those alerts (api/projections.alert_notes_visible)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from api.app import create_app
from mla import audit, clock, db, templates
from mla.models import OutboxMessage
from mla.stats import charts
from tests.api_helpers import Api
from tests.app_routes import console, routes

STATUS_ROLES = ("liaison", "contact_point", "admin")
STATUS_USERS = tuple(f"{side}.{role}" for side in ("fr", "ke") for role in STATUS_ROLES)
CONTENT_USERS = ("fr.officer", "ke.supervisor")

# Free text, one distinctive marker per field that holds some.
CASE_TEXT = {
    "Kittiwake-title-7Q": "title (outgoing request)",
    "Vernier-title-3M": "title (incoming request)",
    "Plover-theirref-5521": "the other side's reference",
    "Quillfeather-formtext": "form text (facts summary)",
    "Merganser-translation": "translated text",
    "Gannet-submit-reason": "reason given on a step",
    "Avocet-court-reason": "reason given on a step (requested side)",
    "Shearwater-extension-reason": "reason for a deadline extension",
    "Sandpiper-attachment.pdf": "attachment name",
    "Dunlin-attachment-content": "attachment content",
    "Razorbill-peer-error": "the other instance's answer to a failed delivery",
    "Guillemot-urgency-reasons": "reasons for urgency",
}
DESK_TEXT = {"Puffin-desk-note": "note on an alert"}
# Who reads the desk's notes besides the content roles: the desk.
DESK_USERS = ("ke.contact_point",)

PERIOD = {"since": "2000-01-01", "until": "2100-01-01", "period": "quarter"}
# Query strings to try on a route beyond its unfiltered view.
QUERIES: dict[str, list[dict[str, Any]]] = {
    "/requests/{request_id}/document": [{"format": "md"}, {"language": "fr"}],
    "/console/requests/{request_id}/document": [{"language": "fr"}],
    "/console/requests/{request_id}/translations": [{"language": "fr"}],
    "/console/requests/{request_id}/edit": [{"check": "true"}],
    "/deadlines": [{"overdue": "true"}],
    "/alerts": [{"status": "acknowledged"}],
    "/console/alerts": [{"status": "acknowledged"}],
    "/stats": [PERIOD], "/stats/charts/{name}.svg": [PERIOD],
    "/stats/{table}.csv": [PERIOD], "/console/stats": [PERIOD],
    "/console/stats/{table}.csv": [PERIOD],
}


def _cases(api: Api) -> dict[str, list[str]]:
    """Three requests between FR and KE carrying every kind of free text; path values."""
    evidence = templates.example("mla.evidence") | {
        "facts_summary": "Funds moved through Quillfeather-formtext accounts."}
    sent = api.file(title="Kittiwake-title-7Q", data=evidence)
    rid = sent["id"]
    put = api.call("fr.officer", "PUT", f"/requests/{rid}/translations/fr",
                   json={"data": {"facts_summary": "Merganser-translation"}})
    assert put.status_code == 204, put.text
    attachment = api.call("fr.officer", "POST", f"/requests/{rid}/attachments", files={
        "file": ("Sandpiper-attachment.pdf", b"Dunlin-attachment-content", "text/plain")})
    assert attachment.status_code == 201, attachment.text
    for user, body in (("fr.officer", {"event": "submit", "reason": "Gannet-submit-reason"}),
                       ("fr.supervisor", {"event": "approve"}),
                       ("fr.officer", {"event": "transmit"})):
        response = api.call(user, "POST", f"/requests/{rid}/transitions", json=body)
        assert response.status_code == 200, response.text

    eaw = api.call("ke.officer", "POST", "/requests/incoming", json={
        "kind": "extradition.request", "requesting_authority": "FR-MJ",
        "counterpart_reference": "Plover-theirref-5521", "legal_basis": "eaw_2002_584",
        "title": "Vernier-title-3M", "language": "en", "data": {}}).json()
    response = api.call("ke.officer", "POST", f"/requests/{eaw['id']}/transitions",
                        json={"event": "arrest", "reason": "Avocet-court-reason"})
    assert response.status_code == 200, response.text
    clock_id = api.call("ke.officer", "GET", f"/requests/{eaw['id']}/deadlines").json()[0]["id"]
    extended = api.call("ke.supervisor", "POST", f"/deadlines/{clock_id}/extensions",
                        json={"days": 30, "reason": "Shearwater-extension-reason"})
    assert extended.status_code == 200, extended.text

    # An urgent request received pages KE's 24/7 desk, which leaves a note.
    urgent = api.call("ke.officer", "POST", "/requests/incoming", json={
        "kind": "mla.e_evidence.preservation", "requesting_authority": "FR-MJ",
        "counterpart_reference": "X-2", "legal_basis": "budapest", "title": "Preserve",
        "language": "en", "data": {}, "urgent": True,
        "urgency_reasons": "Guillemot-urgency-reasons"}).json()
    alert = api.call("ke.contact_point", "GET", "/alerts").json()[0]
    acked = api.call("ke.contact_point", "POST", f"/alerts/{alert['id']}/acknowledge",
                     json={"note": "Puffin-desk-note"})
    assert acked.status_code == 200, acked.text

    # A transmission the other instance refused, as the worker records it.
    now = clock.utcnow()
    api.session.add(OutboxMessage(
        message_id=uuid.uuid4(), receiver_id=api.world.ke.id, request_id=uuid.UUID(rid),
        thread_id=uuid.uuid4(), kind="request", event="transmit", payload="{}",
        payload_sha256="0" * 64, envelope="x", sealed_at=now, status="pending", attempts=1,
        next_attempt_at=now, created_at=now,
        last_error="HTTP 422: invalid_content: Razorbill-peer-error"))
    api.session.commit()

    # FR's case holding the request, with a person and a link: the owner's alone.
    case = api.call("fr.officer", "POST", "/cases", json={"reference": "INV-1",
                                                          "title": "Kestrel"}).json()
    api.call("fr.officer", "POST", f"/cases/{case['id']}/requests", json={"request_id": rid})
    person = api.call("fr.officer", "POST", f"/cases/{case['id']}/persons",
                      json={"name": "IVANOV Sergei", "request_ids": [rid]}).json()
    link = api.call("fr.officer", "POST", f"/requests/{urgent['id']}/links",
                    json={"kind": "follow_up", "follows": rid}).json()
    # A signed PDF KE registered with the request it received.
    received = api.call("ke.officer", "POST", f"/requests/{urgent['id']}/received-documents",
                        files={"file": ("r.pdf", b"%PDF-1.7 unsigned", "application/pdf")})
    assert received.status_code == 201, received.text

    tables = api.call("fr.officer", "GET", "/stats").json()["tables"]
    return {
        "case_id": [case["id"]], "person_id": [person["id"]], "link_id": [str(link["id"])],
        "document_id": [received.json()["id"]],
        "request_id": [rid, eaw["id"], urgent["id"]], "attachment_id": [attachment.json()["id"]],
        "alert_id": [str(alert["id"])], "code": ["FR-MJ"], "kind": ["mla.evidence"],
        "table": list(tables), "language": ["fr"],
        "user_id": [str(api.world[u].id) for u in ("fr.officer", "ke.officer")],
        "contact_point_id": ["1"], "test_page_id": ["1"],
        # The shift calendar is read with its secret, no session: a wrong one answers 404.
        "token": ["no-such-calendar-token-000000"],
    }


def _urls(values: dict[str, list[str]]) -> list[tuple[str, str, dict[str, Any]]]:
    """(route path, url, query) for every GET route of the app and the values to try."""
    walked = []
    for route in routes(create_app()):
        if route.method != "GET":
            continue
        if route.path == "/stats/charts/{name}.svg":
            names = {"name": list(charts.CHARTS)}
        elif route.path in ("/workflows/{name}/diagram", "/console/workflows/{name}"):
            names = {"name": ["mla_requesting", "extradition"]}
        elif route.path == "/transfer/schemas/v1/{name}.json":
            names = {"name": ["message", "receipt"]}
        else:
            names = {}
        params = values | names
        missing = route.params - set(params)
        assert not missing, f"say which values of {missing} to walk for {route.path}"
        combos: list[dict[str, str]] = [{}]
        for param in sorted(route.params):
            combos = [c | {param: v} for c in combos for v in params[param]]
        for combo in combos:
            url = route.path.format(**combo)
            walked += [(route.path, url, q) for q in [{}, *QUERIES.get(route.path, [])]]
    return walked


def _get(api: Api, username: str, url: str, query: dict[str, Any]) -> httpx.Response:
    if url.startswith("/console"):
        return console(api, username, "GET", url, params=query)
    return api.call(username, "GET", url, params=query)


def test_status_roles_read_no_case_text_on_any_route(api: Api) -> None:
    walked = _urls(_cases(api))
    assert len({path for path, _, _ in walked}) >= 40
    leaks, answered, seen_by_content = [], set(), set()
    for user in STATUS_USERS + CONTENT_USERS:
        forbidden = CASE_TEXT | ({} if user in DESK_USERS else DESK_TEXT)
        for path, url, query in walked:
            response = _get(api, user, url, query)
            assert response.status_code < 500, (user, url, response.text)
            body = response.text
            if user in CONTENT_USERS:
                seen_by_content |= {m for m in CASE_TEXT | DESK_TEXT if m in body}
                continue
            if response.status_code == 200:
                answered.add(path)
            leaks += [(user, url, query, what) for marker, what in forbidden.items()
                      if marker in body]
    assert leaks == [], f"{len(leaks)} leaks, e.g. {leaks[:8]}"
    # The routes that show status roles a request, its clocks, transfers, alerts and the
    # audit trail did answer them, so the absence of text is not a refusal.
    assert answered >= {
        "/requests", "/requests/{request_id}", "/requests/{request_id}/history",
        "/requests/{request_id}/deadlines", "/requests/{request_id}/transfers", "/deadlines",
        "/alerts", "/alerts/{alert_id}", "/audit", "/stats", "/console/stats",
        "/console/requests", "/console/requests/{request_id}", "/console/alerts"}, answered
    # And every marker is there for the roles that read content: the setup holds it all.
    assert seen_by_content == set(CASE_TEXT | DESK_TEXT), \
        set(CASE_TEXT | DESK_TEXT) - seen_by_content


def test_the_desk_reads_its_alert_notes_and_liaison_and_admin_do_not(api: Api) -> None:
    _cases(api)
    for user, shown in (("ke.contact_point", True), ("ke.supervisor", True),
                        ("ke.officer", True), ("ke.liaison", False), ("ke.admin", False)):
        notes = {a["note"] for a in api.call(user, "GET", "/alerts").json()}
        assert ("Puffin-desk-note" in notes) is shown, (user, notes)
        page = console(api, user, "GET", "/console/alerts")
        assert ("Puffin-desk-note" in page.text) is shown, user


def test_the_admin_audit_trail_names_what_it_withholds(api: Api) -> None:
    _cases(api)
    events = api.call("fr.admin", "GET", "/audit", params={"limit": 500}).json()
    upload = next(e for e in events if e["action"] == "attachment.upload")
    assert "filename" not in upload["detail"] and "filename" in upload["withheld"]
    # The entry's own hash covers it at once; the chain's link comes when it is sealed.
    assert upload["detail"]["sha256"] and len(upload["entry_hash"]) == 64
    assert upload["hash"] is None
    audit.seal_all(db.session_factory(api.app.state.engine))
    events = api.call("fr.admin", "GET", "/audit", params={"limit": 500}).json()
    assert len(next(e for e in events if e["id"] == upload["id"])["hash"]) == 64
    submit = next(e for e in events if e["action"] == "request.transition"
                  and e["detail"]["event"] == "submit")
    assert submit["detail"] == {"event": "submit", "from": "draft", "to": "in_review"}
    assert submit["withheld"] == ["reason"]
