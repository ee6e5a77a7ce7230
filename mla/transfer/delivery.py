"""Delivery of the outbox (`run_delivery`, in `mla worker`): claims due messages, POSTs them
to the peer's `/transfer/inbox`, and marks one delivered only on a receipt signed by the peer
that names its message id and payload hash; otherwise it retries with exponential backoff
and jitter. Messages about one request go out one at a time, in order."""

from __future__ import annotations

import hashlib
import json
import logging
import random
import threading
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, as_completed
from concurrent.futures import wait as futures_wait
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
from jose import jwe as jose_jwe
from jose import jws
from jose.exceptions import JOSEError
from sqlalchemy import Engine, exists, func, select, update
from sqlalchemy.orm import Session, aliased

from mla import audit, db, settings, wakeup
from mla.clock import utcnow
from mla.models import OutboxMessage, Peer, Request
from mla.transfer.canonical import HASH_LEGACY, content_sha256, iso
from mla.transfer.envelope import RECEIPT_TYPE, seal
from mla.transfer.errors import DeliveryError
from mla.transfer.keys import SIG_ALG, public_key
from mla.transfer.outbox import NOTIFY_CHANNEL
from mla.transfer.peers import find_key, home_authority_id, home_code, peer_for, refresh_soon

log = logging.getLogger("mla.transfer")


@dataclass
class Attempt:
    id: int
    delivered: bool = False
    error: str | None = None
    claims: dict[str, Any] | None = None
    receipt: str | None = None
    envelope: str | None = None
    sealed_at: datetime | None = None


@dataclass
class DeliveryResult:
    claimed: int = 0
    delivered: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)

    def add(self, other: DeliveryResult) -> None:
        self.claimed += other.claimed
        self.delivered += other.delivered
        self.failed += other.failed
        self.errors += other.errors


def backoff(attempts: int) -> float:
    """Seconds before the next attempt after `attempts` failed ones: exponential, capped,
    with jitter so that messages held by one outage do not all come back at once."""
    config = settings.get()
    delay = min(config.transfer_backoff_cap_seconds,
                config.transfer_backoff_base_seconds * 2 ** max(0, attempts - 1))
    return delay * random.uniform(0.5, 1.0)


def _lease() -> timedelta:
    # Longer than one attempt can take, so a live attempt is never doubled; a worker killed
    # mid-attempt leaves the message to be tried again when it runs out.
    return timedelta(seconds=2 * settings.get().transfer_timeout_seconds + 30)


def claim(session: Session, now: datetime, limit: int) -> list[int]:
    """Due pending messages, at most one per request and peer (the oldest, so status changes
    arrive in order), leased to this worker."""
    earlier = aliased(OutboxMessage)
    query = (
        select(OutboxMessage.id)
        .where(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now)
        .where(~exists().where(earlier.request_id == OutboxMessage.request_id,
                               earlier.receiver_id == OutboxMessage.receiver_id,
                               earlier.status == "pending", earlier.id < OutboxMessage.id))
        .order_by(OutboxMessage.next_attempt_at)
        .limit(limit)
        .with_for_update(skip_locked=True, of=OutboxMessage)
    )
    db.lock_for_write(session, OutboxMessage.__table__)
    ids = list(session.scalars(query))
    if ids:
        session.execute(update(OutboxMessage).where(OutboxMessage.id.in_(ids))
                        .values(next_attempt_at=now + _lease())
                        .execution_options(synchronize_session=False))
    return ids


_clients = threading.local()


def _client() -> httpx.Client:
    client = getattr(_clients, "client", None)
    if client is None:
        client = _clients.client = httpx.Client(timeout=settings.get().transfer_timeout_seconds)
    return client


def _problem_reason(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict):
        return f"{body.get('reason', '')}: {body.get('detail', '')}"[:500]
    return str(body)[:200]


def verify_receipt(session: Session, peer: Peer, receipt: Any,
                   message: OutboxMessage) -> dict[str, Any]:
    """The receipt's claims if the peer signed it for this very message; DeliveryError
    otherwise."""
    if not isinstance(receipt, str):
        raise DeliveryError("the answer holds no receipt")
    try:
        header = jws.get_unverified_header(receipt)
    except JOSEError:
        raise DeliveryError("the receipt is not a JWS") from None
    if header.get("alg") != SIG_ALG or header.get("typ") != RECEIPT_TYPE:
        raise DeliveryError("the receipt is not an ES256 receipt")
    key = find_key(peer.signing_jwks, header.get("kid"))
    if key is None and refresh_soon(session, peer):
        key = find_key(peer.signing_jwks, header.get("kid"))
    if key is None:
        raise DeliveryError(f"the receipt is signed with a key {peer.authority.code} does not "
                            f"publish")
    try:
        claims = json.loads(jws.verify(receipt, public_key(key, SIG_ALG), algorithms=[SIG_ALG]))
    except (JOSEError, ValueError):
        raise DeliveryError("the receipt's signature is invalid") from None
    expected = {"message_id": str(message.message_id), "payload_sha256": message.payload_sha256,
                "receiver": peer.authority.code, "sender": home_code()}
    if isinstance(claims, dict) and claims.get("payload_sha256") != message.payload_sha256 \
            and claims.get("hash", HASH_LEGACY) == HASH_LEGACY:
        # A peer on the first release ignores our `hash` member and hashes the old way
        # (docs/transfer-protocol.md §7.3): accepted until every peer has moved.
        expected["payload_sha256"] = content_sha256(json.loads(message.payload), HASH_LEGACY)
    wrong = [k for k, v in expected.items() if not isinstance(claims, dict) or
             claims.get(k) != v]
    if wrong:
        raise DeliveryError(f"the receipt does not match the message ({', '.join(wrong)})")
    return claims


