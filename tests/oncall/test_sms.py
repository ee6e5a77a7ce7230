"""Contact preferences, E.164 numbers, SMS codes and replies, test pages: the parts that need
no gateway (tests/oncall/test_sms_kannel.py drives the real one). Real SMTP server for the
channels that go out at once; an injected clock for the ones that wait."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from mla.models import Notification, Page, SmsCode
from mla.oncall import delivery, paging, sms
from mla.oncall import service as oncall
from mla.requests import filing
from tests.api_helpers import Api
from tests.conftest import World
from tests.receivers import Mailbox, smtp_server

NET = "budapest_24_7"
T0 = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)
KE_PHONE = "+254700000001"


@pytest.fixture
def mail(monkeypatch: pytest.MonkeyPatch) -> Iterator[Mailbox]:
    with smtp_server() as (mailbox, port):
        monkeypatch.setenv("MLA_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("MLA_SMTP_PORT", str(port))
        yield mailbox


def _desk(session: Session, world: World, **extra: object) -> int:
    contact = oncall.save_contact(session, world.ke.id, {
        "network": NET, "name": "Night desk", "email": "night@ke.example",
        "phone": "+254 700 000 001", "channels": ["email", "sms"],
        "timezone": "Africa/Nairobi", "account": "ke.contact_point", **extra})
    paging.set_policy(session, world.ke.id, network=NET,
                      steps=[{"notify": f"contact:{contact.id}", "delay_minutes": 10}])
    session.commit()
    return contact.id


def _page(session: Session, world: World, reference: str = "FR-1") -> Page:
    request = filing.register_incoming(
        session, world["ke.officer"], kind="mla.e_evidence.preservation",
        requesting_authority_id=world.fr.id, counterpart_reference=reference,
        legal_basis="budapest", title="Preserve", language="en", data={})
    page = session.scalars(select(Page).where(Page.request_id == request.id)).one()
    session.commit()
    return page


def test_phone_numbers_are_e164_and_stored_so(api: Api) -> None:
    body = {"network": NET, "name": "Desk", "channels": ["sms"], "timezone": "Africa/Nairobi"}
    bad = api.call("ke.admin", "POST", "/contact-points", json=body | {"phone": "0700 123"})
    assert bad.status_code == 422
    assert [p["field"] for p in bad.json()["errors"]] == ["phone"]
    assert "E.164" in bad.json()["errors"][0]["message"]
    missing = api.call("ke.admin", "POST", "/contact-points", json=body)
    assert [p["field"] for p in missing.json()["errors"]] == ["phone"]
    good = api.call("ke.admin", "POST", "/contact-points",
                    json=body | {"phone": "+254 (0)20 273-0001"})
    assert good.status_code == 201, good.text
    assert good.json()["phone"] == "+254202730001"
    stranger = api.call("ke.admin", "POST", "/contact-points",
                        json=body | {"name": "Other", "phone": "+254700000009",
                                     "account": "fr.contact_point"})
    assert [p["field"] for p in stranger.json()["errors"]] == ["account"]


def test_preferences_order_and_delay_each_channel_until_acknowledged(
        api: Api, world: World, mail: Mailbox, monkeypatch: pytest.MonkeyPatch) -> None:
    contact = _desk(api.session, world)
    response = api.call("ke.contact_point", "PUT", f"/contact-points/{contact}/preferences",
                        json={"steps": [{"channel": "email", "after_minutes": 0},
                                        {"channel": "sms", "after_minutes": 2}]})
    assert response.status_code == 200, response.text
    assert response.json()["effective"] == [{"channel": "email", "after_minutes": 0},
                                            {"channel": "sms", "after_minutes": 2}]
    monkeypatch.setattr("mla.clock.utcnow", lambda: T0)
    monkeypatch.setattr("mla.oncall.paging.utcnow", lambda: T0)
    page = _page(api.session, world)
    due = {n.channel: n.next_attempt_at for n in paging.notifications(api.session, page)
           if n.channel != "inbox"}
    assert due == {"email": T0, "sms": T0 + timedelta(minutes=2)}
    # At once: the e-mail goes, the SMS waits its two minutes.
    result = delivery.run_batch(api.session, now=T0 + timedelta(seconds=1))
    assert result.sent == 1 and len(mail.messages) == 1
    # Acknowledged within them: the SMS is never sent.
    paging.acknowledge(api.session, page.id, world["ke.contact_point"])
    api.session.commit()
    statuses = {n.channel: n.status for n in paging.notifications(api.session, page)}
    assert statuses == {"inbox": "sent", "email": "sent", "sms": "cancelled"}


def test_preferences_are_checked_and_kept_to_their_contact_point(
        api: Api, world: World) -> None:
    contact = _desk(api.session, world)
    url = f"/contact-points/{contact}/preferences"
    bad = api.call("ke.admin", "PUT", url, json={"steps": [
        {"channel": "pigeon", "after_minutes": 0}, {"channel": "webhook"}]})
    assert bad.status_code == 422
    assert {p["field"] for p in bad.json()["errors"]} == {"steps.0.channel",
                                                           "steps.1.channel"}
    too_late = api.call("ke.admin", "PUT", url, json={"steps": [
        {"channel": "sms", "after_minutes": 99999}]})
    assert too_late.status_code == 422
    # The admin of the authority and the person linked may; a colleague may not.
    assert api.call("ke.admin", "GET", url).status_code == 200
    assert api.call("ke.officer", "PUT", url, json={"steps": None}).status_code == 403
    for stranger in ("us.admin", "us.officer", "fr.contact_point"):
        for method, path, kwargs in (("GET", url, {}), ("PUT", url, {"json": {"steps": None}}),
                                     ("POST", f"/contact-points/{contact}/test-pages", {})):
            assert api.call(stranger, method, path, **kwargs).status_code == 404


def test_a_test_page_is_marked_never_escalates_and_stays_out_of_the_inbox(
        api: Api, world: World, mail: Mailbox) -> None:
    contact = _desk(api.session, world)
    response = api.call("ke.contact_point", "POST", f"/contact-points/{contact}/test-pages")
    assert response.status_code == 202, response.text
    test = response.json()
    assert test["test"] is True
    assert sorted(n["channel"] for n in test["notifications"]) == ["email", "sms"]
    # Much later, nothing more was sent for it: it never climbs.
    later = datetime.now(UTC) + timedelta(days=2)
    delivery.run_batch(api.session, now=later)
    delivery.run_batch(api.session, now=later + timedelta(hours=1))
    page = api.session.get(Page, test["id"])
    assert page is not None and page.next_escalation_at is None
    rows = api.session.scalars(select(Notification).where(
        Notification.page_id == test["id"])).all()
    assert len(rows) == 2
    assert mail.messages[0][0] == ["night@ke.example"]
    assert "TEST page" in mail.messages[0][1]["Subject"]
    # The e-mail went; the SMS has no gateway configured here, and the outcome says so.
    outcome = api.call("ke.contact_point", "GET",
                       f"/contact-points/{contact}/test-pages/{test['id']}").json()
    by_channel = {n["channel"]: n for n in outcome["notifications"]}
    assert by_channel["email"]["status"] == "sent"
    assert "MLA_SMS_SENDSMS_URL" in by_channel["sms"]["last_error"]
    assert all(a["id"] != test["id"] for a in api.call("ke.supervisor", "GET",
                                                       "/alerts").json())


def _code(session: Session, page: Page, contact: int, phone: str = KE_PHONE,
          now: datetime | None = None) -> str:
    notification = next(n for n in paging.notifications(session, page) if n.channel == "sms")
    code = sms.issue_code(session, notification, contact, phone, now or datetime.now(UTC))
    session.commit()
    return code


def test_replies_are_rate_limited_per_number(api: Api, world: World) -> None:
    contact = _desk(api.session, world)
    page = _page(api.session, world)
    code = _code(api.session, page, contact)
    assert api.session.scalar(select(SmsCode.code_hash)) != code  # only its hash is kept
    for i in range(sms.MAX_FAILURES):
        assert "unknown code" in sms.handle_reply(api.session, KE_PHONE, f"ACK WRONG{i}")
        api.session.commit()
    # Even the right code is not heard from that number for a while...
    assert "too many wrong codes" in sms.handle_reply(api.session, KE_PHONE, f"ACK {code}")
    assert api.session.get(Page, page.id).status == "open"  # type: ignore[union-attr]
    # ...which passes.
    later = datetime.now(UTC) + sms.FAILURE_WINDOW + timedelta(seconds=1)
    assert "acknowledged" in sms.handle_reply(api.session, KE_PHONE, f"ack {code}", now=later)


def test_expired_codes_and_nonsense_get_a_clear_answer(api: Api, world: World) -> None:
    contact = _desk(api.session, world)
    page = _page(api.session, world)
    old = _code(api.session, page, contact, now=datetime.now(UTC) - timedelta(days=2))
    assert "has expired" in sms.handle_reply(api.session, "+254 700 000 001", f"ACK {old}")
    assert sms.handle_reply(api.session, KE_PHONE, "hello?") == sms.HELP
    assert api.session.get(Page, page.id).status == "open"  # type: ignore[union-attr]


def test_a_code_acts_only_as_an_account_of_the_paged_authority(
        api: Api, world: World) -> None:
    contact = _desk(api.session, world)
    page = _page(api.session, world)
    code = _code(api.session, page, contact)
    # An account that may not acknowledge (an officer) gets a refusal, nothing changes.
    oncall.contact_by_name(api.session, world.ke.id, NET, "Night desk").user_id = \
        world["ke.officer"].id  # type: ignore[union-attr]
    api.session.commit()
    assert "not done" in sms.handle_reply(api.session, KE_PHONE, f"ACK {code}")
    assert api.session.get(Page, page.id).status == "open"  # type: ignore[union-attr]


def test_the_gateway_callbacks_answer_only_the_gateway(api: Api) -> None:
    # No secret, a wrong one, or the right one from an address that is not the gateway's
    # (the test client is not on loopback): as if the routes did not exist.
    for query in ("", "?secret=wrong", "?secret=kannel-callback-secret-0123"):
        for path in ("/sms/inbound", "/sms/dlr"):
            response = api.call("ke.admin", "GET", f"{path}{query}&from=%2B1&text=ACK+X"
                                if query else path)
            assert response.status_code == 404, (path, query, response.text)


def test_my_paging_page_sets_preferences_and_sends_a_test_page(
        api: Api, world: World) -> None:
    contact = _desk(api.session, world)
    page = api.console("ke.contact_point", "GET", "/console/oncall/me")
    assert page.status_code == 200
    assert "Night desk" in page.text and "Send me a test page" in page.text
    saved = api.console("ke.contact_point", "POST",
                        f"/console/oncall/me/{contact}/preferences",
                        {"position.sms": "1", "after.sms": "0", "position.email": "2",
                         "after.email": "5"})
    assert saved.status_code in (302, 303), saved.text[:300]
    api.session.expire_all()
    got = api.call("ke.contact_point", "GET", f"/contact-points/{contact}/preferences").json()
    assert got["steps"] == [{"channel": "sms", "after_minutes": 0},
                            {"channel": "email", "after_minutes": 5}]
    sent = api.console("ke.contact_point", "POST", f"/console/oncall/me/{contact}/test-page")
    assert sent.status_code in (302, 303), sent.text[:300]
    shown = api.console("ke.contact_point", "GET", "/console/oncall/me")
    assert "Test pages" in shown.text and "pending" in shown.text
    # Someone else of the authority has no contact point linked: nothing to set.
    assert "No point of contact is linked" in api.console("ke.officer", "GET",
                                                          "/console/oncall/me").text
