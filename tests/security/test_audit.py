"""The audit trail: same transaction as the change, sealed into the hash chain after,
append-only, verifiable whether sealed or not."""

from __future__ import annotations

import threading

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from cli.main import main
from mla import audit, db
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


def _fill(session: Session, world: World, n: int, *, sealed: bool = True) -> None:
    for i in range(n):
        audit.record(session, "test.write", actor=world["fr.officer"], object_type="thing",
                     object_id=str(i), detail={"i": i, "text": "ünïcode & \"quotes\""})
        if i % 3 == 2:
            session.commit()
    session.commit()
    if sealed:
        _seal(session)


def _seal(session: Session) -> int:
    engine = session.get_bind()
    assert isinstance(engine, Engine)
    return audit.seal_all(db.session_factory(engine))


def test_entries_are_written_with_their_transaction_only(session: Session,
                                                         world: World) -> None:
    audit.record(session, "test.write", actor=world["fr.officer"], object_type="thing")
    session.rollback()
    session.commit()
    assert _count(session) == 0
    _fill(session, world, 5)
    assert _count(session) == 5
    assert audit.verify(session).ok


@pytest.mark.parametrize("sealed", [True, False], ids=["sealed", "unsealed"])
def test_chain_verifies_and_names_an_edited_row(session: Session, world: World,
                                                engine: Engine, sealed: bool) -> None:
    _fill(session, world, 12, sealed=sealed)
    result = audit.verify(session)
    assert (result.ok, result.checked) == (True, 12)
    assert (result.sealed, result.unsealed) == ((12, 0) if sealed else (0, 12))
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
    _fill(session, world, 1, sealed=False)
    refused = ("UPDATE audit_events SET action = 'x'", "DELETE FROM audit_events",
               # a sealed row's hash, and anything besides the hash of a row not sealed
               f"UPDATE audit_events SET hash = '{'a' * 64}' WHERE id = 1",
               f"UPDATE audit_events SET hash = '{'a' * 64}', object_id = 'x' WHERE id = 3",
               "UPDATE audit_events SET entry_hash = NULL WHERE id = 3")
    for sql in refused:
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text(sql))
    result = audit.verify(session)
    assert (result.ok, result.sealed, result.unsealed) == (True, 2, 1)


def test_concurrent_writers_form_one_chain(engine: Engine) -> None:
    from tests.conftest import build_world

    sessions = db.session_factory(engine)
    with sessions() as s:
        world = build_world(s)
        before = audit.verify(s).checked
    barrier = threading.Barrier(4)
    errors: list[Exception] = []

    def write(n: int) -> None:
        barrier.wait()
        for i in range(25):
            try:
                with sessions() as s:
                    audit.record(s, "test.concurrent", actor=world["fr.officer"],
                                 object_type="thing", object_id=f"{n}-{i}")
                    s.commit()
            except Exception as exc:  # a lost append fails the test, not just the thread
                errors.append(exc)

    writing = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    done = threading.Event()

    def keep_sealing() -> None:  # two sealers at once, as two workers would
        while not done.is_set():
            try:
                audit.seal_all(sessions, limit=7)
            except Exception as exc:
                errors.append(exc)

    sealing = [threading.Thread(target=keep_sealing) for _ in range(2)]
    for t in writing + sealing:
        t.start()
    for t in writing:
        t.join()
    done.set()
    for t in sealing:
        t.join()
    assert errors == []
    audit.seal_all(sessions)
    with sessions() as s:
        result = audit.verify(s)
        assert (result.ok, result.checked) == (True, before + 100)
        assert (result.sealed, result.unsealed) == (before + 100 + result.gaps, 0)


def test_cli_verify_exit_codes(session: Session, world: World, engine: Engine,
                               db_url: str) -> None:
    _fill(session, world, 4)
    runner = CliRunner()
    ok = runner.invoke(main, ["audit", "verify", "--database", db_url])
    assert ok.exit_code == 0 and "intact: 4 events" in ok.output
    _tamper(engine, "UPDATE audit_events SET detail = NULL WHERE id = 2")
    bad = runner.invoke(main, ["audit", "verify", "--database", db_url])
    assert bad.exit_code == 1 and "broken at row 2" in bad.output


def test_savepoint_rollback_drops_only_its_own_entries(session: Session,
                                                       world: World) -> None:
    officer = world["fr.officer"]
    audit.record(session, "outer.before", actor=officer, object_type="thing")
    with session.begin_nested():
        audit.record(session, "kept.savepoint", actor=officer, object_type="thing")
    savepoint = session.begin_nested()
    audit.record(session, "undone.savepoint", actor=officer, object_type="thing")
    with session.begin_nested():
        audit.record(session, "undone.inner", actor=officer, object_type="thing")
    savepoint.rollback()
    audit.record(session, "outer.after", actor=officer, object_type="thing")
    session.commit()
    assert [e.action for e in audit.events(session)] == [
        "outer.before", "kept.savepoint", "outer.after"]
    assert audit.verify(session).ok


