"""Pages over Matrix against a real Synapse: the bot posts a page to the authority's desk room
and to the on-call person's direct room; a reply "ACK" or a 👍 reaction from the Matrix
account of a contact point of the authority acknowledges it (state, audit), a stranger gets a
clear refusal, and an event read twice changes nothing."""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from mla.models import AuditEvent, MatrixEvent, MatrixSync, Notification, Page
from mla.oncall import delivery as page_delivery
from mla.oncall import matrix, paging
from mla.oncall import service as oncall
from mla.requests import filing
from tests.conftest import World
from tests.matrix.synapse import Account, Synapse

NET = "budapest_24_7"


@dataclass
class Desk:
    room_id: str
    keeper: Account  # a person of the desk who made the room and invites others
    alice: Account  # the on-call contact point's Matrix account
    page: Page
    start: str  # the since-token of the listener's first round


def _room(server: Synapse, owner: Account, invite: list[str], *,
          encrypted: bool = False) -> str:
    body: dict[str, Any] = {"preset": "private_chat", "name": "KE 24/7 desk",
                            "invite": invite}
    if encrypted:
        body["initial_state"] = [{"type": "m.room.encryption", "state_key": "",
                                  "content": {"algorithm": "m.megolm.v1.aes-sha2"}}]
    return str(server.call(owner, "POST", "/createRoom", json=body)["room_id"])


def _join(server: Synapse, who: Account, room_id: str) -> None:
    server.call(who, "POST", f"/join/{quote(room_id)}", json={})


def _messages(server: Synapse, who: Account, room_id: str) -> list[dict[str, Any]]:
    chunk = server.call(who, "GET", f"/rooms/{quote(room_id)}/messages",
                        params={"dir": "b", "limit": 50})["chunk"]
    return list(reversed(chunk))


def _pages(server: Synapse, who: Account, room_id: str) -> list[dict[str, Any]]:
    return [e for e in _messages(server, who, room_id)
            if matrix.PAGE_FIELD in e.get("content", {})]


def _send(server: Synapse, who: Account, room_id: str, event_type: str,
          content: dict[str, Any]) -> str:
    txn = secrets.token_hex(8)
    return str(server.call(who, "PUT", f"/rooms/{quote(room_id)}/send/{event_type}/{txn}",
                           json=content)["event_id"])


def _reply(server: Synapse, who: Account, room_id: str, to: str, text: str) -> str:
    return _send(server, who, room_id, "m.room.message", {
        "msgtype": "m.text", "body": text,
        "m.relates_to": {"m.in_reply_to": {"event_id": to}}})


def _answers(server: Synapse, who: Account, room_id: str, to: str) -> list[str]:
    """The bot's answers to event `to`."""
    return [e["content"]["body"] for e in _messages(server, who, room_id)
            if e.get("content", {}).get("m.relates_to", {}).get("m.in_reply_to", {})
            .get("event_id") == to and e["content"].get("msgtype") == "m.notice"]


def _unique(name: str) -> str:
    return f"{name}-{secrets.token_hex(3)}"


def _desk(session: Session, world: World, engine: Engine, server: Synapse, bot: Account,
          *, encrypted: bool = False) -> Desk:
    keeper = server.register(_unique("ke-desk"))
    alice = server.register(_unique("alice"))
    room_id = _room(server, keeper, [bot.user_id, alice.user_id], encrypted=encrypted)
    _join(server, alice, room_id)
    world.ke.matrix_room_id = room_id
    world["ke.contact_point"].matrix_id = alice.user_id
    contact = oncall.save_contact(session, world.ke.id, {
        "network": NET, "name": "Alice", "channels": ["matrix"], "matrix_id": alice.user_id,
        "languages": ["en"], "timezone": "Africa/Nairobi"})
    oncall.set_rotation(session, world.ke.id, network=NET, timezone="Africa/Nairobi",
                        handoff_time="08:00", shift_hours=24, starts_on=date(2026, 1, 1),
                        members=[contact.id])
    paging.set_policy(session, world.ke.id, network=NET,
                      steps=[{"notify": "on_call", "delay_minutes": 5}])
    session.commit()
    # The listener's first round only marks where it starts reading.
    start = matrix.sync(engine).since
    assert start
    filing.register_incoming(
        session, world["ke.officer"], kind="mla.e_evidence.preservation",
        requesting_authority_id=world.fr.id, counterpart_reference=_unique("FR-PRES"),
        legal_basis="budapest", title="Preserve the mailbox", language="en", data={})
    session.commit()
    page = session.scalars(select(Page)).one()
    page_delivery.run_batch(session)
    return Desk(room_id, keeper, alice, page, start)


