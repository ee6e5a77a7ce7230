"""This instance and its peers: the authority it hosts (`MLA_INSTANCE_AUTHORITY`), its
identity, and the other authorities' instances (`Peer`: base URL and the transfer keys
they publish, fetched from their JWKS and fetched again when a key id is unknown)."""

from __future__ import annotations

import logging
import time
from typing import Any

import httpx
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from mla import audit, settings
from mla.clock import utcnow
from mla.directory import service as directory
from mla.errors import FieldProblem, InvalidInput, NotFound
from mla.models import Authority, Peer
from mla.transfer.canonical import HASH_JCS
from mla.transfer.errors import DeliveryError
from mla.transfer.keys import PURPOSE, current_key, normalized, transfer_use

log = logging.getLogger("mla.transfer")

# A peer's keys are fetched again on an unknown key id at most this often.
REFRESH_INTERVAL = 30.0


def home_code() -> str | None:
    """Code of the authority this instance hosts, or None: transfer is then off."""
    return settings.get().instance_authority


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


# Protocol versions this instance reads and sends (docs/transfer-protocol.md §12).
VERSIONS = (1,)
JWKS_PATH = "/transfer/jwks.json"
# The shared JWKS of the first release, where transfer keys are marked `purpose: transfer`.
LEGACY_JWKS_PATH = "/.well-known/jwks.json"


def protocol() -> dict[str, Any]:
    """What `GET /transfer/identity` says of the protocol: the versions a peer may send us,
    the receipt hash rules, where our keys and the message schemas are."""
    return {"versions": list(VERSIONS), "hash": [HASH_JCS], "jwks": JWKS_PATH,
            "inbox": "/transfer/inbox", "schemas": "/transfer/schemas/v1/"}


def identity(session: Session) -> dict[str, Any]:
    home = require_home(session)
    return {"code": home.code, "country": home.country, "name": home.name,
            "timezone": home.timezone, "languages": list(home.languages),
            "protocol": protocol()}


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


# Built once: every transmit asks it (the transfer and the mail outbox hooks).
_PEER_FOR = select(Peer).where(Peer.authority_id == bindparam("authority_id"))


def peer_for(session: Session, authority_id: int) -> Peer | None:
    return session.scalar(_PEER_FOR, {"authority_id": authority_id})


def peer_by_code(session: Session, code: str) -> Peer | None:
    return session.scalar(select(Peer).join(Authority, Authority.id == Peer.authority_id)
                          .where(Authority.code == code))


class _Missing(DeliveryError):
    """The peer answered 404: a path it does not serve."""


def _fetch(client: httpx.Client | None, url: str) -> Any:
    try:
        if client is not None:
            response = client.get(url, timeout=min(settings.get().transfer_timeout_seconds, 10))
        else:
            response = httpx.get(url, timeout=min(settings.get().transfer_timeout_seconds, 10))
        if response.status_code == 404:
            raise _Missing(f"GET {url}: 404")
        response.raise_for_status()
        return response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise DeliveryError(f"GET {url}: {exc}") from None


def split_jwks(document: Any, *, shared: bool = False
               ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(signing keys, encryption keys) of a peer's transfer JWKS, in its order: the first
    encryption key is the one to seal to. Keys of no transfer use are skipped (RFC 7517:
    unknown keys are ignored). `shared`: the first release's JWKS, which also lists token
    keys and marks transfer keys with `purpose`."""
    keys = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(keys, list):
        raise DeliveryError("the JWKS has no key list")
    signing: list[dict[str, Any]] = []
    encryption: list[dict[str, Any]] = []
    for key in keys:
        if shared and (not isinstance(key, dict) or key.get("purpose") != PURPOSE):
            continue
        use = transfer_use(key)
        if use is not None:
            (signing if use == "sig" else encryption).append(normalized(key, use))
    return signing, encryption


def fetch_jwks(client: httpx.Client | None, base_url: str
               ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The peer's transfer keys from /transfer/jwks.json, or from the shared JWKS of a
    peer on the first release (which answers 404 there)."""
    try:
        return split_jwks(_fetch(client, f"{base_url}{JWKS_PATH}"))
    except _Missing:
        return split_jwks(_fetch(client, f"{base_url}{LEGACY_JWKS_PATH}"), shared=True)


def add_peer(session: Session, code: str, base_url: str,
             client: httpx.Client | None = None) -> Peer:
    """Registers (or updates) the instance of authority `code` at `base_url`: its identity
    becomes the directory entry, its published transfer keys are stored."""
    base_url = base_url.rstrip("/")
    try:
        ident = _fetch(client, f"{base_url}/transfer/identity")
        signing, encryption = fetch_jwks(client, base_url)
    except DeliveryError as exc:
        raise InvalidInput(f"the instance at {base_url} cannot be reached or read",
                           [FieldProblem("url", str(exc))]) from None
    if not isinstance(ident, dict) or ident.get("code") != code:
        raise InvalidInput(f"the instance at {base_url} is not {code}",
                           [FieldProblem("url", f"it says it is {ident.get('code')!r}"
                                         if isinstance(ident, dict) else "no identity")])
    versions = (ident.get("protocol") or {}).get("versions", [1]) \
        if isinstance(ident.get("protocol"), dict) else [1]
    if not isinstance(versions, list) or not set(versions) & set(VERSIONS):
        raise InvalidInput(f"{code} speaks no protocol version this instance speaks",
                           [FieldProblem("url", f"it speaks {versions!r}, we speak "
                                         f"{list(VERSIONS)}")])
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
                 authority_id=home_authority_id(session),
                 detail={"url": base_url, "kids": [k["kid"] for k in signing + encryption]})
    return peer


def refresh_peer(session: Session, peer: Peer, client: httpx.Client | None = None) -> bool:
    """Fetches the peer's keys again; True if they changed."""
    signing, encryption = fetch_jwks(client, peer.base_url)
    if not signing or not encryption:
        raise DeliveryError(f"{peer.authority.code} publishes no transfer keys")
    changed = (signing, encryption) != (peer.signing_jwks, peer.encryption_jwks)
    if changed:
        peer.signing_jwks = signing
        peer.encryption_jwks = encryption
        peer.updated_at = utcnow()
        session.flush()
        audit.record(session, "peer.refresh", object_type="peer", object_id=peer.authority.code,
                     authority_id=home_authority_id(session),
                     detail={"kids": [k["kid"] for k in signing + encryption]})
    return changed


_last_refresh: dict[int, float] = {}


def refresh_soon(session: Session, peer: Peer) -> bool:
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


def home_authority_id(session: Session) -> int | None:
    home = home_authority(session)
    return home.id if home else None


def find_key(keys: list[dict[str, Any]], kid: Any) -> dict[str, Any] | None:
    return next((k for k in keys if isinstance(kid, str) and k.get("kid") == kid), None)

