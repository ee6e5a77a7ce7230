"""Shift calendars: a contact point's shifts as an iCalendar feed at a secret URL, read back
with an iCalendar parser: rotation shifts of their real length across daylight-saving
changes (Europe/Paris in spring, America/New_York in autumn), cut by overrides; the secret
URL works without a session, can be replaced, and a wrong token is a 404."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import icalendar
from sqlalchemy.orm import Session

from mla import clock
from mla.models import ContactPoint
from mla.oncall import calendar
from mla.oncall import service as oncall
from tests.api_helpers import Api
from tests.app_routes import console
from tests.conftest import World

NET = "budapest_24_7"


def _contact(session: Session, authority_id: int, name: str, tz: str) -> ContactPoint:
    return oncall.save_contact(session, authority_id, {
        "network": NET, "name": name, "email": f"{name.lower()}@example.org",
        "channels": ["email"], "languages": ["en"], "timezone": tz})


def _events(body: bytes) -> list[tuple[datetime, datetime, str]]:
    """(start, end, summary) in UTC, as a calendar application reads the feed."""
    parsed = icalendar.Calendar.from_ical(body)
    assert parsed["VERSION"] == "2.0" and parsed["PRODID"]
    out = []
    for event in parsed.walk("VEVENT"):
        assert event["UID"] and event["DTSTAMP"]
        start, end = event.decoded("DTSTART"), event.decoded("DTEND")
        assert start.tzinfo is not None and end.tzinfo is not None
        out.append((start.astimezone(UTC), end.astimezone(UTC), str(event["SUMMARY"])))
    assert len({e["UID"] for e in parsed.walk("VEVENT")}) == len(out)
    return sorted(out)


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def test_paris_spring_forward_shift_is_23_hours_and_an_override_cuts_it(
        session: Session, world: World) -> None:
    a = _contact(session, world.fr.id, "Anne", "Europe/Paris")
    b = _contact(session, world.fr.id, "Bruno", "Europe/Paris")
    oncall.set_rotation(session, world.fr.id, network=NET, timezone="Europe/Paris",
                        handoff_time="09:00", shift_hours=24, starts_on=date(2026, 3, 27),
                        members=[a.id, b.id])
    session.commit()
    now = _at("2026-03-20T12:00+01:00")
    bruno = _events(calendar.feed(session, b, now=now))
    # Saturday 09:00 CET to Sunday 09:00 CEST: the clocks went forward in between.
    first = bruno[0]
    assert first[:2] == (_at("2026-03-28T09:00+01:00"), _at("2026-03-29T09:00+02:00"))
    assert first[1] - first[0] == timedelta(hours=23)
    assert "On call: budapest_24_7 (FR-MJ)" in first[2]
    # Every other day after, at 09:00 Paris time, 24 hours each.
    assert bruno[1][:2] == (_at("2026-03-30T09:00+02:00"), _at("2026-03-31T09:00+02:00"))
    anne = _events(calendar.feed(session, a, now=now))
    assert anne[0][:2] == (_at("2026-03-27T09:00+01:00"), _at("2026-03-28T09:00+01:00"))
    assert anne[1][:2] == (_at("2026-03-29T09:00+02:00"), _at("2026-03-30T09:00+02:00"))

    # Anne takes 14:00-20:00 of Bruno's Saturday: his shift is cut in two around it.
    oncall.add_override(session, world["fr.supervisor"], network=NET, member=a.id,
                        starts_at=_at("2026-03-28T14:00+01:00"),
                        ends_at=_at("2026-03-28T20:00+01:00"), reason="swap")
    session.commit()
    bruno = _events(calendar.feed(session, b, now=now))
    assert [e[:2] for e in bruno[:3]] == [
        (_at("2026-03-28T09:00+01:00"), _at("2026-03-28T14:00+01:00")),
        (_at("2026-03-28T20:00+01:00"), _at("2026-03-29T09:00+02:00")),
        (_at("2026-03-30T09:00+02:00"), _at("2026-03-31T09:00+02:00"))]
    anne = _events(calendar.feed(session, a, now=now))
    assert (_at("2026-03-28T14:00+01:00"), _at("2026-03-28T20:00+01:00"),
            "On call: budapest_24_7 (FR-MJ) - override") in anne
    # The feed agrees with who is paged at each of those instants.
    for start, end, _ in bruno[:3] + anne[:4]:
        middle = start + (end - start) / 2
        who = oncall.on_call(session, world.fr.id, NET, middle)
        assert who is not None and who.starts_at <= middle < who.ends_at
        assert who.member.id == (b.id if (start, end, _) in bruno else a.id)


def test_new_york_fall_back_shift_is_25_hours(session: Session, world: World) -> None:
    c = _contact(session, world.us.id, "Carla", "America/New_York")
    oncall.set_rotation(session, world.us.id, network=NET, timezone="America/New_York",
                        handoff_time="08:00", shift_hours=24, starts_on=date(2026, 10, 1),
                        members=[c.id])
    session.commit()
    events = _events(calendar.feed(session, c, now=_at("2026-10-20T12:00-04:00")))
    by_start = {start: end for start, end, _ in events}
    start = _at("2026-10-31T08:00-04:00")
    assert by_start[start] == _at("2026-11-01T08:00-05:00")
    assert by_start[start] - start == timedelta(hours=25)
    # Before and after, 24 hours at 08:00 local.
    assert by_start[_at("2026-11-01T08:00-05:00")] == _at("2026-11-02T08:00-05:00")
    assert by_start[_at("2026-10-30T08:00-04:00")] == _at("2026-10-31T08:00-04:00")
    # A month back to six months ahead: no unbounded feed.
    assert min(by_start) >= _at("2026-10-01T08:00-04:00")
    assert max(by_start.values()) <= _at("2026-10-20T12:00-04:00") + calendar.AHEAD


def test_secret_link_no_session_rotation_and_authority(api: Api) -> None:
    session, world = api.session, api.world
    k = _contact(session, world.ke.id, "Kamau", "Africa/Nairobi")
    oncall.set_rotation(session, world.ke.id, network=NET, timezone="Africa/Nairobi",
                        handoff_time="08:00", shift_hours=24, starts_on=date(2026, 1, 1),
                        members=[k.id])
    session.commit()
    path = f"/contact-points/{k.id}/calendar-link"
    # Another authority's officers cannot tell it exists; a contact point may not make one.
    for stranger in ("fr.admin", "fr.supervisor"):
        assert api.call(stranger, "POST", path).status_code == 404
    assert api.call("ke.contact_point", "POST", path).status_code == 403

    made = api.call("ke.supervisor", "POST", path)
    assert made.status_code == 200, made.text
    url = made.json()["url"]
    assert url.startswith("http") and url.endswith(".ics")
    feed_path = url[url.index("/calendar/"):]
    with clock.frozen(_at("2026-06-01T12:00+03:00")):
        got = api.call(None, "GET", feed_path)
    assert got.status_code == 200 and got.headers["content-type"].startswith("text/calendar")
    events = _events(got.content)
    assert (_at("2026-06-01T08:00+03:00"), _at("2026-06-02T08:00+03:00"),
            "On call: budapest_24_7 (KE-ODPP)") in events

    # Wrong tokens: 404, the same as a token that never existed.
    token = feed_path.removeprefix("/calendar/").removesuffix(".ics")
    for wrong in (token[:-1] + ("A" if token[-1] != "A" else "B"), "x", "a" * 43):
        answer = api.call(None, "GET", f"/calendar/{wrong}.ics")
        assert answer.status_code == 404 and answer.json()["status"] == 404

    # The console's on-call page links to it; a new link ends the old one.
    page = console(api, "ke.officer", "GET", "/console/oncall")
    assert url in page.text
    again = console(api, "ke.admin", "POST", f"/console/oncall/contacts/{k.id}/calendar")
    assert again.status_code == 303
    assert api.call(None, "GET", feed_path).status_code == 404
    session.expire_all()
    assert api.call(None, "GET", f"/calendar/{session.get_one(ContactPoint, k.id).calendar_token}"
                    ".ics").status_code == 200
    assert console(api, "fr.admin", "POST",
                   f"/console/oncall/contacts/{k.id}/calendar").status_code == 404
