"""Reading profiles, and who may write them (writing: mla/profiles/editing.py).

Profiles of other States are shared reference data: any logged-in user reads every profile.
Writing through the API: the admins and supervisors of an authority write that authority's
own profile (code "FR-MJ"), the admins of an authority write their country's profile (code
"FR"); nobody writes another State's or another authority's profile that way (403: the
profile is visible, so there is nothing to hide behind a 404). Other States' profiles come
in through `mla profiles import`, run by whoever runs the instance.
"""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from mla.errors import Forbidden, NotFound
from mla.models import Authority, Profile, User
from mla.profiles.model import Requirements, merge

AUTHORITY_EDITORS = ("admin", "supervisor")
COUNTRY_EDITORS = ("admin",)


def get(session: Session, code: str) -> Profile:
    profile = session.scalar(select(Profile).where(Profile.code == code))
    if profile is None:
        raise NotFound(f"no profile {code}")
    return profile


def listing(session: Session, country: str | None = None) -> list[Profile]:
    stmt = select(Profile).order_by(Profile.country, Profile.code)
    if country:
        stmt = stmt.where(Profile.country == country)
    return list(session.scalars(stmt))


def can_edit(user: User, code: str) -> bool:
    if code == user.authority.code:
        return user.role in AUTHORITY_EDITORS
    if code == user.authority.country:
        return user.role in COUNTRY_EDITORS
    return False


def check_can_edit(user: User, code: str) -> None:
    if not can_edit(user, code):
        raise Forbidden(f"you may not change the profile {code}: the admins and supervisors "
                        f"of an authority change its own profile, its admins its country's")


def requirements(session: Session, authority: Authority) -> Requirements:
    """What `authority` requires: its country's profile, overridden by its own. One query."""
    rows = {p.code: p for p in session.scalars(select(Profile).where(
        or_(Profile.code == authority.country, Profile.code == authority.code)))}
    order = [c for c in (authority.country, authority.code) if c in rows]
    body = merge(*(rows[c].body for c in order))
    if "languages" not in body and authority.languages:
        # The directory's languages stand for "any kind" when no profile says more.
        body["languages"] = {"*": list(authority.languages)}
    return Requirements(body, tuple(order))
