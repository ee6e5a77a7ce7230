"""24/7 routing: the alerts inbox (pages) with acknowledgement, who is on call, the contact
point directory, rotations, overrides and escalation policies."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Path, Query, status
from pydantic import AwareDatetime

from api import projections
from api.deps import SessionDep, UserDep
from api.problems import PROBLEM_RESPONSES
from api.schemas.alerts import (
    NETWORK_DOC,
    AlertActionIn,
    AlertOut,
    ContactPointIn,
    ContactPointOut,
    MemberOut,
    OnCallOut,
    OverrideIn,
    OverrideOut,
    PolicyIn,
    PolicyOut,
    RotationIn,
    RotationOut,
)
from mla import audit
from mla.clock import utcnow
from mla.directory import service as directory
from mla.errors import FieldProblem, Forbidden, InvalidInput
from mla.models import NETWORKS, ContactPoint, User
from mla.oncall import paging
from mla.oncall import service as oncall

router = APIRouter(tags=["24/7 routing"], responses=PROBLEM_RESPONSES)

AlertId = Annotated[int, Path(ge=1, le=2**63 - 1, description="Alert (page) id")]


def _contact(c: ContactPoint, user: User) -> ContactPointOut:
    own_admin = user.role == "admin" and user.authority_id == c.authority_id
    return ContactPointOut(id=c.id, authority=c.authority.code, network=c.network, name=c.name,
                           email=c.email, phone=c.phone, languages=c.languages,
                           channels=c.channels, timezone=c.timezone, active=c.active,
                           webhook_url=c.webhook_url if own_admin else None,
                           matrix_id=c.matrix_id if user.authority_id == c.authority_id
                           else None)


def _admin(user: User) -> None:
    if user.role != "admin":
        raise Forbidden(f"this needs the role admin; you are {user.role}")


def _network(network: str) -> None:
    problems: list[FieldProblem] = []
    oncall.check_network(network, "network", problems)
    if problems:
        raise InvalidInput("unknown network", problems)


def _instant(value: datetime | None, field: str) -> datetime:
    if value is None:
        return utcnow()
    try:
        instant = value.astimezone(UTC)
    except (OverflowError, ValueError):
        instant = None
    if instant is None or not 1900 <= instant.year <= 2999:
        raise InvalidInput(f"{field} is out of range",
                           [FieldProblem(field, "an instant between 1900 and 2999")])
    return instant


@router.get("/alerts", response_model=list[AlertOut])
def alerts(session: SessionDep, user: UserDep,
           status_: Annotated[str | None, Query(alias="status",
                                                pattern="^(open|acknowledged|resolved)$")] = None,
           limit: Annotated[int, Query(ge=1, le=500)] = 100) -> list[AlertOut]:
    """My authority's in-app inbox of pages: open first, then acknowledged, then resolved,
    newest first within each. Authorization: any role of the paged authority."""
    return [projections.alert(p, user)
            for p in paging.for_authority(session, user, status=status_, limit=limit)]


@router.get("/alerts/{alert_id}", response_model=AlertOut)
def alert(alert_id: AlertId, session: SessionDep, user: UserDep) -> AlertOut:
    """One page with every notification sent for it (recipient, channel, time, attempts).
    Authorization: any role of the paged authority."""
    page = paging.get(session, alert_id, user)
    return projections.alert(page, user, paging.notifications(session, page))


@router.post("/alerts/{alert_id}/acknowledge", response_model=AlertOut)
def acknowledge(alert_id: AlertId, body: AlertActionIn, session: SessionDep,
                user: UserDep) -> AlertOut:
    """I have it: the page stops climbing its escalation policy; time, person and channel are
    recorded. 409 if it is acknowledged already. Authorization: contact point or supervisor
    of the paged authority."""
    page = paging.acknowledge(session, alert_id, user, note=body.note)
    session.commit()
    page = paging.get(session, page.id, user)
    return projections.alert(page, user, paging.notifications(session, page))


@router.post("/alerts/{alert_id}/resolve", response_model=AlertOut)
def resolve(alert_id: AlertId, body: AlertActionIn, session: SessionDep,
            user: UserDep) -> AlertOut:
    """The matter is dealt with; the page closes (acknowledged or not). Authorization:
    contact point or supervisor of the paged authority."""
    page = paging.resolve(session, alert_id, user, note=body.note)
    session.commit()
    page = paging.get(session, page.id, user)
    return projections.alert(page, user, paging.notifications(session, page))


@router.get("/oncall", response_model=list[OnCallOut])
def who_is_on_call(
    session: SessionDep, user: UserDep,
    network: Annotated[str | None, Query(description=NETWORK_DOC)] = None,
    at: Annotated[AwareDatetime | None, Query(description="Instant (default now)")] = None,
) -> list[OnCallOut]:
    """Who answers for my authority at `at`, per network (one network, or every network with
    a rotation). Authorization: any role of my authority."""
    instant = _instant(at, "at")
    networks = [network] if network else NETWORKS
    if network:
        _network(network)
    out = []
    for net in networks:
        rotation = oncall.rotation_for(session, user.authority_id, net)
        if rotation is None and not network:
            continue
        who = oncall.resolve(session, rotation, instant) if rotation else None
        member = None if who is None else MemberOut(
            id=who.member.id, name=who.member.name, email=who.member.email,
            phone=who.member.phone, languages=who.member.languages,
            channels=who.member.channels, timezone=who.member.timezone)
        ends_local = None
        if who is not None and rotation is not None:
            local = who.ends_at.astimezone(ZoneInfo(rotation.timezone))
            ends_local = f"{local.isoformat(timespec='minutes')} {rotation.timezone}"
        out.append(OnCallOut(network=net, at=instant, member=member,
                             source=who.source if who else None,
                             starts_at=who.starts_at if who else None,
                             ends_at=who.ends_at if who else None, ends_local=ends_local))
    return out


@router.post("/oncall/overrides", status_code=status.HTTP_201_CREATED,
             response_model=OverrideOut)
def add_override(body: OverrideIn, session: SessionDep, user: UserDep) -> OverrideOut:
    """Someone else is on call for a period (a swap, sickness); overrides win over the
    rotation. Authorization: supervisor or admin of my authority."""
    _network(body.network)
    starts_at = _instant(body.starts_at, "starts_at")
    ends_at = _instant(body.ends_at, "ends_at")
    override = oncall.add_override(session, user, network=body.network, member=body.member,
                                   starts_at=starts_at, ends_at=ends_at, reason=body.reason)
    session.commit()
    return OverrideOut(id=override.id, network=body.network, member=override.member,
                       starts_at=override.starts_at, ends_at=override.ends_at,
                       reason=override.reason)


@router.get("/oncall/rotations", response_model=list[RotationOut])
def list_rotations(session: SessionDep, user: UserDep) -> list[RotationOut]:
    """My authority's rotations, one per network. Authorization: any role of my authority."""
    return [RotationOut(id=r.id, network=r.network, timezone=r.timezone,
                        handoff_time=r.handoff_time, shift_hours=r.shift_hours,
                        starts_on=r.starts_on, members=r.members)
            for r in oncall.rotations(session, user.authority_id)]


