"""The steps of a local login, each in the audit chain: password, then the second factor
(or its enrolment when the role requires one and none is set up), then the session token of
mla.security. Single sign-on logins come through mla.identity.sso instead."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from mla import audit, security
from mla.errors import Forbidden, RateLimited, Unauthorized
from mla.identity import security_keys, totp
from mla.models import User

STEP_SECOND_FACTOR = "second-factor"
STEP_ENROL = "enrol"
STEP_KEY_LOGIN = "webauthn-login"
STEP_KEY_REGISTER = "webauthn-register"


@dataclass(frozen=True)
class Step:
    """What the password opened: a session `token`, or the `step` still to do with the
    `step_token` that proves the password was right."""

    user: User
    token: str | None = None
    step: str | None = None
    step_token: str | None = None


def _failed(session: Session, username: str, user: User | None, reason: str,
            method: str) -> None:
    audit.record(session, "login.failed", actor=user, object_type="user",
                 object_id=str(user.id) if user else None,
                 detail={"username": username[:100], "method": method, "reason": reason})
    session.commit()


def password(session: Session, username: str, secret: str, ip: str) -> Step:
    try:
        user = security.authenticate(session, username, secret, ip)
    except (Unauthorized, RateLimited) as exc:
        known = session.scalar(select(User).where(User.username == username))
        _failed(session, username, known, exc.detail, "password")
        raise
    if totp.factor(session, user) is not None or security_keys.has_keys(session, user):
        step = STEP_SECOND_FACTOR
    elif totp.required(user):
        step = STEP_ENROL
    else:
        return Step(user, token=finish(session, user, "password"))
    # Committed: the first token of an instance makes its signing key.
    step_token = security.issue_step_token(session, user, step)
    session.commit()
    return Step(user, step=step, step_token=step_token)


def second_factor(session: Session, step_token: str, code: str, ip: str) -> tuple[User, str]:
    """The session token once the code checks out; audited either way."""
    user = security.verify_step_token(session, step_token, STEP_SECOND_FACTOR)
    try:
        method = totp.verify(session, user, code, ip)
    except (Unauthorized, RateLimited) as exc:
        _failed(session, user.username, user, exc.detail, "second factor")
        raise
    if method == "recovery code":
        audit.record(session, "second_factor.recovery_code_used", actor=user,
                     object_type="user", object_id=str(user.id),
                     detail={"remaining": totp.remaining_recovery_codes(session, user)})
    return user, finish(session, user, f"password+{method}")


def api_password(session: Session, username: str, secret: str, code: str | None,
                 ip: str) -> str:
    """POST /auth/token: the password and, for accounts with a second factor, its code in
    the same request."""
    step = password(session, username, secret, ip)
    if step.token is not None:
        return step.token
    if step.step == STEP_ENROL:
        _failed(session, username, step.user, "second factor not set up", "password")
        raise Forbidden("this account's role requires a second factor: set one up in the "
                        "console (log in there), then send its code as `otp`")
    if not code and totp.factor(session, step.user) is None:
        _failed(session, username, step.user, "security key only", "password")
        raise Unauthorized("this account's second factor is a security key, which only the "
                           "console can use: log in there")
    if not code:
        _failed(session, username, step.user, "no second-factor code", "password")
        raise Unauthorized("this account has a second factor: send its current code (or a "
                           "recovery code) as `otp`")
    assert step.step_token is not None
    return second_factor(session, step.step_token, code, ip)[1]


def finish(session: Session, user: User, method: str) -> str:
    token, _ = security.issue_access_token(session, user)
    audit.record(session, "login", actor=user, object_type="user", object_id=str(user.id),
                 detail={"method": method})
    session.commit()
    return token


def enrol_start(session: Session, step_token: str | None, user: User | None) -> tuple[User, str]:
    """(user, secret): from the login's enrolment step, or a logged-in user's settings."""
    if user is None:
        user = security.verify_step_token(session, step_token or "", STEP_ENROL)
    secret = totp.start_enrolment(session, user)
    session.commit()
    return user, secret


def enrol_confirm(session: Session, step_token: str | None, user: User | None, code: str,
                  ip: str) -> tuple[User, list[str], str | None]:
    """(user, recovery codes, session token when this finished a login)."""
    logging_in = user is None
    if user is None:
        user = security.verify_step_token(session, step_token or "", STEP_ENROL)
    try:
        codes = totp.confirm(session, user, code, ip)
    except (Unauthorized, RateLimited) as exc:
        _failed(session, user.username, user, exc.detail, "second factor enrolment")
        raise
    audit.record(session, "second_factor.enrol", actor=user, object_type="user",
                 object_id=str(user.id), detail={"kind": "totp"})
    token = finish(session, user, "password+totp enrolment") if logging_in else None
    session.commit()
    return user, codes, token


def sso_failed(session: Session, reason: str) -> None:
    """A single sign-on login that did not get as far as a person (a refused or forged
    answer from the provider, an unknown state)."""
    audit.record(session, "login.failed", object_type="user",
                 detail={"method": "oidc", "reason": reason[:300]})
    session.commit()


def logout(session: Session, token: str) -> bool:
    """The console's logout: the token's login is revoked (mla.security) and the logout
    audited. False when the token was no valid session (nothing to end)."""
    try:
        user = security.verify_access_token(session, token)
    except Unauthorized:
        return False
    if not security.revoke_access_token(session, token):
        return False
    audit.record(session, "logout", actor=user, object_type="user", object_id=str(user.id))
    session.commit()
    return True


def logout_everywhere(session: Session, user: User) -> None:
    security.end_all_sessions(session, user)
    audit.record(session, "logout.everywhere", actor=user, object_type="user",
                 object_id=str(user.id))
    session.commit()


# --- security keys (WebAuthn) ---------------------------------------------------------------


def key_login_options(session: Session, step_token: str) -> tuple[str, str]:
    """(options for navigator.credentials.get, the challenge's token for the next call)."""
    user = security.verify_step_token(session, step_token, STEP_SECOND_FACTOR)
    options, challenge = security_keys.authentication_options(session, user)
    token = security.issue_step_token(session, user, STEP_KEY_LOGIN, {"challenge": challenge})
    session.commit()
    return options, token


def key_login(session: Session, challenge_token: str, credential: str,
              ip: str) -> tuple[User, str]:
    user, claims = security.verify_step_claims(session, challenge_token, STEP_KEY_LOGIN)
    try:
        totp.check_rate(session, user)
        security_keys.authenticate(session, user, credential, str(claims.get("challenge")))
    except (Unauthorized, RateLimited) as exc:
        if isinstance(exc, Unauthorized):
            totp.count_failure(session, user, ip, exc.detail)
        _failed(session, user.username, user, exc.detail, "security key")
        raise
    return user, finish(session, user, "password+security key")


def key_register_options(session: Session, user: User) -> tuple[str, str]:
    options, challenge = security_keys.registration_options(session, user)
    token = security.issue_step_token(session, user, STEP_KEY_REGISTER,
                                      {"challenge": challenge})
    session.commit()
    return options, token


def key_register(session: Session, user: User, challenge_token: str, credential: str) -> None:
    owner, claims = security.verify_step_claims(session, challenge_token, STEP_KEY_REGISTER)
    if owner.id != user.id:
        raise Unauthorized("this registration was started by another account")
    key = security_keys.register(session, user, credential, str(claims.get("challenge")))
    audit.record(session, "second_factor.enrol", actor=user, object_type="user",
                 object_id=str(user.id), detail={"kind": "security key", "key": key.id})
    session.commit()
