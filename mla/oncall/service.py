"""Who is on call: an authority's rotation per 24/7 network, computed in the rotation's own
time zone, with overrides for a period winning over the rotation.

Shifts are counted in wall-clock time: a rotation handing off at 09:00 local every 24 hours
hands off at 09:00 on both sides of a DST change, so that shift lasts 23 or 25 real hours.
A handoff at a local time that does not exist that day (the spring-forward gap) happens at
the instant the clock would have shown it without the change (02:30 in a 02:00 -> 03:00 gap
is 03:30 new time); one that happens twice (fall-back) happens at its first occurrence.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.orm import Session

from mla import audit
from mla.clock import utcnow
from mla.errors import FieldProblem, Forbidden, InvalidInput, NotFound
from mla.models import NETWORKS, ContactPoint, Rotation, RotationOverride, User
from mla.oncall.phone import e164


@dataclass(frozen=True)
class OnCall:
    """The member on call at an instant, why, and from when until when."""

    rotation: Rotation
    member: ContactPoint
    source: str  # "rotation" or "override"
    starts_at: datetime
    ends_at: datetime


def check_timezone(name: str, field: str, problems: list[FieldProblem]) -> None:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        problems.append(FieldProblem(field, "an IANA time zone, e.g. Europe/Paris"))


def check_network(network: str, field: str, problems: list[FieldProblem]) -> None:
    if network not in NETWORKS:
        problems.append(FieldProblem(field, f"one of: {', '.join(NETWORKS)}"))


def parse_handoff(value: str) -> time | None:
    try:
        hours, minutes = value.split(":")
        if len(hours) != 2 or len(minutes) != 2:
            return None
        return time(int(hours), int(minutes))
    except (ValueError, AttributeError):
        return None


def boundary(rotation: Rotation, k: int) -> datetime:
    """Start of shift k (k = 0 starts on `starts_on` at the handoff time), as a UTC instant."""
    handoff = parse_handoff(rotation.handoff_time)
    assert handoff is not None
    local = datetime.combine(rotation.starts_on, handoff) + timedelta(
        hours=rotation.shift_hours * k)
    # fold=0: the first of a repeated wall time; a skipped one keeps the offset before the gap.
    return local.replace(tzinfo=ZoneInfo(rotation.timezone), fold=0).astimezone(UTC)


def shift_at(rotation: Rotation, at: datetime) -> tuple[int, datetime, datetime] | None:
    """(shift number, its start, its end) covering `at`; None before the rotation starts."""
    if not rotation.members:
        return None
    handoff = parse_handoff(rotation.handoff_time)
    assert handoff is not None
    tz = ZoneInfo(rotation.timezone)
    wall = at.astimezone(tz).replace(tzinfo=None)
    first = datetime.combine(rotation.starts_on, handoff)
    span = timedelta(hours=rotation.shift_hours)
    # A guess from wall time, then corrected against real boundaries (DST shifts it by one
    # at most).
    k = (wall - first) // span
    while boundary(rotation, k) > at:
        k -= 1
    while boundary(rotation, k + 1) <= at:
        k += 1
    if k < 0:
        return None
    return k, boundary(rotation, k), boundary(rotation, k + 1)


def rotations(session: Session, authority_id: int) -> list[Rotation]:
    return list(session.scalars(select(Rotation).where(Rotation.authority_id == authority_id)
                                .order_by(Rotation.network)))


def rotation_for(session: Session, authority_id: int, network: str) -> Rotation | None:
    return session.scalar(select(Rotation).where(Rotation.authority_id == authority_id,
                                                 Rotation.network == network))


def on_call(session: Session, authority_id: int, network: str,
            at: datetime | None = None) -> OnCall | None:
    """Who of the authority answers on the network at `at` (now by default); None when it
    has no rotation there, or the rotation has not started and no override covers `at`."""
    at = at or utcnow()
    rotation = rotation_for(session, authority_id, network)
    if rotation is None:
        return None
    return resolve(session, rotation, at)


def resolve(session: Session, rotation: Rotation, at: datetime) -> OnCall | None:
    override = session.scalar(
        select(RotationOverride)
        .where(RotationOverride.rotation_id == rotation.id, RotationOverride.starts_at <= at,
               RotationOverride.ends_at > at)
        .order_by(RotationOverride.id.desc()).limit(1))
    if override is not None:
        member = session.get(ContactPoint, override.member)
        if member is not None:
            return OnCall(rotation, member, "override", override.starts_at, override.ends_at)
    shift = shift_at(rotation, at)
    if shift is None:
        return None
    k, start, end = shift
    member = session.get(ContactPoint, rotation.members[k % len(rotation.members)])
    if member is None:
        return None
    return OnCall(rotation, member, "rotation", start, end)


def _members(session: Session, authority_id: int, network: str,
             ids: Sequence[int]) -> dict[int, ContactPoint]:
    found = {c.id: c for c in session.scalars(select(ContactPoint).where(
        ContactPoint.id.in_(list(ids)), ContactPoint.authority_id == authority_id,
        ContactPoint.network == network))}
    return found


def set_rotation(session: Session, authority_id: int, *, network: str, timezone: str,
                 handoff_time: str, shift_hours: int, starts_on: date,
                 members: Sequence[int]) -> Rotation:
    """Creates or replaces the authority's rotation on `network`."""
    problems: list[FieldProblem] = []
    check_network(network, "network", problems)
    check_timezone(timezone, "timezone", problems)
    if parse_handoff(handoff_time) is None:
        problems.append(FieldProblem("handoff_time", "local time as HH:MM, e.g. 09:00"))
    if not isinstance(shift_hours, int) or not 1 <= shift_hours <= 24 * 28:
        problems.append(FieldProblem("shift_hours", "whole hours between 1 and 672"))
    if not date(1970, 1, 1) <= starts_on <= date(2999, 12, 31):
        problems.append(FieldProblem("starts_on", "a date between 1970 and 2999"))
    if not members:
        problems.append(FieldProblem("members", "at least one contact point"))
    else:
        known = _members(session, authority_id, network, members)
        for i, member in enumerate(members):
            if member not in known:
                problems.append(FieldProblem(f"members.{i}", f"no contact point {member} of "
                                             f"this authority on {network}"))
    if problems:
        raise InvalidInput("the rotation is not valid", problems)
    rotation = rotation_for(session, authority_id, network)
    if rotation is None:
        rotation = Rotation(authority_id=authority_id, network=network)
        session.add(rotation)
    rotation.timezone = timezone
    rotation.handoff_time = handoff_time
    rotation.shift_hours = shift_hours
    rotation.starts_on = starts_on
    rotation.members = list(members)
    session.flush()
    return rotation