@router.get("/oncall/policies", response_model=list[PolicyOut])
def list_policies(session: SessionDep, user: UserDep) -> list[PolicyOut]:
    """My authority's escalation policies, one per network. Authorization: any role of my
    authority."""
    return [PolicyOut(id=p.id, network=p.network, steps=p.steps, repeat=p.repeat)
            for p in paging.policies(session, user.authority_id)]


@router.post("/oncall/rotations", response_model=RotationOut)
def set_rotation(body: RotationIn, session: SessionDep, user: UserDep) -> RotationOut:
    """Create or replace my authority's rotation on a network. Authorization: admin of my
    authority."""
    _admin(user)
    rotation = oncall.set_rotation(session, user.authority_id, network=body.network,
                                   timezone=body.timezone, handoff_time=body.handoff_time,
                                   shift_hours=body.shift_hours, starts_on=body.starts_on,
                                   members=body.members)
    _audit(session, user, "oncall.rotation", rotation.id, body.model_dump(mode="json"))
    session.commit()
    return RotationOut(id=rotation.id, **body.model_dump())


@router.post("/oncall/policies", response_model=PolicyOut)
def set_policy(body: PolicyIn, session: SessionDep, user: UserDep) -> PolicyOut:
    """Create or replace my authority's escalation policy on a network. Authorization: admin
    of my authority."""
    _admin(user)
    policy = paging.set_policy(session, user.authority_id, network=body.network,
                               steps=[s.model_dump() for s in body.steps], repeat=body.repeat)
    _audit(session, user, "oncall.policy", policy.id, body.model_dump(mode="json"))
    session.commit()
    return PolicyOut(id=policy.id, **body.model_dump())


@router.get("/contact-points", response_model=list[ContactPointOut])
def contact_points(
    session: SessionDep, user: UserDep,
    authority: Annotated[str | None, Query(description="Authority code")] = None,
    network: Annotated[str | None, Query(description=NETWORK_DOC)] = None,
) -> list[ContactPointOut]:
    """The 24/7 directory: contact points of every authority per network, with languages
    and channels (never webhook secrets). Authorization: any role (the directory is shared
    by all authorities)."""
    authority_id = directory.authority_by_code(session, authority).id if authority else None
    return [_contact(c, user) for c in
            oncall.contacts(session, authority_id=authority_id, network=network)]


@router.post("/contact-points", status_code=status.HTTP_201_CREATED,
             response_model=ContactPointOut)
def save_contact_point(body: ContactPointIn, session: SessionDep,
                       user: UserDep) -> ContactPointOut:
    """Add a contact point of my authority, or update the one with the same network and
    name. Authorization: admin of my authority."""
    _admin(user)
    contact = oncall.save_contact(session, user.authority_id, body.model_dump())
    _audit(session, user, "directory.contact_point", contact.id,
                    body.model_dump(mode="json", exclude={"webhook_secret"}))
    session.commit()
    return _contact(contact, user)


def _audit(session: SessionDep, user: User, action: str, object_id: int,
           detail: dict[str, Any]) -> None:
    audit.record(session, action, actor=user, object_type=action.split(".")[-1],
                 object_id=str(object_id), detail=detail)
