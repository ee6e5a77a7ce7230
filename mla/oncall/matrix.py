"""Pages over Matrix: the instance's bot account posts each page to the 24/7 desk room of the
authority (`authorities.matrix_room_id`) and to the contact point paged, in a direct room
with its Matrix account (`contact_points.matrix_id`); a reply "ACK" (or "RESOLVE") to the
page, or a ✅/👍 reaction on it, from the Matrix account of a user of that authority
(`users.matrix_id`, a contact point or supervisor) acknowledges it as that user, exactly as
the console's button does (`paging.acknowledge`: same rule, same audit entry, `via` matrix).

Sending is a channel of the pager (mla/oncall/delivery.py): at least once, with its retries
and backoff. The Matrix transaction id is derived from the notification id, so a page sent
again by a worker that crashed after sending is dropped by the homeserver as a duplicate
(for as long as it keeps transaction ids, and on the same device).

Reading is `listen`: /sync from a since-token stored in the database (`matrix_sync`). Each
reply or reaction acted on is a `matrix_events` row written in the transaction of the
acknowledgement it made or refused, so an event read twice (a crash before the new token
was stored) changes nothing and gets one answer. The bot's answer in the room is sent after
that commit, and again until the homeserver took it.

Which event is a page is read from the page event itself (its `org.mla.page` field, on an
event sent by the bot): the page's id, nothing a stranger could forge, since the bot
checks the sender of the event replied to.

Not end-to-end encrypted (see README, "Matrix paging"): a room with encryption turned on
gets no page (the notification fails with that reason) rather than a clear-text one where
its members expect ciphertext.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mla import audit, db, i18n, kinds, settings, templates
from mla.clock import utcnow
from mla.errors import Conflict, FieldProblem, Forbidden, InvalidInput, NotFound
from mla.i18n import _
from mla.models import Authority, MatrixEvent, MatrixSync, Page, User
from mla.oncall import notify, paging
from mla.oncall import service as oncall

log = logging.getLogger("mla.matrix")

PAGE_FIELD = "org.mla.page"
TIMEOUT_SECONDS = 10.0
# Reactions that acknowledge, compared without variation selectors and skin tones.
ACK_REACTIONS = frozenset({"\u2705", "\U0001F44D", "\u2714"})
ACK_WORDS = {"ack": "acknowledge", "acknowledge": "acknowledge", "resolve": "resolve"}
SYNC_FILTER: dict[str, Any] = {
    "presence": {"types": []},
    "account_data": {"types": []},
    "room": {"timeline": {"types": ["m.room.message", "m.reaction"], "limit": 100},
             "state": {"types": []}, "ephemeral": {"types": []},
             "account_data": {"types": []}},
}


@dataclass(frozen=True)
class MatrixSettings:
    homeserver: str
    user_id: str
    access_token: str | None
    password: str | None
    device_id: str | None
    sync_timeout: float


def matrix_settings() -> MatrixSettings:
    """The bot's settings; DeliveryError naming what is missing."""
    try:
        config = settings.get()
    except settings.SettingsError as exc:
        raise notify.DeliveryError(str(exc)) from None
    if not config.matrix_homeserver or not config.matrix_user_id:
        raise notify.DeliveryError("Matrix is not configured (MLA_MATRIX_HOMESERVER, "
                                   "MLA_MATRIX_USER_ID)")
    if not config.matrix_access_token and not config.matrix_password:
        raise notify.DeliveryError("the Matrix bot has no MLA_MATRIX_ACCESS_TOKEN or "
                                   "MLA_MATRIX_PASSWORD")
    return MatrixSettings(config.matrix_homeserver, config.matrix_user_id,
                          config.matrix_access_token, config.matrix_password,
                          config.matrix_device_id, config.matrix_sync_timeout_seconds)


def configured() -> bool:
    try:
        matrix_settings()
    except notify.DeliveryError:
        return False
    return True


# --- the client -------------------------------------------------------------------------

# A password login is made once per process and its token reused: one device, not one per page.
_login_lock = threading.Lock()
_logins: dict[tuple[str, str], tuple[str, str]] = {}
# Direct rooms are found or created under this lock: two pages to one person at once must
# not open two rooms.
_direct_lock = threading.Lock()


class MatrixError(notify.DeliveryError):
    """The homeserver refused or could not be reached."""


def _fail(what: str, response: Any) -> MatrixError:
    status = getattr(response, "status_code", None) or ""
    return MatrixError(f"matrix {what}: {status} {getattr(response, 'message', response)}"
                       .replace("  ", " "))


