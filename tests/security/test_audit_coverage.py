"""Every write and every read of a request's content leaves its audit entry (README, "Audit"):
the action, who did it, and on which object. The routes come from the application (API and
console): a new write route, or a new route that shows content, fails here until it is
exercised and audited, or exempted below with the reason.

A route reads content when an officer of a party finds the case's text in its answer while a
liaison officer of the same party (who sees the status only) does not."""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable
from typing import Any

import httpx
from sqlalchemy import func, select

from api.app import create_app
from mla import templates
from mla.models import Attachment, AuditEvent, Person
from tests.api_helpers import Api
from tests.app_routes import WRITES, console, routes

# Writes that leave no audit entry by design.
EXEMPT_WRITES = {
    # Logins and their second-factor steps are audited (login, login.failed,
    # second_factor.enrol), each step needing the previous one's cookie: checked in
    # tests/identity/test_totp.py; every attempt is also kept in login_attempts for the rate
    # limit.
    "POST /auth/token": "login", "POST /console/login": "login",
    "POST /console/login/second-factor": "login", "POST /console/login/enrol": "login",
    "POST /console/login/webauthn/options": "login", "POST /console/login/webauthn": "login",
    # A security key's registration: the options store nothing (the challenge travels in a
    # signed cookie); the registration, audited as second_factor.enrol, needs an
    # authenticator's signature: checked in Chromium in tests/identity/test_security_keys.py.
    "POST /console/settings/security/webauthn/options": "security key options",
    "POST /console/settings/security/webauthn": "security key",
    # Sent by a peer instance, not a user; every outcome is audited (transfer.receive.*,
    # transfer.duplicate, transfer.reject), checked in tests/transfer/test_transfer.py.
    "POST /transfer/inbox": "peer delivery",
    # Sent by a peer instance, authenticated by its signature; a kept one is audited
    # (audit.checkpoint_witnessed), checked in tests/ops/test_anchor.py.
    "POST /audit/checkpoints/witness": "peer's audit checkpoint",
}
# The action each content read records.
READS = {
    "GET /requests/{request_id}": "request.read",
    "GET /requests/{request_id}/history": "request.read_history",
    "GET /requests/{request_id}/document": "request.document",
    "GET /requests/{request_id}/translations": "request.read_translations",
    "GET /requests/{request_id}/attachments": "request.list_attachments",
    "GET /attachments/{attachment_id}": "attachment.download",
    "GET /console/requests/{request_id}": "request.read",
    "GET /console/requests/{request_id}/document": "request.document",
    "GET /console/requests/{request_id}/translations": "request.read_translations",
    "GET /console/requests/{request_id}/edit": "request.read",
    "GET /console/attachments/{attachment_id}": "attachment.download",
    "GET /cases/{case_id}": "case.read",
    "GET /console/cases/{case_id}": "case.read",
    "GET /console/cases/{case_id}/state-of-play.csv": "case.export",
    "GET /cases/{case_id}/state-of-play": "case.state_of_play",
    "GET /cases/{case_id}/state-of-play.csv": "case.export",
}
QUERY = {"/console/requests/{request_id}/translations": {"language": "en"}}
# What only a content role may see of the case read below.
CONTENT = ("Merlin-Q7", "Gannet transfers", "Gannet virements", "Reason-Tern-55", "PELICAN-SCAN",
           "pelican-scan.pdf")
REFERENCE_PARAMETERS = {"code", "kind", "name", "table"}


def _audited(api: Api, after_id: int) -> list[tuple[str, int | None, str | None]]:
    rows = api.session.execute(select(AuditEvent.action, AuditEvent.actor_id,
                                      AuditEvent.object_id).where(AuditEvent.id > after_id))
    api.session.commit()
    return [tuple(r) for r in rows]


def _last_id(api: Api) -> int:
    last = api.session.scalar(select(func.max(AuditEvent.id))) or 0
    api.session.commit()
    return last


def _call(api: Api, user: str, method: str, url: str, **kw: Any) -> httpx.Response:
    if url.startswith("/console"):
        return console(api, user, method, url, **kw)
    return api.call(user, method, url, **kw)


