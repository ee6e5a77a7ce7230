"""Who is on call, at hand-picked instants around DST changes, with overrides winning."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from mla.errors import Forbidden, InvalidInput
from mla.models import ContactPoint, Rotation
from mla.oncall import service as oncall
from tests.api_helpers import Api
from tests.conftest import World

NET = "budapest_24_7"


def _z(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def _desks(session: Session, world: World, names: str = "ABC") -> dict[str, ContactPoint]:
    return {n: oncall.save_contact(session, world.fr.id, {
        "network": NET, "name": n, "email": f"{n.lower()}@fr.example", "languages": ["fr"],
        "channels": ["email"], "timezone": "Europe/Paris"}) for n in names}


def _rotation(session: Session, world: World, desks: dict[str, ContactPoint], *,
              handoff: str = "09:00", hours: int = 24, tz: str = "Europe/Paris",
              starts_on: date = date(2026, 3, 27)) -> Rotation:
    return oncall.set_rotation(session, world.fr.id, network=NET, timezone=tz,
                               handoff_time=handoff, shift_hours=hours, starts_on=starts_on,
                               members=[d.id for d in desks.values()])


def _who(session: Session, world: World, at: str) -> str | None:
    result = oncall.on_call(session, world.fr.id, NET, _z(at))
    return result.member.name if result else None


def test_daily_handoff_stays_at_local_time_across_spring_forward(session: Session,
                                                                 world: World) -> None:
    _rotation(session, world, _desks(session, world))
    # Shift 0 (A) starts Fri 27 March 09:00 CET = 08:00Z; B from Sat 09:00 CET (08:00Z) to
    # Sun 29 March 09:00 CEST (07:00Z): 23 real hours, since clocks jump 02:00 -> 03:00.
    assert _who(session, world, "2026-03-27T07:59") is None  # before the rotation starts
    assert _who(session, world, "2026-03-27T08:00") == "A"
    assert _who(session, world, "2026-03-28T07:59") == "A"
    assert _who(session, world, "2026-03-28T08:00") == "B"
    assert _who(session, world, "2026-03-29T06:59") == "B"
    # 24-hour shifts counted in UTC would leave B on until 08:00Z.
    assert _who(session, world, "2026-03-29T07:00") == "C"
    assert _who(session, world, "2026-03-29T07:30") == "C"
    assert _who(session, world, "2026-03-30T06:59") == "C"
    assert _who(session, world, "2026-03-30T07:00") == "A"
    shift = oncall.on_call(session, world.fr.id, NET, _z("2026-03-28T12:00"))
    assert shift is not None and shift.ends_at - shift.starts_at == timedelta(hours=23)


def test_daily_handoff_across_fall_back(session: Session, world: World) -> None:
    _rotation(session, world, _desks(session, world))
    # Sat 24 Oct 09:00 CEST = 07:00Z is shift 211 (B); Sun 25 Oct 09:00 CET = 08:00Z starts
    # shift 212 (C): B's shift lasts 25 hours.
    assert _who(session, world, "2026-10-24T07:00") == "B"
    assert _who(session, world, "2026-10-25T07:30") == "B"
    assert _who(session, world, "2026-10-25T07:59") == "B"
    assert _who(session, world, "2026-10-25T08:00") == "C"
    shift = oncall.on_call(session, world.fr.id, NET, _z("2026-10-25T01:00"))
    assert shift is not None and shift.ends_at - shift.starts_at == timedelta(hours=25)


def test_handoff_in_the_skipped_and_the_repeated_hour(session: Session, world: World) -> None:
    _rotation(session, world, _desks(session, world), handoff="02:30")
    # 29 March: 02:30 does not exist; the handoff comes at 02:30 CET = 01:30Z (03:30 CEST).
    assert _who(session, world, "2026-03-29T01:29") == "B"
    assert _who(session, world, "2026-03-29T01:30") == "C"
    # 25 Oct: 02:30 happens twice (00:30Z CEST, 01:30Z CET); the first one hands off, and the
    # second pass through 02:30 does not hand back.
    handoff = oncall.on_call(session, world.fr.id, NET, _z("2026-10-25T00:30"))
    before = oncall.on_call(session, world.fr.id, NET, _z("2026-10-25T00:29"))
    assert handoff is not None and before is not None
    assert handoff.member.id != before.member.id
    assert handoff.starts_at == _z("2026-10-25T00:30")
    for minute in ("00:45", "01:15", "01:30", "01:45", "12:00"):
        same = oncall.on_call(session, world.fr.id, NET, _z(f"2026-10-25T{minute}"))
        assert same is not None and same.member.id == handoff.member.id, minute


def test_twelve_hour_shifts_in_new_york_keep_8_and_20_local(session: Session,
                                                            world: World) -> None:
    _rotation(session, world, _desks(session, world, "AB"), handoff="08:00", hours=12,
              tz="America/New_York", starts_on=date(2026, 3, 7))
    # Clocks go forward in New York on Sunday 8 March 2026: EST -5 before, EDT -4 after.
    assert _who(session, world, "2026-03-07T13:00") == "A"  # 08:00 EST
    assert _who(session, world, "2026-03-08T00:59") == "A"  # 19:59 EST
    assert _who(session, world, "2026-03-08T01:00") == "B"  # 20:00 EST
    assert _who(session, world, "2026-03-08T11:59") == "B"  # 07:59 EDT
    assert _who(session, world, "2026-03-08T12:00") == "A"  # 08:00 EDT
    assert _who(session, world, "2026-03-09T00:00") == "B"  # 20:00 EDT


def test_overrides_win_and_the_latest_wins(session: Session, world: World) -> None:
    desks = _desks(session, world)
    _rotation(session, world, desks)
    supervisor = world["fr.supervisor"]
    oncall.add_override(session, supervisor, network=NET, member=desks["C"].id,
                        starts_at=_z("2026-03-28T12:00"), ends_at=_z("2026-03-28T18:00"))
    assert _who(session, world, "2026-03-28T11:59") == "B"
    assert _who(session, world, "2026-03-28T12:00") == "C"
    result = oncall.on_call(session, world.fr.id, NET, _z("2026-03-28T13:00"))
    assert result is not None and result.source == "override"
    assert result.ends_at == _z("2026-03-28T18:00")
    oncall.add_override(session, supervisor, network=NET, member=desks["A"].id,
                        starts_at=_z("2026-03-28T14:00"), ends_at=_z("2026-03-28T15:00"))
    assert _who(session, world, "2026-03-28T14:30") == "A"
    assert _who(session, world, "2026-03-28T15:00") == "C"
    assert _who(session, world, "2026-03-28T18:00") == "B"
    # An override also covers the time before the rotation starts.
    oncall.add_override(session, supervisor, network=NET, member=desks["B"].id,
                        starts_at=_z("2026-03-01T00:00"), ends_at=_z("2026-03-02T00:00"))
    assert _who(session, world, "2026-03-01T10:00") == "B"


def test_rotation_and_override_validation(session: Session, world: World) -> None:
    desks = _desks(session, world)
    ke_desk = oncall.save_contact(session, world.ke.id, {
        "network": NET, "name": "KE", "languages": ["en"], "channels": [],
        "timezone": "Africa/Nairobi"})
    with pytest.raises(InvalidInput) as exc:
        oncall.set_rotation(session, world.fr.id, network="nope", timezone="Mars/Olympus",
                            handoff_time="9h", shift_hours=0, starts_on=date(2026, 1, 1),
                            members=[ke_desk.id])
    fields = {p.path for p in exc.value.problems}
    assert {"network", "timezone", "handoff_time", "shift_hours", "members.0"} <= fields
    _rotation(session, world, desks)
    with pytest.raises(Forbidden):
        oncall.add_override(session, world["fr.officer"], network=NET, member=desks["A"].id,
                            starts_at=_z("2026-04-01T00:00"), ends_at=_z("2026-04-02T00:00"))
    with pytest.raises(InvalidInput) as exc:
        oncall.add_override(session, world["fr.supervisor"], network=NET, member=ke_desk.id,
                            starts_at=_z("2026-04-02T00:00"), ends_at=_z("2026-04-01T00:00"))
    assert {p.path for p in exc.value.problems} == {"member", "ends_at"}


def test_oncall_api(api: Api) -> None:
    session, world = api.session, api.world
    desks = _desks(session, world)
    _rotation(session, world, desks)
    session.commit()
    answer = api.call("fr.officer", "GET", "/oncall",
                      params={"network": NET, "at": "2026-03-29T09:30:00+02:00"})
    assert answer.status_code == 200, answer.text
    [row] = answer.json()
    assert row["member"]["name"] == "C" and row["source"] == "rotation"
    assert row["ends_local"].startswith("2026-03-30T09:00+02:00")
    # Without a network: every network with a rotation.
    assert [r["network"] for r in api.call("fr.officer", "GET", "/oncall").json()] == [NET]
    # KE has no rotation: nobody, not FR's.
    [ke] = api.call("ke.contact_point", "GET", "/oncall", params={"network": NET}).json()
    assert ke["member"] is None
    override = api.call("fr.supervisor", "POST", "/oncall/overrides", json={
        "network": NET, "member": desks["A"].id, "starts_at": "2026-03-29T09:00:00+02:00",
        "ends_at": "2026-03-29T21:00:00+02:00", "reason": "swap"})
    assert override.status_code == 201, override.text
    [row] = api.call("fr.officer", "GET", "/oncall",
                     params={"network": NET, "at": "2026-03-29T09:30:00+02:00"}).json()
    assert row["member"]["name"] == "A" and row["source"] == "override"
    assert api.call("fr.officer", "POST", "/oncall/overrides", json={
        "network": NET, "member": desks["A"].id, "starts_at": "2026-03-29T09:00:00+02:00",
        "ends_at": "2026-03-29T21:00:00+02:00"}).status_code == 403
    naive = api.call("fr.officer", "GET", "/oncall", params={"at": "2026-03-29T09:30:00"})
    assert naive.status_code == 422
    assert api.call("fr.officer", "GET", "/oncall", params={"network": "x"}).status_code == 422