async def _client(config: MatrixSettings) -> Any:
    from nio import AsyncClient, AsyncClientConfig, LoginResponse

    # No retries inside nio (by default it retries rate limits forever): the pager's backoff
    # retries, and a notification's last error says what happened.
    client = AsyncClient(config.homeserver, config.user_id,
                         device_id=config.device_id or None,
                         config=AsyncClientConfig(max_limit_exceeded=0, max_timeouts=0,
                                                  request_timeout=TIMEOUT_SECONDS))
    client.user_id = config.user_id
    if config.access_token:
        client.access_token = config.access_token
        return client
    key = (config.homeserver, config.user_id)
    with _login_lock:
        cached = _logins.get(key)
    if cached is None:
        response = await client.login(config.password or "", device_name="MLA pager")
        if not isinstance(response, LoginResponse):
            await client.close()
            raise _fail("login", response)
        cached = (response.access_token, response.device_id)
        with _login_lock:
            _logins[key] = cached
    client.access_token, client.device_id = cached
    client.user_id = config.user_id
    return client


async def _raw(client: Any, method: str, path: str, data: Any = None) -> Any:
    """A client-server API call nio has no method for; its JSON body, MatrixError else."""
    import json

    body = json.dumps(data) if data is not None else None
    headers = {"Authorization": f"Bearer {client.access_token}"}
    if body is not None:
        headers["Content-Type"] = "application/json"
    response = await client.send(method, path, body, headers=headers)
    payload = await response.json(content_type=None)
    if response.status >= 300:
        raise MatrixError(f"matrix {method} {path.split('?')[0]}: {response.status} "
                          f"{payload.get('errcode', '')} {payload.get('error', '')}".strip())
    return payload


async def _join(client: Any, room: str) -> str:
    """The room's id, the bot a member (joining accepts a pending invitation)."""
    from nio import JoinResponse, RoomResolveAliasResponse

    if room.startswith("#"):
        resolved = await client.room_resolve_alias(room)
        if not isinstance(resolved, RoomResolveAliasResponse):
            raise _fail(f"room alias {room}", resolved)
        room = resolved.room_id
    joined = await client.join(room)
    if not isinstance(joined, JoinResponse):
        raise _fail(f"joining {room}", joined)
    return str(joined.room_id)


async def _direct_room(client: Any, user_id: str) -> str:
    """The bot's direct room with `user_id`, as listed in its `m.direct` account data;
    created (and listed) when there is none it is still in."""
    from nio import DirectRoomsResponse, JoinedRoomsResponse, RoomCreateResponse, RoomPreset

    listed = await client.list_direct_rooms()
    direct = dict(listed.rooms) if isinstance(listed, DirectRoomsResponse) else {}
    joined = await client.joined_rooms()
    if not isinstance(joined, JoinedRoomsResponse):
        raise _fail("joined rooms", joined)
    for room_id in direct.get(user_id, []):
        if room_id in joined.rooms:
            return str(room_id)
    created = await client.room_create(is_direct=True, invite=[user_id],
                                       preset=RoomPreset.trusted_private_chat,
                                       name="MLA 24/7 pages", federate=True)
    if not isinstance(created, RoomCreateResponse):
        raise _fail(f"creating a direct room with {user_id}", created)
    direct[user_id] = [*direct.get(user_id, []), created.room_id]
    await _raw(client, "PUT", f"/_matrix/client/v3/user/{quote(client.user_id, safe='')}"
               "/account_data/m.direct", direct)
    return str(created.room_id)


async def _refuse_encrypted(client: Any, room_id: str) -> None:
    from nio import RoomGetStateEventResponse

    state = await client.room_get_state_event(room_id, "m.room.encryption")
    if isinstance(state, RoomGetStateEventResponse) and state.content.get("algorithm"):
        raise MatrixError(f"matrix room {room_id} is end-to-end encrypted and this instance "
                          "does not encrypt: no page sent there (see README, Matrix paging)")


def _txn(prefix: str, key: str) -> str:
    return f"mla-{prefix}-{hashlib.sha256(key.encode()).hexdigest()[:32]}"


# --- pages out --------------------------------------------------------------------------

def page_text(message: notify.Message) -> str:
    """What the person reads: reference, kind, what is asked, how to acknowledge; in the
    language of the current reading (the delivery worker reads it in the recipient's)."""
    return page_body(message.payload)


