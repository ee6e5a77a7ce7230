"""This instance's transfer keys: an ES256 signing key and an RSA-OAEP-256 encryption key,
each rotated and retired by hand, published in our JWKS; what a peer's JWK is for
(`transfer_use`); and the parsed form of any JWK."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jose import jwk
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mla.clock import utcnow
from mla.errors import FieldProblem, InvalidInput, NotFound
from mla.models import TransferKey
from mla.transfer.canonical import canonical

SIG_ALG = "ES256"
ENC_ALG = "RSA-OAEP-256"
RSA_BITS = 3072
# Marks our transfer keys in the JWKS, which also lists the keys that sign access tokens.
PURPOSE = "transfer"

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
    """Our transfer keys as peers see them (docs/transfer-protocol.md §3): every unretired
    signing key, newest first (messages and receipts signed before a rotation still
    verify), and one encryption key, the current one: peers seal to it, and older unretired
    ones still decrypt here without being published. Each with `kid`, `use` and `alg`."""
    current_key(session, "sig")
    enc = current_key(session, "enc")
    signing = session.scalars(select(TransferKey).where(TransferKey.retired_at.is_(None),
                                                        TransferKey.use == "sig")
                              .order_by(TransferKey.created_at.desc()))
    return [_published(k.public_jwk) for k in (*signing, enc)]


def _published(stored: Mapping[str, Any]) -> dict[str, Any]:
    # `purpose` marked our keys in the JWKS shared with the token keys; the transfer JWKS
    # (/transfer/jwks.json) holds only these, and the shared one adds it back for peers on
    # the first release.
    return {k: v for k, v in stored.items() if k != "purpose"}


# What each use of a transfer key is, by JWK members (RFC 7517/7518): `alg` and `use` are
# optional there, and `kty`/`crv` decide them here when absent.
_KINDS = {"sig": ("EC", "P-256", SIG_ALG, "verify"), "enc": ("RSA", None, ENC_ALG, "wrapKey")}


def transfer_use(jwk_dict: Any) -> str | None:
    """`sig` or `enc` if the JWK can be a transfer key of that use, else None: `kid` is
    required; `use`, `alg` and `key_ops`, when present, must agree with the key type (EC
    P-256 signs with ES256, RSA is encrypted to with RSA-OAEP-256); a private member is
    refused (a peer publishing its private key is no peer to trust)."""
    if not isinstance(jwk_dict, Mapping) or not isinstance(jwk_dict.get("kid"), str) \
            or not jwk_dict["kid"] or "d" in jwk_dict:
        return None
    for use, (kty, crv, alg, op) in _KINDS.items():
        if jwk_dict.get("kty") != kty or (crv is not None and jwk_dict.get("crv") != crv):
            continue
        ops = jwk_dict.get("key_ops")
        if jwk_dict.get("use", use) == use and jwk_dict.get("alg", alg) == alg and (
                ops is None or (isinstance(ops, list) and op in ops)):
            return use
    return None


def normalized(jwk_dict: Mapping[str, Any], use: str) -> dict[str, Any]:
    """A peer's key as we store it: its public members with `use` and `alg` made explicit."""
    kept = {k: v for k, v in jwk_dict.items()
            if k in ("kty", "crv", "x", "y", "n", "e", "kid")}
    return kept | {"use": use, "alg": SIG_ALG if use == "sig" else ENC_ALG}


def private_key(key: TransferKey) -> Any:
    # Parsing an RSA key costs tens of milliseconds (validation); keys never change.
    cached = _private_cache.get(key.kid)
    if cached is None:
        cached = serialization.load_pem_private_key(key.private_pem.encode(), password=None)
        _private_cache[key.kid] = cached
    return cached


_public_cache: dict[str, Any] = {}


def public_key(jwk_dict: Mapping[str, Any], algorithm: str) -> Any:
    """The `cryptography` public key of a JWK (what python-jose's functions take)."""
    clean = {k: v for k, v in jwk_dict.items() if k in ("kty", "crv", "x", "y", "n", "e")}
    cache_key = f"{algorithm}:{canonical(clean)}"
    found = _public_cache.get(cache_key)
    if found is None:
        found = _public_cache[cache_key] = jwk.construct(clean, algorithm).prepared_key
    return found

