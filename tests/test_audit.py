"""The audit trail: same transaction as the change, hash-chained, append-only, verifiable."""

from __future__ import annotations

import threading

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from mla import audit, db
from mla.cli import main
from mla.models import AuditEvent
from tests.conftest import World


def _count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(AuditEvent)) or 0


def _tamper(engine: Engine, sql: str) -> None:
    """What an attacker with database access does: lift the guard, change a row."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("ALTER TABLE audit_events DISABLE TRIGGER USER"))
            conn.execute(text(sql))
            conn.execute(text("ALTER TABLE audit_events ENABLE TRIGGER USER"))
        else:
            conn.execute(text("DROP TRIGGER audit_events_no_update"))
            conn.execute(text("DROP TRIGGER audit_events_no_delete"))
            conn.execute(text(sql))
            for statement in audit.SQLITE_TRIGGERS:
                conn.execute(text(statement))


def _fill(session: Session, world: World, n: int) -> None:
    for i in range(n):
        audit.record(session, "test.write", actor=world["fr.officer"], object_type="thing",
                     object_id=str(i), detail={"i": i, "text": "ünïcode & \"quotes\""})
        if i % 3 == 2:
            session.commit()
    session.commit()


def test_entries_are_written_with_their_transaction_only(session: Session,
                                                         world: World) -> None:
    audit.record(session, "test.write", actor=world["fr.officer"], object_type="thing")
    session.rollback()
    session.commit()
    assert _count(session) == 0
    _fill(session, world, 5)
    assert _count(session) == 5
    assert audit.verify(session).ok


def test_chain_verifies_and_names_an_edited_row(session: Session, world: World,
                                                engine: Engine) -> None:
    _fill(session, world, 12)
    result = audit.verify(session)
    assert (result.ok, result.checked) == (True, 12)
    _tamper(engine, "UPDATE audit_events SET object_id = 'forged' WHERE id = 7")
    session.expire_all()
    broken = audit.verify(session)
    assert not broken.ok and broken.first_broken_id == 7
    assert "row 7" in (broken.reason or "")


def test_deleted_row_is_detected(session: Session, world: World, engine: Engine) -> None:
    _fill(session, world, 6)
    _tamper(engine, "DELETE FROM audit_events WHERE id = 4")
    broken = audit.verify(session)
    assert not broken.ok and broken.first_broken_id == 4


def test_last_row_removed_is_detected(session: Session, world: World, engine: Engine) -> None:
    _fill(session, world, 3)
    _tamper(engine, "DELETE FROM audit_events WHERE id = 3")
    broken = audit.verify(session)
    assert not broken.ok and broken.first_broken_id == 3


def test_database_refuses_update_and_delete(session: Session, world: World,
                                            engine: Engine) -> None:
    _fill(session, world, 2)
    for sql in ("UPDATE audit_events SET action = 'x'", "DELETE FROM audit_events"):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text(sql))
    assert audit.verify(session).ok


def test_concurrent_writers_form_one_chain(pg_engine: Engine) -> None:
    from tests.conftest import build_world

    sessions = db.session_factory(pg_engine)
    with sessions() as s:
        world = build_world(s)
    barrier = threading.Barrier(4)

    def write(n: int) -> None:
        barrier.wait()
        for i in range(25):
            with sessions() as s:
                audit.record(s, "test.concurrent", actor=world["fr.officer"],
                             object_type="thing", object_id=f"{n}-{i}")
                s.commit()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with sessions() as s:
        result = audit.verify(s)
        assert (result.ok, result.checked) == (True, 100)


def test_cli_verify_exit_codes(session: Session, world: World, engine: Engine,
                               db_url: str) -> None:
    _fill(session, world, 4)
    runner = CliRunner()
    ok = runner.invoke(main, ["audit", "verify", "--database", db_url])
    assert ok.exit_code == 0 and "intact: 4 events" in ok.output
    _tamper(engine, "UPDATE audit_events SET detail = NULL WHERE id = 2")
    bad = runner.invoke(main, ["audit", "verify", "--database", db_url])
    assert bad.exit_code == 1 and "broken at row 2" in bad.output