def attempt(sessions: Any, message_id: int, now: datetime,
            client: httpx.Client | None = None) -> Attempt:
    """One delivery attempt of one claimed message, outside any transaction of the outbox."""
    result = Attempt(message_id)
    client = client or _client()
    # The id of the HTTP request that caused the message, on the lines about it.
    extra: dict[str, Any] = {"outbox_id": message_id}
    try:
        with sessions() as session:
            message = session.get_one(OutboxMessage, message_id)
            extra.update(request_id=message.http_request_id, message_id=str(message.message_id))
            peer = peer_for(session, message.receiver_id)
            if peer is None:
                raise DeliveryError(f"{message.receiver.code} is no longer a peer")
            envelope = message.envelope
            try:
                sealed_to = jose_jwe.get_unverified_header(envelope).get("kid")
            except JOSEError:
                sealed_to = None
            current_target = peer.encryption_jwks[0]["kid"] if peer.encryption_jwks else None
            # A retry, an old envelope or one sealed to a key the peer has replaced goes out
            # sealed again: fresh sending time (replay window), our and its current keys.
            if (message.attempts > 0 or sealed_to != current_target
                    or (now - message.sealed_at).total_seconds()
                    > settings.get().transfer_window_seconds / 2):
                payload = json.loads(message.payload) | {"sent_at": iso(now)}
                envelope = seal(session, payload, peer)
                result.envelope, result.sealed_at = envelope, now
            session.commit()  # nothing of ours to keep, but a key may have been created
            url = f"{peer.base_url}/transfer/inbox"
            try:
                response = client.post(url, content=envelope,
                                       headers={"Content-Type": "application/jose"})
            except httpx.HTTPError as exc:
                raise DeliveryError(f"POST {url}: {type(exc).__name__}: {exc}") from None
            if response.status_code != 200:
                if response.status_code in (400, 401):
                    refresh_soon(session, peer)
                    session.commit()
                raise DeliveryError(f"HTTP {response.status_code}: "
                                    f"{_problem_reason(response)}")
            try:
                receipt = response.json().get("receipt")
            except (ValueError, AttributeError):
                raise DeliveryError("the answer is not JSON with a receipt") from None
            result.claims = verify_receipt(session, peer, receipt, message)
            session.commit()
            result.receipt = receipt
            result.delivered = True
            log.info("outbox message %s delivered", message_id, extra=extra)
    except DeliveryError as exc:
        result.error = str(exc)
        log.info("outbox message %s not delivered: %s", message_id, exc, extra=extra)
    except Exception as exc:  # a bug or a database hiccup must not stop the other messages
        log.exception("delivery of outbox message %s failed", message_id, extra=extra)
        result.error = f"{type(exc).__name__}: {exc}"
    return result


def settle(session: Session, results: list[Attempt], now: datetime) -> DeliveryResult:
    """Records the attempts' outcomes, in the caller's transaction."""
    summary = DeliveryResult(claimed=len(results))
    home_id = home_authority_id(session)
    limit = settings.get().transfer_max_attempts
    for result in results:
        message = session.get(OutboxMessage, result.id)
        if message is None or message.status != "pending":
            continue
        message.attempts += 1
        if result.envelope is not None:
            message.envelope = result.envelope
            message.sealed_at = result.sealed_at or now
        if result.delivered:
            claims = result.claims or {}
            message.status = "delivered"
            message.delivered_at = now
            message.receipt = {"jws": result.receipt, **claims}
            message.last_error = None
            reference = claims.get("request_reference")
            if message.kind == "request" and isinstance(reference, str):
                # A plain UPDATE: learning the other side's reference is no edit of the
                # request, so its version (If-Match) stays.
                session.execute(update(Request).where(Request.id == message.request_id,
                                                      Request.counterpart_reference.is_(None))
                                .values(counterpart_reference=reference[:80])
                                .execution_options(synchronize_session=False))
            audit.record(session, "transfer.delivered", object_type="request",
                         object_id=str(message.request_id), authority_id=home_id,
                         detail={"message_id": str(message.message_id),
                                 "to": message.receiver.code, "type": message.kind,
                                 "attempts": message.attempts,
                                 "receipt_sha256": hashlib.sha256(
                                     (result.receipt or "").encode()).hexdigest(),
                                 "outcome": claims.get("outcome"),
                                 "their_reference": reference})
            summary.delivered += 1
            continue
        message.last_error = (result.error or "unknown error")[:2000]
        summary.errors.append(message.last_error)
        if limit and message.attempts >= limit:
            message.status = "failed"
            audit.record(session, "transfer.failed", object_type="request",
                         object_id=str(message.request_id), authority_id=home_id,
                         detail={"message_id": str(message.message_id),
                                 "to": message.receiver.code, "attempts": message.attempts,
                                 "error": message.last_error})
            summary.failed += 1
        else:
            message.next_attempt_at = now + timedelta(seconds=backoff(message.attempts))
    session.flush()
    return summary


