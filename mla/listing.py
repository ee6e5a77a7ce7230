"""Finding requests: filters and keyset pagination over what the user may see."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session, aliased

from mla import access
from mla.errors import FieldProblem, InvalidInput
from mla.models import Authority, Request, User

MAX_LIMIT = 100


@dataclass(frozen=True)
class Page:
    items: list[Request]
    next_cursor: str | None


def _encode(request: Request) -> str:
    raw = json.dumps([request.created_at.isoformat(), str(request.id)])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        at, ident = json.loads(raw)
        return datetime.fromisoformat(at), uuid.UUID(ident)
    except (ValueError, TypeError, binascii.Error, json.JSONDecodeError):
        raise InvalidInput("bad cursor", [FieldProblem("cursor", "use next_cursor as given")]
                           ) from None


def list_requests(
    session: Session,
    user: User,
    *,
    kind: str | None = None,
    state: str | None = None,
    counterpart: str | None = None,
    side: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> Page:
    """Newest first. `side` is requesting|requested from the user's authority's view;
    `counterpart` is the code of the other authority."""
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput("bad limit", [FieldProblem("limit", f"between 1 and {MAX_LIMIT}")])
    if side not in (None, "requesting", "requested"):
        raise InvalidInput("bad side", [FieldProblem("side", "requesting or requested")])
    query = access.visible_requests(user)
    if side == "requesting":
        query = query.where(Request.requesting_authority_id == user.authority_id)
    elif side == "requested":
        query = query.where(Request.requested_authority_id == user.authority_id)
    if kind:
        query = query.where(Request.kind == kind)
    if state:
        query = query.where(Request.state == state)
    if counterpart:
        other = aliased(Authority)
        other_id = select(other.id).where(other.code == counterpart).scalar_subquery()
        query = query.where(or_(
            and_(Request.requesting_authority_id == user.authority_id,
                 Request.requested_authority_id == other_id),
            and_(Request.requested_authority_id == user.authority_id,
                 Request.requesting_authority_id == other_id),
        ))
    if cursor:
        at, ident = _decode(cursor)
        query = query.where(or_(Request.created_at < at,
                                and_(Request.created_at == at, Request.id < ident)))
    rows = list(session.scalars(
        query.order_by(Request.created_at.desc(), Request.id.desc()).limit(limit + 1)
    ))
    more = len(rows) > limit
    items = rows[:limit]
    return Page(items, _encode(items[-1]) if more and items else None)
