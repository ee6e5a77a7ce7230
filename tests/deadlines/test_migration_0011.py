"""Revision 0011 on a database with requests of before: the retired EIO "postponement" clock
(no period in art. 15) is closed with its pending alerts, other clocks stay, and requests get
their urgency reasons column."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from alembic import command
from sqlalchemy import insert, inspect, select

from mla import db
from mla.models import Authority, Deadline, DeadlineStep, Request
from tests.test_migrations import _fresh_url

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_0011_closes_running_postponement_clocks(backend, request, tmp_path) -> None:  # type: ignore[no-untyped-def]
    url = _fresh_url(backend, request, tmp_path)
    command.upgrade(db.alembic_config(url), "0010")
    engine = db.make_engine(url)
    rid = uuid.uuid4()
    with engine.begin() as conn:
        ids = [conn.execute(insert(Authority).values(
            code=code, country=code[:2], name=code, timezone="Europe/Berlin", languages=["en"],
            created_at=T0).returning(Authority.id)).scalar_one() for code in ("DE-A", "FR-B")]
        conn.execute(insert(Request.__table__).values(
            id=rid, reference="FR-B-2026-00001", kind="mla.evidence", workflow="mla_requested",
            legal_basis="eio_2014_41", requesting_authority_id=ids[1],
            requested_authority_id=ids[0], title="t", urgent=False, state="postponed",
            template_version=1, language="en", data={}, created_at=T0, updated_at=T0,
            version=3))
        deadline_ids = {}
        for rule, timer in (("eio.postponement", "postponement"), ("eio.execution", "execution")):
            deadline_ids[rule] = conn.execute(insert(Deadline).values(
                request_id=rid, rule_id=rule, timer=timer, acting_authority_id=ids[0],
                opened_at=T0, period_start=T0, due_at=datetime(2026, 3, 31, 22, tzinfo=UTC),
                extended_days=0).returning(Deadline.id)).scalar_one()
            conn.execute(insert(DeadlineStep).values(
                deadline_id=deadline_ids[rule], step="due",
                due_at=datetime(2026, 3, 31, 22, tzinfo=UTC)))
    db.upgrade(url)
    assert "urgency_reasons" in {c["name"] for c in inspect(engine).get_columns("requests")}
    with engine.connect() as conn:
        closed = dict(conn.execute(select(Deadline.rule_id, Deadline.closed_at)).all())
        steps = set(conn.execute(select(DeadlineStep.deadline_id)).scalars())
        reasons = conn.execute(select(Request.urgency_reasons)).scalar_one()
    assert closed["eio.postponement"] is not None and closed["eio.execution"] is None
    assert steps == {deadline_ids["eio.execution"]}
    assert reasons is None
    engine.dispose()