def _case_to_read(api: Api) -> dict[str, str]:
    form = templates.example("mla.evidence") | {"facts_summary": "Gannet virements à Nairobi"}
    rid = api.file(title="Merlin-Q7 ledger", language="fr", data=form)["id"]
    for who, event, extra in (("fr.officer", "submit", {}),
                              ("fr.supervisor", "return_to_draft", {"reason": "Reason-Tern-55"})):
        assert api.call(who, "POST", f"/requests/{rid}/transitions",
                        json={"event": event, **extra}).status_code == 200
    assert api.call("fr.officer", "PUT", f"/requests/{rid}/translations/en",
                    json={"data": {"facts_summary": "Gannet transfers to Nairobi"}}
                    ).status_code == 204
    attachment = api.call("fr.officer", "POST", f"/requests/{rid}/attachments", files={
        "file": ("pelican-scan.pdf", b"PELICAN-SCAN of the order", "application/pdf")}).json()
    received = api.call("ke.officer", "POST", f"/requests/{rid}/received-documents", files={
        "file": ("r.pdf", b"%PDF-1.7 unsigned", "application/pdf")}).json()
    case = api.call("fr.officer", "POST", "/cases", json={"reference": "INV-9",
                                                          "title": "Audited case"}).json()
    api.call("fr.officer", "POST", f"/cases/{case['id']}/requests", json={"request_id": rid})
    person = api.call("fr.officer", "POST", f"/cases/{case['id']}/persons",
                      json={"name": "Someone"}).json()
    return {"request_id": rid, "attachment_id": attachment["id"], "case_id": case["id"],
            "person_id": person["id"], "document_id": received["id"]}


def test_every_content_read_is_audited(api: Api) -> None:
    ids = _case_to_read(api) | {"user_id": str(api.world["fr.officer"].id)}
    ids |= {"alert_id": "1", "deadline_id": "1", "link_id": "1",
            "token": "no-such-calendar-token-000000", "contact_id": "1",
            "contact_point_id": "1", "test_page_id": "1"}
    content_routes, checked = [], []
    for route in routes(create_app()):
        if route.method != "GET" or not route.params or route.params <= REFERENCE_PARAMETERS:
            continue
        url = route.path.format(**{p: ids[p] for p in route.params})
        query = QUERY.get(route.path, {})
        status_view = _call(api, "fr.liaison", "GET", url, params=query)
        before = _last_id(api)
        response = _call(api, "fr.officer", "GET", url, params=query)
        body = response.content.decode("utf-8", "replace")
        shown = [m for m in CONTENT if m in body]
        hidden = status_view.status_code != 200 or not any(m in status_view.text for m in shown)
        checked.append(route.key)
        if not (response.status_code == 200 and shown and hidden):
            assert route.key not in READS, (route.key, response.status_code, body[:300])
            continue
        content_routes.append(route.key)
        assert route.key in READS, f"{route.key} shows content: name its audit action in READS"
        object_id = ids[next(p for p in ("attachment_id", "request_id", "case_id")
                             if p in route.params)]
        entry = (READS[route.key], api.world["fr.officer"].id, object_id)
        assert entry in _audited(api, before), (
            f"{route.key} showed {shown} to fr.officer and left no audit entry {entry}; "
            f"it recorded {_audited(api, before)}")
    assert sorted(content_routes) == sorted(READS), set(READS) ^ set(content_routes)
    assert len(checked) >= 15, checked


# --- writes -------------------------------------------------------------------------------

Exercise = Callable[[Api, dict[str, Any]], tuple[str, httpx.Response, str]]
EXERCISES: dict[str, tuple[str, Exercise]] = {}


def exercise(key: str, action: str) -> Callable[[Exercise], Exercise]:
    """Registers how to send `key` with valid input: the function answers (who, response,
    id of the object the audit entry must name)."""
    def register(fn: Exercise) -> Exercise:
        EXERCISES[key] = (action, fn)
        return fn
    return register


def _draft(api: Api) -> dict[str, Any]:
    return api.file(title="Audited draft")


def _location_id(response: httpx.Response) -> str:
    found = re.search(r"/requests/([0-9a-f-]{36})", response.headers.get("location", ""))
    assert found, (response.status_code, response.headers, response.text[:300])
    return found.group(1)


