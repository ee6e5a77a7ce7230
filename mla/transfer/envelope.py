"""Sealing and opening envelopes (docs/transfer-protocol.md §4-5). A message is a JSON
payload in its RFC 8785 form, signed as a JWS (ES256, the sender's transfer signing key) and
then encrypted as a JWE (RSA-OAEP-256 + A256GCM, the receiver's current encryption key), both
with python-jose; the receiver checks it against the message schema."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from jose import jwe as jose_jwe
from jose import jws
from jose.exceptions import JOSEError
from sqlalchemy.orm import Session

from mla import inputs, settings
from mla.errors import FieldProblem, GuardRejected
from mla.models import Authority, Peer, TransferKey
from mla.transfer import schemas
from mla.transfer.canonical import (
    CanonicalizationError,
    canonical,
    content_sha256,
    hash_rule,
    iso,
    parse_instant,
)
from mla.transfer.errors import reject
from mla.transfer.keys import ENC_ALG, SIG_ALG, current_key, private_key, public_key
from mla.transfer.peers import VERSIONS, find_key, peer_by_code, refresh_soon

ENC = "A256GCM"
ENVELOPE_TYPE = "mla-transfer+jws"
RECEIPT_TYPE = "mla-receipt+jws"
PAYLOAD_VERSION = VERSIONS[-1]
# Header members that would bring keys from elsewhere than the peer's registered JWK Set, or
# extensions nobody here understands (docs/transfer-protocol.md §4.2): refused.
_FOREIGN = frozenset({"crit", "jku", "jwk", "x5u", "x5c"})


def _allow_our_envelopes() -> None:
    # python-jose refuses JWEs over 250 KB, a guard against decompression bombs
    # (CVE-2024-33664). Envelopes carry attachments; compressed ones ("zip") are refused
    # before decryption and the inbox caps the body it reads, so the cap is raised to our own
    # limit. Raised at use, not at import: a bad setting must not break importing the module.
    limit = settings.get().transfer_envelope_limit
    if limit > jose_jwe.JWE_SIZE_LIMIT:
        jose_jwe.JWE_SIZE_LIMIT = limit


def seal(session: Session, payload: Mapping[str, Any], peer: Peer) -> str:
    """Signs the payload with our current signing key, encrypts it to the peer's current
    encryption key; JWE compact."""
    if not peer.encryption_jwks:
        raise GuardRejected(f"no encryption key is known for {peer.authority.code}; run "
                            f"`mla peers refresh`")
    key = current_key(session, "sig")
    signed = jws.sign(canonical(payload).encode("utf-8"), private_key(key),
                      headers={"kid": key.kid, "typ": ENVELOPE_TYPE}, algorithm=SIG_ALG)
    target = peer.encryption_jwks[0]
    _allow_our_envelopes()
    sealed: bytes = jose_jwe.encrypt(signed.encode("ascii"), public_key(target, ENC_ALG),
                                     encryption=ENC, algorithm=ENC_ALG, kid=target["kid"])
    return sealed.decode("ascii")


@dataclass
class Opened:
    payload: dict[str, Any]
    peer: Peer
    message_id: uuid.UUID
    # What the receipt's payload_sha256 says, by the rule the message asked for (`hash`).
    content_hash: str
    hash_rule: str


def open_envelope(session: Session, envelope: Any, home: Authority, now: datetime) -> Opened:
    """Decrypts and verifies; raises TransferRejected saying why not."""
    if not isinstance(envelope, str) or envelope.count(".") != 4:
        raise reject(400, "malformed", "the body is not a JWE in compact serialization")
    try:
        header = jose_jwe.get_unverified_header(envelope)
    except (JOSEError, ValueError, TypeError, RecursionError):
        raise reject(400, "malformed", "the JWE header cannot be read") from None
    if header.get("alg") != ENC_ALG or header.get("enc") != ENC or "zip" in header \
            or _FOREIGN & header.keys():
        raise reject(400, "unsupported", f"envelopes are {ENC_ALG} + {ENC}, uncompressed, "
                     f"without {', '.join(sorted(_FOREIGN))}")
    kid = header.get("kid")
    key = session.get(TransferKey, kid) if _identifier(kid) else None
    if key is None or key.use != "enc" or key.retired_at is not None:
        raise reject(400, "unknown_key", "the envelope is not encrypted to a current "
                     "encryption key of this instance; fetch our JWKS again")
    try:
        _allow_our_envelopes()
        inner = jose_jwe.decrypt(envelope, private_key(key))
    except (JOSEError, ValueError, TypeError):
        raise reject(400, "undecryptable", "the envelope cannot be decrypted (tampered, or "
                     "encrypted to another key)") from None
    try:
        signed = inner.decode("ascii")
        signed_header = jws.get_unverified_header(signed)
        claimed = inputs.load_json(jws.get_unverified_claims(signed))
    except (JOSEError, ValueError, TypeError, RecursionError):
        raise reject(400, "malformed", "the envelope does not hold a signed message") from None
    if not isinstance(claimed, dict):
        raise reject(400, "malformed", "the signed message is not a JSON object")
    message_id = claimed.get("message_id")
    message_ref = message_id if _identifier(message_id) else None
    sender = claimed.get("sender")
    known = _identifier(sender)
    if signed_header.get("alg") != SIG_ALG or signed_header.get("typ") != ENVELOPE_TYPE \
            or _FOREIGN & signed_header.keys():
        raise reject(400, "unsupported", f"messages are signed {SIG_ALG} ({ENVELOPE_TYPE})",
                     message_id=message_ref)
    peer = peer_by_code(session, sender) if known else None
    if peer is None:
        raise reject(401, "unknown_sender", f"{repr(sender)[:100]} is not a registered peer "
                     f"of {home.code}", message_id=message_ref, sender=sender if known else None)
    sig_kid = signed_header.get("kid")
    verifying = find_key(peer.signing_jwks, sig_kid)
    if verifying is None and refresh_soon(session, peer):
        verifying = find_key(peer.signing_jwks, sig_kid)
    if verifying is None:
        raise reject(401, "unknown_signing_key", f"{peer.authority.code} has no signing key "
                     f"{sig_kid!r}", message_id=message_ref, sender=peer.authority.code)
    try:
        jws.verify(signed, public_key(verifying, SIG_ALG), algorithms=[SIG_ALG])
    except JOSEError:
        raise reject(401, "bad_signature", f"the signature is not {peer.authority.code}'s",
                     message_id=message_ref, sender=peer.authority.code) from None
    payload = claimed
    if payload.get("receiver") != home.code:
        raise reject(400, "wrong_receiver", f"the message is for {payload.get('receiver')!r}, "
                     f"this instance is {home.code}", message_id=message_ref,
                     sender=peer.authority.code)
    sent_at = parse_instant(payload.get("sent_at"))
    # The replay window: how far a message's sending time may be from ours.
    window = settings.get().transfer_window_seconds
    if sent_at is None or abs((now - sent_at).total_seconds()) > window:
        raise reject(400, "expired", f"sent_at {payload.get('sent_at')!r} is outside "
                     f"{window:.0f} s of this instance's clock ({iso(now)})",
                     message_id=message_ref, sender=peer.authority.code)
    try:
        parsed_id = uuid.UUID(str(message_id))
    except ValueError:
        raise reject(400, "malformed", "message_id is not a UUID",
                     sender=peer.authority.code) from None
    if payload.get("v") not in VERSIONS:
        raise reject(422, "unsupported_version", f"this instance reads protocol versions "
                     f"{list(VERSIONS)} (GET /transfer/identity), not {payload.get('v')!r}",
                     message_id=message_ref, sender=peer.authority.code)
    # The peer's text goes into our database as it is: the rules of any other input apply.
    problems = inputs.json_problems(payload) or schemas.problems("message", payload)
    if problems:
        raise reject(422, "invalid_content", "the message holds values this instance does "
                     "not accept", message_id=message_ref, sender=peer.authority.code,
                     problems=problems)
    rule = hash_rule(payload)
    try:
        digest = content_sha256(payload, rule)
    except CanonicalizationError as exc:
        raise reject(422, "invalid_content", "the message holds a number JSON "
                     "canonicalization (RFC 8785) cannot carry", message_id=message_ref,
                     sender=peer.authority.code,
                     problems=[FieldProblem("payload", f"{exc}; integers must lie within "
                                            f"±(2**53 - 1) (I-JSON, RFC 7493)")]) from None
    return Opened(payload, peer, parsed_id, digest, rule)


def _identifier(value: Any) -> bool:
    """Whether `value` may be looked up or recorded as a key id, authority code or message
    id (PostgreSQL refuses NUL in text; nothing longer is any of ours)."""
    return isinstance(value, str) and 0 < len(value) <= 100 \
        and inputs.text_problem(value, single_line=True) is None

