"""Each article's clock starts at the event the article names, and not at the procedural
step that happens to be recorded after it.

Every scenario fires the legal trigger, then the later steps days apart (as they happen in
practice), and asserts the due instant and whose clock it is. Instants are written in UTC;
the comments give the local last day of the authority whose clock it is.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from mla import templates
from mla.clock import frozen
from mla.deadlines import calendar, escalation
from mla.deadlines import service as deadlines
from mla.deadlines.rules import LANGUAGES, rules
from mla.directory import service as directory
from mla.errors import GuardRejected, InvalidInput
from mla.models import Alert, Authority, Deadline, HistoryEvent, Page, Request
from mla.requests import filing, lifecycle
from tests.conftest import World

# The rules the scenarios below exercise; a new rule needs a scenario.
COVERED = {
    "eio.acknowledge", "eio.recognition", "eio.provisional_measures", "eio.execution",
    "eaw.decision", "eaw.decision_consent", "eaw.surrender", "eaw.surrender_new_date",
    "ece.formal_request_18", "ece.custody_40", "un_model.formal_request_40",
    "e_evidence.production", "e_evidence.preservation", "budapest.preservation",
    "untoc.suggested_date", "eio.interception_notification",
}


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


@pytest.fixture
def de(session: Session, world: World) -> Authority:
    germany = directory.add_authority(session, code="DE-BfJ", country="DE",
                                      name="Bundesamt für Justiz", timezone="Europe/Berlin",
                                      languages=["de", "en"])
    for role in ("officer", "supervisor", "contact_point"):
        world.users[f"de.{role}"] = directory.add_user(session, germany, username=f"de.{role}",
                                                       full_name=role, role=role)
    session.commit()
    return germany


def file(session: Session, world: World, kind: str, basis: str, to: Authority, at: str,
         **extra: Any) -> Request:
    form = templates.example(kind, templates.latest_version(kind, basis)) | extra.pop("data", {})
    with frozen(utc(at)):
        request = filing.file_request(session, world["fr.officer"], kind=kind,
                                      requested_authority_id=to.id, legal_basis=basis,
                                      title="t", language="en", data=form, **extra)
        session.commit()
    return request


def receive(session: Session, world: World, user: str, kind: str, basis: str, at: str,
            **extra: Any) -> Request:
    form = templates.example(kind, templates.latest_version(kind, basis)) | extra.pop("data", {})
    with frozen(utc(at)):
        request = filing.register_incoming(
            session, world[user], kind=kind, requesting_authority_id=world.fr.id,
            counterpart_reference="FR-2026-1", legal_basis=basis, title="t", language="en",
            data=form, **extra)
        session.commit()
    return request


def fire(session: Session, world: World, request: Request, user: str, event: str, at: str,
         **data: Any) -> None:
    with frozen(utc(at)):
        lifecycle.transition(session, request, event, world[user], **data)
        session.commit()


def send(session: Session, world: World, request: Request, at: str) -> None:
    for user, event in (("fr.officer", "submit"), ("fr.supervisor", "approve"),
                        ("fr.officer", "transmit")):
        fire(session, world, request, user, event, at)


def clock(session: Session, request: Request, rule: str) -> Deadline:
    found = [d for d in deadlines.for_request(session, request) if d.rule_id == rule]
    assert len(found) == 1, [d.rule_id for d in deadlines.for_request(session, request)]
    return found[0]


def rule_ids(session: Session, request: Request) -> set[str]:
    return {d.rule_id for d in deadlines.for_request(session, request)}


# --- data ---------------------------------------------------------------------------------


def test_every_rule_has_six_titles_a_trigger_and_a_scenario() -> None:
    table = rules().rules
    for rule in table.values():
        assert set(rule.title) == set(LANGUAGES), rule.id
        assert all(t.strip() for t in rule.title.values()), rule.id
        assert rule.trigger.strip() and rule.citation.strip(), rule.id
        # Six different texts: no language left as a copy of the English one.
        assert len(set(rule.title.values())) == 6, rule.id
    assert {r.id for r in table.values() if not r.retired} == COVERED


def test_title_in_the_readers_language_falls_back_to_english() -> None:
    rule = rules().rules["eaw.decision"]
    assert rule.title_in("fr") == "Décision définitive sur le mandat d'arrêt européen"
    assert rule.title_in("zh") == "就欧洲逮捕令作出最终决定"
    assert rule.title_in("fr-BE") == rule.title_in("fr")
    assert rule.title_in("de") == rule.title_in("en") == rule.title["en"]


# --- Regulation 1182/71 art. 3 ------------------------------------------------------------


@pytest.mark.parametrize(("start", "period", "convention", "expected"), [
    # 7 days from Sunday 22 March 2026 end on Sunday 29 March: art. 3(4) moves the end to
    # Monday 30 March (CEST from the 29th) ...
    ("2026-03-22T10:00:00Z", {"calendar_days": 7}, "reg_1182_71_art3",
     "2026-03-30T22:00:00Z"),
    # ... the Framework Decision's periods end on the Sunday.
    ("2026-03-22T10:00:00Z", {"calendar_days": 7}, "end_of_last_day", "2026-03-29T22:00:00Z"),
    # 10 days from 4 May 2026 end on Ascension Day (Thursday 14 May, a German holiday):
    # Friday 15 May.
    ("2026-05-04T10:20:00Z", {"calendar_days": 10}, "reg_1182_71_art3",
     "2026-05-15T22:00:00Z"),
    # Art. 3(5): two days from Thursday 24 December 2026 would end on Saturday 26 (the 25th
    # and 26th are holidays); 3(4) gives Monday 28, which is the first working day of the
    # period: its end moves to Tuesday 29, the second.
    ("2026-12-24T09:00:00Z", {"calendar_days": 2}, "reg_1182_71_art3",
     "2026-12-29T23:00:00Z"),
    # Art. 3(1): the hour of the event does not count; 8 hours from 12:20 Berlin run from
    # 13:00 to 21:00 Berlin.
    ("2026-05-04T10:20:00Z", {"hours": 8}, "reg_1182_71_art3", "2026-05-04T19:00:00Z"),
    ("2026-05-04T10:20:00Z", {"hours": 8}, "end_of_last_day", "2026-05-04T18:20:00Z"),
])
def test_regulation_1182_71_article_3(start: str, period: dict[str, int], convention: str,
                                      expected: str) -> None:
    assert calendar.due(utc(start), period, "Europe/Berlin", "DE", convention) == utc(expected)


def test_convention_per_legal_basis() -> None:
    table = rules()
    assert table.convention("eio_2014_41") == "reg_1182_71_art3"
    assert table.convention("e_evidence_2023_1543") == "reg_1182_71_art3"
    assert table.convention("eaw_2002_584") == "end_of_last_day"
    assert table.convention("untoc") == "end_of_last_day"


# --- European arrest warrant ----------------------------------------------------------------


def test_eaw_17_3_decision_runs_from_the_arrest_not_the_court_referral(
        session: Session, world: World, de: Authority) -> None:
    request = file(session, world, "extradition.request", "eaw_2002_584", de,
                   "2026-06-01T08:00:00Z")
    send(session, world, request, "2026-06-01T09:00:00Z")
    assert "eaw.decision" not in rule_ids(session, request)  # nobody arrested yet
    # Arrested at dawn on 10 June; the arrest is recorded two days later, the case reaches
    # the court on the 13th.
    fire(session, world, request, "de.officer", "arrest", "2026-06-12T08:00:00Z",
         occurred_at="2026-06-10T06:00:00+02:00")
    fire(session, world, request, "de.officer", "refer_to_court", "2026-06-13T08:00:00Z")
    decision = clock(session, request, "eaw.decision")
    assert decision.opened_at == utc("2026-06-10T04:00:00Z")
    # 60 days from 10 June: Sunday 9 August, which the Framework Decision does not move.
    assert decision.due_at == utc("2026-08-09T22:00:00Z")
    assert decision.acting_authority_id == de.id
    # Under the EAW the UN Model's 40 days (a fallback) do not apply.
    assert "un_model.formal_request_40" not in rule_ids(session, request)


def test_a_trigger_cannot_be_dated_in_the_future_or_before_the_request(
        session: Session, world: World, de: Authority) -> None:
    request = file(session, world, "extradition.request", "eaw_2002_584", de,
                   "2026-06-01T08:00:00Z")
    send(session, world, request, "2026-06-01T09:00:00Z")
    for when in ("2026-06-03T00:00:00+00:00", "2026-05-01T00:00:00+00:00", "yesterday",
                 "2026-06-01T10:00:00"):
        with frozen(utc("2026-06-02T08:00:00Z")), pytest.raises(GuardRejected) as err:
            lifecycle.transition(session, request, "arrest", world["de.officer"],
                                 occurred_at=when)
        assert [p.path for p in err.value.problems] == ["occurred_at"]
        session.rollback()


def test_eaw_17_2_consent_gives_10_days_and_17_4_extends_by_30(
        session: Session, world: World, de: Authority) -> None:
    request = file(session, world, "extradition.request", "eaw_2002_584", de,
                   "2026-06-01T08:00:00Z")
    send(session, world, request, "2026-06-01T09:00:00Z")
    fire(session, world, request, "de.officer", "arrest", "2026-06-10T04:00:00Z")
    fire(session, world, request, "de.officer", "refer_to_court", "2026-06-12T08:00:00Z")
    fire(session, world, request, "de.officer", "consent", "2026-06-15T09:00:00Z")
    assert clock(session, request, "eaw.decision").closed_at == utc("2026-06-15T09:00:00Z")
    consent = clock(session, request, "eaw.decision_consent")
    assert consent.opened_at == utc("2026-06-15T09:00:00Z")
    assert consent.due_at == utc("2026-06-25T22:00:00Z")  # 25 June, Berlin
    assert consent.acting_authority_id == de.id
    with frozen(utc("2026-06-24T09:00:00Z")):
        deadlines.extend(session, consent, world["de.supervisor"], days=30,
                         reason="the issuing authority must answer on prison conditions")
        session.commit()
    assert consent.due_at == utc("2026-07-25T22:00:00Z")
    event = session.scalars(select(HistoryEvent).where(
        HistoryEvent.request_id == request.id, HistoryEvent.event == "extend_deadline")).one()
    assert event.reason.startswith("the issuing authority")
    with pytest.raises(InvalidInput):
        deadlines.extend(session, consent, world["de.supervisor"], days=1, reason="again")


def test_eaw_23_2_surrender_runs_from_the_final_decision_not_the_scheduling(
        session: Session, world: World, de: Authority) -> None:
    request = file(session, world, "extradition.request", "eaw_2002_584", de,
                   "2026-06-01T08:00:00Z")
    send(session, world, request, "2026-06-01T09:00:00Z")
    fire(session, world, request, "de.officer", "arrest", "2026-06-10T04:00:00Z")
    fire(session, world, request, "de.officer", "refer_to_court", "2026-06-12T08:00:00Z")
    fire(session, world, request, "de.supervisor", "grant", "2026-07-20T14:00:00Z")
    fire(session, world, request, "de.officer", "schedule_surrender", "2026-07-24T10:00:00Z")
    surrender = clock(session, request, "eaw.surrender")
    assert surrender.opened_at == utc("2026-07-20T14:00:00Z")
    assert surrender.due_at == utc("2026-07-30T22:00:00Z")  # 30 July, Berlin
    assert surrender.acting_authority_id == de.id
    assert clock(session, request, "eaw.decision").closed_at == utc("2026-07-20T14:00:00Z")
    # Art. 23(5): the due alert says the person must then be released.
    escalation.run_batch(session, now=surrender.due_at)
    session.commit()
    due = session.scalars(select(Alert).where(Alert.request_id == request.id,
                                              Alert.step == "due")).first()
    assert due is not None and "must be released" in due.message
    assert due.authority_id == de.id


def test_eaw_23_3_new_surrender_date_gives_10_days_from_that_date(
        session: Session, world: World, de: Authority) -> None:
    request = file(session, world, "extradition.request", "eaw_2002_584", de,
                   "2026-06-01T08:00:00Z")
    send(session, world, request, "2026-06-01T09:00:00Z")
    fire(session, world, request, "de.officer", "arrest", "2026-06-10T04:00:00Z")
    fire(session, world, request, "de.officer", "refer_to_court", "2026-06-12T08:00:00Z")
    fire(session, world, request, "de.supervisor", "grant", "2026-07-20T14:00:00Z")
    fire(session, world, request, "de.officer", "schedule_surrender", "2026-07-22T10:00:00Z")
    with frozen(utc("2026-07-28T10:00:00Z")), pytest.raises(GuardRejected) as err:
        lifecycle.transition(session, request, "reschedule_surrender", world["de.officer"],
                             reason="flight cancelled")
    assert "agreed_date" in [p.path for p in err.value.problems]
    session.rollback()
    fire(session, world, request, "de.officer", "reschedule_surrender", "2026-07-28T10:00:00Z",
         reason="strike at the airport", agreed_date="2026-08-05")
    assert clock(session, request, "eaw.surrender").closed_at == utc("2026-07-28T10:00:00Z")
    new_date = clock(session, request, "eaw.surrender_new_date")
    assert new_date.due_at == utc("2026-08-15T22:00:00Z")  # 10 days of 5 August
    assert new_date.acting_authority_id == de.id
    fire(session, world, request, "de.officer", "surrender", "2026-08-06T07:00:00Z")
    session.refresh(new_date)
    assert new_date.closed_at == utc("2026-08-06T07:00:00Z")


# --- provisional arrest under treaties ------------------------------------------------------


def test_ece_16_4_runs_from_the_provisional_arrest(session: Session, world: World,
                                                   de: Authority) -> None:
    request = file(session, world, "extradition.provisional_arrest", "ece_1957", de,
                   "2026-10-08T08:00:00Z", urgent=True, urgency_reasons="flight risk")
    send(session, world, request, "2026-10-08T09:00:00Z")
    fire(session, world, request, "de.officer", "arrest", "2026-10-10T05:00:00Z")
    fire(session, world, request, "de.officer", "notify_arrest", "2026-10-12T09:00:00Z")
    eighteen = clock(session, request, "ece.formal_request_18")
    forty = clock(session, request, "ece.custody_40")
    # FR must send the formal request: FR's clock, Paris days.
    assert eighteen.acting_authority_id == forty.acting_authority_id == world.fr.id
    assert eighteen.due_at == utc("2026-10-28T23:00:00Z")
    assert forty.due_at == utc("2026-11-19T23:00:00Z")
    fire(session, world, request, "de.officer", "receive_formal_request", "2026-10-20T09:00:00Z")
    assert clock(session, request, "ece.custody_40").closed_at == utc("2026-10-20T09:00:00Z")


def test_un_model_9_4_runs_from_the_arrest(session: Session, world: World) -> None:
    request = file(session, world, "extradition.provisional_arrest", "untoc", world.ke,
                   "2026-03-18T08:00:00Z")
    send(session, world, request, "2026-03-18T09:00:00Z")
    # 23:30 UTC on the 20th is already the 21st in Paris and Nairobi.
    fire(session, world, request, "ke.officer", "arrest", "2026-03-20T23:30:00Z")
    fire(session, world, request, "ke.officer", "notify_arrest", "2026-03-23T09:00:00Z")
    forty = clock(session, request, "un_model.formal_request_40")
    assert forty.acting_authority_id == world.fr.id
    assert forty.due_at == utc("2026-04-30T22:00:00Z")


# --- e-Evidence -------------------------------------------------------------------------------


def test_e_evidence_10_2_runs_from_receipt_of_the_epoc_not_acceptance(
        session: Session, world: World, de: Authority) -> None:
    request = receive(session, world, "de.officer", "mla.e_evidence.production",
                      "e_evidence_2023_1543", "2026-05-04T10:20:00Z")
    fire(session, world, request, "de.officer", "acknowledge", "2026-05-06T08:00:00Z")
    fire(session, world, request, "de.supervisor", "accept", "2026-05-08T08:00:00Z")
    production = clock(session, request, "e_evidence.production")
    assert production.opened_at == utc("2026-05-04T10:20:00Z")
    # 14 May 2026 is Ascension Day in Germany: art. 3(4) of Regulation 1182/71.
    assert production.due_at == utc("2026-05-15T22:00:00Z")
    assert production.acting_authority_id == de.id
    assert not session.scalars(select(Page).where(Page.request_id == request.id)).all()


def test_e_evidence_10_4_emergency_is_the_officers_decision(
        session: Session, world: World, de: Authority) -> None:
    with pytest.raises(InvalidInput) as err:
        file(session, world, "mla.e_evidence.production", "e_evidence_2023_1543", de,
             "2026-05-04T08:00:00Z", urgent=True, urgency_reasons="  ")
    assert [p.path for p in err.value.problems] == ["urgency_reasons"]
    session.rollback()
    request = file(session, world, "mla.e_evidence.production", "e_evidence_2023_1543", de,
                   "2026-05-04T08:00:00Z", urgent=True,
                   urgency_reasons="imminent threat to the life of a child")
    assert request.urgent and request.urgency_reasons.startswith("imminent")
    send(session, world, request, "2026-05-04T10:20:00Z")
    production = clock(session, request, "e_evidence.production")
    # 8 hours, counted from the beginning of the next hour (13:00 Berlin): 21:00 Berlin.
    assert production.due_at == utc("2026-05-04T19:00:00Z")
    assert production.acting_authority_id == de.id
    # DE is hosted here: its 24/7 point is paged when the emergency order arrives.
    pages = session.scalars(select(Page).where(Page.request_id == request.id)).all()
    assert [p.authority_id for p in pages] == [de.id]
    # The same order without the emergency: 10 days.
    plain = file(session, world, "mla.e_evidence.production", "e_evidence_2023_1543", de,
                 "2026-05-04T08:00:00Z")
    send(session, world, plain, "2026-05-04T10:20:00Z")
    assert clock(session, plain, "e_evidence.production").due_at == utc("2026-05-15T22:00:00Z")
    assert not session.scalars(select(Page).where(Page.request_id == plain.id)).all()


def test_e_evidence_11_preservation_60_days_extendable_by_30(
        session: Session, world: World, de: Authority) -> None:
    request = file(session, world, "mla.e_evidence.preservation", "e_evidence_2023_1543", de,
                   "2026-01-09T08:00:00Z")
    send(session, world, request, "2026-01-10T12:00:00Z")
    fire(session, world, request, "fr.officer", "acknowledge", "2026-01-12T12:00:00Z")
    preservation = clock(session, request, "e_evidence.preservation")
    assert preservation.acting_authority_id == world.fr.id  # FR must confirm production
    assert preservation.due_at == utc("2026-03-11T23:00:00Z")  # Wednesday 11 March, Paris
    with frozen(utc("2026-03-01T09:00:00Z")):
        deadlines.extend(session, preservation, world["fr.supervisor"], days=30,
                         reason="production order being drafted")
        session.commit()
    assert preservation.due_at == utc("2026-04-10T22:00:00Z")  # Friday 10 April, Paris


def test_budapest_29_7_preservation(session: Session, world: World) -> None:
    request = file(session, world, "mla.e_evidence.preservation", "budapest", world.ke,
                   "2026-01-09T08:00:00Z")
    send(session, world, request, "2026-01-10T12:00:00Z")
    preservation = clock(session, request, "budapest.preservation")
    assert preservation.acting_authority_id == world.fr.id
    # 60 days from 10 January: Wednesday 11 March, end of the day in Paris.
    assert preservation.due_at == utc("2026-03-11T23:00:00Z")


# --- European Investigation Order -------------------------------------------------------------


def test_eio_16_1_and_12_3_run_from_receipt(session: Session, world: World,
                                            de: Authority) -> None:
    request = receive(session, world, "de.officer", "mla.evidence", "eio_2014_41",
                      "2026-03-22T10:00:00Z")
    fire(session, world, request, "de.officer", "acknowledge", "2026-03-25T08:00:00Z")
    acknowledge = clock(session, request, "eio.acknowledge")
    recognition = clock(session, request, "eio.recognition")
    # Sunday 29 March: art. 3(4) gives Monday 30 March.
    assert acknowledge.due_at == utc("2026-03-30T22:00:00Z")
    assert acknowledge.closed_at == utc("2026-03-25T08:00:00Z")
    assert recognition.due_at == utc("2026-04-21T22:00:00Z")  # Tuesday 21 April
    assert recognition.acting_authority_id == de.id


def test_eio_12_4_runs_from_the_recognition_decision(session: Session, world: World,
                                                     de: Authority) -> None:
    request = receive(session, world, "de.officer", "mla.evidence", "eio_2014_41",
                      "2026-03-22T10:00:00Z")
    fire(session, world, request, "de.officer", "acknowledge", "2026-03-25T08:00:00Z")
    fire(session, world, request, "de.supervisor", "accept", "2026-04-01T09:00:00Z")
    fire(session, world, request, "de.officer", "start_execution", "2026-04-09T09:00:00Z")
    execution = clock(session, request, "eio.execution")
    assert execution.opened_at == utc("2026-04-01T09:00:00Z")
    assert execution.due_at == utc("2026-06-30T22:00:00Z")  # Tuesday 30 June
    assert execution.acting_authority_id == de.id
    assert clock(session, request, "eio.recognition").closed_at == utc("2026-04-01T09:00:00Z")


def test_eio_12_4_on_the_requesting_side_runs_from_the_recognition_decision(
        session: Session, world: World, de: Authority) -> None:
    request = file(session, world, "mla.evidence", "eio_2014_41", de, "2026-03-20T08:00:00Z")
    send(session, world, request, "2026-03-22T10:00:00Z")
    assert "eio.execution" not in rule_ids(session, request)
    fire(session, world, request, "fr.officer", "acknowledge", "2026-03-25T08:00:00Z")
    fire(session, world, request, "fr.officer", "start_execution", "2026-04-01T09:00:00Z")
    fire(session, world, request, "fr.officer", "request_info", "2026-04-10T09:00:00Z",
         reason="which accounts?")
    fire(session, world, request, "fr.officer", "provide_info", "2026-04-12T09:00:00Z")
    fire(session, world, request, "fr.officer", "start_execution", "2026-04-13T09:00:00Z")
    execution = clock(session, request, "eio.execution")  # one clock, not two
    assert execution.opened_at == utc("2026-04-01T09:00:00Z")
    assert execution.acting_authority_id == de.id


def test_eio_12_2_urgent_takes_the_shorter_deadline_and_pages(
        session: Session, world: World, de: Authority) -> None:
    request = receive(session, world, "de.officer", "mla.evidence", "eio_2014_41",
                      "2026-03-22T10:00:00Z", urgent=True,
                      urgency_reasons="trial opens on 2 April (section B)",
                      data={"desired_deadline": "2026-04-01"})
    recognition = clock(session, request, "eio.recognition")
    assert recognition.due_at == utc("2026-04-01T22:00:00Z")  # the date asked, not 30 days
    pages = session.scalars(select(Page).where(Page.request_id == request.id)).all()
    assert [p.authority_id for p in pages] == [de.id]
    assert "trial" not in pages[0].reason  # the reasons are case text, not for the desk
    # A later date than the Directive's does not lengthen it.
    late = receive(session, world, "de.officer", "mla.evidence", "eio_2014_41",
                   "2026-03-22T10:00:00Z", urgent=True, urgency_reasons="detained suspect",
                   data={"desired_deadline": "2026-12-31"})
    assert clock(session, late, "eio.recognition").due_at == utc("2026-04-21T22:00:00Z")


def test_eio_32_2_provisional_measures_24_hours_from_receipt(
        session: Session, world: World, de: Authority) -> None:
    request = receive(session, world, "de.officer", "mla.freezing_confiscation",
                      "eio_2014_41", "2026-03-10T10:20:00Z")
    fire(session, world, request, "de.officer", "acknowledge", "2026-03-10T15:00:00Z")
    measures = clock(session, request, "eio.provisional_measures")
    assert measures.due_at == utc("2026-03-11T11:00:00Z")  # from 12:00 Berlin (art. 3(1))
    assert measures.acting_authority_id == de.id


def test_eio_31_3_interception_notification_96_hours_from_receipt(
        session: Session, world: World, de: Authority) -> None:
    # An Annex C notification is no EIO: no acknowledgement (art. 16) nor recognition
    # (art. 12) clock, only the 96 hours of art. 31(3), from receipt.
    request = receive(session, world, "de.officer", "mla.interception_notification",
                      "eio_2014_41", "2026-03-10T10:20:00Z")
    fire(session, world, request, "de.officer", "acknowledge", "2026-03-12T15:00:00Z")
    assert rule_ids(session, request) == {"eio.interception_notification"}
    answer = clock(session, request, "eio.interception_notification")
    # From the next full hour, 12:00 Berlin (Regulation 1182/71 art. 3(1)), 96 hours on.
    assert answer.due_at == utc("2026-03-14T11:00:00Z")
    assert answer.acting_authority_id == de.id and answer.closed_at is None


def test_untoc_18_24_the_date_the_requesting_state_suggests(session: Session,
                                                            world: World) -> None:
    request = file(session, world, "mla.evidence", "untoc", world.ke, "2026-06-01T08:00:00Z",
                   data={"desired_deadline": "2026-09-30"})
    send(session, world, request, "2026-06-01T09:00:00Z")
    suggested = clock(session, request, "untoc.suggested_date")
    assert suggested.acting_authority_id == world.ke.id
    assert suggested.due_at == utc("2026-09-30T21:00:00Z")  # end of 30 Sept, Nairobi
    fire(session, world, request, "fr.officer", "acknowledge", "2026-06-05T09:00:00Z")
    fire(session, world, request, "fr.officer", "start_execution", "2026-06-20T09:00:00Z")
    assert clock(session, request, "untoc.suggested_date").opened_at == \
        utc("2026-06-01T09:00:00Z")


def test_urgency_is_kept_when_the_kind_is_urgent_by_nature(session: Session,
                                                           world: World) -> None:
    request = file(session, world, "extradition.provisional_arrest", "untoc", world.ke,
                   "2026-03-18T08:00:00Z")
    assert request.urgent and request.urgency_reasons is None
    send(session, world, request, "2026-03-18T09:00:00Z")
    pages = session.scalars(select(Page).where(Page.request_id == request.id)).all()
    assert [p.authority_id for p in pages] == [world.ke.id]


def test_a_request_granted_before_0011_gets_its_surrender_clock_when_scheduled(
        session: Session, world: World, de: Authority) -> None:
    request = file(session, world, "extradition.request", "eaw_2002_584", de,
                   "2026-06-01T08:00:00Z")
    send(session, world, request, "2026-06-01T09:00:00Z")
    fire(session, world, request, "de.officer", "arrest", "2026-06-10T04:00:00Z")
    fire(session, world, request, "de.officer", "refer_to_court", "2026-06-12T08:00:00Z")
    # Granted under the old lifecycle, whose grant opened no surrender clock.
    session.execute(update(Request).where(Request.id == request.id).values(state="granted"))
    session.commit()
    session.refresh(request)
    fire(session, world, request, "de.officer", "schedule_surrender", "2026-07-24T10:00:00Z")
    surrender = clock(session, request, "eaw.surrender")
    assert surrender.opened_at == utc("2026-07-24T10:00:00Z")
    assert surrender.due_at == utc("2026-08-03T22:00:00Z")