INCOMING = {"kind": "mla.e_evidence.preservation", "requesting_authority": "FR-MJ",
            "counterpart_reference": "JI-77", "legal_basis": "budapest", "title": "Preserve",
            "language": "en", "data": {}}
CONTACT = {"network": "budapest_24_7", "name": "Desk", "email": "desk@odpp.example",
           "languages": ["en"], "channels": ["email"], "timezone": "Africa/Nairobi"}


@exercise("POST /requests", "request.file")
def _file(api: Api, ctx: dict[str, Any]) -> tuple[str, httpx.Response, str]:
    response = api.call("fr.officer", "POST", "/requests", json={
        "kind": "mla.evidence", "requested_authority": "KE-ODPP", "legal_basis": "untoc",
        "title": "Filed", "language": "en", "data": templates.example("mla.evidence")})
    return "fr.officer", response, response.json()["id"]


@exercise("POST /requests/incoming", "request.file")
def _incoming(api: Api, ctx: dict[str, Any]) -> tuple[str, httpx.Response, str]:
    response = api.call("ke.officer", "POST", "/requests/incoming", json=INCOMING)
    ctx["alert_id"] = api.call("ke.contact_point", "GET", "/alerts").json()[0]["id"]
    return "ke.officer", response, response.json()["id"]


@exercise("PATCH /requests/{request_id}", "request.update_draft")
def _patch(api: Api, ctx: dict[str, Any]) -> tuple[str, httpx.Response, str]:
    draft = _draft(api)
    return "fr.officer", api.call("fr.officer", "PATCH", f"/requests/{draft['id']}", json={
        "data": draft["data"] | {"case_subject": "Changed"}}), draft["id"]


@exercise("POST /requests/{request_id}/transitions", "request.transition")
def _transition(api: Api, ctx: dict[str, Any]) -> tuple[str, httpx.Response, str]:
    rid = _draft(api)["id"]
    return "fr.officer", api.call("fr.officer", "POST", f"/requests/{rid}/transitions",
                                  json={"event": "submit"}), rid


@exercise("PUT /requests/{request_id}/translations/{language}", "request.translation")
def _translate(api: Api, ctx: dict[str, Any]) -> tuple[str, httpx.Response, str]:
    rid = _draft(api)["id"]
    return "fr.officer", api.call("fr.officer", "PUT", f"/requests/{rid}/translations/fr",
                                  json={"data": {"facts_summary": "Texte"}}), rid


@exercise("POST /requests/{request_id}/attachments", "attachment.upload")
def _upload(api: Api, ctx: dict[str, Any]) -> tuple[str, httpx.Response, str]:
    rid = _draft(api)["id"]
    response = api.call("fr.officer", "POST", f"/requests/{rid}/attachments",
                        files={"file": ("a.txt", b"evidence", "text/plain")})
    return "fr.officer", response, response.json()["id"]


@exercise("POST /deadlines/{deadline_id}/extensions", "deadline.extend")
def _extend(api: Api, ctx: dict[str, Any]) -> tuple[str, httpx.Response, str]:
    rid = api.call("ke.officer", "POST", "/requests/incoming", json=INCOMING | {
        "kind": "mla.evidence", "legal_basis": "eio_2014_41", "title": "EIO"}).json()["id"]
    for who, event in (("ke.officer", "acknowledge"), ("ke.supervisor", "accept")):
        api.call(who, "POST", f"/requests/{rid}/transitions", json={"event": event})
    # EIO art. 12(5): the execution clock may be extended.
    deadline = next(d for d in api.call("ke.officer", "GET", f"/requests/{rid}/deadlines").json()
                    if d["rule"] == "eio.execution")
    ctx["deadline_id"] = deadline["id"]
    return "ke.supervisor", api.call("ke.supervisor", "POST", f"/deadlines/{deadline['id']}/"
                                     "extensions", json={"days": 1, "reason": "late bank"}
                                     ), str(deadline["id"])


@exercise("POST /users", "user.create")
def _user(api: Api, ctx: dict[str, Any]) -> tuple[str, httpx.Response, str]:
    response = api.call("fr.admin", "POST", "/users", json={
        "username": "fr.clerk", "full_name": "Clerk", "role": "liaison",
        "password": "a long enough passphrase"})
    return "fr.admin", response, str(response.json()["id"])


