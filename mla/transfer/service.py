"""Electronic transfer of requests between central authorities' instances (DESIGN.md §6).

Each instance hosts one authority (`MLA_INSTANCE_AUTHORITY`) and knows its peers (`Peer`: base
URL and published transfer keys). A message is a JSON payload signed as a JWS (ES256, the
sender's transfer signing key) and then encrypted as a JWE (RSA-OAEP-256 + A256GCM, the
receiver's current encryption key), both with python-jose.

- Sending: the transition that causes a message (`transmit`, or a status change listed in
  `data/status_sync.yaml`) writes it to the outbox in its own transaction (a lifecycle hook).
  `mla worker` delivers it (`run_delivery`): claims due messages, POSTs them to the peer's
  `/transfer/inbox`, and marks one delivered only on a receipt signed by the peer that names
  its message id and payload hash; otherwise it retries with exponential backoff and jitter.
  Messages about one request go out one at a time, in order.
- Receiving (`handle_inbound`): decrypt with any of our unretired encryption keys, verify the
  signature with the sender's recorded keys, check the receiver and the time window, store by
  message id (a duplicate gets the stored receipt again), create the requested-side request or
  apply the status, answer with a signed receipt. Rejections are audited, nothing else stays.

At-least-once delivery plus idempotent receipt gives an exactly-once effect. A retry is
sealed again (fresh time, current keys), so a message outlives outages longer than the
replay window and key rotations on either side.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import os
import random
import threading
import time
import uuid
from collections.abc import Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, as_completed
from concurrent.futures import wait as futures_wait
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jose import jwe as jose_jwe
from jose import jwk, jws
from jose.exceptions import JOSEError
from sqlalchemy import Engine, exists, func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased, undefer

import workflows
from mla import audit, db, settings, wakeup
from mla.clock import utcnow
from mla.directory import service as directory
from mla.errors import (
    Conflict,
    DomainError,
    FieldProblem,
    GuardRejected,
    IllegalTransition,
    InvalidInput,
    NotFound,
    TooLarge,
)
from mla.models import (
    Attachment,
    Authority,
    HistoryEvent,
    InboxMessage,
    OutboxMessage,
    Peer,
    Request,
    RequestText,
    TransferKey,
)
from mla.requests import documents, filing, lifecycle

log = logging.getLogger("mla.transfer")

SIG_ALG = "ES256"
ENC_ALG = "RSA-OAEP-256"
ENC = "A256GCM"
RSA_BITS = 3072
ENVELOPE_TYPE = "mla-transfer+jws"
RECEIPT_TYPE = "mla-receipt+jws"
PAYLOAD_VERSION = 1
# Marks our transfer keys in the JWKS, which also lists the keys that sign access tokens.
PURPOSE = "transfer"
NOTIFY_CHANNEL = "mla_transfer"
# A peer's keys are fetched again on an unknown key id at most this often.
REFRESH_INTERVAL = 30.0

_APPLYING = "mla.transfer.applying"


# --- settings ---------------------------------------------------------------------------


def home_code() -> str | None:
    """Code of the authority this instance hosts, or None: transfer is then off."""
    return settings.get().instance_authority


def window_seconds() -> float:
    """How far a message's sending time may be from ours (replay window)."""
    return settings.get().transfer_window_seconds


def max_inline_bytes() -> int:
    """Attachments travel inside the envelope up to this total size."""
    return settings.get().transfer_max_attachment_bytes


def max_envelope_bytes() -> int:
    return settings.get().transfer_envelope_limit


def http_timeout() -> float:
    return settings.get().transfer_timeout_seconds


def backoff_base() -> float:
    return settings.get().transfer_backoff_base_seconds


def backoff_cap() -> float:
    return settings.get().transfer_backoff_cap_seconds


def max_attempts() -> int:
    """Attempts before a message is marked failed (0: never give up)."""
    return settings.get().transfer_max_attempts


def poll_seconds() -> float:
    return settings.get().transfer_poll_seconds


def concurrency() -> int:
    return settings.get().transfer_concurrency


# python-jose refuses JWEs over 250 KB, a guard against decompression bombs
# (CVE-2024-33664). Envelopes carry attachments; compressed ones ("zip") are refused before
# decryption and the inbox caps the body it reads, so the cap is raised to our own limit.
jose_jwe.JWE_SIZE_LIMIT = max(jose_jwe.JWE_SIZE_LIMIT, max_envelope_bytes())


# --- errors -----------------------------------------------------------------------------


