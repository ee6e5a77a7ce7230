"""Who sees what. A user sees only requests their authority is a party to; some roles see
only where a request stands, never its content."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Select, bindparam, or_, select
from sqlalchemy.orm import Session

from mla.errors import Forbidden, NotFound
from mla.models import Request, User

# The validator reads what it validates.
CONTENT_ROLES = frozenset({"officer", "supervisor", "validator"})


def can_read_content(user: User) -> bool:
    return user.role in CONTENT_ROLES


def require_content_writer(user: User) -> None:
    """Adding to a request's content (attachments) is for officers and supervisors; a
    validator reads what it validates and adds nothing."""
    if user.role not in ("officer", "supervisor"):
        raise Forbidden(f"the {user.role} role does not add to a request's content")


def require_content(user: User) -> None:
    if not can_read_content(user):
        raise Forbidden(f"the {user.role} role sees the status of requests, not their content")


def is_party(user: User) -> ColumnElement[bool]:
    """SQL condition: the user's authority is requesting or requested party."""
    return or_(Request.requesting_authority_id == user.authority_id,
               Request.requested_authority_id == user.authority_id)


def visible_requests(user: User) -> Select[tuple[Request]]:
    return select(Request).where(is_party(user))


# Built once: every request route runs it, and building the statement costs more CPU than
# running it.
_VISIBLE_BY_ID = select(Request).where(
    Request.id == bindparam("request_id"),
    or_(Request.requesting_authority_id == bindparam("authority_id"),
        Request.requested_authority_id == bindparam("authority_id")))


def get_request(session: Session, request_id: Any, user: User) -> Request:
    """The request if the user's authority is a party to it; NotFound otherwise, whether or
    not it exists, so ids of other authorities' cases leak nothing."""
    request = session.scalar(_VISIBLE_BY_ID, {"request_id": request_id,
                                              "authority_id": user.authority_id})
    if request is None:
        raise NotFound(f"no request {request_id}")
    return request