@exercise("PATCH /users/{user_id}", "user.update")
def _user_update(api: Api, ctx: dict[str, Any]) -> tuple[str, httpx.Response, str]:
    uid = api.world["fr.liaison"].id
    return "fr.admin", api.call("fr.admin", "PATCH", f"/users/{uid}",
                                json={"full_name": "Renamed"}), str(uid)


@exercise("POST /alerts/{alert_id}/acknowledge", "page.acknowledge")
def _ack(api: Api, ctx: dict[str, Any]) -> tuple[str, httpx.Response, str]:
    alert = ctx["alert_id"]
    return "ke.contact_point", api.call("ke.contact_point", "POST",
                                        f"/alerts/{alert}/acknowledge", json={}), str(alert)


@exercise("POST /alerts/{alert_id}/resolve", "page.resolve")
def _resolve(api: Api, ctx: dict[str, Any]) -> tuple[str, httpx.Response, str]:
    alert = ctx["alert_id"]
    return "ke.contact_point", api.call("ke.contact_point", "POST", f"/alerts/{alert}/resolve",
                                        json={"note": "done"}), str(alert)


@exercise("POST /contact-points", "directory.contact_point")
def _contact(api: Api, ctx: dict[str, Any]) -> tuple[str, httpx.Response, str]:
    response = api.call("ke.admin", "POST", "/contact-points", json=CONTACT)
    ctx["member"] = response.json()["id"]
    return "ke.admin", response, str(ctx["member"])


@exercise("POST /contact-points/{contact_id}/calendar-link", "oncall.calendar_token")
def _calendar_link(api: Api, ctx: dict[str, Any]) -> tuple[str, httpx.Response, str]:
    return "ke.admin", api.call("ke.admin", "POST",
                                f"/contact-points/{ctx['member']}/calendar-link"), ctx["member"]


@exercise("POST /console/oncall/contacts/{contact_id}/calendar", "oncall.calendar_token")
def _console_calendar_link(api: Api, ctx: dict[str, Any]) -> tuple[str, httpx.Response, str]:
    return "ke.supervisor", console(api, "ke.supervisor", "POST",
                                    f"/console/oncall/contacts/{ctx['member']}/calendar"), \
        ctx["member"]


@exercise("POST /oncall/rotations", "oncall.rotation")
def _rotation(api: Api, ctx: dict[str, Any]) -> tuple[str, httpx.Response, str]:
    response = api.call("ke.admin", "POST", "/oncall/rotations", json={
        "network": "budapest_24_7", "timezone": "Africa/Nairobi", "handoff_time": "09:00",
        "shift_hours": 168, "starts_on": "2026-01-05", "members": [ctx["member"]]})
    ctx["rotation"] = response.json()["id"]
    return "ke.admin", response, str(ctx["rotation"])


@exercise("POST /oncall/overrides", "oncall.override")
def _override(api: Api, ctx: dict[str, Any]) -> tuple[str, httpx.Response, str]:
    response = api.call("ke.supervisor", "POST", "/oncall/overrides", json={
        "network": "budapest_24_7", "member": ctx["member"], "reason": "swap",
        "starts_at": "2026-03-28T18:00:00+03:00", "ends_at": "2026-03-30T09:00:00+03:00"})
    return "ke.supervisor", response, str(ctx["rotation"])  # entered on the rotation


@exercise("POST /oncall/policies", "oncall.policy")
def _policy(api: Api, ctx: dict[str, Any]) -> tuple[str, httpx.Response, str]:
    response = api.call("ke.admin", "POST", "/oncall/policies", json={
        "network": "budapest_24_7", "repeat": 0,
        "steps": [{"notify": "on_call", "delay_minutes": 0}]})
    return "ke.admin", response, str(response.json()["id"])


@exercise("PUT /contact-points/{contact_point_id}/preferences", "oncall.preferences")
def _preferences(api: Api, ctx: dict[str, Any]) -> tuple[str, httpx.Response, str]:
    member = ctx["member"]
    return "ke.admin", api.call("ke.admin", "PUT", f"/contact-points/{member}/preferences",
                                json={"steps": [{"channel": "email", "after_minutes": 1}]}), \
        str(member)


