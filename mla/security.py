"""Tokens, keys and passwords.

Access tokens are ES256 JWTs (python-jose) with `kid`, `iss`, `aud`, `exp`; only ES256 is
accepted, so `alg: none` and HS256 tokens made with the public key are refused. Signing keys
live in the database so every worker process of every instance signs and verifies alike;
rotation adds a key, older keys verify until retired. Passwords are argon2id hashes. Failed
logins are counted per account and per address, in the database, so the limit holds across
processes.
"""

from __future__ import annotations

import time
import uuid
from datetime import timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jose import jwk, jwt
from jose.exceptions import JOSEError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mla import settings
from mla.clock import utcnow
from mla.errors import FieldProblem, InvalidInput, NotFound, RateLimited, Unauthorized
from mla.models import LoginAttempt, SigningKey, User

ALGORITHM = "ES256"
LOGIN_WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_ACCOUNT = 5
MAX_FAILURES_PER_ADDRESS = 30
MIN_PASSWORD_LENGTH = 12
KEY_CACHE_SECONDS = 30.0

_hasher = PasswordHasher()
# Verified against when the user does not exist, so both paths cost the same.
_DUMMY_HASH = _hasher.hash("an unguessable placeholder password")
_key_cache: dict[str, tuple[float, Any]] = {}
# Tokens whose signature and claims checked out: (when, kid, issuer and audience checked
# against, claims). An entry lives no longer than the key cache above, so retiring a key takes
# as long to reach every process either way; the user row is still read on every request.
_token_cache: dict[str, tuple[float, str, str, str, dict[str, Any]]] = {}
TOKEN_CACHE_SIZE = 10_000


def issuer() -> str:
    return settings.get().token_issuer


def audience() -> str:
    return settings.get().token_audience


def token_ttl() -> int:
    return settings.get().token_ttl_seconds


# --- keys -------------------------------------------------------------------------------