def _refresh(session: Session, page: Page) -> Page:
    session.expire_all()
    return session.get_one(Page, page.id)


def test_page_reaches_desk_room_and_on_call_person_and_an_ack_reply_acknowledges(
        session: Session, world: World, engine: Engine, homeserver: Synapse,
        bot: Account) -> None:
    desk = _desk(session, world, engine, homeserver, bot)
    sent = {(n.recipient, n.address): n.status for n in paging.notifications(session, desk.page)
            if n.channel == "matrix"}
    contact = oncall.contacts(session, authority_id=world.ke.id)[0]
    assert sent == {("desk", desk.room_id): "sent",
                    (f"contact:{contact.id}", desk.alice.user_id): "sent"}

    # The desk room shows the page: reference, kind, requested action, how to acknowledge.
    [posted] = _pages(homeserver, desk.keeper, desk.room_id)
    text = posted["content"]["body"]
    reference = desk.page.request.reference
    assert posted["sender"] == bot.user_id
    assert reference in text and "mla.e_evidence.preservation" in text
    assert "Requested action" in text and "reply ACK" in text
    assert f"https://mla.example.org/alerts/{desk.page.id}" in text

    # Alice was invited to a direct room with the bot, holding the same page.
    direct = homeserver.call(bot, "GET", f"/user/{quote(bot.user_id)}/account_data/m.direct")
    [dm] = direct[desk.alice.user_id]
    _join(homeserver, desk.alice, dm)
    [in_dm] = _pages(homeserver, desk.alice, dm)
    assert reference in in_dm["content"]["body"]

    ack = _reply(homeserver, desk.alice, desk.room_id, posted["event_id"], "ACK")
    result = matrix.sync(engine)
    assert result.outcomes == ["acknowledged"] and result.replies == 1
    page = _refresh(session, desk.page)
    assert page.status == "acknowledged" and page.acknowledged_via == "matrix"
    assert page.acknowledged_by_id == world["ke.contact_point"].id
    audit = session.scalars(select(AuditEvent).where(AuditEvent.action == "page.acknowledge",
                                                     AuditEvent.object_id == str(page.id))).one()
    assert audit.actor_id == world["ke.contact_point"].id and audit.detail["via"] == "matrix"
    # Nothing more is sent once someone has it.
    assert session.scalar(select(func.count()).select_from(Notification).where(
        Notification.page_id == page.id, Notification.status == "pending")) == 0
    [answer] = _answers(homeserver, desk.keeper, desk.room_id, ack)
    assert answer.startswith("Acknowledged by Ke.Contact_Point") and reference in answer

    # A crash before the new since-token was stored: the same events are read again and
    # change nothing, and get no second answer.
    session.execute(MatrixSync.__table__.update().values(since=desk.start))
    session.commit()
    again = matrix.sync(engine)
    assert again.events == 0 and again.replies == 0
    assert len(_answers(homeserver, desk.keeper, desk.room_id, ack)) == 1
    assert session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "page.acknowledge")) == 1

    # A second ACK on the acknowledged page: told so, nothing changes.
    late = _reply(homeserver, desk.alice, desk.room_id, posted["event_id"], "ack")
    assert matrix.sync(engine).outcomes == ["not_open"]
    [told] = _answers(homeserver, desk.keeper, desk.room_id, late)
    assert "acknowledged already by Ke.Contact_Point" in told