@exercise("POST /contact-points/{contact_point_id}/test-pages", "page.test")
def _test_page(api: Api, ctx: dict[str, Any]) -> tuple[str, httpx.Response, str]:
    response = api.call("ke.admin", "POST", f"/contact-points/{ctx['member']}/test-pages")
    return "ke.admin", response, str(response.json()["id"])


@exercise("POST /console/oncall/me/{contact_point_id}/preferences", "oncall.preferences")
def _console_preferences(api: Api, ctx: dict[str, Any]) -> tuple[str, httpx.Response, str]:
    member = ctx["member"]
    return "ke.admin", api.console("ke.admin", "POST",
                                   f"/console/oncall/me/{member}/preferences",
                                   {"position.email": "1", "after.email": "0"}), str(member)


@exercise("POST /console/oncall/me/{contact_point_id}/test-page", "page.test")
def _console_test_page(api: Api, ctx: dict[str, Any]) -> tuple[str, httpx.Response, str]:
    before = _last_id(api)
    response = api.console("ke.admin", "POST", f"/console/oncall/me/{ctx['member']}/test-page")
    page = [o for a, _, o in _audited(api, before) if a == "page.test"]
    return "ke.admin", response, page[0] if page else "none"


@exercise("POST /console/requests/{request_id}/events", "request.transition")
def _console_event(api: Api, ctx: dict[str, Any]) -> tuple[str, httpx.Response, str]:
    rid = _draft(api)["id"]
    return "fr.officer", console(api, "fr.officer", "POST", f"/console/requests/{rid}/events",
                                 data={"event": "submit"}), rid


def _new_case(api: Api, ctx: dict[str, Any]) -> str:
    if "case" not in ctx:
        ctx["case"] = api.call("fr.officer", "POST", "/cases", json={
            "reference": "INV-AUDIT", "title": "Audited"}).json()["id"]
    return str(ctx["case"])


@exercise("POST /cases", "case.create")
def _case_create(api: Api, ctx: dict[str, Any]) -> tuple[str, httpx.Response, str]:
    response = api.call("fr.officer", "POST", "/cases", json={"reference": "INV-A1",
                                                              "title": "Opened"})
    return "fr.officer", response, response.json()["id"]


@exercise("PATCH /cases/{case_id}", "case.update")
def _case_update(api: Api, ctx: dict[str, Any]) -> tuple[str, httpx.Response, str]:
    case = _new_case(api, ctx)
    return "fr.officer", api.call("fr.officer", "PATCH", f"/cases/{case}",
                                  json={"title": "Renamed"}), case


@exercise("POST /cases/{case_id}/requests", "case.add_request")
def _case_add(api: Api, ctx: dict[str, Any]) -> tuple[str, httpx.Response, str]:
    case = _new_case(api, ctx)
    ctx["in_case"] = _draft(api)["id"]
    return "fr.officer", api.call("fr.officer", "POST", f"/cases/{case}/requests",
                                  json={"request_id": ctx["in_case"]}), case


@exercise("POST /cases/{case_id}/persons", "person.create")
def _person_create(api: Api, ctx: dict[str, Any]) -> tuple[str, httpx.Response, str]:
    response = api.call("fr.officer", "POST", f"/cases/{_new_case(api, ctx)}/persons",
                        json={"name": "IVANOV Sergei"})
    ctx["person"] = response.json()["id"]
    return "fr.officer", response, ctx["person"]


@exercise("PATCH /persons/{person_id}", "person.update")
def _person_update(api: Api, ctx: dict[str, Any]) -> tuple[str, httpx.Response, str]:
    return "fr.officer", api.call("fr.officer", "PATCH", f"/persons/{ctx['person']}",
                                  json={"date_of_birth": "1979-03-02"}), ctx["person"]


@exercise("DELETE /cases/{case_id}/requests/{request_id}", "case.remove_request")
def _case_remove(api: Api, ctx: dict[str, Any]) -> tuple[str, httpx.Response, str]:
    case = _new_case(api, ctx)
    return "fr.officer", api.call("fr.officer", "DELETE",
                                  f"/cases/{case}/requests/{ctx['in_case']}"), case


