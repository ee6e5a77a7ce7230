"""SMS paging end to end through a real Kannel gateway and its fake handset: the page reaches
the phone, "ACK <code>" typed at the phone acknowledges it, a wrong code gets a clear answer,
the network's delivery report lands on the notification, and a code only ever acts on its
own page, from its own phone."""

from __future__ import annotations

import random
import re
import time
from typing import Any

from sqlalchemy import select

from mla.models import AuditEvent
from mla.oncall import delivery
from tests.api_helpers import Api
from tests.oncall.kannel import Kannel

KIND = "mla.e_evidence.preservation"


def _phone(country: str) -> str:
    return f"+{country}7{random.randrange(10**7, 10**8)}"


def _desk(api: Api, authority: str, account: str, phone: str) -> int:
    """A contact point paged by SMS, acting as `account`, first step of the policy."""
    admin = f"{authority}.admin"
    response = api.call(admin, "POST", "/contact-points", json={
        "network": "budapest_24_7", "name": f"Desk {phone}", "phone": phone,
        "channels": ["sms"], "timezone": "Africa/Nairobi", "account": account})
    assert response.status_code == 201, response.text
    contact = response.json()["id"]
    api.call(admin, "POST", "/oncall/policies", json={
        "network": "budapest_24_7", "steps": [{"notify": f"contact:{contact}",
                                               "delay_minutes": 5}]}).raise_for_status()
    return int(contact)


def _urgent(api: Api, receiver: str, sender: str, reference: str) -> dict[str, Any]:
    """An urgent preservation request registered as received by `receiver`: it pages."""
    response = api.call(f"{receiver}.officer", "POST", "/requests/incoming", json={
        "kind": KIND, "requesting_authority": sender, "counterpart_reference": reference,
        "legal_basis": "budapest", "title": "Preserve", "language": "en", "data": {}})
    assert response.status_code == 201, response.text
    alerts = api.call(f"{receiver}.contact_point", "GET", "/alerts").json()
    return next(a for a in alerts if a["request_id"] == response.json()["id"])


def _send(api: Api) -> None:
    result = delivery.run_batch(api.session)
    assert result.failed == 0 and result.retried == 0, result


def _code(text: str) -> str:
    found = re.search(r"ACK ([A-Z0-9]{6}) ", text)
    assert found, text
    return found.group(1)


def test_a_page_reaches_the_phone_and_ack_by_reply_acknowledges_it(
        api: Api, sms_gateway: Kannel) -> None:
    phone = _phone("254")
    _desk(api, "ke", "ke.contact_point", phone)
    alert = _urgent(api, "ke", "FR-MJ", "FR-PRES-1")
    _send(api)
    text = sms_gateway.handset.wait_for(phone, alert["reference"])
    # Reference, kind, the action asked and how to answer, in one SMS.
    assert len(text) <= 160 and KIND in text and "preservation" in text.lower()
    code = _code(text)

    assert "unknown code ZZZZ99" in sms_gateway.handset.reply(phone, "ACK ZZZZ99")
    answer = sms_gateway.handset.reply(phone, f"ACK {code}")
    assert f"alert {alert['id']} acknowledged" in answer

    page = api.call("ke.contact_point", "GET", f"/alerts/{alert['id']}").json()
    assert page["status"] == "acknowledged"
    assert page["acknowledged_via"] == "sms"
    assert page["acknowledged_by"] == "ke.contact_point"
    api.session.expire_all()
    entry = api.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "page.acknowledge",
        AuditEvent.object_id == str(alert["id"]))).one()
    assert entry.detail["via"] == "sms" and entry.actor_id == api.world["ke.contact_point"].id

    # The same code again: nothing to acknowledge, and it says so; RES closes the page.
    assert "already acknowledged" in sms_gateway.handset.reply(phone, f"ACK {code}")
    assert f"alert {alert['id']} resolved" in sms_gateway.handset.reply(phone, f"res {code}")
    assert "already used" in sms_gateway.handset.reply(phone, f"ACK {code}")
    assert api.call("ke.contact_point", "GET",
                    f"/alerts/{alert['id']}").json()["status"] == "resolved"


def test_the_delivery_report_is_recorded_on_the_notification(
        api: Api, sms_gateway: Kannel) -> None:
    phone = _phone("254")
    _desk(api, "ke", "ke.contact_point", phone)
    alert = _urgent(api, "ke", "FR-MJ", "FR-PRES-2")
    _send(api)
    sms_gateway.handset.wait_for(phone, alert["reference"])
    limit = time.monotonic() + 30
    while True:
        sent = [n for n in api.call("ke.contact_point", "GET", f"/alerts/{alert['id']}")
                .json()["notifications"] if n["channel"] == "sms"]
        if sent[0]["delivery_status"] == "delivered" or time.monotonic() > limit:
            break
        time.sleep(0.1)
    assert sent[0]["status"] == "sent"
    assert sent[0]["delivery_status"] == "delivered", sent
    assert sent[0]["delivery_reported_at"] is not None


def test_a_code_acts_only_on_its_own_page_from_its_own_phone(
        api: Api, sms_gateway: Kannel) -> None:
    ke_phone, fr_phone = _phone("254"), _phone("33")
    _desk(api, "ke", "ke.contact_point", ke_phone)
    _desk(api, "fr", "fr.contact_point", fr_phone)
    ke_alert = _urgent(api, "ke", "FR-MJ", "FR-PRES-3")
    fr_alert = _urgent(api, "fr", "KE-ODPP", "KE-PRES-3")
    _send(api)
    ke_code = _code(sms_gateway.handset.wait_for(ke_phone, ke_alert["reference"]))
    sms_gateway.handset.wait_for(fr_phone, fr_alert["reference"])

    # KE's code from FR's phone is as unknown as a guess.
    assert f"unknown code {ke_code}" in sms_gateway.handset.reply(fr_phone, f"ACK {ke_code}")
    assert "acknowledged" in sms_gateway.handset.reply(ke_phone, f"ACK {ke_code}")
    assert api.call("ke.contact_point", "GET",
                    f"/alerts/{ke_alert['id']}").json()["status"] == "acknowledged"
    # FR's page is untouched, and FR's contact point never saw KE's page.
    assert api.call("fr.contact_point", "GET",
                    f"/alerts/{fr_alert['id']}").json()["status"] == "open"
    assert api.call("fr.contact_point", "GET", f"/alerts/{ke_alert['id']}").status_code == 404


def test_a_test_page_reaches_the_phone_and_a_reply_shows_replies_work(
        api: Api, sms_gateway: Kannel) -> None:
    phone = _phone("254")
    contact = _desk(api, "ke", "ke.contact_point", phone)
    response = api.call("ke.contact_point", "POST", f"/contact-points/{contact}/test-pages")
    assert response.status_code == 202, response.text
    test = response.json()
    assert test["test"] is True
    _send(api)
    text = sms_gateway.handset.wait_for(phone, "TEST")
    assert "test page acknowledged" in sms_gateway.handset.reply(phone, f"ACK {_code(text)}")
    outcome = api.call("ke.contact_point", "GET",
                       f"/contact-points/{contact}/test-pages/{test['id']}").json()
    assert outcome["status"] == "acknowledged" and outcome["acknowledged_via"] == "sms"
    assert [n["status"] for n in outcome["notifications"]] == ["sent"]
    # Never in the inbox, not even by its id.
    assert all(a["id"] != test["id"] for a in api.call("ke.contact_point", "GET",
                                                       "/alerts").json())
    assert api.call("ke.contact_point", "GET", f"/alerts/{test['id']}").status_code == 404