def page_body(p: dict[str, Any]) -> str:
    try:
        label = i18n.localized(templates.get(p["kind"]).title) or kinds.get(p["kind"]).label
    except Exception:  # an unknown kind must not stop a page
        label = p["kind"]
    # ACK and RESOLVE stay as they are in every language: `intent` reads them.
    return "\n".join([
        _("MLA 24/7 page {page}: {reason}", page=p["page_id"], reason=p["reason"]),
        _("Request {reference}: {label} ({kind}), from {requesting} to {requested}.",
          reference=p["reference"], label=label, kind=p["kind"], requesting=p["requesting"],
          requested=p["requested"]),
        _("Requested action: acknowledge that you have it, then act on the request ({label}). "
          "Until someone acknowledges, the page climbs to the next person (step {step}, round "
          "{round}).", label=label, step=p["step"], round=p["round"]),
        _("To acknowledge: reply ACK to this message, or react with {check} or {thumbs} "
          "(RESOLVE closes it); or open {link}", check="\u2705", thumbs="\U0001F44D",
          link=p["link"]),
    ])


def page_content(message: notify.Message) -> dict[str, Any]:
    """The Matrix event: the text the delivery worker wrote in the recipient's language
    (`message.text`), else the page's text in the current language."""
    p = message.payload
    return {"msgtype": "m.text", "body": message.text or page_text(message),
            PAGE_FIELD: {"page_id": p["page_id"], "notification_id": message.notification_id,
                         "reference": p.get("reference")}}


async def _send_page(message: notify.Message, config: MatrixSettings) -> None:
    from nio import RoomSendResponse

    client = await _client(config)
    try:
        if message.address.startswith("@"):
            with _direct_lock:
                room_id = await _direct_room(client, message.address)
        else:
            room_id = await _join(client, message.address)
        await _refuse_encrypted(client, room_id)
        sent = await client.room_send(room_id, "m.room.message", page_content(message),
                                      tx_id=_txn("page", message.identifier + room_id))
        if not isinstance(sent, RoomSendResponse):
            raise _fail(f"sending to {room_id}", sent)
    finally:
        await client.close()


def send_page(message: notify.Message) -> None:
    """The pager's `matrix` channel: DeliveryError when the homeserver did not take it."""
    config = matrix_settings()
    try:
        asyncio.run(_send_page(message, config))
    except notify.DeliveryError:
        raise
    except (TimeoutError, OSError) as exc:
        raise MatrixError(f"matrix {config.homeserver}: {type(exc).__name__}: {exc}") from exc
    except Exception as exc:  # aiohttp's errors, nio's LocalProtocolError
        if type(exc).__module__.split(".")[0] in ("aiohttp", "nio"):
            raise MatrixError(f"matrix: {type(exc).__name__}: {exc}") from exc
        raise


# --- replies and reactions in ----------------------------------------------------------

def _reply_body(content: dict[str, Any]) -> str:
    # Clients that still send the reply fallback quote the original with "> " lines first.
    lines = str(content.get("body", "")).splitlines()
    return "\n".join(line for line in lines if not line.startswith(">")).strip()


def _bare(key: str) -> str:
    return "".join(c for c in key if c != "\ufe0f"
                   and not 0x1F3FB <= ord(c) <= 0x1F3FF and unicodedata.category(c) != "Mn")


def intent(event: dict[str, Any]) -> tuple[str, str] | None:
    """(action, event id of the page) when the event asks to acknowledge or resolve one."""
    content = event.get("content") or {}
    relates = content.get("m.relates_to") or {}
    if event.get("type") == "m.reaction":
        if relates.get("rel_type") == "m.annotation" and relates.get("event_id") \
                and _bare(str(relates.get("key", ""))) in ACK_REACTIONS:
            return "acknowledge", str(relates["event_id"])
        return None
    if event.get("type") != "m.room.message":
        return None
    target = (relates.get("m.in_reply_to") or {}).get("event_id")
    if not target:
        return None
    words = _reply_body(content).split()
    action = ACK_WORDS.get(words[0].strip(".!").lower()) if words else None
    return (action, str(target)) if action else None


@dataclass
class Outcome:
    outcome: str
    reply: str


def act(session: Session, *, event_id: str, room_id: str, sender: str, page_id: int,
        action: str, now: datetime | None = None) -> MatrixEvent:
    """Acknowledges (or resolves) page `page_id` for the Matrix account `sender`, in the
    caller's transaction, and records the event with the bot's answer. The same event a
    second time returns the first record and changes nothing."""
    done = session.get(MatrixEvent, event_id)
    if done is not None:
        return done
    now = now or utcnow()
    page = session.get(Page, page_id)
    result = _decide(session, page, sender, action)
    if page is not None and result.outcome == "refused":
        audit.record(session, "page.matrix_refused", object_type="page", object_id=str(page.id),
                     authority_id=page.authority_id,
                     detail={"sender": sender, "event": event_id, "action": action})
    row = MatrixEvent(event_id=event_id, room_id=room_id, sender=sender,
                      page_id=page.id if page else None, outcome=result.outcome,
                      reply=result.reply, received_at=now)
    session.add(row)
    session.flush()
    return row


