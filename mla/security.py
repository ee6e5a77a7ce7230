"""Tokens, keys and passwords.

Access tokens are ES256 JWTs (python-jose) with `kid`, `iss`, `aud`, `exp`; only ES256 is
accepted, so `alg: none` and HS256 tokens made with the public key are refused. Signing keys
live in the database so every worker process of every instance signs and verifies alike;
rotation adds a key, older keys verify until retired. A logout revokes the token's login (its
`sid`, kept across the console's renewals) in `revoked_tokens`, read with the user row on
every request, so it holds in every process at once. Passwords are argon2id hashes. Failed
logins are counted per account and per address, in the database, so the limit holds across
processes.
"""

from __future__ import annotations

import functools
import re
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jose import jwk, jwt
from jose.exceptions import JOSEError
from sqlalchemy import bindparam, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from mla import inputs, settings
from mla.clock import utcnow
from mla.errors import FieldProblem, InvalidInput, NotFound, RateLimited, Unauthorized
from mla.models import LoginAttempt, RevokedToken, SigningKey, User

ALGORITHM = "ES256"
# Our key ids are 32 hex digits; a longer one is nobody's.
MAX_KID_LENGTH = 64
LOGIN_WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_ACCOUNT = 5
MAX_FAILURES_PER_ADDRESS = 30
MIN_PASSWORD_LENGTH = 12
KEY_CACHE_SECONDS = 30.0

_hasher = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """Verified against when the user does not exist, so both paths cost the same. Made at
    the first login, not at import: every `mla` command imports this module."""
    return _hasher.hash("an unguessable placeholder password")


_key_cache: dict[str, tuple[float, Any]] = {}
# Tokens whose signature and claims checked out: (when, kid, issuer and audience checked
# against, claims). An entry lives no longer than the key cache above, so retiring a key takes
# as long to reach every process either way; the user row (and whether the token's login was
# revoked) is still read on every request.
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


def issue_access_token(session: Session, user: User, *,
                       login: str | None = None) -> tuple[str, int]:
    """A new token; `login` is the `sid` of the token it renews (the console's sliding
    session), so that logging out revokes the whole chain, earlier tokens included."""
    key = ensure_signing_key(session)
    now = utcnow()
    ttl = token_ttl()
    jti = uuid.uuid4().hex
    claims = {
        "sub": str(user.id), "iss": issuer(), "aud": audience(),
        "iat": int(now.timestamp()), "nbf": int(now.timestamp()),
        "exp": int(now.timestamp()) + ttl, "jti": jti, "sid": login or jti,
        "role": user.role, "authority": user.authority.code,
        "ver": user.sessions_version,
    }
    token = jwt.encode(claims, key.private_pem, algorithm=ALGORITHM,
                       headers={"kid": key.kid})
    return token, ttl


STEP_TTL_SECONDS = 300


def issue_step_token(session: Session, user: User, step: str,
                     extra: dict[str, str] | None = None) -> str:
    """A short-lived token proving the first step of a login (the password) for the next
    one (`step`: a second factor, or enrolling one). Its audience is not the API's, so it
    opens nothing else."""
    key = ensure_signing_key(session)
    now = int(utcnow().timestamp())
    claims = {"sub": str(user.id), "iss": issuer(), "aud": f"{audience()}#{step}",
              "iat": now, "exp": now + STEP_TTL_SECONDS, "jti": uuid.uuid4().hex,
              "ver": user.sessions_version, **(extra or {})}
    return jwt.encode(claims, key.private_pem, algorithm=ALGORITHM, headers={"kid": key.kid})


def verify_step_token(session: Session, token: str, step: str) -> User:
    return verify_step_claims(session, token, step)[0]


def verify_step_claims(session: Session, token: str, step: str) -> tuple[User, dict[str, Any]]:
    """The user and claims of a step token (see issue_step_token), or Unauthorized."""
    try:
        header = jwt.get_unverified_header(token)
    except (JOSEError, RecursionError):
        raise Unauthorized("the login step is malformed; log in again") from None
    kid = header.get("kid")
    key = _public_key(session, kid) if isinstance(kid, str) and len(kid) <= MAX_KID_LENGTH \
        and not inputs.text_problem(kid, single_line=True) else None
    if header.get("alg") != ALGORITHM or key is None:
        raise Unauthorized("the login step is not ours; log in again")
    try:
        claims = jwt.decode(token, key, algorithms=[ALGORITHM], issuer=issuer(),
                            audience=f"{audience()}#{step}",
                            options={"require_exp": True, "require_sub": True})
        user = session.get(User, int(claims["sub"]))
    except (JOSEError, TypeError, ValueError):
        raise Unauthorized("the login step expired or is invalid; log in again") from None
    if user is None or not user.active or claims.get("ver") != user.sessions_version:
        raise Unauthorized("the account is unknown or deactivated")
    return user, claims