def add_override(session: Session, actor: User, *, network: str, member: int,
                 starts_at: datetime, ends_at: datetime,
                 reason: str | None = None) -> RotationOverride:
    """`member` answers for the actor's authority on `network` in [starts_at, ends_at).
    Supervisors and admins of the authority set overrides (a swap of shifts at 3 a.m.)."""
    if actor.role not in ("supervisor", "admin"):
        raise Forbidden(f"overrides are set by a supervisor or admin; you are {actor.role}")
    rotation = rotation_for(session, actor.authority_id, network)
    if rotation is None:
        raise NotFound(f"your authority has no rotation on {network}")
    problems: list[FieldProblem] = []
    if not _members(session, actor.authority_id, network, [member]):
        problems.append(FieldProblem("member", f"no contact point {member} of your authority "
                                     f"on {network}"))
    if starts_at.tzinfo is None or ends_at.tzinfo is None:
        problems.append(FieldProblem("starts_at", "instants need a time zone offset"))
    elif ends_at <= starts_at:
        problems.append(FieldProblem("ends_at", "must be after starts_at"))
    elif ends_at - starts_at > timedelta(days=366):
        problems.append(FieldProblem("ends_at", "an override lasts at most a year"))
    if problems:
        raise InvalidInput("the override is not valid", problems)
    override = RotationOverride(rotation_id=rotation.id, member=member, starts_at=starts_at,
                                ends_at=ends_at, reason=reason, created_by_id=actor.id)
    session.add(override)
    session.flush()
    audit.record(session, "oncall.override", actor=actor, object_type="rotation",
                 object_id=str(rotation.id),
                 detail={"member": member, "starts_at": starts_at.isoformat(),
                         "ends_at": ends_at.isoformat()})
    return override


# sms: pages sent through the SMS gateway (mla/oncall/sms.py); matrix: pages posted by the
# instance's bot (mla/oncall/matrix.py); phone: listed for people to call. Which channel reads
# which field: mla/oncall/preferences.ADDRESS_FIELDS.
CHANNELS = ("email", "webhook", "sms", "matrix", "phone")


