"""Retention: content is erased exactly when its rule says, counted from closure, never under
a legal hold; the status skeleton, statistics and audit stay; the per-person access report
finds every request naming someone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mla import audit, clock
from mla.models import Attachment, AuditEvent, Deadline, HistoryEvent, Request, RequestText
from mla.ops import retention
from mla.requests import attachments, lifecycle, translations
from tests.conftest import World
from tests.lifecycle_helpers import new_request

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
YEAR = timedelta(days=365)


def _withdraw(session: Session, world: World, request: Request) -> None:
    lifecycle.transition(session, request, "withdraw", world["fr.officer"],
                         reason="Withdrawn: OMONDI was arrested in Lyon")
    session.commit()


def _content(session: Session, request: Request) -> dict[str, Any]:
    session.expire_all()
    fresh = session.get(Request, request.id)
    assert fresh is not None
    return {
        "data": fresh.data, "title": fresh.title, "state": fresh.state,
        "reference": fresh.reference,
        "attachments": session.scalar(select(func.count()).select_from(Attachment).where(
            Attachment.request_id == request.id)),
        "texts": session.scalar(select(func.count()).select_from(RequestText).where(
            RequestText.request_id == request.id)),
        "events": [(e.event, e.to_state, e.reason) for e in session.scalars(
            select(HistoryEvent).where(HistoryEvent.request_id == request.id)
            .order_by(HistoryEvent.id))],
        "deadlines": session.scalar(select(func.count()).select_from(Deadline).where(
            Deadline.request_id == request.id)),
    }


def test_erasure_follows_the_rules_from_closure_and_spares_held_requests(
        session: Session, world: World) -> None:
    with clock.frozen(T0):
        evidence = new_request(session, world, "mla.evidence")
        production = new_request(session, world, "mla.e_evidence.production")
        extradition = new_request(session, world, "extradition.provisional_arrest")
        still_open = new_request(session, world, "mla.evidence")
        attachments.add(session, evidence, world["fr.officer"], filename="omondi.pdf",
                        content_type="application/pdf", content=b"%PDF- statement")
        translations.put_translation(
            session, evidence, world["fr.officer"], language="sw",
            data={"facts_summary": "Jared Kibet OMONDI alidhibiti akaunti"})
        session.commit()
        for request in (evidence, production, extradition):
            _withdraw(session, world, request)
    with clock.frozen(T0 + timedelta(days=1)):
        retention.hold(session, production.reference, "appeal pending", clock.utcnow())
        session.commit()
    before = {r.reference: _content(session, r)
              for r in (evidence, production, extradition, still_open)}

    due = {d.reference: d for d in retention.report(session)}
    assert set(due) == {evidence.reference, production.reference, extradition.reference}
    assert (due[evidence.reference].rule.id, due[evidence.reference].erase_at) == \
        ("mla", T0 + 5 * YEAR)  # type: ignore[union-attr]
    assert (due[production.reference].rule.id, due[production.reference].erase_at,
            due[production.reference].held) == ("e_evidence", T0 + 3 * YEAR, True)  # type: ignore[union-attr]
    assert due[extradition.reference].erase_at == T0 + 10 * YEAR
    assert due[evidence.reference].closed_at == T0

    # Four years on, the e-evidence period is over but the request is held: nothing goes.
    assert retention.erase_due(session, T0 + 4 * YEAR) == []
    retention.release(session, production.reference, T0 + 4 * YEAR)
    session.commit()
    assert retention.erase_due(session, T0 + 4 * YEAR) == [production.reference]
    # A second early of the mla period: nothing; at it, the evidence request.
    assert retention.erase_due(session, T0 + 5 * YEAR - timedelta(seconds=1)) == []
    assert retention.erase_due(session, T0 + 5 * YEAR) == [evidence.reference]
    assert retention.erase_due(session, T0 + 9 * YEAR) == []

    after = _content(session, evidence)
    assert after["data"] == {} and after["title"] == retention.ERASED
    assert (after["attachments"], after["texts"]) == (0, 0)
    assert after["state"] == "withdrawn" and after["reference"] == evidence.reference
    old = before[evidence.reference]
    assert [(e, s) for e, s, _ in after["events"]] == [(e, s) for e, s, _ in old["events"]]
    assert all(reason is None for _, _, reason in after["events"])
    assert after["deadlines"] == old["deadlines"]
    # Untouched: the extradition request (10 years) and the open one.
    for request in (extradition, still_open):
        assert _content(session, request) == before[request.reference]
    assert set(d.reference for d in retention.report(session)) == {extradition.reference}

    erasures = [e for e in session.scalars(select(AuditEvent).where(
        AuditEvent.action == "retention.erase").order_by(AuditEvent.id))]
    assert [(e.detail or {}).get("reference") for e in erasures] == \
        [production.reference, evidence.reference]
    assert (erasures[1].detail or {})["rule"] == "mla"
    assert (erasures[1].detail or {})["attachments"] == 1
    assert audit.verify(session).ok


def test_person_report_finds_every_request_naming_someone(
        session: Session, world: World) -> None:
    named = new_request(session, world, "mla.evidence")  # the example names OMONDI
    other = new_request(session, world, "mla.evidence", data={
        "case_subject": "Accounts held by Zoë Müller-Łukasz in Mombasa"})
    hits = {r["reference"]: r for r in retention.person_report(session, "jared kibet omondi")}
    assert named.reference in hits and other.reference not in hits
    assert any(f.startswith("data.") for f in hits[named.reference]["fields"])
    folded = retention.person_report(session, "MULLER-Lukasz")
    assert [r["reference"] for r in folded] == [other.reference]
    assert folded[0]["fields"] == ["data.case_subject"]
    session.commit()
    assert session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "retention.person_report")) == 2