def deliver_batch(engine: Engine, *, now: datetime | None = None, limit: int = 64,
                  client: httpx.Client | None = None) -> DeliveryResult:
    """One pass: claims due messages (a short transaction), posts them concurrently and
    records each outcome as it comes (short transactions too): no row lock is held while the
    network is waited on."""
    sessions = db.session_factory(engine)
    now = now or utcnow()
    with sessions() as session, session.begin():
        ids = claim(session, now, limit)
    summary = DeliveryResult()
    if not ids:
        return summary
    workers = max(1, min(settings.get().transfer_concurrency, len(ids)))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(attempt, sessions, i, now, client) for i in ids]
        for future in as_completed(futures):
            with sessions() as session, session.begin():
                summary.add(settle(session, [future.result()], utcnow()))
    return summary


def next_due(session: Session) -> datetime | None:
    return session.scalar(select(func.min(OutboxMessage.next_attempt_at))
                          .where(OutboxMessage.status == "pending"))


def run_delivery(engine: Engine, *, stop: threading.Event, once: bool = False,
                 poll: float | None = None) -> int:
    """The delivery loop of `mla worker`: keeps up to 2 x MLA_TRANSFER_CONCURRENCY messages
    in flight, claiming more as soon as one is settled, and sleeps (woken by NOTIFY on
    PostgreSQL) when nothing is due. The number of messages delivered."""
    poll = settings.get().transfer_poll_seconds if poll is None else poll
    sessions = db.session_factory(engine)
    waiter = wakeup.Waker(engine, NOTIFY_CHANNEL)
    slots = 2 * max(1, settings.get().transfer_concurrency)
    pool = ThreadPoolExecutor(max_workers=max(1, settings.get().transfer_concurrency),
                              thread_name_prefix="mla-transfer")
    in_flight: set[Future[Attempt]] = set()
    total = 0
    try:
        while not stop.is_set():
            try:
                if len(in_flight) < slots:
                    now = utcnow()
                    with sessions() as session, session.begin():
                        ids = claim(session, now, slots - len(in_flight))
                    in_flight |= {pool.submit(attempt, sessions, i, now) for i in ids}
                if not in_flight:
                    if once:
                        break
                    with sessions() as session:
                        upcoming = next_due(session)
                    wait = poll
                    if upcoming is not None:
                        wait = max(0.0, min(poll, (upcoming - utcnow()).total_seconds()))
                    if wait > 0:
                        waiter.wait(wait, stop)
                    continue
                # While busy, claim again at least every poll interval (new messages).
                done, in_flight = futures_wait(in_flight, timeout=min(poll, 0.5),
                                               return_when=FIRST_COMPLETED)
                if done:
                    with sessions() as session, session.begin():
                        result = settle(session, [f.result() for f in done], utcnow())
                    total += result.delivered
                    for error in result.errors:
                        log.info("delivery failed, will retry: %s", error)
            except Exception:
                # A database outage must not end the loop; claimed messages are retried
                # when their lease runs out.
                log.exception("delivery loop error")
                stop.wait(poll)
    finally:
        for future in in_flight:
            future.cancel()
        pool.shutdown(wait=True)
        waiter.close()
    return total


def start_delivery(engine: Engine, stop: threading.Event, *,
                   once: bool = False) -> threading.Thread | None:
    """Runs the delivery loop beside the escalation loop of `mla worker`, on its own thread
    (a slow peer never delays alerts); None when this instance does not transfer."""
    if home_code() is None:
        return None
    # One line per POST is noise next to the worker's own log.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    thread = threading.Thread(target=run_delivery, name="mla-transfer-delivery",
                              kwargs={"engine": engine, "stop": stop, "once": once},
                              daemon=True)
    thread.start()
    return thread