def check_contact(fields: dict[str, Any], prefix: str = "") -> list[FieldProblem]:
    """Problems with a contact point's fields (network, name, channels and their addresses,
    languages, time zone)."""
    problems: list[FieldProblem] = []
    check_network(str(fields.get("network")), f"{prefix}network", problems)
    name = fields.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        problems.append(FieldProblem(f"{prefix}name", "a name of 1 to 200 characters"))
    languages = fields.get("languages") or []
    if not isinstance(languages, list) or not all(
            isinstance(x, str) and len(x) == 2 and x.isalpha() and x.islower()
            for x in languages):
        problems.append(FieldProblem(f"{prefix}languages", "ISO 639-1 codes, e.g. en, fr"))
    channels = fields.get("channels") or []
    if not isinstance(channels, list) or not all(c in CHANNELS for c in channels):
        problems.append(FieldProblem(f"{prefix}channels", f"a list of: {', '.join(CHANNELS)}"))
        channels = []
    email = fields.get("email")
    if email is not None and (not isinstance(email, str) or "@" not in email
                              or len(email) > 200 or any(c in email for c in " \r\n<>,")):
        problems.append(FieldProblem(f"{prefix}email", "an e-mail address"))
    phone = fields.get("phone")
    if phone is not None and (not isinstance(phone, str) or e164(phone) is None):
        problems.append(FieldProblem(f"{prefix}phone", "a telephone number in E.164: + and "
                                     "the country code, e.g. +33 1 44 77 60 00"))
    url = fields.get("webhook_url")
    if url is not None and (not isinstance(url, str) or len(url) > 500
                            or not url.startswith(("https://", "http://"))):
        problems.append(FieldProblem(f"{prefix}webhook_url", "an http(s) URL"))
    secret = fields.get("webhook_secret")
    if secret is not None and (not isinstance(secret, str) or not 16 <= len(secret) <= 200):
        problems.append(FieldProblem(f"{prefix}webhook_secret", "16 to 200 characters"))
    matrix_id = fields.get("matrix_id")
    if matrix_id is not None:
        try:
            matrix_user_id(matrix_id)
        except (ValueError, AttributeError, TypeError):  # a number from a JSON file
            problems.append(FieldProblem(f"{prefix}matrix_id",
                                         "a Matrix user id, e.g. @name:server.example"))
    for channel, needed in (("email", "email"), ("webhook", "webhook_url"),
                            ("sms", "phone"), ("phone", "phone"), ("matrix", "matrix_id")):
        if channel in channels and not fields.get(needed):
            problems.append(FieldProblem(f"{prefix}{needed}",
                                         f"required for the {channel} channel"))
    timezone = fields.get("timezone")
    check_timezone(timezone if isinstance(timezone, str) else "", f"{prefix}timezone", problems)
    return problems


def matrix_user_id(value: str) -> str:
    """`value` if it reads as a Matrix user id (@name:server); ValueError else."""
    local, _, server = value[1:].partition(":")
    if not value.startswith("@") or not local or not server or len(value) > 255 \
            or any(c.isspace() for c in value):
        raise ValueError(f"a Matrix user id looks like @name:server.example, not {value!r}")
    return value


def contact_by_name(session: Session, authority_id: int, network: str,
                    name: str) -> ContactPoint | None:
    return session.scalar(select(ContactPoint).where(
        ContactPoint.authority_id == authority_id, ContactPoint.network == network,
        ContactPoint.name == name))


def save_contact(session: Session, authority_id: int, fields: dict[str, Any]) -> ContactPoint:
    """Creates the contact point, or updates the one with the same authority, network and
    name. A webhook secret left out keeps the one stored (exports never carry secrets), and
    so do a Matrix id (directory files from before the column) and the linked account
    (`account`, a username of the authority)."""
    problems = check_contact(fields)
    contact = None
    if not problems:
        contact = contact_by_name(session, authority_id, str(fields["network"]),
                                  str(fields["name"]).strip())
        if ("webhook" in (fields.get("channels") or []) and not fields.get("webhook_secret")
                and not (contact and contact.webhook_secret)):
            problems.append(FieldProblem("webhook_secret", "required for the webhook channel"))
    account = fields.get("account")
    user = None
    if account:
        user = session.scalar(select(User).where(User.username == account,
                                                 User.authority_id == authority_id))
        if user is None:
            problems.append(FieldProblem("account", f"no user {account!r} of this authority"))
    if problems:
        raise InvalidInput(f"contact point {fields.get('name')!r} is not valid", problems)
    if contact is None:
        contact = ContactPoint(authority_id=authority_id, network=fields["network"],
                               name=str(fields["name"]).strip())
        session.add(contact)
    contact.email = fields.get("email")
    contact.phone = e164(fields["phone"]) if fields.get("phone") else None
    if user is not None or account == "":
        # Left out (directory files): the account stays linked; "" unlinks it.
        contact.user_id = user.id if user is not None else None
    contact.languages = list(fields.get("languages") or [])
    contact.channels = list(fields.get("channels") or [])
    contact.webhook_url = fields.get("webhook_url")
    if "matrix_id" in fields:  # a file without the column keeps the one stored
        contact.matrix_id = fields["matrix_id"]
    if fields.get("webhook_secret"):
        contact.webhook_secret = fields["webhook_secret"]
    contact.timezone = fields["timezone"]
    contact.active = bool(fields.get("active", True))
    session.flush()
    return contact


def contacts(session: Session, *, authority_id: int | None = None,
             network: str | None = None) -> list[ContactPoint]:
    query = select(ContactPoint)
    if authority_id is not None:
        query = query.where(ContactPoint.authority_id == authority_id)
    if network is not None:
        query = query.where(ContactPoint.network == network)
    return list(session.scalars(query.order_by(ContactPoint.authority_id,
                                               ContactPoint.network, ContactPoint.name)))
