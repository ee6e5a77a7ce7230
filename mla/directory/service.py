"""Central authorities and their users."""

from __future__ import annotations

from collections.abc import Sequence
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.orm import Session

from mla.errors import FieldProblem, InvalidInput, NotFound
from mla.models import ROLES, Authority, User


def add_authority(
    session: Session,
    *,
    code: str,
    country: str,
    name: str,
    timezone: str,
    languages: Sequence[str],
) -> Authority:
    problems = []
    if len(country) != 2 or not country.isalpha() or not country.isupper():
        problems.append(FieldProblem("country", "ISO 3166-1 alpha-2 code, e.g. FR"))
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(FieldProblem("timezone", "an IANA time zone, e.g. Europe/Paris"))
    if not languages:
        problems.append(FieldProblem("languages", "at least one accepted language"))
    if session.scalar(select(Authority.id).where(Authority.code == code)) is not None:
        problems.append(FieldProblem("code", f"an authority with code {code} exists already"))
    if problems:
        raise InvalidInput(f"authority {code} is not valid", problems)
    authority = Authority(code=code, country=country, name=name, timezone=timezone,
                          languages=list(languages))
    session.add(authority)
    session.flush()
    return authority


def add_user(
    session: Session,
    authority: Authority,
    *,
    username: str,
    full_name: str,
    role: str,
    email: str | None = None,
) -> User:
    check_new_user(session, username=username, role=role)
    user = User(authority_id=authority.id, authority=authority, username=username,
                full_name=full_name, role=role, email=email)
    session.add(user)
    session.flush()
    return user


def check_new_user(session: Session, *, username: str, role: str) -> None:
    """InvalidInput unless a user `username` with `role` can be added."""
    problems = []
    if role not in ROLES:
        problems.append(FieldProblem("role", f"one of: {', '.join(ROLES)}"))
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        problems.append(FieldProblem("username", f"{username} is taken"))
    if problems:
        raise InvalidInput(f"user {username} is not valid", problems)


def authority_by_code(session: Session, code: str) -> Authority:
    authority = session.scalar(select(Authority).where(Authority.code == code))
    if authority is None:
        raise NotFound(f"no authority with code {code}")
    return authority


def user_by_username(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(f"no user {username}")
    return user
