"""This instance's transfer keys: an ES256 signing key and an RSA-OAEP-256 encryption key,
each rotated and retired by hand, published in our JWKS; and the parsed form of any JWK."""

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
    """Our unretired transfer keys, newest first within each use (peers seal to the first
    encryption key)."""
    current_key(session, "sig")
    current_key(session, "enc")
    keys = session.scalars(select(TransferKey).where(TransferKey.retired_at.is_(None))
                           .order_by(TransferKey.use.desc(), TransferKey.created_at.desc()))
    return [dict(k.public_jwk) for k in keys]


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

