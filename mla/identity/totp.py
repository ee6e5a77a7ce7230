"""TOTP second factor for local accounts (RFC 6238: 30-second steps, 6 digits, SHA-1, as
every authenticator app reads them): enrolment shown as a QR code (inline SVG, made here),
codes accepted one step either side of ours and each step once only (a code seen by a
shoulder-surfer or a phishing proxy opens nothing after its owner used it), recovery codes
kept as argon2 hashes and each used once, failures rate-limited per account in the database."""

from __future__ import annotations

import hmac
import secrets
from datetime import timedelta

import pyotp
import segno
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from mla import settings
from mla.clock import utcnow
from mla.errors import FieldProblem, InvalidInput, RateLimited, Unauthorized
from mla.models import LoginAttempt, RecoveryCode, TotpFactor, User

ISSUER_NAME = "MLA engine"
RECOVERY_CODES = 10
WINDOW = timedelta(minutes=15)
MAX_FAILURES = 5
_hasher = PasswordHasher()


def required(user: User) -> bool:
    return user.role in settings.get().second_factor_role_list


def factor(session: Session, user: User) -> TotpFactor | None:
    found = session.get(TotpFactor, user.id)
    return found if found is not None and found.confirmed_at is not None else None


def start_enrolment(session: Session, user: User) -> str:
    """A new secret for the user (replacing one not confirmed yet); the caller commits and
    shows `provisioning_uri`. A confirmed factor is replaced only by `remove` first."""
    current = session.get(TotpFactor, user.id)
    if current is not None and current.confirmed_at is not None:
        raise InvalidInput("a second factor is already set up",
                           [FieldProblem("totp", "remove it before enrolling another")])
    secret = pyotp.random_base32()
    if current is None:
        session.add(TotpFactor(user_id=user.id, secret=secret))
    else:
        current.secret, current.last_step = secret, None
    session.flush()
    return secret


def provisioning_uri(user: User, secret: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=f"{user.username} ({user.authority.code})",
                                               issuer_name=ISSUER_NAME)


def qr_svg(uri: str) -> str:
    """The otpauth URI as an inline SVG QR code: drawn here, nothing from elsewhere."""
    return str(segno.make(uri, error="m").svg_inline(scale=5, title="QR code to scan",
                                                     dark="#000", light="#fff"))


def _matching_step(secret: str, code: str) -> int | None:
    totp = pyotp.TOTP(secret)
    now = utcnow()
    current = totp.timecode(now)
    for offset in (0, -1, 1):
        candidate = totp.generate_otp(current + offset)
        if hmac.compare_digest(candidate, code):
            return current + offset
    return None


def check_rate(session: Session, user: User) -> None:
    since = utcnow() - WINDOW
    count, oldest = session.execute(
        select(func.count(), func.min(LoginAttempt.at)).where(
            LoginAttempt.username == _key(user), LoginAttempt.at > since,
            LoginAttempt.success.is_(False))).one()
    if count >= MAX_FAILURES:
        remaining = oldest + WINDOW - utcnow()
        raise RateLimited("too many wrong second-factor codes for this account; try again "
                          "later", retry_after=max(1, int(remaining.total_seconds()) + 1))


def _key(user: User) -> str:
    return f"2fa:{user.username}"[:100]


def count_failure(session: Session, user: User, ip: str, message: str) -> Unauthorized:
    session.add(LoginAttempt(at=utcnow(), username=_key(user), ip=ip[:64], success=False))
    session.commit()
    return Unauthorized(message)


def confirm(session: Session, user: User, code: str, ip: str) -> list[str]:
    """Ends the enrolment with a code from the app; returns the recovery codes, shown once.
    The caller commits."""
    check_rate(session, user)
    pending = session.get(TotpFactor, user.id)
    if pending is None or pending.confirmed_at is not None:
        raise InvalidInput("no enrolment in progress", [FieldProblem("code", "start again")])
    step = _matching_step(pending.secret, code.strip().replace(" ", ""))
    if step is None:
        raise count_failure(session, user, ip, "that code is not the one the app shows now; check "
                      "the phone's clock and try again")
    pending.confirmed_at, pending.last_step = utcnow(), step
    codes = [f"{secrets.token_hex(3)}-{secrets.token_hex(3)}-{secrets.token_hex(3)}"
             for _ in range(RECOVERY_CODES)]
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    session.add_all(RecoveryCode(user_id=user.id, code_hash=_hasher.hash(c)) for c in codes)
    session.flush()
    return codes


def verify(session: Session, user: User, code: str, ip: str) -> str:
    """'totp' or 'recovery code' when `code` is a current code (not used before) or an
    unused recovery code; otherwise Unauthorized (counted) or RateLimited. The caller
    commits."""
    check_rate(session, user)
    enrolled = factor(session, user)
    if enrolled is None:
        raise Unauthorized("this account has no second factor set up")
    code = code.strip().replace(" ", "")
    if code.isdigit() and len(code) == 6:
        step = _matching_step(enrolled.secret, code)
        if step is None:
            raise count_failure(session, user, ip, "wrong or expired code")
        if enrolled.last_step is not None and step <= enrolled.last_step:
            raise count_failure(session, user, ip, "this code was already used; wait for the next "
                          "one")
        enrolled.last_step = step
        session.flush()
        return "totp"
    unused = session.scalars(select(RecoveryCode).where(RecoveryCode.user_id == user.id,
                                                        RecoveryCode.used_at.is_(None)))
    for row in unused:
        try:
            if _hasher.verify(row.code_hash, code.lower()):
                row.used_at = utcnow()
                session.flush()
                return "recovery code"
        except (VerificationError, InvalidHashError):
            continue
    raise count_failure(session, user, ip, "wrong code")


def remaining_recovery_codes(session: Session, user: User) -> int:
    return int(session.scalar(select(func.count()).select_from(RecoveryCode).where(
        RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))) or 0)
