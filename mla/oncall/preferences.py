"""Contact preferences: which channels page a contact point, in which order, and how many
minutes after its escalation step fires ("Matrix at once, SMS after 2 minutes, e-mail
always"). A channel still pending when the page is acknowledged is never sent.

Channels are data: `ADDRESS_FIELDS` names, per channel the pager sends on, the contact
point's field that holds its address. A new channel is one entry here and one sender in
mla/oncall/delivery.py.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mla import audit
from mla.errors import FieldProblem, Forbidden, InvalidInput, NotFound
from mla.models import ContactPoint, User

ADDRESS_FIELDS: dict[str, str] = {"email": "email", "webhook": "webhook_url", "sms": "phone",
                                   "matrix": "matrix_id"}
MAX_AFTER_MINUTES = 1440
MANAGER_ROLE = "admin"


def address(contact: ContactPoint, channel: str) -> str | None:
    field = ADDRESS_FIELDS.get(channel)
    return getattr(contact, field, None) if field else None


def plan(contact: ContactPoint) -> list[tuple[str, str, int]]:
    """(channel, address, after minutes) in the contact point's order; channels without an
    address are left out. Without preferences: every channel of `channels` at once."""
    steps = contact.preferences if contact.preferences is not None else [
        {"channel": c, "after_minutes": 0} for c in contact.channels]
    out = []
    for step in steps:
        where = address(contact, step["channel"])
        if where:
            out.append((step["channel"], where, int(step["after_minutes"])))
    return out


def check(contact: ContactPoint, steps: Any) -> list[FieldProblem]:
    if not isinstance(steps, list) or not 1 <= len(steps) <= len(ADDRESS_FIELDS):
        return [FieldProblem("steps", f"a list of 1 to {len(ADDRESS_FIELDS)} channels")]
    problems: list[FieldProblem] = []
    seen: set[str] = set()
    for i, step in enumerate(steps):
        where = f"steps.{i}"
        if not isinstance(step, dict) or set(step) - {"channel", "after_minutes"}:
            problems.append(FieldProblem(where, "{channel, after_minutes}"))
            continue
        channel = step.get("channel")
        if channel not in ADDRESS_FIELDS:
            problems.append(FieldProblem(f"{where}.channel",
                                         f"one of: {', '.join(ADDRESS_FIELDS)}"))
        elif channel in seen:
            problems.append(FieldProblem(f"{where}.channel", f"{channel} is listed twice"))
        elif not address(contact, channel):
            problems.append(FieldProblem(f"{where}.channel", f"the contact point has no "
                                         f"{ADDRESS_FIELDS[channel]} for {channel}"))
        seen.add(str(channel))
        after = step.get("after_minutes", 0)
        if not isinstance(after, int) or isinstance(after, bool) \
                or not 0 <= after <= MAX_AFTER_MINUTES:
            problems.append(FieldProblem(f"{where}.after_minutes",
                                         f"whole minutes from 0 to {MAX_AFTER_MINUTES}"))
    return problems


def parse(text: str) -> list[dict[str, Any]]:
    """"matrix:0,sms:2,email:0" (the CLI's and the console's form) as steps; a bad item is
    an InvalidInput naming it."""
    steps: list[dict[str, Any]] = []
    for i, item in enumerate(x.strip() for x in text.split(",") if x.strip()):
        channel, _, after = item.partition(":")
        try:
            minutes = int(after) if after.strip() else 0
        except ValueError:
            raise InvalidInput("the preferences are not valid", [FieldProblem(
                f"steps.{i}.after_minutes", f"{item!r}: whole minutes after the colon"
            )]) from None
        steps.append({"channel": channel.strip(), "after_minutes": minutes})
    return steps


def text(contact: ContactPoint) -> str:
    """The preferences in parse()'s form (what the console's field shows)."""
    return ",".join(f"{c}:{m}" for c, _, m in plan(contact))


def manageable(session: Session, contact_id: int, user: User) -> ContactPoint:
    """The contact point, if `user` may set its preferences and test it: an admin of its
    authority, or the account linked to it. Other authorities' contact points are
    NotFound."""
    contact = session.get(ContactPoint, contact_id)
    if contact is None or contact.authority_id != user.authority_id:
        raise NotFound(f"no contact point {contact_id}")
    if user.role != MANAGER_ROLE and contact.user_id != user.id:
        raise Forbidden("a contact point's preferences are set by the person linked to it "
                        "or an admin of its authority")
    return contact


def mine(session: Session, user: User) -> list[ContactPoint]:
    """The contact points linked to the user's account."""
    return list(session.scalars(select(ContactPoint).where(
        ContactPoint.user_id == user.id, ContactPoint.authority_id == user.authority_id)
        .order_by(ContactPoint.network, ContactPoint.name)))


def set_preferences(session: Session, contact: ContactPoint, steps: Any,
                    actor: User | None) -> ContactPoint:
    """Replaces the contact point's preferences (None: back to every channel at once).
    `actor` None: the operator's shell (`mla oncall preferences`)."""
    if steps is not None:
        problems = check(contact, steps)
        if problems:
            raise InvalidInput("the preferences are not valid", problems)
        steps = [{"channel": s["channel"], "after_minutes": int(s.get("after_minutes", 0))}
                 for s in steps]
    contact.preferences = steps
    session.flush()
    audit.record(session, "oncall.preferences", actor=actor, object_type="contact_point",
                 object_id=str(contact.id), detail={"steps": steps},
                 authority_id=None if actor else contact.authority_id)
    return contact
