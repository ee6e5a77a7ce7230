"""The escalation worker on PostgreSQL: shared work, crash safety, no duplicates."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, delete, event, func, insert, select
from sqlalchemy.exc import OperationalError

from cli import worker
from mla import db, templates
from mla.deadlines import escalation
from mla.models import Alert, Deadline, DeadlineStep
from mla.requests import filing
from tests.conftest import _migrated_engine, _wipe, build_world

PAST = datetime(2026, 1, 1, tzinfo=UTC)


def _due_steps(engine: Engine, n: int) -> None:
    """`n` deadlines, each with one due `reminder_50` step (one officer alert each)."""
    with db.session_factory(engine)() as s:
        world = build_world(s)
        request = filing.file_request(
            s, world["fr.officer"], kind="mla.evidence", requested_authority_id=world.ke.id,
            legal_basis="untoc", title="load", language="en",
            data=templates.example("mla.evidence"))
        s.commit()
        rows = [{"request_id": request.id, "rule_id": "untoc.suggested_date",
                 "timer": "execution", "acting_authority_id": world.ke.id, "opened_at": PAST,
                 "period_start": PAST, "due_at": PAST + timedelta(days=1),
                 "extended_days": 0} for _ in range(n)]
        ids = s.scalars(insert(Deadline).returning(Deadline.id), rows).all()
        s.execute(insert(DeadlineStep), [
            {"deadline_id": i, "step": "reminder_50", "due_at": PAST} for i in ids])
        s.commit()


def _counts(engine: Engine) -> tuple[int, int, int]:
    with engine.connect() as conn:
        alerts = conn.scalar(select(func.count()).select_from(Alert))
        distinct = conn.scalar(select(func.count(func.distinct(Alert.deadline_step_id))))
        pending = conn.scalar(select(func.count()).select_from(DeadlineStep)
                              .where(DeadlineStep.done_at.is_(None)))
    return alerts or 0, distinct or 0, pending or 0


def test_two_workers_share_10000_steps_exactly_once(pg_engine: Engine) -> None:
    _due_steps(pg_engine, 10_000)
    barrier = threading.Barrier(2)
    done: list[int] = []

    def work() -> None:
        barrier.wait()
        done.append(worker.run(pg_engine, batch=200, once=True))

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(done) == 10_000
    assert _counts(pg_engine) == (10_000, 10_000, 0)


def test_worker_killed_mid_run_loses_and_duplicates_nothing(
    pg_engine: Engine, postgresql_base_url: str
) -> None:
    total = 20_000
    _due_steps(pg_engine, total)
    env = {**os.environ, "MLA_DATABASE_URL": postgresql_base_url}
    command = [sys.executable, "-m", "cli", "worker", "--batch", "300", "--once"]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if _counts(pg_engine)[0] >= total // 4:
            break
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    alerts_at_kill = _counts(pg_engine)[0]
    assert 0 < alerts_at_kill < total, "the worker was not killed mid-run"
    subprocess.run(command, env=env, check=True, capture_output=True, timeout=120)
    assert _counts(pg_engine) == (total, total, 0)


def test_single_worker_on_sqlite(sqlite_base_url: str) -> None:
    engine = _migrated_engine(sqlite_base_url)
    _wipe(engine)
    _due_steps(engine, 1_000)
    assert worker.run(engine, batch=128, once=True) == 1_000
    assert worker.run(engine, batch=128, once=True) == 0
    assert _counts(engine) == (1_000, 1_000, 0)


def test_sqlite_batch_holds_its_claim_until_it_commits(sqlite_base_url: str) -> None:
    """A transition closing a deadline deletes its pending steps. On SQLite it must wait for
    the batch that claimed them, or the batch's alerts would point at deleted steps."""
    engine = _migrated_engine(sqlite_base_url)
    _wipe(engine)
    _due_steps(engine, 3)
    other = db.make_engine(sqlite_base_url, connect_args={"timeout": 0.2})
    refused: list[str] = []

    def close_deadlines_meanwhile(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        # Between the claim and the alerts it writes, as a concurrent transition would.
        if statement.startswith("INSERT INTO alerts") and not refused:
            try:
                with other.begin() as conn:
                    conn.execute(delete(DeadlineStep))
            except OperationalError as exc:
                refused.append(str(exc))

    event.listen(engine, "before_cursor_execute", close_deadlines_meanwhile)
    with db.session_factory(engine)() as s, s.begin():
        assert escalation.run_batch(s, now=datetime.now(UTC)).alerts == 3
    event.remove(engine, "before_cursor_execute", close_deadlines_meanwhile)
    assert refused and "locked" in refused[0]
    with other.begin() as conn:  # once the batch committed, the transition goes through
        conn.execute(delete(DeadlineStep).where(DeadlineStep.done_at.is_(None)))
    other.dispose()
    assert _counts(engine) == (3, 3, 0)


def test_unique_alert_per_step_and_role_is_enforced_by_the_database(pg_engine: Engine) -> None:
    _due_steps(pg_engine, 1)
    worker.run(pg_engine, once=True)
    with db.session_factory(pg_engine)() as s:
        alert = s.scalars(select(Alert)).one()
        s.add(Alert(request_id=alert.request_id, authority_id=alert.authority_id,
                    role=alert.role, source="deadline", deadline_step_id=alert.deadline_step_id,
                    step=alert.step, message="again", created_at=PAST))
        try:
            s.commit()
            raise AssertionError("duplicate alert accepted")
        except Exception as exc:  # IntegrityError
            assert "uq_alerts_deadline_step_id" in str(exc)
