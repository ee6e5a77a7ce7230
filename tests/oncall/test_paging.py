"""Paging: urgent requests page the requested authority's 24/7 point over real channels (an
aiosmtpd server and an HTTP receiver on loopback), climb the escalation policy at its delays
(an injected clock, no sleeps) until acknowledged, and stay within the authority."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.header import decode_header, make_header
from typing import Any

import pytest
from sqlalchemy import Engine, func, insert, select
from sqlalchemy.orm import Session

from cli import worker
from mla import clock, db, templates
from mla.deadlines import escalation
from mla.errors import Conflict, Forbidden, NotFound
from mla.models import Deadline, DeadlineStep, Notification, Page, Request
from mla.oncall import delivery as page_delivery
from mla.oncall import paging
from mla.oncall import service as oncall
from mla.requests import filing, lifecycle
from tests.api_helpers import Api
from tests.conftest import World, build_world
from tests.receivers import Mailbox, WebhookReceiver, smtp_server

NET = "budapest_24_7"
SECRET = "s3cret-shared-with-the-ke-desk"
T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
PUBLIC = "https://mla.example.org"


@pytest.fixture
def mail(monkeypatch: pytest.MonkeyPatch) -> Iterator[Mailbox]:
    with smtp_server() as (mailbox, port):
        monkeypatch.setenv("MLA_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("MLA_SMTP_PORT", str(port))
        monkeypatch.setenv("MLA_SMTP_FROM", "pager@mla.example.org")
        monkeypatch.setenv("MLA_PUBLIC_URL", PUBLIC)
        yield mailbox


@pytest.fixture
def hook() -> Iterator[WebhookReceiver]:
    with WebhookReceiver(SECRET) as receiver:
        yield receiver


def _setup(session: Session, world: World, hook_url: str, *, repeat: int = 1) -> dict[str, int]:
    """KE: desk A (e-mail and webhook) on call, desk B (e-mail) as backup, then the
    supervisor; 5, 10 and 15 minutes; the whole ladder once more."""
    a = oncall.save_contact(session, world.ke.id, {
        "network": NET, "name": "Desk A", "email": "a@ke.example", "languages": ["en"],
        "channels": ["email", "webhook"], "webhook_url": hook_url, "webhook_secret": SECRET,
        "timezone": "Africa/Nairobi"})
    b = oncall.save_contact(session, world.ke.id, {
        "network": NET, "name": "Desk B", "email": "b@ke.example", "languages": ["en", "sw"],
        "channels": ["email"], "timezone": "Africa/Nairobi"})
    oncall.set_rotation(session, world.ke.id, network=NET, timezone="Africa/Nairobi",
                        handoff_time="08:00", shift_hours=24,
                        starts_on=datetime(2026, 1, 1).date(), members=[a.id])
    paging.set_policy(session, world.ke.id, network=NET, repeat=repeat, steps=[
        {"notify": "on_call", "delay_minutes": 5},
        {"notify": f"contact:{b.id}", "delay_minutes": 10},
        {"notify": "role:supervisor", "delay_minutes": 15}])
    world["ke.supervisor"].email = "sup@ke.example"
    session.commit()
    return {"a": a.id, "b": b.id}


def _receive_urgent(session: Session, world: World, ref: str = "FR-PRES-1") -> Request:
    request = filing.register_incoming(
        session, world["ke.officer"], kind="mla.e_evidence.preservation",
        requesting_authority_id=world.fr.id, counterpart_reference=ref,
        legal_basis="budapest", title="Preserve the mailbox", language="en", data={})
    session.commit()
    return request


def _page(session: Session) -> Page:
    session.expire_all()
    return session.scalars(select(Page)).one()


def _sent(session: Session, page: Page) -> list[tuple[int, int, str, str]]:
    return [(n.step_index, n.round, n.recipient, n.channel)
            for n in paging.notifications(session, page) if n.status == "sent"]


def test_unacknowledged_page_climbs_at_the_delays_and_stops_when_acknowledged(
        session: Session, world: World, mail: Mailbox, hook: WebhookReceiver) -> None:
    ids = _setup(session, world, hook.url)
    with clock.frozen(T0):
        request = _receive_urgent(session, world)
    page = _page(session)
    assert (page.status, page.step_index, page.source) == ("open", 0, "file")
    assert page.next_escalation_at == T0 + timedelta(minutes=5)

    # Step 1 at once: desk A by e-mail and webhook; the inbox entry exists already.
    result = page_delivery.run_batch(session, now=T0)
    assert (result.escalated, result.sent) == (0, 2)
    a, b = f"contact:{ids['a']}", f"contact:{ids['b']}"
    assert sorted(_sent(session, page)) == [(0, 0, a, "email"), (0, 0, a, "webhook"),
                                            (0, 0, "inbox", "inbox")]
    [(to, email)] = mail.messages
    assert to == ["a@ke.example"]
    assert request.reference in email["Subject"]
    text = email.get_payload()
    assert request.reference in text and f"{PUBLIC}/alerts/{page.id}" in text
    assert email["X-MLA-Notification-Id"]
    [delivery] = hook.deliveries
    assert delivery.signature_ok
    payload = json.loads(delivery.body)
    assert payload["reference"] == request.reference and payload["page_id"] == page.id
    assert delivery.headers["X-MLA-Notification-Id"] == str(payload["notification_id"])

    def climb(at: timedelta) -> page_delivery.PagingResult:
        return page_delivery.run_batch(session, now=T0 + at)

    assert climb(timedelta(minutes=4, seconds=59)).escalated == 0
    assert climb(timedelta(minutes=5)).escalated == 1  # desk B
    assert _page(session).step_index == 1
    assert mail.messages[-1][0] == ["b@ke.example"]
    assert (1, 0, b, "email") in _sent(session, page)
    assert climb(timedelta(minutes=14, seconds=59)).escalated == 0
    assert climb(timedelta(minutes=15)).escalated == 1  # the supervisor
    assert mail.messages[-1][0] == ["sup@ke.example"]
    assert _page(session).next_escalation_at == T0 + timedelta(minutes=30)
    assert climb(timedelta(minutes=30)).sent == 2  # round 2 starts with desk A again
    page = _page(session)
    assert (page.step_index, page.repeat_round) == (0, 1)
    assert len(hook.deliveries) == 2

    with clock.frozen(T0 + timedelta(minutes=31)):
        paging.acknowledge(session, page.id, world["ke.contact_point"], note="on it")
        session.commit()
    page = _page(session)
    assert page.status == "acknowledged"
    assert page.acknowledged_at == T0 + timedelta(minutes=31)
    assert (page.acknowledged_by_id, page.acknowledged_via) == (world["ke.contact_point"].id,
                                                                "api")
    before = len(paging.notifications(session, page))
    assert climb(timedelta(hours=5)) == page_delivery.PagingResult()
    assert len(paging.notifications(session, page)) == before
    assert len(mail.messages) == 4 and len(hook.deliveries) == 2
    # Every step of every round is on record, with its time and channel.
    steps = [(n.step_index, n.round) for n in paging.notifications(session, page)
             if n.channel == "inbox"]
    assert steps == [(0, 0), (1, 0), (2, 0), (0, 1)]
    assert all(n.sent_at is not None for n in paging.notifications(session, page))


def test_ladder_exhausted_leaves_the_page_open_in_the_inbox(
        session: Session, world: World, mail: Mailbox, hook: WebhookReceiver) -> None:
    _setup(session, world, hook.url, repeat=0)
    with clock.frozen(T0):
        _receive_urgent(session, world)
    for minutes in (0, 5, 15, 30, 60):
        page_delivery.run_batch(session, now=T0 + timedelta(minutes=minutes))
    page = _page(session)
    assert (page.status, page.step_index, page.next_escalation_at) == ("open", 2, None)
    assert len(mail.messages) == 3
    assert page_delivery.next_due(session) is None


def test_failing_channel_is_retried_with_backoff_without_blocking_the_others(
        session: Session, world: World, mail: Mailbox, hook: WebhookReceiver) -> None:
    _setup(session, world, hook.url)
    hook.statuses = [500]
    with clock.frozen(T0):
        _receive_urgent(session, world)
    result = page_delivery.run_batch(session, now=T0)
    assert (result.sent, result.retried) == (1, 1)
    assert len(mail.messages) == 1  # e-mail went out although the webhook failed
    session.expire_all()
    webhook = session.scalars(select(Notification).where(Notification.channel == "webhook")
                              ).one()
    assert (webhook.status, webhook.attempts) == ("pending", 1)
    assert webhook.last_error == "webhook answered 500"
    assert webhook.next_attempt_at == T0 + page_delivery.BACKOFF_BASE
    page_delivery.run_batch(session, now=T0 + timedelta(seconds=9))
    assert hook.deliveries == []
    assert page_delivery.run_batch(session, now=T0 + timedelta(seconds=10)).sent == 1
    assert len(hook.deliveries) == 1 and hook.deliveries[0].signature_ok
    session.expire_all()
    webhook = session.get_one(Notification, webhook.id)
    assert (webhook.status, webhook.attempts, webhook.last_error) == ("sent", 2, None)


def test_dead_endpoint_fails_after_the_last_attempt(
        session: Session, world: World, mail: Mailbox, hook: WebhookReceiver) -> None:
    ids = _setup(session, world, "http://127.0.0.1:9/closed")
    with clock.frozen(T0):
        _receive_urgent(session, world)
    page_delivery.run_batch(session, now=T0)
    gaps = []
    for _ in range(page_delivery.MAX_ATTEMPTS):
        session.expire_all()
        webhook = session.scalars(select(Notification).where(
            Notification.channel == "webhook", Notification.recipient == f"contact:{ids['a']}")
        ).one()
        if webhook.status != "pending":
            break
        gaps.append(webhook.next_attempt_at)
        page_delivery.run_batch(session, now=webhook.next_attempt_at)
    assert webhook.status == "failed" and webhook.attempts == page_delivery.MAX_ATTEMPTS
    assert "ConnectError" in (webhook.last_error or "")
    # Exponential: 10 s, 20 s, 40 s, ...
    deltas = [(b - a).total_seconds() for a, b in zip([T0, *gaps], gaps, strict=False)]
    assert deltas[:3] == [10, 20, 40]


def test_transmitting_an_urgent_request_pages_the_requested_authority_drafts_do_not(
        session: Session, world: World, mail: Mailbox, hook: WebhookReceiver) -> None:
    _setup(session, world, hook.url)
    request = filing.file_request(
        session, world["fr.officer"], kind="mla.e_evidence.preservation",
        requested_authority_id=world.ke.id, legal_basis="budapest", title="Preserve",
        language="en", data=templates.example("mla.e_evidence.preservation"))
    for event, who in (("submit", "fr.officer"), ("approve", "fr.supervisor")):
        lifecycle.transition(session, request, event, world[who])
    session.commit()
    assert session.scalar(select(func.count()).select_from(Page)) == 0
    lifecycle.transition(session, request, "transmit", world["fr.officer"])
    session.commit()
    page = _page(session)
    assert (page.authority_id, page.source, page.network) == (world.ke.id, "transmit", NET)
    assert page_delivery.run_batch(session).sent == 2
    assert json.loads(hook.deliveries[0].body)["requesting"] == "FR-MJ"


def test_urgent_overdue_deadline_pages_through_the_worker(
        session: Session, world: World, mail: Mailbox, hook: WebhookReceiver) -> None:
    _setup(session, world, hook.url)
    urgent = _receive_urgent(session, world)
    first = _page(session)
    paging.acknowledge(session, first.id, world["ke.supervisor"])
    plain = filing.register_incoming(
        session, world["ke.officer"], kind="mla.evidence", requesting_authority_id=world.fr.id,
        counterpart_reference="FR-EV-9", legal_basis="untoc", title="Records", language="en",
        data={})
    session.commit()
    past = T0 - timedelta(days=3)
    for request in (urgent, plain):
        deadline_id = session.scalar(insert(Deadline).returning(Deadline.id).values(
            request_id=request.id, rule_id="untoc.suggested_date", timer="execution",
            acting_authority_id=world.ke.id, opened_at=past, period_start=past, due_at=past,
            extended_days=0))
        session.execute(insert(DeadlineStep).values(deadline_id=deadline_id, step="overdue",
                                                    due_at=past))
    session.commit()
    with session.begin():
        escalation.run_batch(session, now=T0)
    pages = session.scalars(select(Page).order_by(Page.id)).all()
    assert len(pages) == 2  # the urgent request only, though both are overdue
    page = pages[1]
    assert (page.request_id, page.source, page.status) == (urgent.id, "deadline", "open")
    assert page.alert_id is not None and "OVERDUE" in page.reason
    page_delivery.run_batch(session, now=T0)
    assert len(hook.deliveries) == 1


def test_other_authorities_cannot_see_or_acknowledge_a_page(api: Api) -> None:
    incoming = api.call("ke.officer", "POST", "/requests/incoming", json={
        "kind": "mla.e_evidence.preservation", "requesting_authority": "FR-MJ",
        "counterpart_reference": "FR-PRES-7", "legal_basis": "budapest", "title": "Preserve",
        "language": "en", "data": {}})
    assert incoming.status_code == 201, incoming.text
    [alert] = api.call("ke.contact_point", "GET", "/alerts").json()
    assert (alert["reference"], alert["status"], alert["authority"]) == (
        incoming.json()["reference"], "open", "KE-ODPP")
    url = f"/alerts/{alert['id']}"
    for stranger in ("fr.contact_point", "fr.supervisor", "us.contact_point"):
        assert api.call(stranger, "GET", "/alerts").json() == []
        for method, path in (("GET", url), ("POST", f"{url}/acknowledge"),
                             ("POST", f"{url}/resolve")):
            response = api.call(stranger, method, path, json={})
            assert response.status_code == 404, (stranger, method, path, response.text)
    assert api.call("ke.officer", "POST", f"{url}/acknowledge", json={}).status_code == 403
    assert api.call("ke.officer", "GET", url).status_code == 200  # the inbox is the desk's
    ack = api.call("ke.contact_point", "POST", f"{url}/acknowledge", json={"note": "mine"})
    assert ack.status_code == 200, ack.text
    body = ack.json()
    assert (body["status"], body["acknowledged_by"], body["acknowledged_via"], body["note"]) \
        == ("acknowledged", "ke.contact_point", "api", "mine")
    assert [n["channel"] for n in body["notifications"]] == ["inbox"]
    again = api.call("ke.supervisor", "POST", f"{url}/acknowledge", json={})
    assert again.status_code == 409
    done = api.call("ke.supervisor", "POST", f"{url}/resolve", json={})
    assert done.json()["status"] == "resolved" and done.json()["resolved_by"] == "ke.supervisor"
    audit = [e["action"] for e in api.call("ke.admin", "GET", "/audit").json()]
    assert {"page.acknowledge", "page.resolve"} <= set(audit)


def test_domain_authorization(session: Session, world: World) -> None:
    _receive_urgent(session, world)
    page = _page(session)
    with pytest.raises(NotFound):
        paging.acknowledge(session, page.id, world["fr.contact_point"])
    with pytest.raises(Forbidden):
        paging.acknowledge(session, page.id, world["ke.liaison"])
    paging.resolve(session, page.id, world["ke.contact_point"])
    with pytest.raises(Conflict):
        paging.acknowledge(session, page.id, world["ke.contact_point"])


def test_admin_configures_contact_points_rotation_and_policy_over_http(api: Api) -> None:
    created = api.call("ke.admin", "POST", "/contact-points", json={
        "network": NET, "name": "Night desk", "email": "night@ke.example",
        "channels": ["email", "webhook"], "webhook_url": "https://hooks.ke.example/page",
        "webhook_secret": SECRET, "languages": ["en"], "timezone": "Africa/Nairobi"})
    assert created.status_code == 201, created.text
    desk = created.json()
    assert desk["webhook_url"] == "https://hooks.ke.example/page"
    assert "webhook_secret" not in desk
    listed = api.call("fr.officer", "GET", "/contact-points", params={"authority": "KE-ODPP"})
    assert [c["name"] for c in listed.json()] == ["Night desk"]
    assert listed.json()[0]["webhook_url"] is None  # integration detail, the owner's only
    assert api.call("ke.officer", "POST", "/contact-points", json={
        "network": NET, "name": "X", "timezone": "UTC"}).status_code == 403
    bad = api.call("ke.admin", "POST", "/contact-points", json={
        "network": NET, "name": "Y", "channels": ["webhook"], "timezone": "Nowhere/City"})
    assert {e["field"] for e in bad.json()["errors"]} == {"webhook_url", "timezone"}
    rotation = api.call("ke.admin", "POST", "/oncall/rotations", json={
        "network": NET, "timezone": "Africa/Nairobi", "handoff_time": "08:00",
        "shift_hours": 24, "starts_on": "2026-01-01", "members": [desk["id"]]})
    assert rotation.status_code == 200, rotation.text
    policy = api.call("ke.admin", "POST", "/oncall/policies", json={
        "network": NET, "repeat": 1, "steps": [{"notify": "on_call", "delay_minutes": 5},
                                               {"notify": "role:supervisor",
                                                "delay_minutes": 10}]})
    assert policy.status_code == 200, policy.text
    wrong = api.call("ke.admin", "POST", "/oncall/policies", json={
        "network": NET, "steps": [{"notify": "contact:999", "delay_minutes": 5}]})
    assert wrong.status_code == 422
    [who] = api.call("ke.contact_point", "GET", "/oncall", params={"network": NET}).json()
    assert who["member"]["name"] == "Night desk"
    # What is configured reads back, for my authority only.
    [rota] = api.call("ke.contact_point", "GET", "/oncall/rotations").json()
    assert (rota["handoff_time"], rota["members"]) == ("08:00", [desk["id"]])
    [ladder] = api.call("ke.officer", "GET", "/oncall/policies").json()
    assert (ladder["repeat"], [s["notify"] for s in ladder["steps"]]) == \
        (1, ["on_call", "role:supervisor"])
    assert api.call("fr.admin", "GET", "/oncall/rotations").json() == []
    assert api.call("fr.admin", "GET", "/oncall/policies").json() == []


def test_worker_loop_sends_pages(engine: Engine, mail: Mailbox, hook: WebhookReceiver) -> None:
    with db.session_factory(engine)() as s:
        world = build_world(s)
        _setup(s, world, hook.url)
        _receive_urgent(s, world)
    assert worker.run(engine, once=True) == 0  # no deadline alerts, but the page went out
    assert len(hook.deliveries) == 1 and len(mail.messages) == 1


def test_sleeping_worker_wakes_up_for_a_new_page(pg_engine: Engine, mail: Mailbox,
                                                 hook: WebhookReceiver) -> None:
    with db.session_factory(pg_engine)() as s:
        world = build_world(s)
        _setup(s, world, hook.url)
    stop = threading.Event()
    loop = threading.Thread(target=worker.run, args=(pg_engine,),
                            kwargs={"poll": 30.0, "stop": stop})
    loop.start()
    try:
        time.sleep(0.5)  # the worker has gone to sleep for up to 30 s
        with db.session_factory(pg_engine)() as s:
            world = build_world_view(s)
            started = time.perf_counter()
            _receive_urgent(s, world)
        assert hook.wait_for(1, timeout=5)
        assert hook.deliveries[0].received_at - started < 2
    finally:
        stop.set()
        loop.join(timeout=10)
    assert not loop.is_alive()


def build_world_view(session: Session) -> World:
    """The world build_world made, read back."""
    from mla.models import Authority, User

    codes = {a.code: a for a in session.scalars(select(Authority))}
    users = {u.username: u for u in session.scalars(select(User))}
    return World(codes["FR-MJ"], codes["KE-ODPP"], codes["US-OIA"], users)


def test_pages_are_written_in_each_recipients_language(
        session: Session, world: World, mail: Mailbox, hook: WebhookReceiver) -> None:
    """Desk A reads Arabic, desk B Spanish then English; the supervisor chose Chinese in the
    console: each e-mail in its reader's language and time zone. The webhook's JSON does
    not change (machines read it)."""
    _setup(session, world, hook.url, repeat=0)
    oncall.save_contact(session, world.ke.id, {
        "network": NET, "name": "Desk A", "email": "a@ke.example", "languages": ["ar", "en"],
        "channels": ["email"], "timezone": "Asia/Amman"})
    oncall.save_contact(session, world.ke.id, {
        "network": NET, "name": "Desk B", "email": "b@ke.example", "languages": ["sw", "es"],
        "channels": ["email"], "timezone": "Africa/Nairobi"})
    world["ke.supervisor"].language = "zh"
    session.commit()
    with clock.frozen(T0):
        request = _receive_urgent(session, world)
    page_delivery.run_batch(session, now=T0)
    page_delivery.run_batch(session, now=T0 + timedelta(minutes=5))
    page_delivery.run_batch(session, now=T0 + timedelta(minutes=15))
    by_address = {to[0]: email for to, email in mail.messages}
    assert set(by_address) == {"a@ke.example", "b@ke.example", "sup@ke.example"}

    def body(email: Any) -> str:
        return str(email.get_payload(decode=True).decode())

    def subject(email: Any) -> str:
        return str(make_header(decode_header(email["Subject"])))

    arabic = by_address["a@ke.example"]
    assert request.reference in subject(arabic) and "يحتاج إلى إقرار" in subject(arabic)
    assert "مسألة عاجلة لسلطتكم" in body(arabic) and "(Asia/Amman)" in body(arabic)
    spanish = by_address["b@ke.example"]
    assert "requiere acuse de recibo" in subject(spanish)
    assert "Asunto urgente para su autoridad" in body(spanish)
    chinese = by_address["sup@ke.example"]
    assert "需要确认" in subject(chinese) and "贵机关有紧急事项" in body(chinese)
    # The template's own Chinese title of the kind, not the English label.
    assert templates.get(request.kind).title["zh"] in subject(chinese)
