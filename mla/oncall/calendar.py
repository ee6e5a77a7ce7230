"""Shift calendars: each contact point's on-call shifts as an iCalendar feed (RFC 5545) that
a calendar application subscribes to at a secret URL, without a session.

The shifts are who `service.resolve` says is on call, instant by instant: the rotation's
shifts, cut where an override hands them to someone else, and the overrides given to this
contact point (the latest override wins where several overlap, as for paging). Times are
written in UTC (`DTSTART:…Z`): a shift crossing a daylight-saving change keeps its real
length (23 or 25 hours for a 24-hour wall-clock shift) and every client shows it in its own
zone, with no VTIMEZONE to get wrong. The description gives the local handoff times in the
rotation's zone.

The URL's token is 256 random bits, stored on the contact point; rotating it (a new link)
ends every subscription made with the old one.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from mla import audit, settings
from mla.clock import utcnow
from mla.errors import Forbidden, NotFound
from mla.models import ContactPoint, Rotation, RotationOverride, User
from mla.oncall import service as oncall

# What a feed holds around now: recent shifts to look back at, and the coming months.
PAST = timedelta(days=31)
AHEAD = timedelta(days=183)
ROTATE_ROLES = ("admin", "supervisor")


@dataclass(frozen=True)
class Shift:
    rotation: Rotation
    starts_at: datetime
    ends_at: datetime
    source: str  # rotation or override
    key: str  # what makes it one shift: the rotation's shift number or the override's id


def _segments(rotation: Rotation, overrides: list[RotationOverride], start: datetime,
              end: datetime) -> list[tuple[int, str, str, datetime, datetime]]:
    """(member, source, key, from, until) covering [start, end): who is on call, piece by
    piece, exactly as `service.resolve` answers at each instant."""
    points = {start, end}
    if rotation.members:
        first = oncall.shift_at(rotation, start)
        k = first[0] if first is not None else 0
        while (at := oncall.boundary(rotation, k)) < end:
            if at > start:
                points.add(at)
            k += 1
    for o in overrides:
        points.update(t for t in (o.starts_at, o.ends_at) if start < t < end)
    ordered = sorted(points)
    pieces: list[tuple[int, str, str, datetime, datetime]] = []
    for a, b in pairwise(ordered):
        covering = [o for o in overrides if o.starts_at <= a < o.ends_at]
        if covering:
            o = max(covering, key=lambda x: x.id)
            who = (o.member, "override", f"o{o.id}")
        else:
            shift = oncall.shift_at(rotation, a)
            if shift is None:
                continue
            k = shift[0]
            who = (rotation.members[k % len(rotation.members)], "rotation", f"k{k}")
        if pieces and pieces[-1][:3] == who and pieces[-1][4] == a:
            pieces[-1] = (*who, pieces[-1][3], b)
        else:
            pieces.append((*who, a, b))
    return pieces


def shifts(session: Session, contact: ContactPoint, start: datetime,
           end: datetime) -> list[Shift]:
    """The contact point's shifts overlapping [start, end), in time order (cut at the
    window's edges)."""
    out: list[Shift] = []
    for rotation in oncall.rotations(session, contact.authority_id):
        overrides = list(session.scalars(select(RotationOverride).where(
            RotationOverride.rotation_id == rotation.id, RotationOverride.ends_at > start,
            RotationOverride.starts_at < end)))
        if contact.id not in rotation.members and all(o.member != contact.id
                                                      for o in overrides):
            continue
        for member, source, key, a, b in _segments(rotation, overrides, start, end):
            if member == contact.id:
                out.append(Shift(rotation, a, b, source, key))
    return sorted(out, key=lambda s: (s.starts_at, s.rotation.network))


def _local(instant: datetime, zone: str) -> str:
    return instant.astimezone(ZoneInfo(zone)).strftime("%a %d %b %Y %H:%M %Z")


def feed(session: Session, contact: ContactPoint, *, now: datetime | None = None) -> bytes:
    """The iCalendar text of the contact point's shifts, a month back to six months ahead."""
    from icalendar import Calendar, Event

    now = now or utcnow()
    calendar = Calendar()
    calendar.add("prodid", "-//MLA engine//24/7 shifts//EN")
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", f"24/7 shifts: {contact.name} ({contact.authority.code})")
    calendar.add("refresh-interval", timedelta(hours=1), parameters={"VALUE": "DURATION"})
    calendar.add("x-published-ttl", "PT1H")
    for shift in shifts(session, contact, now - PAST, now + AHEAD):
        rotation = shift.rotation
        event = Event()
        start_key = shift.starts_at.strftime("%Y%m%dT%H%M%SZ")
        event.add("uid", f"mla-shift-{rotation.id}-{shift.key}-{start_key}-{contact.id}")
        event.add("dtstamp", now)
        event.add("dtstart", shift.starts_at)
        event.add("dtend", shift.ends_at)
        kind = "override" if shift.source == "override" else "rotation"
        event.add("summary", f"On call: {rotation.network} ({contact.authority.code})"
                  + (" - override" if kind == "override" else ""))
        event.add("description", "\n".join([
            f"24/7 {rotation.network} for {contact.authority.code}, as {contact.name} "
            f"({kind}).",
            f"From {_local(shift.starts_at, rotation.timezone)} to "
            f"{_local(shift.ends_at, rotation.timezone)} ({rotation.timezone}).",
            "Pages reach you by your channels while on call.",
        ]))
        event.add("categories", ["24/7", rotation.network])
        event.add("transp", "OPAQUE")
        calendar.add_component(event)
    return calendar.to_ical()


def by_token(session: Session, token: str) -> ContactPoint:
    """The contact point whose calendar `token` names; NotFound for any other string."""
    if not 20 <= len(token) <= 64:
        raise NotFound("no such calendar")
    contact = session.scalar(select(ContactPoint).where(ContactPoint.calendar_token == token,
                                                        ContactPoint.active.is_(True)))
    if contact is None or not secrets.compare_digest(contact.calendar_token or "", token):
        raise NotFound("no such calendar")
    return contact


def rotate_token(session: Session, contact_id: int, actor: User) -> ContactPoint:
    """A new secret URL for the contact point's calendar; the old one answers 404 from now.
    Admins and supervisors of its authority; others' contact points are NotFound."""
    contact = session.scalar(select(ContactPoint).where(
        ContactPoint.id == contact_id, ContactPoint.authority_id == actor.authority_id))
    if contact is None:
        raise NotFound(f"no contact point {contact_id}")
    if actor.role not in ROTATE_ROLES:
        raise Forbidden(f"calendar links are made by an admin or supervisor; you are "
                        f"{actor.role}")
    contact.calendar_token = secrets.token_urlsafe(32)
    session.flush()
    audit.record(session, "oncall.calendar_token", actor=actor, object_type="contact_point",
                 object_id=str(contact.id))
    return contact


def url(contact: ContactPoint) -> str | None:
    """The feed's address to subscribe to; None until a link was made."""
    if not contact.calendar_token:
        return None
    return f"{settings.get().public_url.rstrip('/')}/calendar/{contact.calendar_token}.ics"

