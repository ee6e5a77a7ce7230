"""Finding requests: filters and keyset pagination over what the user may see."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session, aliased

from mla import access, inputs
from mla.clock import utcnow
from mla.errors import FieldProblem, InvalidInput
from mla.models import Authority, Deadline, Request, User

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
        at, ident = inputs.load_json(raw)
        instant = datetime.fromisoformat(at)
        # Ours always carry their offset; a forged one without it cannot be compared.
        if instant.tzinfo is None:
            raise ValueError("no time zone")
        return instant, uuid.UUID(ident)
    except (ValueError, TypeError, binascii.Error):
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


SORTS = ("created", "updated", "reference", "kind", "state", "due")


@dataclass(frozen=True)
class Found:
    """One page of a search, numbered; `next_due` is the soonest running deadline of each."""

    items: list[Request]
    total: int
    page: int
    per_page: int
    next_due: dict[uuid.UUID, datetime]

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def search(
    session: Session,
    user: User,
    *,
    kind: str | None = None,
    state: str | None = None,
    counterpart: str | None = None,
    overdue: bool = False,
    sort: str = "created",
    descending: bool = True,
    page: int = 1,
    per_page: int = 25,
    now: datetime | None = None,
) -> Found:
    """Numbered pages sorted by any column, for people paging through a screen (API clients
    use `list_requests`, whose cursors stay stable while requests are filed). `overdue`
    keeps requests with a running deadline past due; `due` sorts by the soonest one."""
    problems = []
    if sort not in SORTS:
        problems.append(FieldProblem("sort", f"one of: {', '.join(SORTS)}"))
    if not 1 <= per_page <= MAX_LIMIT:
        problems.append(FieldProblem("per_page", f"between 1 and {MAX_LIMIT}"))
    if page < 1:
        problems.append(FieldProblem("page", "1 or more"))
    if problems:
        raise InvalidInput("bad search", problems)
    now = now or utcnow()
    running = (select(Deadline.request_id, func.min(Deadline.due_at).label("due"))
               .where(Deadline.closed_at.is_(None), Deadline.suspended_at.is_(None))
               .group_by(Deadline.request_id).subquery())
    query = access.visible_requests(user).outerjoin(running, running.c.request_id == Request.id)
    if kind:
        query = query.where(Request.kind == kind)
    if state:
        query = query.where(Request.state == state)
    if counterpart:
        other_id = select(Authority.id).where(Authority.code == counterpart).scalar_subquery()
        query = query.where(or_(
            and_(Request.requesting_authority_id == user.authority_id,
                 Request.requested_authority_id == other_id),
            and_(Request.requested_authority_id == user.authority_id,
                 Request.requesting_authority_id == other_id),
        ))
    if overdue:
        query = query.where(running.c.due < now)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    column = {"created": Request.created_at, "updated": Request.updated_at,
              "reference": Request.reference, "kind": Request.kind, "state": Request.state,
              "due": running.c.due}[sort]
    # Requests without a running clock go last whichever way the due column is sorted.
    order = [column.desc() if descending else column.asc()]
    if sort == "due":
        order.insert(0, running.c.due.is_(None))
    rows = session.execute(query.add_columns(running.c.due)
                           .order_by(*order, Request.id.desc())
                           .offset((page - 1) * per_page).limit(per_page)).all()
    return Found(items=[r[0] for r in rows], total=total, page=page, per_page=per_page,
                 next_due={r[0].id: r[1] for r in rows if r[1] is not None})
