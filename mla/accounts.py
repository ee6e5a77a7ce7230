"""User administration, by the admins of each authority and only for their own users."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from mla import audit, i18n, security
from mla.directory import service as directory
from mla.errors import FieldProblem, Forbidden, InvalidInput, NotFound
from mla.i18n import N_
from mla.models import ROLES, User


def _require_admin(admin: User) -> None:
    if admin.role != "admin":
        raise Forbidden(f"user administration needs the admin role; you are {admin.role}")


def list_users(session: Session, admin: User) -> list[User]:
    _require_admin(admin)
    return list(session.scalars(
        select(User).where(User.authority_id == admin.authority_id).order_by(User.username)
    ))


def get_user(session: Session, admin: User, user_id: int) -> User:
    # Existence first: users of other authorities are unknown to everyone, admin or not.
    user = session.get(User, user_id)
    if user is None or user.authority_id != admin.authority_id:
        raise NotFound(f"no user {user_id}")
    _require_admin(admin)
    return user


def create_user(session: Session, admin: User, *, username: str, full_name: str, role: str,
                email: str | None = None, password: str | None = None) -> User:
    _require_admin(admin)
    user = directory.add_user(session, admin.authority, username=username,
                              full_name=full_name, role=role, email=email)
    if password is not None:
        security.set_password(session, user, password)
    audit.record(session, "user.create", actor=admin, object_type="user",
                 object_id=str(user.id), detail={"username": username, "role": role})
    return user


def update_user(session: Session, admin: User, user: User, *, full_name: str | None = None,
                role: str | None = None, email: str | None = None, active: bool | None = None,
                password: str | None = None) -> User:
    _require_admin(admin)
    if user.authority_id != admin.authority_id:
        raise NotFound(f"no user {user.id}")
    changes: dict[str, object] = {}
    if role is not None:
        if role not in ROLES:
            raise InvalidInput("unknown role",
                               [FieldProblem("role", f"one of: {', '.join(ROLES)}")])
        if user.id == admin.id and role != "admin":
            raise InvalidInput("admins cannot demote themselves",
                               [FieldProblem("role", "ask another admin")])
        user.role = changes["role"] = role
    if active is not None:
        if user.id == admin.id and not active:
            raise InvalidInput("admins cannot deactivate themselves",
                               [FieldProblem("active", "ask another admin")])
        user.active = changes["active"] = active
    if full_name is not None:
        user.full_name = changes["full_name"] = full_name
    if email is not None:
        user.email = changes["email"] = email
    if password is not None:
        security.set_password(session, user, password)
        changes["password"] = "changed"
    session.flush()
    audit.record(session, "user.update", actor=admin, object_type="user",
                 object_id=str(user.id), detail=changes)
    return user


def set_language(session: Session, user: User, language: str | None) -> None:
    """The user's own interface language (mla.i18n.LANGUAGES), or None to follow the
    browser's Accept-Language, then the authority's first language."""
    if language is not None and language not in i18n.LANGUAGES:
        raise InvalidInput("unknown interface language", [FieldProblem.of(
            "language", N_("must be one of: {options}"), options=", ".join(i18n.LANGUAGES))])
    if user.language == language:
        return
    audit.record(session, "user.language", actor=user, object_type="user",
                 object_id=str(user.id), detail={"from": user.language, "to": language})
    user.language = language