def _decide(session: Session, page: Page | None, sender: str, action: str) -> Outcome:
    if page is None:
        return Outcome("not_found", "This page is no longer on record; nothing changed.")
    where = f"page {page.id} ({page.request.reference})"
    user = session.scalar(select(User).where(User.matrix_id == sender, User.active.is_(True)))
    if user is None or user.authority_id != page.authority_id \
            or user.role not in paging.ACK_ROLES:
        return Outcome("refused", (
            f"Not acknowledged: {sender} is not the Matrix account of a 24/7 contact point "
            f"or supervisor of {page.authority.code}. {where.capitalize()} is still "
            f"{page.status}. Acknowledge in the console: {notify.public_url()}/alerts/"
            f"{page.id}"))
    try:
        if action == "resolve":
            paging.resolve(session, page.id, user, note="resolved by Matrix reply")
            return Outcome("resolved", f"Resolved by {user.full_name} ({user.username}): "
                                       f"{where}.")
        paging.acknowledge(session, page.id, user, via="matrix")
    except Conflict:
        by = page.acknowledged_by or page.resolved_by
        who = f" by {by.full_name}" if by is not None else ""
        return Outcome("not_open", f"Nothing changed: {where} is {page.status} "
                                   f"already{who}.")
    except (Forbidden, NotFound) as exc:
        return Outcome("refused", f"Not acknowledged: {exc.detail}.")
    return Outcome("acknowledged", f"Acknowledged by {user.full_name} ({user.username}): "
                                   f"{where}. It no longer climbs.")


@dataclass
class SyncResult:
    events: int = 0  # replies and reactions acted on
    replies: int = 0  # answers sent
    since: str | None = None
    outcomes: list[str] = field(default_factory=list)


async def _page_of(client: Any, room_id: str, event_id: str) -> int | None:
    """The page an event of the bot's is about; None for any other event."""
    from nio import RoomGetEventResponse

    got = await client.room_get_event(room_id, event_id)
    if not isinstance(got, RoomGetEventResponse):
        return None
    source = got.event.source
    page = (source.get("content") or {}).get(PAGE_FIELD) or {}
    if source.get("sender") != client.user_id or not isinstance(page.get("page_id"), int):
        return None
    return int(page["page_id"])


async def _handle(client: Any, sessions: Callable[[], Session], room_id: str,
                  event: dict[str, Any], result: SyncResult) -> None:
    sender, event_id = str(event.get("sender", "")), str(event.get("event_id", ""))
    if sender == client.user_id or not event_id:
        return
    wanted = intent(event)
    if wanted is None:
        return
    action, target = wanted
    with sessions() as session:
        if session.get(MatrixEvent, event_id) is not None:
            return
    page_id = await _page_of(client, room_id, target)
    if page_id is None:
        return
    try:
        with sessions() as session, session.begin():
            row = act(session, event_id=event_id, room_id=room_id, sender=sender,
                      page_id=page_id, action=action)
            outcome = row.outcome
    except IntegrityError:
        return  # another listener recorded it first
    log.info("matrix %s from %s on page %s: %s", action, sender, page_id, outcome)
    result.events += 1
    result.outcomes.append(outcome)


async def _send_replies(client: Any, sessions: Callable[[], Session], limit: int = 50) -> int:
    from nio import RoomSendResponse

    with sessions() as session:
        rows = [(r.event_id, r.room_id, r.reply) for r in session.scalars(
            select(MatrixEvent).where(MatrixEvent.reply_sent_at.is_(None),
                                      MatrixEvent.reply.is_not(None))
            .order_by(MatrixEvent.received_at).limit(limit))]
    sent = 0
    for event_id, room_id, reply in rows:
        content = {"msgtype": "m.notice", "body": reply,
                   "m.relates_to": {"m.in_reply_to": {"event_id": event_id}}}
        response = await client.room_send(room_id, "m.room.message", content,
                                          tx_id=_txn("reply", event_id))
        if not isinstance(response, RoomSendResponse):
            log.warning("matrix answer to %s not sent: %s", event_id,
                        getattr(response, "message", response))
            continue
        with sessions() as session, session.begin():
            row = session.get(MatrixEvent, event_id)
            if row is not None:
                row.reply_sent_at = utcnow()
        sent += 1
    return sent