def _new_key(session: Session) -> SigningKey:
    private = ec.generate_private_key(ec.SECP256R1())
    pem = private.private_bytes(serialization.Encoding.PEM,
                                serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    kid = uuid.uuid4().hex
    public = jwk.construct(public_pem, ALGORITHM).to_dict()
    public.update(kid=kid, alg=ALGORITHM, use="sig")
    # created_at orders the keys (the newest signs); under a frozen clock a rotation would tie.
    created_at = utcnow()
    newest = session.scalar(select(func.max(SigningKey.created_at)))
    if newest is not None and newest >= created_at:
        created_at = newest + timedelta(microseconds=1)
    key = SigningKey(kid=kid, algorithm=ALGORITHM, private_pem=pem, public_jwk=public,
                     created_at=created_at)
    session.add(key)
    session.flush()
    return key


def ensure_signing_key(session: Session) -> SigningKey:
    """The key new tokens are signed with: the newest one not retired (created if none)."""
    key = session.scalar(select(SigningKey).where(SigningKey.retired_at.is_(None))
                         .order_by(SigningKey.created_at.desc()).limit(1))
    return key or _new_key(session)


def rotate_signing_key(session: Session) -> SigningKey:
    return _new_key(session)


def retire_signing_key(session: Session, kid: str) -> SigningKey:
    key = session.get(SigningKey, kid)
    if key is None:
        raise NotFound(f"no signing key {kid}")
    key.retired_at = key.retired_at or utcnow()
    _key_cache.pop(kid, None)
    for token, entry in list(_token_cache.items()):
        if entry[1] == kid:
            _token_cache.pop(token, None)
    session.flush()
    return key


def jwks(session: Session) -> dict[str, Any]:
    ensure_signing_key(session)
    keys = session.scalars(select(SigningKey).where(SigningKey.retired_at.is_(None))
                           .order_by(SigningKey.created_at))
    return {"keys": [k.public_jwk for k in keys]}


def _public_key(session: Session, kid: str) -> Any:
    cached = _key_cache.get(kid)
    if cached and time.monotonic() - cached[0] < KEY_CACHE_SECONDS:
        return cached[1]
    key = session.get(SigningKey, kid)
    if key is None or key.retired_at is not None:
        _key_cache.pop(kid, None)
        return None
    public = jwk.construct(key.public_jwk, ALGORITHM)
    _key_cache[kid] = (time.monotonic(), public)
    return public


# --- tokens -----------------------------------------------------------------------------


def issue_access_token(session: Session, user: User) -> tuple[str, int]:
    key = ensure_signing_key(session)
    now = utcnow()
    ttl = token_ttl()
    claims = {
        "sub": str(user.id), "iss": issuer(), "aud": audience(),
        "iat": int(now.timestamp()), "nbf": int(now.timestamp()),
        "exp": int(now.timestamp()) + ttl, "jti": uuid.uuid4().hex,
        "role": user.role, "authority": user.authority.code,
    }
    token = jwt.encode(claims, key.private_pem, algorithm=ALGORITHM,
                       headers={"kid": key.kid})
    return token, ttl


def verify_access_token(session: Session, token: str) -> User:
    claims = _verified_claims(session, token)
    try:
        user_id = int(claims["sub"])
    except (TypeError, ValueError):
        raise Unauthorized("the access token names no user") from None
    user = session.get(User, user_id)
    if user is None or not user.active:
        raise Unauthorized("the account is unknown or deactivated")
    if claims.get("role") != user.role or claims.get("authority") != user.authority.code:
        raise Unauthorized("the account changed since the token was issued; log in again")
    return user


def _verified_claims(session: Session, token: str) -> dict[str, Any]:
    """The claims of a token with a valid signature, audience, issuer and lifetime."""
    cached = _token_cache.get(token)
    if cached is not None and time.monotonic() - cached[0] < KEY_CACHE_SECONDS \
            and cached[4]["exp"] > time.time() and cached[2:4] == (issuer(), audience()):
        return cached[4]
    try:
        header = jwt.get_unverified_header(token)
    except JOSEError:
        raise Unauthorized("the access token is malformed") from None
    if header.get("alg") != ALGORITHM:
        raise Unauthorized(f"tokens must be signed with {ALGORITHM}")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise Unauthorized("the access token names no signing key (kid)")
    key = _public_key(session, kid)
    if key is None:
        raise Unauthorized("the access token is signed by an unknown or retired key")
    try:
        claims = jwt.decode(token, key, algorithms=[ALGORITHM], audience=audience(),
                            issuer=issuer(),
                            options={"require_exp": True, "require_iat": True,
                                     "require_sub": True, "require_aud": True,
                                     "require_iss": True})
    except jwt.ExpiredSignatureError:
        raise Unauthorized("the access token has expired") from None
    except jwt.JWTClaimsError as exc:
        raise Unauthorized(f"the access token is not for this service: {exc}") from None
    except JOSEError:
        raise Unauthorized("the access token signature is invalid") from None
    if not isinstance(claims.get("exp"), int | float):
        raise Unauthorized("the access token has no valid expiry")
    if len(_token_cache) >= TOKEN_CACHE_SIZE:
        _token_cache.clear()
    _token_cache[token] = (time.monotonic(), kid, issuer(), audience(), claims)
    return claims


# --- passwords --------------------------------------------------------------------------


def set_password(session: Session, user: User, password: str) -> None:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput("the password is too short",
                           [FieldProblem("password",
                                         f"at least {MIN_PASSWORD_LENGTH} characters")])
    user.password_hash = _hasher.hash(password)
    session.flush()


def _failures(session: Session, column: Any, value: str) -> tuple[int, Any]:
    since = utcnow() - LOGIN_WINDOW
    return session.execute(
        select(func.count(), func.min(LoginAttempt.at))
        .where(column == value, LoginAttempt.at > since, LoginAttempt.success.is_(False))
    ).one()  # type: ignore[return-value]


def _retry_after(oldest: Any) -> int:
    remaining = oldest + LOGIN_WINDOW - utcnow()
    return max(1, int(remaining.total_seconds()) + 1)


def authenticate(session: Session, username: str, password: str, ip: str) -> User:
    """The user, or Unauthorized (same answer for unknown user, inactive, wrong password).

    Records the attempt and commits: a login is its own unit of work, so failures persist
    even though the caller gets an error.
    """
    count, oldest = _failures(session, LoginAttempt.username, username)
    if count >= MAX_FAILURES_PER_ACCOUNT:
        raise RateLimited("too many failed logins for this account; try again later",
                          retry_after=_retry_after(oldest))
    count, oldest = _failures(session, LoginAttempt.ip, ip)
    if count >= MAX_FAILURES_PER_ADDRESS:
        raise RateLimited("too many failed logins from this address; try again later",
                          retry_after=_retry_after(oldest))
    user = session.scalar(select(User).where(User.username == username))
    ok = False
    try:
        if user is None or not user.password_hash:
            _hasher.verify(_DUMMY_HASH, password + "x")
        else:
            ok = _hasher.verify(user.password_hash, password) and user.active
            if ok and _hasher.check_needs_rehash(user.password_hash):
                user.password_hash = _hasher.hash(password)
    except (VerificationError, InvalidHashError):
        ok = False
    session.add(LoginAttempt(at=utcnow(), username=username[:100], ip=ip[:64], success=ok))
    session.commit()
    if not ok or user is None:
        raise Unauthorized("invalid username or password")
    return user
