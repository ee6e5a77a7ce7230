"""Links between requests, kept by the authority that records them (the counterpart of one
request may not even be a party to the other). Kinds and the request kinds they join are
data: links.yaml."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mla import access, audit
from mla.clock import utcnow
from mla.errors import Conflict, FieldProblem, InvalidInput, NotFound
from mla.models import Request, RequestLink, User


@dataclass(frozen=True)
class LinkKind:
    name: str
    label: str
    source: str
    from_kinds: tuple[str, ...] | None
    to_kinds: tuple[str, ...] | None


@functools.cache
def kinds() -> dict[str, LinkKind]:
    raw = yaml.safe_load((Path(__file__).parent / "links.yaml").read_text(encoding="utf-8"))
    return {name: LinkKind(name, spec["label"], spec["source"],
                           tuple(spec["from"]) if "from" in spec else None,
                           tuple(spec["to"]) if "to" in spec else None)
            for name, spec in raw.items()}


def create_link(session: Session, user: User, *, from_request_id: Any, to_request_id: Any,
                kind: str, note: str | None = None) -> RequestLink:
    """`to` follows `from`. Both must be requests the user's authority is a party to
    (NotFound otherwise, before any role check). The caller commits."""
    earlier = access.get_request(session, from_request_id, user)
    later = access.get_request(session, to_request_id, user)
    access.require_content(user)
    problems: list[FieldProblem] = []
    spec = kinds().get(kind)
    if spec is None:
        problems.append(FieldProblem("kind", f"one of: {', '.join(kinds())}"))
    else:
        if spec.from_kinds and earlier.kind not in spec.from_kinds:
            problems.append(FieldProblem(
                "from_request", f"a {kind} link starts at a {' or '.join(spec.from_kinds)} "
                f"request; {earlier.reference} is {earlier.kind}"))
        if spec.to_kinds and later.kind not in spec.to_kinds:
            problems.append(FieldProblem(
                "to_request", f"a {kind} link leads to a {' or '.join(spec.to_kinds)} "
                f"request; {later.reference} is {later.kind}"))
    if earlier.id == later.id:
        problems.append(FieldProblem("to_request", "a request cannot follow itself"))
    if note is not None and len(note) > 2000:
        problems.append(FieldProblem("note", "at most 2000 characters"))
    if problems:
        raise InvalidInput("the link cannot be made as given", problems)
    link = RequestLink(authority_id=user.authority_id, kind=kind, from_request_id=earlier.id,
                       to_request_id=later.id, note=note or None, created_by_id=user.id,
                       created_at=utcnow())
    try:
        with session.begin_nested():
            session.add(link)
    except IntegrityError:
        raise Conflict(f"{later.reference} is already linked to {earlier.reference} as "
                       f"{kind}") from None
    audit.record(session, "request.link", actor=user, object_type="request",
                 object_id=str(later.id), detail={"kind": kind, "from": str(earlier.id)})
    return link


def delete_link(session: Session, user: User, link_id: int) -> None:
    link = session.get(RequestLink, link_id)
    if link is None or link.authority_id != user.authority_id:
        raise NotFound(f"no link {link_id}")
    access.require_content(user)
    session.delete(link)
    audit.record(session, "request.unlink", actor=user, object_type="request",
                 object_id=str(link.to_request_id), detail={"link": link_id})


@dataclass(frozen=True)
class Linked:
    link: RequestLink
    # The request at the other end, and whether it is the earlier one.
    other: Request
    earlier: bool


def links_of(session: Session, user: User, request: Request) -> list[Linked]:
    """The user's authority's links to and from the request (none for status roles)."""
    if not access.can_read_content(user):
        return []
    rows = session.scalars(select(RequestLink).where(
        RequestLink.authority_id == user.authority_id,
        or_(RequestLink.from_request_id == request.id,
            RequestLink.to_request_id == request.id)).order_by(RequestLink.id)).all()
    others = {r.id: r for r in session.scalars(select(Request).where(Request.id.in_(
        {link.to_request_id if link.from_request_id == request.id else link.from_request_id
         for link in rows})))}
    out = []
    for link in rows:
        earlier = link.to_request_id == request.id
        other_id = link.from_request_id if earlier else link.to_request_id
        out.append(Linked(link, others[other_id], earlier))
    return out


def links_among(session: Session, user: User, request_ids: list[Any]) -> list[RequestLink]:
    if not request_ids:
        return []
    return list(session.scalars(select(RequestLink).where(
        RequestLink.authority_id == user.authority_id,
        or_(RequestLink.from_request_id.in_(request_ids),
            RequestLink.to_request_id.in_(request_ids))).order_by(RequestLink.created_at)))