@exercise("POST /requests/{request_id}/links", "request.link")
def _link(api: Api, ctx: dict[str, Any]) -> tuple[str, httpx.Response, str]:
    earlier, later = _draft(api)["id"], _draft(api)["id"]
    response = api.call("fr.officer", "POST", f"/requests/{later}/links",
                        json={"kind": "follow_up", "follows": earlier})
    ctx["link"] = (response.json()["id"], later)
    return "fr.officer", response, later


@exercise("DELETE /links/{link_id}", "request.unlink")
def _unlink(api: Api, ctx: dict[str, Any]) -> tuple[str, httpx.Response, str]:
    link, later = ctx["link"]
    return "fr.officer", api.call("fr.officer", "DELETE", f"/links/{link}"), later


@exercise("POST /console/cases", "case.create")
def _console_case(api: Api, ctx: dict[str, Any]) -> tuple[str, httpx.Response, str]:
    response = console(api, "fr.officer", "POST", "/console/cases",
                       data={"reference": "INV-C1", "title": "From the console"})
    found = re.search(r"/cases/([0-9a-f-]{36})", response.headers.get("location", ""))
    assert found, response.text[:300]
    ctx["console_case"] = found.group(1)
    return "fr.officer", response, found.group(1)


@exercise("POST /console/cases/{case_id}/requests", "case.add_request")
def _console_case_add(api: Api, ctx: dict[str, Any]) -> tuple[str, httpx.Response, str]:
    case = ctx["console_case"]
    ctx["console_in_case"] = _draft(api)
    return "fr.officer", console(api, "fr.officer", "POST", f"/console/cases/{case}/requests",
                                 data={"reference": ctx["console_in_case"]["reference"]}), case


@exercise("POST /console/cases/{case_id}/persons", "person.create")
def _console_person(api: Api, ctx: dict[str, Any]) -> tuple[str, httpx.Response, str]:
    response = console(api, "fr.officer", "POST", f"/console/cases/{ctx['console_case']}/persons",
                       data={"name": "Someone Console"})
    person = api.session.scalar(select(Person.id).where(Person.name == "Someone Console"))
    api.session.commit()
    return "fr.officer", response, str(person)


@exercise("POST /console/cases/{case_id}/edit", "case.update")
def _console_case_edit(api: Api, ctx: dict[str, Any]) -> tuple[str, httpx.Response, str]:
    case = ctx["console_case"]
    return "fr.officer", console(api, "fr.officer", "POST", f"/console/cases/{case}/edit",
                                 data={"reference": "INV-C1", "title": "Renamed"}), case


@exercise("POST /console/cases/{case_id}/closure", "case.update")
def _console_case_close(api: Api, ctx: dict[str, Any]) -> tuple[str, httpx.Response, str]:
    case = ctx["console_case"]
    return "fr.officer", console(api, "fr.officer", "POST", f"/console/cases/{case}/closure",
                                 data={"closed": "1"}), case


@exercise("POST /console/requests/{request_id}/links", "request.link")
def _console_link(api: Api, ctx: dict[str, Any]) -> tuple[str, httpx.Response, str]:
    later = _draft(api)["id"]
    return "fr.officer", console(api, "fr.officer", "POST", f"/console/requests/{later}/links",
                                 data={"kind": "follow_up",
                                       "follows": ctx["console_in_case"]["reference"]}), later


@exercise("POST /console/deadlines/{deadline_id}/extensions", "deadline.extend")
def _console_extend(api: Api, ctx: dict[str, Any]) -> tuple[str, httpx.Response, str]:
    deadline = ctx["deadline_id"]
    return "ke.supervisor", console(api, "ke.supervisor", "POST",
                                    f"/console/deadlines/{deadline}/extensions",
                                    data={"days": "1", "reason": "still late"}), str(deadline)


@exercise("POST /console/requests/{request_id}/attachments", "attachment.upload")
def _console_upload(api: Api, ctx: dict[str, Any]) -> tuple[str, httpx.Response, str]:
    rid = _draft(api)["id"]
    response = console(api, "fr.officer", "POST", f"/console/requests/{rid}/attachments",
                       files={"file": ("b.txt", b"more evidence", "text/plain")})
    added = api.session.scalar(select(Attachment.id).where(
        Attachment.request_id == uuid.UUID(rid)))
    api.session.commit()
    return "fr.officer", response, str(added)