class TransferRejected(DomainError):
    """An inbound message refused; `status` is the HTTP answer, `reason` a stable code."""

    title = "Transfer rejected"

    def __init__(self, status: int, reason: str, detail: str, *,
                 message_id: str | None = None, sender: str | None = None,
                 problems: list[FieldProblem] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.reason = reason
        self.message_id = message_id
        self.sender = sender
        self.problems = problems or []


class DeliveryError(Exception):
    """One delivery attempt failed; the message is tried again later."""


# --- canonical form ---------------------------------------------------------------------


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def content_sha256(payload: Mapping[str, Any]) -> str:
    """Hash of what a message says, without when it was (last) sealed: a retry sealed again
    hashes the same, and the receipt must echo it."""
    return hashlib.sha256(canonical({k: v for k, v in payload.items() if k != "sent_at"})
                          .encode("utf-8")).hexdigest()


def _iso(instant: datetime) -> str:
    return instant.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _parse_instant(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        instant = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return instant if instant.tzinfo is not None else None


# --- our keys ---------------------------------------------------------------------------

_private_cache: dict[str, Any] = {}


def _new_key(session: Session, use: str) -> TransferKey:
    if use == "sig":
        private: Any = ec.generate_private_key(ec.SECP256R1())
        algorithm = SIG_ALG
    else:
        private = rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
        algorithm = ENC_ALG
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    kid = f"{use}-{uuid.uuid4().hex}"
    public = jwk.construct(private.public_key(), algorithm).to_dict()
    public.update(kid=kid, use=use, alg=algorithm, purpose=PURPOSE)
    # created_at orders the keys (the newest is current); keep it strictly increasing.
    created_at = utcnow()
    newest = session.scalar(select(func.max(TransferKey.created_at))
                            .where(TransferKey.use == use))
    if newest is not None and newest >= created_at:
        created_at = newest + timedelta(microseconds=1)
    key = TransferKey(kid=kid, use=use, algorithm=algorithm, private_pem=pem,
                      public_jwk=public, created_at=created_at)
    session.add(key)
    session.flush()
    _private_cache[kid] = private
    return key


def current_key(session: Session, use: str) -> TransferKey:
    """The key that signs (`sig`) or that peers encrypt to (`enc`): the newest unretired one,
    created on first use."""
    key = session.scalar(select(TransferKey).where(TransferKey.use == use,
                                                   TransferKey.retired_at.is_(None))
                         .order_by(TransferKey.created_at.desc()).limit(1))
    return key or _new_key(session, use)


def rotate_key(session: Session, use: str) -> TransferKey:
    """A new current key; older ones keep verifying / decrypting until retired."""
    if use not in ("sig", "enc"):
        raise InvalidInput("unknown key use", [FieldProblem("use", "sig or enc")])
    return _new_key(session, use)


def retire_key(session: Session, kid: str) -> TransferKey:
    key = session.get(TransferKey, kid)
    if key is None:
        raise NotFound(f"no transfer key {kid}")
    key.retired_at = key.retired_at or utcnow()
    session.flush()
    return key


def public_jwks(session: Session) -> list[dict[str, Any]]:
    """Our unretired transfer keys, newest first within each use (peers seal to the first
    encryption key)."""
    current_key(session, "sig")
    current_key(session, "enc")
    keys = session.scalars(select(TransferKey).where(TransferKey.retired_at.is_(None))
                           .order_by(TransferKey.use.desc(), TransferKey.created_at.desc()))
    return [dict(k.public_jwk) for k in keys]


def _private(key: TransferKey) -> Any:
    # Parsing an RSA key costs tens of milliseconds (validation); keys never change.
    cached = _private_cache.get(key.kid)
    if cached is None:
        cached = serialization.load_pem_private_key(key.private_pem.encode(), password=None)
        _private_cache[key.kid] = cached
    return cached


_public_cache: dict[str, Any] = {}


def _public(jwk_dict: Mapping[str, Any], algorithm: str) -> Any:
    """The `cryptography` public key of a JWK (what python-jose's functions take)."""
    clean = {k: v for k, v in jwk_dict.items() if k in ("kty", "crv", "x", "y", "n", "e")}
    cache_key = f"{algorithm}:{canonical(clean)}"
    found = _public_cache.get(cache_key)
    if found is None:
        found = _public_cache[cache_key] = jwk.construct(clean, algorithm).prepared_key
    return found


# --- instance and peers -----------------------------------------------------------------


def home_authority(session: Session) -> Authority | None:
    code = home_code()
    if code is None:
        return None
    return session.scalar(select(Authority).where(Authority.code == code))


def require_home(session: Session) -> Authority:
    home = home_authority(session)
    if home is None:
        code = home_code()
        raise NotFound("this instance takes no part in electronic transfer "
                       "(MLA_INSTANCE_AUTHORITY is not set)" if code is None else
                       f"the authority {code} of MLA_INSTANCE_AUTHORITY is not in the "
                       f"directory; run `mla transfer init`")
    return home


def identity(session: Session) -> dict[str, Any]:
    home = require_home(session)
    return {"code": home.code, "country": home.country, "name": home.name,
            "timezone": home.timezone, "languages": list(home.languages)}


def init_instance(session: Session, *, code: str, country: str, name: str, timezone: str,
                  languages: list[str]) -> Authority:
    """This instance's own authority (created unless it exists) and its transfer keys."""
    authority = session.scalar(select(Authority).where(Authority.code == code))
    if authority is None:
        authority = directory.add_authority(session, code=code, country=country, name=name,
                                            timezone=timezone, languages=languages)
    current_key(session, "sig")
    current_key(session, "enc")
    audit.record(session, "transfer.init", object_type="authority", object_id=code,
                 authority_id=authority.id, detail={"via": "cli"})
    return authority


def peer_for(session: Session, authority_id: int) -> Peer | None:
    return session.scalar(select(Peer).where(Peer.authority_id == authority_id))


def peer_by_code(session: Session, code: str) -> Peer | None:
    return session.scalar(select(Peer).join(Authority, Authority.id == Peer.authority_id)
                          .where(Authority.code == code))


def _fetch(client: httpx.Client | None, url: str) -> Any:
    try:
        if client is not None:
            response = client.get(url, timeout=min(http_timeout(), 10))
        else:
            response = httpx.get(url, timeout=min(http_timeout(), 10))
        response.raise_for_status()
        return response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise DeliveryError(f"GET {url}: {exc}") from None


def _split_jwks(document: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    keys = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(keys, list):
        raise DeliveryError("the JWKS has no key list")
    ours = [k for k in keys if isinstance(k, dict) and k.get("purpose") == PURPOSE
            and isinstance(k.get("kid"), str)]
    signing = [k for k in ours if k.get("use") == "sig" and k.get("alg") == SIG_ALG]
    encryption = [k for k in ours if k.get("use") == "enc" and k.get("alg") == ENC_ALG]
    return signing, encryption


def add_peer(session: Session, code: str, base_url: str,
             client: httpx.Client | None = None) -> Peer:
    """Registers (or updates) the instance of authority `code` at `base_url`: its identity
    becomes the directory entry, its published transfer keys are stored."""
    base_url = base_url.rstrip("/")
    try:
        ident = _fetch(client, f"{base_url}/transfer/identity")
        signing, encryption = _split_jwks(_fetch(client, f"{base_url}/.well-known/jwks.json"))
    except DeliveryError as exc:
        raise InvalidInput(f"the instance at {base_url} cannot be reached or read",
                           [FieldProblem("url", str(exc))]) from None
    if not isinstance(ident, dict) or ident.get("code") != code:
        raise InvalidInput(f"the instance at {base_url} is not {code}",
                           [FieldProblem("url", f"it says it is {ident.get('code')!r}"
                                         if isinstance(ident, dict) else "no identity")])
    if not signing or not encryption:
        raise InvalidInput(f"{code} publishes no transfer keys",
                           [FieldProblem("url", "its JWKS lacks a signing or encryption key")])
    if code == home_code():
        raise InvalidInput("an instance is not its own peer",
                           [FieldProblem("code", "this is MLA_INSTANCE_AUTHORITY")])
    authority = session.scalar(select(Authority).where(Authority.code == code))
    if authority is None:
        authority = directory.add_authority(
            session, code=code, country=str(ident.get("country", "")),
            name=str(ident.get("name", code)), timezone=str(ident.get("timezone", "")),
            languages=[str(x) for x in ident.get("languages") or []])
    elif authority.country != ident.get("country"):
        raise InvalidInput(f"{code} is in the directory with another country",
                           [FieldProblem("code", f"directory: {authority.country}, instance: "
                                         f"{ident.get('country')}")])
    peer = peer_for(session, authority.id)
    now = utcnow()
    if peer is None:
        peer = Peer(authority_id=authority.id, authority=authority, created_at=now)
        session.add(peer)
    peer.base_url = base_url
    peer.signing_jwks = signing
    peer.encryption_jwks = encryption
    peer.updated_at = now
    session.flush()
    audit.record(session, "peer.add", object_type="peer", object_id=code,
                 authority_id=_home_id(session),
                 detail={"url": base_url, "kids": [k["kid"] for k in signing + encryption]})
    return peer


def refresh_peer(session: Session, peer: Peer, client: httpx.Client | None = None) -> bool:
    """Fetches the peer's keys again; True if they changed."""
    signing, encryption = _split_jwks(_fetch(client, f"{peer.base_url}/.well-known/jwks.json"))
    if not signing or not encryption:
        raise DeliveryError(f"{peer.authority.code} publishes no transfer keys")
    changed = (signing, encryption) != (peer.signing_jwks, peer.encryption_jwks)
    if changed:
        peer.signing_jwks = signing
        peer.encryption_jwks = encryption
        peer.updated_at = utcnow()
        session.flush()
        audit.record(session, "peer.refresh", object_type="peer", object_id=peer.authority.code,
                     authority_id=_home_id(session),
                     detail={"kids": [k["kid"] for k in signing + encryption]})
    return changed


_last_refresh: dict[int, float] = {}


def _refresh_soon(session: Session, peer: Peer) -> bool:
    """Refreshes the peer's keys unless that was tried moments ago (a forged key id must not
    make us hammer the peer); True if they changed."""
    last = _last_refresh.get(peer.authority_id)
    if last is not None and time.monotonic() - last < REFRESH_INTERVAL:
        return False
    _last_refresh[peer.authority_id] = time.monotonic()
    try:
        return refresh_peer(session, peer)
    except DeliveryError as exc:
        log.warning("cannot refresh the keys of %s: %s", peer.authority.code, exc)
        return False


def _home_id(session: Session) -> int | None:
    home = home_authority(session)
    return home.id if home else None


# --- sealing and opening ----------------------------------------------------------------


def seal(session: Session, payload: Mapping[str, Any], peer: Peer) -> str:
    """Signs the payload with our current signing key, encrypts it to the peer's current
    encryption key; JWE compact."""
    if not peer.encryption_jwks:
        raise GuardRejected(f"no encryption key is known for {peer.authority.code}; run "
                            f"`mla peers refresh`")
    key = current_key(session, "sig")
    signed = jws.sign(canonical(payload).encode("utf-8"), _private(key),
                      headers={"kid": key.kid, "typ": ENVELOPE_TYPE}, algorithm=SIG_ALG)
    target = peer.encryption_jwks[0]
    sealed: bytes = jose_jwe.encrypt(signed.encode("ascii"), _public(target, ENC_ALG),
                                     encryption=ENC, algorithm=ENC_ALG, kid=target["kid"])
    return sealed.decode("ascii")


@dataclass
class Opened:
    payload: dict[str, Any]
    peer: Peer
    message_id: uuid.UUID
    content_hash: str


def _reject(status: int, reason: str, detail: str, **kw: Any) -> TransferRejected:
    return TransferRejected(status, reason, detail, **kw)


def open_envelope(session: Session, envelope: Any, home: Authority, now: datetime) -> Opened:
    """Decrypts and verifies; raises TransferRejected saying why not."""
    if not isinstance(envelope, str) or envelope.count(".") != 4:
        raise _reject(400, "malformed", "the body is not a JWE in compact serialization")
    try:
        header = jose_jwe.get_unverified_header(envelope)
    except (JOSEError, ValueError, TypeError):
        raise _reject(400, "malformed", "the JWE header cannot be read") from None
    if header.get("alg") != ENC_ALG or header.get("enc") != ENC or "zip" in header:
        raise _reject(400, "unsupported", f"envelopes are {ENC_ALG} + {ENC}, uncompressed")
    kid = header.get("kid")
    key = session.get(TransferKey, kid) if isinstance(kid, str) else None
    if key is None or key.use != "enc" or key.retired_at is not None:
        raise _reject(400, "unknown_key", "the envelope is not encrypted to a current "
                      "encryption key of this instance; fetch our JWKS again")
    try:
        inner = jose_jwe.decrypt(envelope, _private(key))
    except (JOSEError, ValueError, TypeError):
        raise _reject(400, "undecryptable", "the envelope cannot be decrypted (tampered, or "
                      "encrypted to another key)") from None
    try:
        signed = inner.decode("ascii")
        signed_header = jws.get_unverified_header(signed)
        claimed = json.loads(jws.get_unverified_claims(signed))
    except (JOSEError, ValueError, TypeError, UnicodeDecodeError):
        raise _reject(400, "malformed", "the envelope does not hold a signed message") from None
    if not isinstance(claimed, dict):
        raise _reject(400, "malformed", "the signed message is not a JSON object")
    message_id = claimed.get("message_id")
    message_ref = message_id if isinstance(message_id, str) else None
    sender = claimed.get("sender")
    if signed_header.get("alg") != SIG_ALG or signed_header.get("typ") != ENVELOPE_TYPE:
        raise _reject(400, "unsupported", f"messages are signed {SIG_ALG} ({ENVELOPE_TYPE})",
                      message_id=message_ref)
    peer = peer_by_code(session, sender) if isinstance(sender, str) else None
    if peer is None:
        raise _reject(401, "unknown_sender", f"{sender!r} is not a registered peer of "
                      f"{home.code}", message_id=message_ref,
                      sender=sender if isinstance(sender, str) else None)
    sig_kid = signed_header.get("kid")
    verifying = _find_key(peer.signing_jwks, sig_kid)
    if verifying is None and _refresh_soon(session, peer):
        verifying = _find_key(peer.signing_jwks, sig_kid)
    if verifying is None:
        raise _reject(401, "unknown_signing_key", f"{peer.authority.code} has no signing key "
                      f"{sig_kid!r}", message_id=message_ref, sender=peer.authority.code)
    try:
        jws.verify(signed, _public(verifying, SIG_ALG), algorithms=[SIG_ALG])
    except JOSEError:
        raise _reject(401, "bad_signature", f"the signature is not {peer.authority.code}'s",
                      message_id=message_ref, sender=peer.authority.code) from None
    payload = claimed
    if payload.get("receiver") != home.code:
        raise _reject(400, "wrong_receiver", f"the message is for {payload.get('receiver')!r}, "
                      f"this instance is {home.code}", message_id=message_ref,
                      sender=peer.authority.code)
    sent_at = _parse_instant(payload.get("sent_at"))
    if sent_at is None or abs((now - sent_at).total_seconds()) > window_seconds():
        raise _reject(400, "expired", f"sent_at {payload.get('sent_at')!r} is outside "
                      f"{window_seconds():.0f} s of this instance's clock ({_iso(now)})",
                      message_id=message_ref, sender=peer.authority.code)
    try:
        parsed_id = uuid.UUID(str(message_id))
    except ValueError:
        raise _reject(400, "malformed", "message_id is not a UUID",
                      sender=peer.authority.code) from None
    if payload.get("v") != PAYLOAD_VERSION or payload.get("type") not in ("request", "status"):
        raise _reject(422, "invalid_content", "unknown message version or type",
                      message_id=message_ref, sender=peer.authority.code)
    return Opened(payload, peer, parsed_id, content_sha256(payload))


def _find_key(keys: list[dict[str, Any]], kid: Any) -> dict[str, Any] | None:
    return next((k for k in keys if isinstance(kid, str) and k.get("kid") == kid), None)


# --- outbound: written by transitions ---------------------------------------------------


@cache
def sync_map() -> dict[str, dict[str, tuple[str, ...]]]:
    """data/status_sync.yaml: workflow of the recording instance -> event -> events the
    other instance applies, in order."""
    raw = yaml.safe_load((Path(__file__).parents[1] / "data" / "status_sync.yaml")
                         .read_text("utf-8"))
    result: dict[str, dict[str, tuple[str, ...]]] = {}
    for workflow, events in raw.items():
        result[workflow] = {event: (target,) if isinstance(target, str) else tuple(target)
                            for event, target in events.items()}
    return result


def _queue(session: Session, *, peer: Peer, home: Authority, request: Request, kind: str,
           event: str, thread: uuid.UUID | None, body: dict[str, Any],
           now: datetime) -> OutboxMessage:
    message_id = uuid.uuid4()
    thread = thread or message_id
    payload = {"v": PAYLOAD_VERSION, "message_id": str(message_id), "type": kind,
               "sender": home.code, "receiver": peer.authority.code, "sent_at": _iso(now),
               "thread": str(thread), "body": body}
    digest = content_sha256(payload)
    message = OutboxMessage(
        message_id=message_id, receiver_id=peer.authority_id, request_id=request.id,
        thread_id=thread, kind=kind, event=event, payload=canonical(payload),
        payload_sha256=digest, envelope=seal(session, payload, peer), sealed_at=now,
        status="pending", attempts=0, next_attempt_at=now, created_at=now,
    )
    session.add(message)
    session.flush()
    if session.get_bind().dialect.name == "postgresql":
        # Wakes the delivery loop at commit (mla.wakeup).
        session.execute(text(f"NOTIFY {NOTIFY_CHANNEL}"))
    audit.record(session, "transfer.send", object_type="request", object_id=str(request.id),
                 authority_id=home.id,
                 detail={"message_id": str(message_id), "type": kind, "event": event,
                         "to": peer.authority.code, "payload_sha256": digest,
                         "attachments": [a["sha256"] for a in body.get("attachments", [])]})
    return message


def _request_body(session: Session, request: Request, state: str,
                  now: datetime) -> dict[str, Any]:
    attachments = list(session.scalars(
        select(Attachment).where(Attachment.request_id == request.id)
        .options(undefer(Attachment.content)).order_by(Attachment.uploaded_at, Attachment.id)))
    total = sum(a.size for a in attachments)
    if total > max_inline_bytes():
        raise TooLarge(f"the attachments of {request.reference} total {total} bytes; electronic "
                       f"transfer carries at most {max_inline_bytes()}", max_inline_bytes())
    document, document_language = documents.render(session, request)
    texts = {t.language: dict(t.data) for t in session.scalars(
        select(RequestText).where(RequestText.request_id == request.id))}
    return {
        "request_id": str(request.id), "reference": request.reference, "kind": request.kind,
        "workflow": request.workflow, "state": state, "legal_basis": request.legal_basis,
        "template_version": request.template_version, "title": request.title,
        "language": request.language, "urgent": request.urgent, "data": dict(request.data),
        "texts": texts, "transmitted_at": _iso(now),
        "document": {"format": "html", "language": document_language, "content": document,
                     "sha256": hashlib.sha256(document.encode("utf-8")).hexdigest()},
        "attachments": [{"filename": a.filename, "content_type": a.content_type,
                         "size": a.size, "sha256": a.sha256,
                         "content": base64.b64encode(a.content).decode("ascii")}
                        for a in attachments],
    }


def _home_for_sending(session: Session, party: Authority) -> Authority:
    home = home_authority(session)
    if home is None:
        raise GuardRejected(f"{party.code} is reached by electronic transfer, but this instance "
                            f"has no MLA_INSTANCE_AUTHORITY to send as")
    return home


def on_transition(session: Session, request: Request,
                   result: lifecycle.TransitionResult) -> None:
    if result.event == "file" or session.info.get(_APPLYING):
        # Applying the other side's status must not echo it back.
        return
    if result.event == "transmit":
        peer = peer_for(session, request.requested_authority_id)
        if peer is None:
            return
        home = _home_for_sending(session, peer.authority)
        if request.requesting_authority_id != home.id:
            raise GuardRejected(f"this instance transfers for {home.code} only")
        now = utcnow()
        _queue(session, peer=peer, home=home, request=request, kind="request",
               event="transmit", thread=None,
               body=_request_body(session, request, result.to_state, now), now=now)
        return
    targets = sync_map().get(request.workflow)
    if not targets or result.event not in targets or result.from_state is None:
        return
    step = workflows.get(request.workflow).candidates(result.event, result.from_state)[0]
    ours_is_requested = step.definition.party == "requested"
    counterpart = (request.requesting_authority_id if ours_is_requested
                   else request.requested_authority_id)
    peer = peer_for(session, counterpart)
    if peer is None:
        return
    # Only exchanges that began with a transfer are kept in step; a request registered by
    # hand from a paper original stays local.
    if ours_is_requested:
        thread = session.scalar(select(InboxMessage.message_id).where(
            InboxMessage.request_id == request.id, InboxMessage.kind == "request",
            InboxMessage.sender_id == peer.authority_id))
    else:
        thread = session.scalar(select(OutboxMessage.message_id).where(
            OutboxMessage.request_id == request.id, OutboxMessage.kind == "request",
            OutboxMessage.receiver_id == peer.authority_id))
    if thread is None:
        return
    home = _home_for_sending(session, peer.authority)
    last = session.execute(select(HistoryEvent.reason, HistoryEvent.data)
                           .where(HistoryEvent.request_id == request.id)
                           .order_by(HistoryEvent.id.desc()).limit(1)).first()
    now = utcnow()
    body: dict[str, Any] = {"workflow": request.workflow, "event": result.event,
                            "from_state": result.from_state, "state": result.to_state,
                            "reference": request.reference, "at": _iso(now)}
    if last is not None:
        if last.reason:
            body["reason"] = last.reason
        grounds = (last.data or {}).get("grounds")
        if grounds:
            body["grounds"] = list(grounds)
    _queue(session, peer=peer, home=home, request=request, kind="status", event=result.event,
           thread=thread, body=body, now=now)


# --- inbound ----------------------------------------------------------------------------


def _sign_receipt(session: Session, claims: dict[str, Any]) -> str:
    key = current_key(session, "sig")
    signed: str = jws.sign(canonical(claims).encode("utf-8"), _private(key),
                           headers={"kid": key.kid, "typ": RECEIPT_TYPE}, algorithm=SIG_ALG)
    return signed


def _text_field(body: Mapping[str, Any], name: str, problems: list[FieldProblem]) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value.strip():
        problems.append(FieldProblem(f"body.{name}", "a non-empty string is required"))
        return ""
    return value


def _accept_request(session: Session, opened: Opened, home: Authority,
                    now: datetime) -> Request:
    body = opened.payload.get("body")
    if not isinstance(body, dict):
        raise InvalidInput("the message has no body", [FieldProblem("body", "an object")])
    problems: list[FieldProblem] = []
    fields = {name: _text_field(body, name, problems)
              for name in ("reference", "kind", "legal_basis", "title", "language")}
    version = body.get("template_version")
    if not isinstance(version, int) or isinstance(version, bool):
        problems.append(FieldProblem("body.template_version", "an integer"))
    if not isinstance(body.get("data"), dict):
        problems.append(FieldProblem("body.data", "an object"))
    texts = body.get("texts") or {}
    if not isinstance(texts, dict) or not all(
            isinstance(k, str) and len(k) <= 8 and isinstance(v, dict) for k, v in texts.items()):
        problems.append(FieldProblem("body.texts", "language -> object"))
    files = _decoded_attachments(body, problems)
    if problems:
        raise InvalidInput("the request message is incomplete", problems)
    request = filing.register_received(
        session, None, home, kind=fields["kind"], requesting=opened.peer.authority,
        counterpart_reference=fields["reference"], legal_basis=fields["legal_basis"],
        title=fields["title"], language=fields["language"], data=body["data"],
        template_version=version)
    for language, data in texts.items():
        if language != request.language:
            session.add(RequestText(request_id=request.id, language=language, data=data))
    for name, content_type, content, digest in files:
        session.add(Attachment(request_id=request.id, filename=name, content_type=content_type,
                               size=len(content), sha256=digest, content=content,
                               uploaded_at=now))
    session.flush()
    return request


def _decoded_attachments(body: Mapping[str, Any], problems: list[FieldProblem]
                         ) -> list[tuple[str, str, bytes, str]]:
    """(filename, content type, content, sha256) of every attachment, the sender's rendered
    document first; each hash is checked against the content."""
    found: list[tuple[str, str, bytes, str]] = []
    document = body.get("document")
    if isinstance(document, dict) and isinstance(document.get("content"), str):
        content = document["content"].encode("utf-8")
        digest = hashlib.sha256(content).hexdigest()
        if document.get("sha256") not in (None, digest):
            problems.append(FieldProblem("body.document.sha256", "does not match the document"))
        language = str(document.get("language", ""))[:8]
        found.append((f"{body.get('reference', 'request')}.{language or 'xx'}.html"[:255],
                      "text/html; charset=utf-8", content, digest))
    attachments = body.get("attachments") or []
    if not isinstance(attachments, list):
        problems.append(FieldProblem("body.attachments", "a list"))
        return found
    for i, item in enumerate(attachments):
        where = f"body.attachments.{i}"
        if not isinstance(item, dict) or not isinstance(item.get("content"), str):
            problems.append(FieldProblem(where, "an object with base64 content"))
            continue
        try:
            content = base64.b64decode(item["content"], validate=True)
        except (binascii.Error, ValueError):
            problems.append(FieldProblem(f"{where}.content", "not base64"))
            continue
        digest = hashlib.sha256(content).hexdigest()
        if item.get("sha256") != digest:
            problems.append(FieldProblem(f"{where}.sha256", "does not match the content"))
            continue
        name = os.path.basename(str(item.get("filename") or "attachment").replace("\\", "/"))
        found.append((name[:255] or "attachment",
                      str(item.get("content_type") or "application/octet-stream")[:100],
                      content, digest))
    return found


def _exchange(session: Session, thread: uuid.UUID, peer: Peer) -> uuid.UUID | None:
    """Our request in the exchange `thread` with `peer`, whichever side began it."""
    found = session.scalar(select(OutboxMessage.request_id).where(
        OutboxMessage.message_id == thread, OutboxMessage.kind == "request",
        OutboxMessage.receiver_id == peer.authority_id))
    if found is None:
        found = session.scalar(select(InboxMessage.request_id).where(
            InboxMessage.message_id == thread, InboxMessage.kind == "request",
            InboxMessage.sender_id == peer.authority_id))
    return found


def _apply_status(session: Session, opened: Opened) -> tuple[Request, str, dict[str, Any]]:
    payload = opened.payload
    body = payload.get("body")
    if not isinstance(body, dict):
        raise InvalidInput("the message has no body", [FieldProblem("body", "an object")])
    try:
        thread = uuid.UUID(str(payload.get("thread")))
    except ValueError:
        raise InvalidInput("the status names no exchange",
                           [FieldProblem("thread", "the request message's id")]) from None
    request_id = _exchange(session, thread, opened.peer)
    if request_id is None:
        raise TransferRejected(409, "unknown_exchange", f"no request was exchanged with "
                               f"{opened.peer.authority.code} under {thread}",
                               message_id=str(opened.message_id),
                               sender=opened.peer.authority.code)
    request = session.get_one(Request, request_id)
    remote_event = body.get("event")
    events = sync_map().get(str(body.get("workflow")), {}).get(str(remote_event), ())
    data: dict[str, Any] = {"via": "transfer", "message_id": str(opened.message_id),
                            "remote_event": remote_event}
    if isinstance(body.get("reason"), str):
        data["reason"] = body["reason"]
    if isinstance(body.get("grounds"), list):
        data["grounds"] = [str(g) for g in body["grounds"]]
    applied: list[str] = []
    refused: list[str] = []
    session.info[_APPLYING] = True
    try:
        for event in events:
            if event not in lifecycle.allowed_events(request):
                continue
            try:
                lifecycle.transition(session, request, event, None, **data)
            except (IllegalTransition, GuardRejected) as exc:
                refused.append(f"{event}: {exc.detail}")
                continue
            applied.append(event)
    finally:
        session.info.pop(_APPLYING, None)
    outcome = "applied" if applied else "ignored"
    detail = {"remote_event": remote_event, "remote_state": body.get("state"),
              "applied": applied, "state": request.state}
    if refused:
        detail["refused"] = refused
    return request, outcome, detail


def receive(session: Session, envelope: Any, *, now: datetime | None = None) -> str:
    """Takes one envelope in the session's transaction (the caller commits); the signed
    receipt. Raises TransferRejected."""
    now = now or utcnow()
    home = home_authority(session)
    if home is None:
        raise _reject(404, "not_enabled", "this instance takes no part in electronic transfer")
    opened = open_envelope(session, envelope, home, now)
    sender = opened.peer.authority.code
    mid = str(opened.message_id)
    stored = session.scalar(select(InboxMessage)
                            .where(InboxMessage.message_id == opened.message_id))
    if stored is not None:
        if stored.sender_id != opened.peer.authority_id \
                or stored.payload_sha256 != opened.content_hash:
            raise _reject(409, "message_id_reused", f"message {mid} was received before with "
                          f"other content", message_id=mid, sender=sender)
        audit.record(session, "transfer.duplicate", object_type="request",
                     object_id=str(stored.request_id), authority_id=home.id,
                     detail={"message_id": mid, "from": sender})
        return stored.receipt
    kind = opened.payload["type"]
    try:
        thread = uuid.UUID(str(opened.payload.get("thread")))
    except ValueError:
        thread = opened.message_id
    body = opened.payload.get("body")
    inbox = InboxMessage(message_id=opened.message_id, sender_id=opened.peer.authority_id,
                         thread_id=thread, kind=kind,
                         event=str((body or {}).get("event", "transmit"))[:40]
                         if isinstance(body, dict) else "?",
                         received_at=now, payload_sha256=opened.content_hash,
                         outcome="accepted", receipt="")
    session.add(inbox)
    # The unique message id is claimed first: a concurrent copy of this message waits here
    # and then fails, and is answered with this receipt (handle_inbound).
    session.flush()
    try:
        if kind == "request":
            request = _accept_request(session, opened, home, now)
            outcome, detail = "accepted", {"kind": request.kind, "state": request.state}
        else:
            request, outcome, detail = _apply_status(session, opened)
    except InvalidInput as exc:
        raise _reject(422, "invalid_content", exc.detail, message_id=mid, sender=sender,
                      problems=exc.problems) from None
    except Conflict as exc:
        raise _reject(503, "busy", f"{exc.detail}; send again", message_id=mid,
                      sender=sender) from None
    except (NotFound, GuardRejected, IllegalTransition) as exc:
        raise _reject(422, "invalid_content", exc.detail, message_id=mid,
                      sender=sender) from None
    claims = {"message_id": mid, "sender": sender, "receiver": home.code,
              "payload_sha256": opened.content_hash, "received_at": _iso(now),
              "request_reference": request.reference, "outcome": outcome}
    inbox.request_id = request.id
    inbox.outcome = outcome
    inbox.receipt = _sign_receipt(session, claims)
    session.flush()
    audit.record(session, f"transfer.receive.{kind}" if outcome != "ignored"
                 else "transfer.status_ignored", object_type="request",
                 object_id=str(request.id), authority_id=home.id,
                 detail={"message_id": mid, "from": sender, "payload_sha256":
                         opened.content_hash, "outcome": outcome, **detail})
    return inbox.receipt


def receipt_claims(receipt: str) -> dict[str, Any]:
    """What a receipt says, unverified (it is ours, or verify_receipt checks it)."""
    claims = json.loads(jws.get_unverified_claims(receipt))
    return claims if isinstance(claims, dict) else {}


def record_rejection(session: Session, exc: TransferRejected, *, size: int | None = None,
                     envelope: Any = None) -> None:
    """The audit entry of a refused message, in its own transaction (the caller commits)."""
    detail: dict[str, Any] = {"status": exc.status, "reason": exc.reason, "detail": exc.detail}
    if exc.sender:
        detail["claimed_sender"] = exc.sender
    if exc.problems:
        detail["errors"] = [{"field": p.path, "message": p.message} for p in exc.problems]
    if isinstance(envelope, str):
        detail["envelope_sha256"] = hashlib.sha256(envelope.encode("utf-8")).hexdigest()
        detail["size"] = len(envelope)
    elif size is not None:
        detail["size"] = size
    audit.record(session, "transfer.reject", object_type="transfer_message",
                 object_id=exc.message_id, authority_id=_home_id(session), detail=detail)


def handle_inbound(session: Session, envelope: Any, *, now: datetime | None = None) -> str:
    """`receive` as one unit of work: committed with its receipt, or rolled back entirely and
    the rejection audited (then re-raised)."""
    try:
        for attempt in (1, 2):
            try:
                receipt = receive(session, envelope, now=now)
                session.commit()
                return receipt
            except IntegrityError:
                # The same message arrived twice at once and the other copy was stored first:
                # the second pass finds it and answers with its receipt.
                session.rollback()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")
    except TransferRejected as exc:
        session.rollback()
        record_rejection(session, exc, envelope=envelope)
        session.commit()
        raise
    except IntegrityError:
        session.rollback()
        exc = _reject(503, "busy", "the message is being stored concurrently; send again")
        record_rejection(session, exc, envelope=envelope)
        session.commit()
        raise exc from None
    except BaseException:
        session.rollback()
        raise


# --- delivery ---------------------------------------------------------------------------


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
    delay = min(backoff_cap(), backoff_base() * 2 ** max(0, attempts - 1))
    return delay * random.uniform(0.5, 1.0)


def _lease() -> timedelta:
    # Longer than one attempt can take, so a live attempt is never doubled; a worker killed
    # mid-attempt leaves the message to be tried again when it runs out.
    return timedelta(seconds=2 * http_timeout() + 30)


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
        client = _clients.client = httpx.Client(timeout=http_timeout())
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
    key = _find_key(peer.signing_jwks, header.get("kid"))
    if key is None and _refresh_soon(session, peer):
        key = _find_key(peer.signing_jwks, header.get("kid"))
    if key is None:
        raise DeliveryError(f"the receipt is signed with a key {peer.authority.code} does not "
                            f"publish")
    try:
        claims = json.loads(jws.verify(receipt, _public(key, SIG_ALG), algorithms=[SIG_ALG]))
    except (JOSEError, ValueError):
        raise DeliveryError("the receipt's signature is invalid") from None
    expected = {"message_id": str(message.message_id), "payload_sha256": message.payload_sha256,
                "receiver": peer.authority.code, "sender": home_code()}
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
    try:
        with sessions() as session:
            message = session.get_one(OutboxMessage, message_id)
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
                    or (now - message.sealed_at).total_seconds() > window_seconds() / 2):
                payload = json.loads(message.payload) | {"sent_at": _iso(now)}
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
                    _refresh_soon(session, peer)
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
    except DeliveryError as exc:
        result.error = str(exc)
    except Exception as exc:  # a bug or a database hiccup must not stop the other messages
        log.exception("delivery of outbox message %s failed", message_id)
        result.error = f"{type(exc).__name__}: {exc}"
    return result


def settle(session: Session, results: list[Attempt], now: datetime) -> DeliveryResult:
    """Records the attempts' outcomes, in the caller's transaction."""
    summary = DeliveryResult(claimed=len(results))
    home_id = _home_id(session)
    limit = max_attempts()
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
    with ThreadPoolExecutor(max_workers=max(1, min(concurrency(), len(ids)))) as pool:
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
    poll = poll_seconds() if poll is None else poll
    sessions = db.session_factory(engine)
    waiter = wakeup.Waker(engine, NOTIFY_CHANNEL)
    slots = 2 * max(1, concurrency())
    pool = ThreadPoolExecutor(max_workers=max(1, concurrency()),
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


def retry(session: Session, message_id: uuid.UUID) -> OutboxMessage:
    """Puts a failed (or pending) message back to be delivered now."""
    message = session.scalar(select(OutboxMessage).where(OutboxMessage.message_id == message_id))
    if message is None:
        raise NotFound(f"no outbox message {message_id}")
    if message.status == "delivered":
        raise Conflict(f"message {message_id} was delivered at {_iso(message.delivered_at)}"
                       if message.delivered_at else f"message {message_id} was delivered")
    message.status = "pending"
    message.next_attempt_at = utcnow()
    session.flush()
    audit.record(session, "transfer.retry", object_type="request",
                 object_id=str(message.request_id), authority_id=_home_id(session),
                 detail={"message_id": str(message_id), "via": "cli"})
    return message