async def _sync_once(client: Any, sessions: Callable[[], Session], timeout: float) -> SyncResult:
    from nio import SyncResponse

    with sessions() as session:
        state = session.get(MatrixSync, client.user_id)
        since = state.since if state else None
    response = await client.sync(timeout=int(timeout * 1000), since=since,
                                 sync_filter=SYNC_FILTER, full_state=False)
    if not isinstance(response, SyncResponse):
        raise _fail("sync", response)
    result = SyncResult(since=response.next_batch)
    # The first sync only marks where reading starts: replies older than the listener are
    # not acted on (the console is where those pages were handled).
    if since is not None:
        for room_id, room in response.rooms.join.items():
            for event in room.timeline.events:
                await _handle(client, sessions, room_id, event.source, result)
    # Stored after the events it covers: a crash in between reads them again, harmlessly.
    with sessions() as session, session.begin():
        state = session.get(MatrixSync, client.user_id)
        if state is None:
            session.add(MatrixSync(account=client.user_id, since=response.next_batch,
                                   updated_at=utcnow()))
        else:
            state.since, state.updated_at = response.next_batch, utcnow()
    result.replies = await _send_replies(client, sessions)
    return result


def sync(engine: Engine, *, timeout: float = 0) -> SyncResult:
    """One round of `listen`: reads what arrived since the stored token (waiting up to
    `timeout` seconds for something), acts on it, answers."""
    config = matrix_settings()
    sessions = db.session_factory(engine)

    async def once() -> SyncResult:
        client = await _client(config)
        try:
            return await _sync_once(client, sessions, timeout)
        finally:
            await client.close()

    return asyncio.run(once())


def listen(engine: Engine, stop: threading.Event) -> None:
    """Reads replies and reactions until `stop` is set; a failing homeserver is retried
    with backoff (up to a minute), never fatal."""
    config = matrix_settings()
    sessions = db.session_factory(engine)

    async def loop() -> None:
        client = None
        failures = 0
        try:
            while not stop.is_set():
                try:
                    client = client or await _client(config)
                    await _sync_once(client, sessions, config.sync_timeout)
                    failures = 0
                except Exception as exc:
                    failures += 1
                    wait = min(60.0, 2.0 ** failures)
                    log.warning("matrix sync failed (%s); again in %.0f s", exc, wait)
                    await asyncio.sleep(wait)
        finally:
            if client is not None:
                await client.close()

    asyncio.run(loop())


def start_listener(engine: Engine, stop: threading.Event) -> threading.Thread | None:
    """`listen` on a thread of the worker when Matrix is configured; None otherwise."""
    if not configured():
        return None
    thread = threading.Thread(target=listen, args=(engine, stop), name="mla-matrix",
                              daemon=True)
    thread.start()
    return thread


# --- configuration ----------------------------------------------------------------------

def check_room(value: str) -> str:
    """`value` if it reads as a room id (!id:server) or alias (#name:server); ValueError
    else."""
    value = value.strip()
    local, _, server = value[1:].partition(":")
    if value[:1] not in ("!", "#") or not local or not server or len(value) > 255 \
            or any(c.isspace() for c in value):
        raise ValueError(f"a Matrix room looks like !id:server.example or "
                         f"#alias:server.example, not {value!r}")
    return value


def set_desk_room(session: Session, authority: Authority, room: str | None) -> None:
    """Where the bot posts every page of `authority` (None: nowhere). The bot joins at its
    first page; invite it first to a room that is not public."""
    if room is not None:
        room = check_room(room)
    authority.matrix_room_id = room
    session.flush()
    audit.record(session, "matrix.desk_room", object_type="authority",
                 object_id=str(authority.id), authority_id=authority.id,
                 detail={"room": room})


def link_user(session: Session, user: User, matrix_id: str | None) -> None:
    """Replies and reactions from `matrix_id` act as `user` (None: unlinked). One account
    per user; InvalidInput if another user holds it."""
    if matrix_id is not None:
        try:
            matrix_id = oncall.matrix_user_id(matrix_id.strip())
        except ValueError as exc:
            raise InvalidInput("not a Matrix user id",
                               [FieldProblem("matrix_id", str(exc))]) from None
        holder = session.scalar(select(User).where(User.matrix_id == matrix_id,
                                                   User.id != user.id))
        if holder is not None:
            raise InvalidInput("that Matrix account is linked already", [FieldProblem(
                "matrix_id", f"linked to user {holder.username}; unlink it there first")])
    user.matrix_id = matrix_id
    session.flush()
    audit.record(session, "matrix.link_user", object_type="user", object_id=str(user.id),
                 authority_id=user.authority_id, detail={"matrix_id": matrix_id})
