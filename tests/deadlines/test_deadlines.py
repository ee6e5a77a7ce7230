"""Legal time limits: each rule's due instant, computed in the acting authority's time zone
with its country's holidays, opened and closed by transitions, suspended while information is
awaited, extended by supervisors, and escalated by the worker exactly once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mla import templates
from mla.clock import frozen
from mla.deadlines import calendar, escalation
from mla.deadlines import service as deadlines
from mla.directory import service as directory
from mla.errors import Forbidden, GuardRejected, InvalidInput
from mla.models import Alert, Deadline, DeadlineStep, HistoryEvent, Request
from mla.requests import filing, lifecycle
from tests.conftest import World


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


# --- the calendar ---------------------------------------------------------------------


@pytest.mark.parametrize(("start", "period", "tz", "country", "expected"), [
    # Seven days across the spring DST change: the last day ends at 00:00 CEST.
    ("2026-03-22T10:00:00Z", {"calendar_days": 7}, "Europe/Berlin", "DE",
     "2026-03-29T22:00:00Z"),
    # ... and across the autumn one: 00:00 CET.
    ("2026-10-18T10:00:00Z", {"calendar_days": 7}, "Europe/Paris", "FR",
     "2026-10-25T23:00:00Z"),
    # Hours are hours, whatever the wall clock does.
    ("2026-03-28T12:00:00Z", {"hours": 24}, "Europe/Berlin", "DE", "2026-03-29T12:00:00Z"),
    # Working days skip weekends and French holidays (1 May, 8 May 2026 are Fridays).
    ("2026-04-30T08:00:00Z", {"working_days": 5}, "Europe/Paris", "FR",
     "2026-05-11T22:00:00Z"),
    # Kenya: Madaraka Day, Monday 1 June 2026.
    ("2026-05-28T08:00:00Z", {"working_days": 3}, "Africa/Nairobi", "KE",
     "2026-06-03T21:00:00Z"),
    # Late on the 20th in UTC is already the 21st in Paris: the one day is the 22nd.
    ("2026-03-20T23:30:00Z", {"calendar_days": 1}, "Europe/Paris", "FR",
     "2026-03-22T23:00:00Z"),
])
def test_period_ends_at_the_expected_instant(start: str, period: dict[str, int], tz: str,
                                             country: str, expected: str) -> None:
    assert calendar.due(utc(start), period, tz, country) == utc(expected)


# --- each rule, end to end ------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    rule: str
    kind: str
    basis: str
    side: str  # requesting: FR files to `other`; requested: `other` registers from FR
    other: str  # DE or KE
    steps: tuple[tuple[str, str], ...]  # (user, event) before the opening step
    opening: tuple[str, str] | None  # None: the clock opens at filing/registration
    at: str
    due: str
    data: tuple[tuple[str, Any], ...] = ()
    urgent: bool = False


SEND = (("fr.officer", "submit"), ("fr.supervisor", "approve"))
# Scenarios shared by the tests below; every rule's own trigger and due instant is in
# test_legal_triggers.py.
CASES = [
    Case("eio.acknowledge", "mla.evidence", "eio_2014_41", "requested", "DE", (), None,
         "2026-03-22T10:00:00Z", "2026-03-30T22:00:00Z"),
    Case("eaw.decision", "extradition.request", "eaw_2002_584", "requesting", "DE",
         (*SEND, ("fr.officer", "transmit")), ("de.officer", "arrest"),
         "2026-07-01T09:00:00Z", "2026-08-30T22:00:00Z"),
    Case("untoc.suggested_date", "mla.evidence", "untoc", "requesting", "KE", SEND,
         ("fr.officer", "transmit"), "2026-06-01T09:00:00Z", "2026-09-30T21:00:00Z",
         data=(("desired_deadline", "2026-09-30"),)),
]


def _germany(session: Session, world: World) -> None:
    de = directory.add_authority(session, code="DE-BfJ", country="DE", name="Bundesamt für "
                                 "Justiz", timezone="Europe/Berlin", languages=["de", "en"])
    for role in ("officer", "supervisor", "contact_point"):
        world.users[f"de.{role}"] = directory.add_user(session, de, username=f"de.{role}",
                                                       full_name=role, role=role)
    session.commit()


def _start(session: Session, world: World, case: Case, at: datetime) -> Request:
    other = world.ke if case.other == "KE" else session.scalar(
        select(directory.Authority).where(directory.Authority.code == "DE-BfJ"))
    assert other is not None
    form = templates.example(case.kind, legal_basis=case.basis) | dict(case.data)
    with frozen(at):
        if case.side == "requesting":
            request = filing.file_request(
                session, world["fr.officer"], kind=case.kind, requested_authority_id=other.id,
                legal_basis=case.basis, title="t", language="en", data=form)
        else:
            prefix = case.other.lower()
            request = filing.register_incoming(
                session, world[f"{prefix}.officer"], kind=case.kind,
                requesting_authority_id=world.fr.id, counterpart_reference="FR-1",
                legal_basis=case.basis, title="t", language="en", data=form)
        request.urgent = case.urgent or request.urgent
        session.commit()
    return request


def _fire(session: Session, world: World, request: Request, user: str, event: str,
          at: datetime) -> None:
    extra = {"reason": "r"} if event in ("postpone",) else {}
    with frozen(at):
        lifecycle.transition(session, request, event, world[user], **extra)
        session.commit()


@pytest.mark.parametrize("case", CASES, ids=[c.rule for c in CASES])
def test_rule_due_instant(session: Session, world: World, case: Case) -> None:
    _germany(session, world)
    at = utc(case.at)
    request = _start(session, world, case, at if case.opening is None else at - timedelta(1))
    for user, event in case.steps:
        _fire(session, world, request, user, event, at - timedelta(hours=1))
    if case.opening:
        _fire(session, world, request, *case.opening, at)
    found = {d.rule_id: d for d in deadlines.for_request(session, request)}
    assert case.rule in found, found
    assert found[case.rule].due_at == utc(case.due)
    assert found[case.rule].opened_at == at


def test_closing_transition_closes_and_cancels_escalation(session: Session,
                                                          world: World) -> None:
    _germany(session, world)
    case = CASES[0]
    at = utc(case.at)
    request = _start(session, world, case, at)
    _fire(session, world, request, "de.officer", "acknowledge", at + timedelta(days=1))
    ack = next(d for d in deadlines.for_request(session, request) if d.timer == "acknowledgement")
    assert ack.closed_at == at + timedelta(days=1)
    pending = session.scalar(select(func.count()).select_from(DeadlineStep).where(
        DeadlineStep.deadline_id == ack.id, DeadlineStep.done_at.is_(None)))
    assert pending == 0
    result = escalation.run_batch(session, now=at + timedelta(days=60))
    session.commit()
    assert all(a.message.find("eio.acknowledge") < 0 for a in session.scalars(select(Alert)))
    assert result.steps > 0  # recognition's steps still escalate


def test_information_request_suspends_and_resumes_the_clock(session: Session,
                                                            world: World) -> None:
    _germany(session, world)
    t0 = utc("2026-02-02T09:00:00Z")
    request = _start(session, world, Case("", "mla.evidence", "eio_2014_41", "requesting",
                                          "DE", (), None, "", ""), t0)
    for user, event in (*SEND, ("fr.officer", "transmit"), ("fr.officer", "acknowledge")):
        _fire(session, world, request, user, event, t0)
    execution = next(d for d in deadlines.for_request(session, request)
                     if d.rule_id == "eio.recognition")
    due = execution.due_at
    with frozen(t0 + timedelta(days=10)):
        lifecycle.transition(session, request, "request_info", world["fr.officer"], reason="?")
        session.commit()
    session.refresh(execution)
    assert execution.suspended_at == t0 + timedelta(days=10)
    # Nothing escalates while suspended, even long past the original due date.
    assert escalation.run_batch(session, now=due + timedelta(days=5)).alerts == 0
    _fire(session, world, request, "fr.officer", "provide_info", t0 + timedelta(days=15))
    session.refresh(execution)
    assert execution.suspended_at is None
    assert execution.due_at == due + timedelta(days=5)
    steps = {s.step: s.due_at for s in session.scalars(
        select(DeadlineStep).where(DeadlineStep.deadline_id == execution.id))}
    assert steps["due"] == due + timedelta(days=5)


def test_escalation_ladder_produces_each_alert_once(session: Session, world: World) -> None:
    t0 = utc("2026-05-04T10:00:00Z")
    case = Case("", "extradition.provisional_arrest", "untoc", "requesting", "KE",
                (*SEND, ("fr.officer", "transmit")), ("ke.officer", "arrest"), "", "")
    request = _start(session, world, case, t0)
    for user, event in case.steps:
        _fire(session, world, request, user, event, t0)
    _fire(session, world, request, "ke.officer", "arrest", t0)
    deadline = next(d for d in deadlines.for_request(session, request))
    span = deadline.due_at - deadline.period_start
    seen: list[tuple[str, str]] = []
    for moment, expected in (
        (deadline.period_start + span * 0.49, []),
        (deadline.period_start + span * 0.5, [("reminder_50", "officer")]),
        (deadline.period_start + span * 0.8, [("reminder_80", "officer")]),
        (deadline.due_at, [("due", "officer"), ("due", "supervisor")]),
        # Provisional arrest is urgent: overdue also pages the 24/7 point.
        (deadline.due_at + timedelta(hours=1), [("overdue", "supervisor"),
                                                ("overdue", "contact_point")]),
        (deadline.due_at + timedelta(days=30), []),
    ):
        before = len(seen)
        escalation.run_batch(session, now=moment)
        session.commit()
        seen = [(a.step, a.role) for a in session.scalars(select(Alert).order_by(Alert.id))]
        assert sorted(seen[before:]) == sorted(expected), moment
    alert = session.scalars(select(Alert)).first()
    assert alert is not None and alert.authority_id == world.fr.id  # FR must send the request
    assert request.reference in alert.message and "art. 9(4)" in alert.message


def test_supervisor_extends_within_the_rule(session: Session, world: World) -> None:
    _germany(session, world)
    case = next(c for c in CASES if c.rule == "eaw.decision")
    at = utc(case.at)
    request = _start(session, world, case, at - timedelta(1))
    for user, event in case.steps:
        _fire(session, world, request, user, event, at)
    _fire(session, world, request, *case.opening, at)  # type: ignore[misc]
    decision = next(d for d in deadlines.for_request(session, request) if d.timer == "decision")
    with pytest.raises(Forbidden):
        deadlines.extend(session, decision, world["de.officer"], days=30, reason="complex")
    with pytest.raises(Forbidden):
        deadlines.extend(session, decision, world["fr.supervisor"], days=30, reason="complex")
    with pytest.raises(InvalidInput) as err:
        deadlines.extend(session, decision, world["de.supervisor"], days=31, reason="")
    assert {p.path for p in err.value.problems} == {"days", "reason"}
    deadlines.extend(session, decision, world["de.supervisor"], days=30,
                     reason="court needs expert report")
    session.commit()
    assert decision.due_at == utc("2026-09-29T22:00:00Z")
    with pytest.raises(InvalidInput):
        deadlines.extend(session, decision, world["de.supervisor"], days=1, reason="again")
    event = session.scalars(select(HistoryEvent).where(
        HistoryEvent.event == "extend_deadline")).one()
    assert event.reason == "court needs expert report" and event.data["days"] == 30


def test_deadlines_of_my_authority_only(session: Session, world: World) -> None:
    case = next(c for c in CASES if c.rule == "untoc.suggested_date")
    at = utc(case.at)
    request = _start(session, world, case, at)
    for user, event in (*case.steps, case.opening):  # type: ignore[misc]
        _fire(session, world, request, user, event, at)
    assert deadlines.for_authority(session, world["fr.officer"])
    assert deadlines.for_authority(session, world["ke.liaison"])
    assert deadlines.for_authority(session, world["us.officer"]) == []
    assert deadlines.for_authority(session, world["fr.officer"], overdue=True,
                                   now=at + timedelta(days=1)) == []
    assert deadlines.for_authority(session, world["fr.officer"], overdue=True,
                                   now=utc(case.due) + timedelta(seconds=1))


def test_deadline_rows_survive_only_with_their_transition(session: Session,
                                                          world: World) -> None:
    """A transition refused by a guard opens nothing."""
    request = _start(session, world, Case("", "mla.evidence", "untoc", "requesting", "KE", (),
                                          None, "", "", data=(("facts_summary", ""),)),
                     utc("2026-01-05T10:00:00Z"))
    for user, event in SEND:
        _fire(session, world, request, user, event, utc("2026-01-05T10:00:00Z"))
    with pytest.raises(GuardRejected):
        lifecycle.transition(session, request, "transmit", world["fr.officer"])
    session.rollback()
    assert session.scalar(select(func.count()).select_from(Deadline)) == 0