@exercise("POST /console/requests/{request_id}/translations/{language}", "request.translation")
def _console_translate(api: Api, ctx: dict[str, Any]) -> tuple[str, httpx.Response, str]:
    rid = _draft(api)["id"]
    return "fr.officer", console(api, "fr.officer", "POST",
                                 f"/console/requests/{rid}/translations/fr",
                                 data={"data.facts_summary": "Texte"}), rid


@exercise("POST /console/new/{kind}", "request.file")
def _console_new(api: Api, ctx: dict[str, Any]) -> tuple[str, httpx.Response, str]:
    response = console(api, "fr.officer", "POST", "/console/new/mla.evidence", data={
        "requested_authority": "KE-ODPP", "legal_basis": "untoc", "title": "From the form",
        "language": "en", "data.case_subject": "Laundering", "action": "save"})
    return "fr.officer", response, _location_id(response)


@exercise("POST /console/incoming/{kind}", "request.file")
def _console_incoming(api: Api, ctx: dict[str, Any]) -> tuple[str, httpx.Response, str]:
    response = console(api, "ke.officer", "POST", "/console/incoming/mla.e_evidence.preservation",
                       data={k: v for k, v in INCOMING.items() if isinstance(v, str)})
    ctx["console_alert"] = api.call("ke.contact_point", "GET", "/alerts",
                                    params={"status": "open"}).json()[0]["id"]
    return "ke.officer", response, _location_id(response)


@exercise("POST /console/requests/{request_id}/edit", "request.update_draft")
def _console_edit(api: Api, ctx: dict[str, Any]) -> tuple[str, httpx.Response, str]:
    rid = _draft(api)["id"]
    return "fr.officer", console(api, "fr.officer", "POST", f"/console/requests/{rid}/edit",
                                 data={"data.case_subject": "Edited", "action": "save"}), rid


@exercise("POST /console/alerts/{alert_id}/{action}", "page.acknowledge")
def _console_alert(api: Api, ctx: dict[str, Any]) -> tuple[str, httpx.Response, str]:
    alert = ctx["console_alert"]
    return "ke.contact_point", console(api, "ke.contact_point", "POST",
                                       f"/console/alerts/{alert}/acknowledge",
                                       data={"note": "on it"}), str(alert)


@exercise("POST /console/logout", "logout")
def _console_logout(api: Api, ctx: dict[str, Any]) -> tuple[str, httpx.Response, str]:
    return "us.contact_point", console(api, "us.contact_point", "POST", "/console/logout"), \
        str(api.world["us.contact_point"].id)


@exercise("POST /auth/logout-everywhere", "logout.everywhere")
def _logout_everywhere(api: Api, ctx: dict[str, Any]) -> tuple[str, httpx.Response, str]:
    return "us.officer", api.call("us.officer", "POST", "/auth/logout-everywhere"), \
        str(api.world["us.officer"].id)


@exercise("POST /console/settings/logout-everywhere", "logout.everywhere")
def _console_logout_everywhere(api: Api, ctx: dict[str, Any]) -> tuple[str, httpx.Response, str]:
    return "us.liaison", console(api, "us.liaison", "POST",
                                 "/console/settings/logout-everywhere"), \
        str(api.world["us.liaison"].id)


@exercise("POST /console/settings/language", "user.language")
def _console_language(api: Api, ctx: dict[str, Any]) -> tuple[str, httpx.Response, str]:
    # Not a user logged out everywhere above (their tokens end).
    return "fr.liaison", console(api, "fr.liaison", "POST", "/console/settings/language",
                                 data={"language": "es"}), str(api.world["fr.liaison"].id)


@exercise("POST /console/language", "user.language")
def _console_switcher(api: Api, ctx: dict[str, Any]) -> tuple[str, httpx.Response, str]:
    # Signed in: the switcher keeps the choice on the account, audited like the settings
    # page; before login it only sets a cookie (no account to change).
    return "ke.supervisor", console(api, "ke.supervisor", "POST", "/console/language",
                                    data={"language": "ru", "next": "/console/requests"}), \
        str(api.world["ke.supervisor"].id)