def end_all_sessions(session: Session, user: User) -> None:
    """"Log out everywhere": every token issued to the user so far stops opening anything
    (their `ver` is behind), in every process, from the caller's commit on."""
    user.sessions_version = (user.sessions_version or 0) + 1
    session.flush()


# The user and whether the token's login was revoked, in one statement: the revocation check
# is a primary-key probe inside the user read every request makes anyway. Built once.
_USER_AND_REVOKED = select(
    User, select(RevokedToken.jti).where(RevokedToken.jti == bindparam("login")).exists()
).where(User.id == bindparam("user_id"))
_LOGIN_ID = re.compile(r"[0-9A-Za-z_-]{1,64}")


def login_id(claims: dict[str, Any]) -> str:
    """What a logout revokes: the login the token belongs to (`sid`), else the token itself
    (`jti`, tokens issued before `sid` existed)."""
    value = claims.get("sid") or claims.get("jti")
    if not isinstance(value, str) or not _LOGIN_ID.fullmatch(value):
        raise Unauthorized("the access token has no valid id (jti)")
    return value


def verify_access_token(session: Session, token: str) -> User:
    claims = _verified_claims(session, token)
    try:
        user_id = int(claims["sub"])
    except (TypeError, ValueError):
        raise Unauthorized("the access token names no user") from None
    row = session.execute(_USER_AND_REVOKED,
                          {"user_id": user_id, "login": login_id(claims)}).first()
    user, revoked = row if row is not None else (None, False)
    if user is None or not user.active:
        raise Unauthorized("the account is unknown or deactivated")
    if revoked:
        raise Unauthorized("the access token was revoked (logged out); log in again")
    if claims.get("role") != user.role or claims.get("authority") != user.authority.code:
        raise Unauthorized("the account changed since the token was issued; log in again")
    if claims.get("ver", 0) != user.sessions_version:
        raise Unauthorized("every session of the account was ended; log in again")
    return user


def _verified_claims(session: Session, token: str) -> dict[str, Any]:
    """The claims of a token with a valid signature, audience, issuer and lifetime."""
    cached = _token_cache.get(token)
    if cached is not None and time.monotonic() - cached[0] < KEY_CACHE_SECONDS \
            and cached[4]["exp"] > time.time() and cached[2:4] == (issuer(), audience()):
        return cached[4]
    try:
        header = jwt.get_unverified_header(token)
    except (JOSEError, RecursionError):
        raise Unauthorized("the access token is malformed") from None
    if header.get("alg") != ALGORITHM:
        raise Unauthorized(f"tokens must be signed with {ALGORITHM}")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise Unauthorized("the access token names no signing key (kid)")
    # Looked up in the database: text PostgreSQL cannot take (NUL) must not get that far.
    if len(kid) > MAX_KID_LENGTH or inputs.text_problem(kid, single_line=True):
        raise Unauthorized("the access token names no signing key of this service")
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
    except JOSEError as exc:
        # python-jose checks required claims after the signature, with a plain JWTError: the
        # token was signed by us but lacks a claim, which is not a forged signature.
        if "missing required key" in str(exc):
            raise Unauthorized(f"the access token is not for this service: {exc}") from None
        raise Unauthorized("the access token signature is invalid") from None
    if not isinstance(claims.get("exp"), int | float):
        raise Unauthorized("the access token has no valid expiry")
    if len(_token_cache) >= TOKEN_CACHE_SIZE:
        _token_cache.clear()
    _token_cache[token] = (time.monotonic(), kid, issuer(), audience(), claims)
    return claims


def revoke_access_token(session: Session, token: str) -> bool:
    """Logout: the token's login (every token renewed from it) stops opening anything, in
    every process, from the caller's commit on. Expired revocations are pruned on the way.
    False if the token was no valid token of ours (nothing to end)."""
    try:
        claims = _verified_claims(session, token)
        login = login_id(claims)
    except Unauthorized:
        return False
    now = utcnow()
    # Tokens of this login issued up to now expire by now + the lifetime at the latest.
    expires_at = max(datetime.fromtimestamp(claims["exp"], UTC),
                     now + timedelta(seconds=token_ttl()))
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" \
        else sqlite.insert
    session.execute(insert(RevokedToken).values(jti=login, expires_at=expires_at)
                    .on_conflict_do_nothing(index_elements=["jti"]))
    session.execute(delete(RevokedToken).where(RevokedToken.expires_at < now))
    _token_cache.pop(token, None)
    return True


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
            _hasher.verify(_dummy_hash(), password + "x")
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
