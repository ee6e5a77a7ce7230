"""Users of the ministry's identity provider: found by the provider's subject (`iss`, `sub`,
never by a user name an attacker could pick), created at first login, their authority and
role kept equal to what the mapping gives, deactivated when the provider says so (its
`active` claim false, or no group of this instance any more). An admin's deactivation here
is never undone by a login."""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mla import audit, inputs
from mla.clock import utcnow
from mla.errors import Forbidden
from mla.identity import mapping
from mla.models import Authority, ExternalIdentity, User


class AccessRefused(Forbidden):
    """The provider vouched for the person, but this instance gives them nothing."""


def _free_username(session: Session, wanted: str, issuer: str, subject: str) -> str:
    name = "".join(c for c in wanted if c.isprintable() and not c.isspace())[:80] or "user"
    if session.scalar(select(User.id).where(User.username == name)) is None:
        return name
    # Taken (a local account, or another provider's user): never the same account.
    suffix = hashlib.sha256(f"{issuer}\n{subject}".encode()).hexdigest()[:8]
    return f"{name[:80]}~{suffix}"


def _refuse(session: Session, user: User | None, reason: str, claims: dict[str, Any]) -> None:
    audit.record(session, "login.refused", actor=user, object_type="user",
                 object_id=str(user.id) if user else None,
                 detail={"method": "oidc", "sub": str(claims.get("sub"))[:255],
                         "reason": reason})
    session.commit()
    raise AccessRefused(reason)


def user_for(session: Session, issuer: str, claims: dict[str, Any], *,
             via: str = "oidc") -> User:
    """The user these verified claims are, created or brought up to date (committed when
    anything changed); AccessRefused (audited and committed) when the mapping gives no
    authority and role or the account is deactivated. `via` "oidc" is a console login (the
    caller audits it), "bearer" an API request."""
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject or len(subject) > 255 \
            or inputs.text_problem(subject, single_line=True):
        raise AccessRefused("the identity provider sent no usable subject (sub)")
    identity = session.scalar(select(ExternalIdentity).where(
        ExternalIdentity.issuer == issuer, ExternalIdentity.subject == subject))
    user = session.get(User, identity.user_id) if identity else None
    try:
        table = mapping.current()
    except mapping.MappingError as exc:
        _refuse(session, user, f"single sign-on is misconfigured on this instance ({exc}); "
                "tell its administrator", claims)
        raise
    try:
        assigned = mapping.assign(table, claims)
    except mapping.NotMapped as exc:
        if user is not None and user.active:
            user.active = False
            audit.record(session, "user.deactivate", object_type="user",
                         object_id=str(user.id), authority_id=user.authority_id,
                         detail={"by": "identity provider", "reason": "no group"})
        _refuse(session, user, str(exc), claims)
        raise
    if not assigned.active:
        if user is not None and user.active:
            user.active = False
            audit.record(session, "user.deactivate", object_type="user",
                         object_id=str(user.id), authority_id=user.authority_id,
                         detail={"by": "identity provider", "reason": "inactive"})
        _refuse(session, user, "your identity provider says your account is disabled", claims)
    authority = session.scalar(select(Authority).where(Authority.code == assigned.authority))
    if authority is None:
        _refuse(session, user, f"your groups name the authority {assigned.authority}, which "
                "this instance does not host", claims)
        raise AssertionError  # unreachable: _refuse raises
    changed = user is None
    if user is None:
        user = User(authority_id=authority.id, authority=authority,
                    username=_free_username(session, assigned.username, issuer, subject),
                    full_name=assigned.full_name, email=assigned.email, role=assigned.role,
                    active=True)
        session.add(user)
        session.flush()
        session.add(ExternalIdentity(user_id=user.id, issuer=issuer, subject=subject))
        audit.record(session, "user.create", actor=user, object_type="user",
                     object_id=str(user.id),
                     detail={"by": "identity provider", "username": user.username,
                             "role": user.role, "authority": authority.code})
    elif not user.active:
        _refuse(session, user, "your account is deactivated on this instance; ask its "
                "administrator", claims)
    else:
        changes: dict[str, Any] = {}
        if user.authority_id != authority.id:
            user.authority_id, user.authority = authority.id, authority
            changes["authority"] = authority.code
        if user.role != assigned.role:
            user.role = changes["role"] = assigned.role
        if user.full_name != assigned.full_name:
            user.full_name = changes["full_name"] = assigned.full_name
        if assigned.email and user.email != assigned.email:
            user.email = changes["email"] = assigned.email
        if changes:
            changed = True
            audit.record(session, "user.update", actor=user, object_type="user",
                         object_id=str(user.id),
                         detail={"by": "identity provider", **changes})
    if via == "oidc":
        if identity is None:
            identity = session.scalar(select(ExternalIdentity).where(
                ExternalIdentity.issuer == issuer, ExternalIdentity.subject == subject))
        if identity is not None:
            identity.last_login_at = utcnow()
    if changed or via == "oidc":
        session.commit()
    return user