def test_entries_of_a_session_closed_without_commit_vanish(session: Session,
                                                           world: World) -> None:
    audit.record(session, "never.committed", actor=world["fr.officer"], object_type="thing")
    session.close()
    audit.record(session, "committed", actor=world["fr.officer"], object_type="thing")
    session.commit()
    assert [e.action for e in audit.events(session)] == ["committed"]


def test_row_content_round_trips(session: Session, world: World) -> None:
    from datetime import UTC, datetime

    from mla import clock

    instant = datetime(2026, 3, 2, 9, 30, 15, 123456, tzinfo=UTC)
    # Text that could confuse the canonical form or the SQL-side hashing on PostgreSQL.
    detail = {"note": ',"id":0,"object_id":', "naïve": "Ministère — 東京 🧾",
              "nested": {"b": [1, 2.5, None, True], "a": "\\\"'"}}
    with clock.frozen(instant):
        audit.record(session, "request.read", actor=world["ke.liaison"], object_type="request",
                     object_id="f3b0c442-98fc-4c1c-9a2b-2c2d3e5f6a7b", detail=detail)
        audit.record(session, "system.tick", object_type="worker")
        session.commit()
    first, second = audit.events(session)
    assert first.hash is None and first.entry_hash == audit.entry_hash(
        {c: getattr(first, c) for c in ("id", "at", "actor_id", "authority_id", "action",
                                        "object_type", "object_id", "detail")})
    _seal(session)
    session.expire_all()
    first, second = audit.events(session)
    assert (first.id, second.id) == (1, 2)
    assert first.at == instant and first.detail == detail
    assert first.actor_id == world["ke.liaison"].id
    assert first.authority_id == world.ke.id
    assert second.actor_id is None and second.authority_id is None and second.detail is None
    assert len(first.hash) == 64 and first.hash != second.hash
    assert audit.chain_hash(audit.GENESIS, {c: getattr(first, c) for c in (
        "id", "at", "actor_id", "authority_id", "action", "object_type", "object_id",
        "detail")}) == first.hash
    assert audit.verify(session).ok


def test_events_listing_filters_and_pages(session: Session, world: World) -> None:
    for i in range(6):
        user = world["fr.officer"] if i % 2 else world["ke.officer"]
        audit.record(session, "test.write", actor=user, object_type="thing", object_id=str(i))
    session.commit()
    fr = audit.events(session, authority_id=world.fr.id)
    assert [e.object_id for e in fr] == ["1", "3", "5"]
    page = audit.events(session, authority_id=world.fr.id, after_id=fr[0].id, limit=1)
    assert [e.object_id for e in page] == ["3"]
    assert len(audit.events(session)) == 6


def test_forged_head_or_rows_beyond_it_are_detected(session: Session, world: World,
                                                    engine: Engine) -> None:
    _fill(session, world, 3)
    with engine.begin() as conn:
        conn.execute(text("UPDATE audit_head SET last_hash = :h WHERE id = 1"),
                     {"h": "f" * 64})
    broken = audit.verify(session)
    assert (broken.ok, broken.first_broken_id) == (False, 3)
    assert broken.reason == "row 3: does not match the chain head"
    with engine.begin() as conn:
        conn.execute(text("UPDATE audit_head SET last_id = 2 WHERE id = 1"))
    broken = audit.verify(session)
    assert (broken.ok, broken.first_broken_id) == (False, 3)
    assert "not recorded by the chain head" in (broken.reason or "")


def test_verify_during_concurrent_writes_never_reports_a_break(pg_engine: Engine) -> None:
    """Commits and seals while verify reads must not look like lost or forged rows."""
    from tests.conftest import build_world

    sessions = db.session_factory(pg_engine)
    with sessions() as s:
        world = build_world(s)
    done = threading.Event()

    def write() -> None:
        try:
            for i in range(60):
                with sessions() as s:
                    audit.record(s, "test.concurrent", actor=world["fr.officer"],
                                 object_type="thing", object_id=str(i))
                    s.commit()
        finally:
            done.set()

    def keep_sealing() -> None:
        while not done.is_set():
            audit.seal_all(sessions, limit=5)

    writer = threading.Thread(target=write)
    sealer = threading.Thread(target=keep_sealing)
    writer.start()
    sealer.start()
    results = []
    while not done.is_set():
        with sessions() as s:
            results.append(audit.verify(s))
    writer.join()
    sealer.join()
    assert results and all(r.ok for r in results), [r for r in results if not r.ok][:1]
    with sessions() as s:
        assert audit.verify(s).checked == 60


def test_cli_verify_names_a_deleted_row(session: Session, world: World, engine: Engine,
                                        db_url: str) -> None:
    import click

    from cli import admin as cli_admin

    group = click.Group()
    cli_admin.register(group)
    _fill(session, world, 5)
    _tamper(engine, "DELETE FROM audit_events WHERE id = 3")
    result = CliRunner().invoke(group, ["audit", "verify", "--database", db_url])
    assert result.exit_code == 1
    assert "audit chain broken at row 3: missing (next row is 4)" in result.output