@exercise("POST /console/settings/security/enrol", "second_factor.enrol")
def _console_enrol(api: Api, ctx: dict[str, Any]) -> tuple[str, httpx.Response, str]:
    import pyotp

    from mla.models import TotpFactor

    user = api.world["us.supervisor"]
    started = console(api, "us.supervisor", "POST", "/console/settings/security/enrol")
    assert started.status_code == 200 and "<svg" in started.text
    api.session.commit()
    secret = api.session.get(TotpFactor, user.id).secret  # type: ignore[union-attr]
    api.session.commit()
    return "us.supervisor", console(api, "us.supervisor", "POST",
                                    "/console/settings/security/enrol",
                                    data={"code": pyotp.TOTP(secret).now()}), str(user.id)


@exercise("POST /requests/{request_id}/received-documents", "document.received")
def _receive_pdf(api: Api, ctx: dict[str, Any]) -> tuple[str, httpx.Response, str]:
    rid = api.call("ke.officer", "POST", "/requests/incoming", json=INCOMING | {
        "kind": "mla.evidence", "legal_basis": "untoc", "title": "By e-mail"}).json()["id"]
    response = api.call("ke.officer", "POST", f"/requests/{rid}/received-documents",
                        files={"file": ("r.pdf", b"%PDF-1.7 unsigned", "application/pdf")})
    return "ke.officer", response, rid


@exercise("POST /requests/{request_id}/mail/acknowledgement", "mail.acknowledged")
def _acknowledge_mail(api: Api, ctx: dict[str, Any]) -> tuple[str, httpx.Response, str]:
    from mla.documents import certs
    from mla.mail import addresses

    os.environ["MLA_SIGNING_KEY_PASSPHRASE"] = "audit coverage"
    try:
        certs.self_signed(api.session, api.world.fr)
        addresses.replace(api.session, api.world.us, ["desk@oia.example.gov"])
        api.session.commit()
        rid = api.file(requested_authority="US-OIA")["id"]
        for who, event in (("fr.officer", "submit"), ("fr.supervisor", "approve"),
                           ("fr.officer", "transmit")):
            done = api.call(who, "POST", f"/requests/{rid}/transitions", json={"event": event})
            assert done.status_code == 200, done.text
    finally:
        del os.environ["MLA_SIGNING_KEY_PASSPHRASE"]
    return "fr.officer", api.call("fr.officer", "POST",
                                  f"/requests/{rid}/mail/acknowledgement"), rid


@exercise("POST /console/requests/{request_id}/received-documents", "document.received")
def _console_receive_pdf(api: Api, ctx: dict[str, Any]) -> tuple[str, httpx.Response, str]:
    rid = api.call("ke.officer", "POST", "/requests/incoming", json=INCOMING | {
        "kind": "mla.evidence", "legal_basis": "untoc", "title": "By post"}).json()["id"]
    response = console(api, "ke.officer", "POST", f"/console/requests/{rid}/received-documents",
                       files={"file": ("r.pdf", b"%PDF-1.7 unsigned", "application/pdf")})
    return "ke.officer", response, rid


@exercise("PUT /profiles/{code}", "profile.save")
def _profile(api: Api, ctx: dict[str, Any]) -> tuple[str, httpx.Response, str]:
    return "ke.admin", api.call("ke.admin", "PUT", "/profiles/KE-ODPP",
                                json={"languages": {"*": ["en"]}}), "KE-ODPP"


def test_every_write_route_is_audited(api: Api) -> None:
    writes = [r for r in routes(create_app()) if r.method in WRITES]
    unexercised = {r.key for r in writes} - set(EXERCISES) - set(EXEMPT_WRITES)
    assert not unexercised, f"exercise (and audit) these writes, or exempt them: {unexercised}"
    assert not set(EXERCISES) - {r.key for r in writes}, "EXERCISES names a route that is gone"
    ctx: dict[str, Any] = {}
    for key, (action, send) in EXERCISES.items():
        before = _last_id(api)
        who, response, object_id = send(api, ctx)
        assert response.status_code < 400, (key, response.status_code, response.text[:500])
        entry = (action, api.world[who].id, str(object_id))
        audited = _audited(api, before)
        assert entry in audited, f"{key} by {who}: no audit entry {entry}; found {audited}"
    assert len(EXERCISES) >= 20

