"""The audit sealer (issue #26): entries commit without any shared lock and are linked into
the hash chain afterwards, in id order, never past an id a transaction can still commit, by
any number of sealers at once; a sealer killed mid-batch loses and repeats nothing."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine, func, make_url, select, text
from sqlalchemy.orm import Session

from cli import worker
from mla import audit, db
from mla.clock import utcnow
from mla.models import AuditEvent
from tests.conftest import World

ROOT = Path(__file__).resolve().parents[2]


def _write(engine: Engine, n: int, start: int = 0) -> None:
    with db.unit_of_work(engine) as s:
        for i in range(start, start + n):
            audit.record(s, "test.write", object_type="thing", object_id=str(i),
                         detail={"i": i, "note": "Ministère — 東京 \"q\" \\"})


def _mla(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cli", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)


def _raw(engine: Engine) -> psycopg.Connection:
    """A connection of its own, outside SQLAlchemy, for a transaction held open."""
    url = make_url(engine.url).set(drivername="postgresql")
    return psycopg.connect(url.render_as_string(hide_password=False))


def _insert_uncommitted(conn: psycopg.Connection, object_id: str) -> int:
    """What an audited commit sends, held before its COMMIT."""
    entry = {"at": utcnow(), "actor_id": None, "authority_id": None, "action": "test.held",
             "object_type": "thing", "object_id": object_id, "detail": None}
    conn.execute(audit._APPEND_PSYCOPG, audit._driver_params(entry))
    return conn.execute("SELECT currval('audit_events_id_seq')").fetchone()[0]  # type: ignore[index]


def test_cli_reports_sealed_and_unsealed_entries(db_url: str, engine: Engine,
                                                 world: World) -> None:
    _write(engine, 3)
    audit.seal_all(db.session_factory(engine))
    _write(engine, 2, start=3)
    done = _mla("audit", "verify", "--database", db_url)
    assert done.returncode == 0, done.stderr
    assert "audit chain intact: 5 events" in done.stdout
    assert "sealed: 3 rows" in done.stdout and "not sealed yet: 2 entries" in done.stdout
    sealed = _mla("audit", "seal", "--database", db_url)
    assert sealed.returncode == 0, sealed.stderr
    assert "sealed 2 rows; the chain has 5 rows, 0 entries wait" in sealed.stdout


def test_an_edited_entry_not_sealed_yet_is_detected_and_never_sealed(
        db_url: str, engine: Engine, session: Session) -> None:
    from tests.security.test_audit import _tamper

    _write(engine, 5)
    _tamper(engine, "UPDATE audit_events SET detail = NULL WHERE id = 3")
    broken = _mla("audit", "verify", "--database", db_url)
    assert broken.returncode == 1
    assert "audit chain broken at row 3: content does not match its own hash" in broken.stderr
    # Sealing it would vouch for the forgery: the chain stops before it.
    with db.unit_of_work(engine) as s:
        result = audit.seal(s)
    assert (result.length, result.refused_id) == (2, 3)
    assert not audit.verify(session).ok


def test_an_entry_written_over_with_its_own_hash_recomputed_breaks_the_chain_once_sealed(
        engine: Engine, session: Session) -> None:
    from tests.security.test_audit import _tamper

    _write(engine, 4)
    audit.seal_all(db.session_factory(engine))
    row = dict(session.execute(select(*AuditEvent.__table__.c)
                               .where(AuditEvent.id == 2)).one()._mapping)
    row["object_id"] = "forged"
    _tamper(engine, f"UPDATE audit_events SET object_id = 'forged', "
                    f"entry_hash = '{audit.entry_hash(row)}' WHERE id = 2")
    broken = audit.verify(session)
    assert (broken.ok, broken.first_broken_id) == (False, 2)


def test_sealing_never_passes_a_lower_id_still_in_flight(pg_engine: Engine) -> None:
    sessions = db.session_factory(pg_engine)
    _write(pg_engine, 2)
    with _raw(pg_engine) as held:
        held_id = _insert_uncommitted(held, "held")
        _write(pg_engine, 2, start=2)  # commits ids above the one held open
        with sessions() as s, s.begin():
            stuck = audit.seal(s, wait=0.3)
        # Nothing after the held id can be proved final while it may still commit.
        assert stuck.length == 0 or stuck.length < held_id
        with sessions() as s:
            result = audit.verify(s)
            assert result.ok and result.unsealed == 4 - stuck.length
        held.commit()
    assert audit.seal_all(sessions) >= 1
    with sessions() as s:
        result = audit.verify(s)
        assert (result.ok, result.sealed, result.unsealed, result.gaps) == (True, 5, 0, 0)
        order = s.scalars(select(AuditEvent.object_id).order_by(AuditEvent.id)).all()
    assert order[held_id - 1] == "held"


def test_an_id_taken_by_a_rolled_back_transaction_becomes_a_gap_in_the_chain(
        pg_engine: Engine) -> None:
    sessions = db.session_factory(pg_engine)
    _write(pg_engine, 1)
    with _raw(pg_engine) as lost:
        lost_id = _insert_uncommitted(lost, "rolled back")
        lost.rollback()
    _write(pg_engine, 1, start=1)
    with sessions() as s:
        before = audit.verify(s)
    assert (before.ok, before.unsealed, before.pending_ids) == (True, 2, 1)
    audit.seal_all(sessions)
    with sessions() as s:
        after = audit.verify(s)
        assert (after.ok, after.sealed, after.gaps, after.pending_ids) == (True, 3, 1, 0)
        gap = s.execute(select(AuditEvent.action, AuditEvent.hash)
                        .where(AuditEvent.id == lost_id)).one()
    assert gap.action == audit.GAP and gap.hash
    # Were the proof ever wrong, the late commit fails; the chain does not.
    with _raw(pg_engine) as late, pytest.raises(psycopg.errors.UniqueViolation):
        late.execute(audit._APPEND_PSYCOPG.replace("nextval('audit_events_id_seq')",
                                                   str(lost_id)),
                     audit._driver_params({"at": utcnow(), "actor_id": None,
                                           "authority_id": None, "action": "test.late",
                                           "object_type": "thing", "object_id": None,
                                           "detail": None}))


def test_a_sealer_killed_mid_batch_loses_nothing_and_repeats_nothing(
        db_url: str, engine: Engine) -> None:
    _write(engine, 30)
    # A sealer that links a batch (its UPDATEs sent) and dies before committing.
    script = textwrap.dedent(f"""
        import os, signal
        from mla import audit, db
        engine = db.make_engine({db_url!r})
        session = db.session_factory(engine)()
        result = audit.seal(session, limit=20)
        assert result.linked == 20, result
        session.flush()
        print("linked", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    killed = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert killed.returncode == -9 and "linked" in killed.stdout, killed.stderr
    with db.session_factory(engine)() as s:
        assert audit.verify(s).sealed == 0
    again = _mla("audit", "seal", "--database", db_url)
    assert again.returncode == 0, again.stderr
    assert "sealed 30 rows; the chain has 30 rows" in again.stdout
    with db.session_factory(engine)() as s:
        result = audit.verify(s)
        assert (result.ok, result.sealed, result.gaps) == (True, 30, 0)
        assert s.scalar(select(func.count()).select_from(AuditEvent)) == 30


def test_the_worker_seals_within_its_delay(engine: Engine, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from mla import settings

    monkeypatch.setenv("MLA_AUDIT_SEAL_EVERY_SECONDS", "0.2")
    assert settings.get().audit_seal_every_seconds == 0.2
    stop = threading.Event()
    thread = threading.Thread(target=worker.seal_audit, kwargs={"engine": engine, "stop": stop})
    thread.start()
    try:
        _write(engine, 3)
        committed = time.monotonic()
        while time.monotonic() - committed < 5:
            with db.session_factory(engine)() as s:
                if audit.verify(s).sealed == 3:
                    break
            time.sleep(0.05)
        delay = time.monotonic() - committed
    finally:
        stop.set()
        thread.join()
    assert delay < 2.0


def test_worker_once_seals_what_is_committed(engine: Engine) -> None:
    _write(engine, 4)
    with db.session_factory(engine)() as s:
        assert audit.verify(s).unsealed == 4
    worker.seal_audit(engine, threading.Event(), once=True)
    with db.session_factory(engine)() as s:
        result = audit.verify(s)
        assert (result.ok, result.sealed, result.unsealed) == (True, 4, 0)


def test_no_commit_waits_on_another_audited_commit(pg_engine: Engine) -> None:
    """The old head row made every audited commit wait for the one before to end: now a
    transaction holding its entry uncommitted blocks nobody."""
    with _raw(pg_engine) as held:
        _insert_uncommitted(held, "held")
        finished = threading.Event()

        def other() -> None:
            _write(pg_engine, 1)
            finished.set()

        thread = threading.Thread(target=other)
        thread.start()
        assert finished.wait(10), "an audited commit waited on another transaction"
        thread.join()
        held.rollback()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_upgrade_keeps_an_old_chain_verifiable_and_extends_it(backend, request,  # type: ignore[no-untyped-def]
                                                              tmp_path) -> None:
    from tests.test_migrations import _fresh_url

    url = _fresh_url(backend, request, tmp_path)
    db.upgrade(url, "0018")
    engine = db.make_engine(url)
    old = _old_chain(engine, 6)
    db.upgrade(url)
    sessions = db.session_factory(engine)
    with sessions() as s:
        result = audit.verify(s)
        assert (result.ok, result.sealed, result.unsealed) == (True, 6, 0), result.reason
    _write(engine, 3)
    audit.seal_all(sessions)
    with sessions() as s:
        result = audit.verify(s)
        assert (result.ok, result.sealed, result.gaps) == (True, 9, 0), result.reason
        rows = s.execute(select(AuditEvent.id, AuditEvent.hash).order_by(AuditEvent.id)).all()
    assert [r.id for r in rows] == list(range(1, 10))
    assert [r.hash for r in rows[:6]] == old  # the old rows as they were
    # The old chain, altered, still fails.
    from tests.security.test_audit import _tamper
    _tamper(engine, "UPDATE audit_events SET action = 'forged' WHERE id = 4")
    with sessions() as s:
        assert audit.verify(s).first_broken_id == 4
    engine.dispose()


def _old_chain(engine: Engine, n: int) -> list[str]:
    """Rows written as before migration 0020: chained at commit under the head row's lock,
    with the statements of the code of that time."""
    hashes = []
    with engine.begin() as conn:
        for i in range(n):
            head = conn.execute(text("SELECT last_id, last_hash FROM audit_head WHERE id = 1")
                                ).one()
            row = {"id": head.last_id + 1, "at": utcnow(), "actor_id": None,
                   "authority_id": None, "action": "old.write", "object_type": "thing",
                   "object_id": str(i), "detail": {"i": i}}
            row["hash"] = audit.chain_hash(head.last_hash, row)
            conn.execute(AuditEvent.__table__.insert().values(
                {k: v for k, v in row.items()}))
            conn.execute(text("UPDATE audit_head SET last_id = :i, last_hash = :h WHERE id = 1"),
                         {"i": row["id"], "h": row["hash"]})
            hashes.append(row["hash"])
    return hashes