def test_a_thumbs_up_reaction_in_the_direct_room_acknowledges(
        session: Session, world: World, engine: Engine, homeserver: Synapse,
        bot: Account, monkeypatch: pytest.MonkeyPatch) -> None:
    """Read by the worker's listener thread, long-polling /sync."""
    monkeypatch.setenv("MLA_MATRIX_SYNC_TIMEOUT_SECONDS", "1")
    desk = _desk(session, world, engine, homeserver, bot)
    stop = threading.Event()
    listener = matrix.start_listener(engine, stop)
    assert listener is not None
    try:
        direct = homeserver.call(bot, "GET",
                                 f"/user/{quote(bot.user_id)}/account_data/m.direct")
        [dm] = direct[desk.alice.user_id]
        _join(homeserver, desk.alice, dm)
        [posted] = _pages(homeserver, desk.alice, dm)
        reaction = _send(homeserver, desk.alice, dm, "m.reaction", {"m.relates_to": {
            "rel_type": "m.annotation", "event_id": posted["event_id"],
            "key": "\U0001F44D\ufe0f"}})
        deadline = time.monotonic() + 30
        while _refresh(session, desk.page).status == "open" and time.monotonic() < deadline:
            time.sleep(0.2)
        while not _answers(homeserver, desk.alice, dm, reaction) \
                and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        stop.set()
        listener.join(timeout=10)
    assert _answers(homeserver, desk.alice, dm, reaction)[0].startswith("Acknowledged by")
    page = _refresh(session, desk.page)
    assert (page.status, page.acknowledged_via) == ("acknowledged", "matrix")
    assert page.acknowledged_by_id == world["ke.contact_point"].id


def test_a_stranger_or_another_authority_cannot_acknowledge(
        session: Session, world: World, engine: Engine, homeserver: Synapse,
        bot: Account) -> None:
    desk = _desk(session, world, engine, homeserver, bot)
    stranger = homeserver.register(_unique("stranger"))
    french = homeserver.register(_unique("fr-desk"))
    world["fr.contact_point"].matrix_id = french.user_id
    session.commit()
    for who in (stranger, french):
        homeserver.call(desk.keeper, "POST", f"/rooms/{quote(desk.room_id)}/invite",
                        json={"user_id": who.user_id})
        _join(homeserver, who, desk.room_id)
    [posted] = _pages(homeserver, desk.keeper, desk.room_id)
    tries = [_reply(homeserver, who, desk.room_id, posted["event_id"], "ACK")
             for who in (stranger, french)]
    # Not an order to the bot: ignored, no answer.
    _reply(homeserver, stranger, desk.room_id, posted["event_id"], "who is on this?")
    assert matrix.sync(engine).outcomes == ["refused", "refused"]
    page = _refresh(session, desk.page)
    assert page.status == "open" and page.acknowledged_by_id is None
    for event, who in zip(tries, (stranger, french), strict=True):
        [answer] = _answers(homeserver, desk.keeper, desk.room_id, event)
        assert answer.startswith(f"Not acknowledged: {who.user_id} is not the Matrix account "
                                 "of a 24/7 contact point or supervisor of KE-ODPP")
        assert f"https://mla.example.org/alerts/{page.id}" in answer
    refused = session.scalars(select(AuditEvent).where(
        AuditEvent.action == "page.matrix_refused")).all()
    assert sorted(e.detail["sender"] for e in refused) == sorted(
        [stranger.user_id, french.user_id])
    assert session.scalar(select(func.count()).select_from(MatrixEvent)) == 2


def test_an_encrypted_desk_room_gets_no_clear_text_page(
        session: Session, world: World, engine: Engine, homeserver: Synapse,
        bot: Account) -> None:
    desk = _desk(session, world, engine, homeserver, bot, encrypted=True)
    [to_desk] = [n for n in paging.notifications(session, desk.page) if n.recipient == "desk"]
    assert to_desk.status == "pending" and to_desk.attempts == 1
    assert "end-to-end encrypted" in (to_desk.last_error or "")
    assert _pages(homeserver, desk.keeper, desk.room_id) == []
