"""Worker liveness: a real `mla worker` process beats, `/ready` says so; killed, `/ready`
fails and the instance's admin gets exactly one page (e-mail and webhook), however many API
processes watch and however often they look; back, one "running again" message."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from api.app import create_app
from mla import clock, db
from mla.models import WorkerHeartbeat, WorkerOutage
from mla.ops import deadman
from tests.receivers import WebhookReceiver, smtp_server

ROOT = Path(__file__).resolve().parents[2]
SECRET = "admin-hook-secret"


def _start_worker(db_url: str, tmp_path: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "cli", "worker", "--database", db_url,
                             "--poll", "0.5"], cwd=ROOT, env={**os.environ},
                            stdout=subprocess.DEVNULL,
                            stderr=(tmp_path / "worker.log").open("ab"))


def _wait_for_beat(engine: Engine, after: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with db.session_factory(engine)() as s:
            if (s.scalar(select(func.count()).select_from(WorkerHeartbeat)) or 0) > after:
                return
        time.sleep(0.2)
    raise AssertionError("the worker never beat")


def test_a_killed_worker_fails_readiness_and_pages_the_admin_once(
        db_url: str, engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with smtp_server() as (mailbox, port), WebhookReceiver(SECRET) as hook:
        monkeypatch.setenv("MLA_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("MLA_SMTP_PORT", str(port))
        monkeypatch.setenv("MLA_ADMIN_EMAIL", "ops@ministry.example")
        monkeypatch.setenv("MLA_ADMIN_WEBHOOK_URL", hook.url)
        monkeypatch.setenv("MLA_ADMIN_WEBHOOK_SECRET", SECRET)
        worker = _start_worker(db_url, tmp_path)
        try:
            _wait_for_beat(engine, 0)
            app = create_app(db_url)
            with TestClient(app) as client:
                ready = client.get("/ready")
                assert ready.status_code == 200, ready.text
                assert ready.json()["worker"]["status"] == "beating"
                assert ready.json()["worker"]["running"] == 1
                assert client.get("/health/ready").json()["worker"]["status"] == "beating"
                worker.send_signal(signal.SIGKILL)  # no goodbye: stopped_at stays unset
                worker.wait(timeout=30)
                later = clock.utcnow() + timedelta(minutes=3)
                with clock.frozen(later):
                    ready = client.get("/ready")
                    assert ready.status_code == 503
                    body = ready.json()
                    assert body["worker"]["status"] == "silent"
                    assert "mla worker" in body["detail"]
                    assert body["outbox"] == {"pending": 0, "oldest_age_seconds": None}
            app.state.engine.dispose()
            # Three API processes (three engines) look at once, then again, and again later.
            factories = [db.session_factory(db.make_engine(db_url)) for _ in range(3)]
            threads = [threading.Thread(target=deadman.check, args=(f, later))
                       for f in factories]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            for f in factories:
                assert deadman.check(f, later + timedelta(minutes=5)) == "down"
            assert hook.wait_for(1)
            time.sleep(0.5)  # a second message would have arrived by now
            assert len(mailbox.messages) == 1
            assert len(hook.deliveries) == 1
            recipients, mail = mailbox.messages[0]
            assert recipients == ["ops@ministry.example"]
            assert "worker down" in mail["Subject"]
            down = hook.deliveries[0]
            assert down.signature_ok
            payload = json.loads(down.body)
            assert payload["event"] == "worker.down"
            assert mail["X-MLA-Notification-Id"] == down.headers["X-MLA-Notification-Id"]
            # Back: one "running again" message, then nothing more.
            worker = _start_worker(db_url, tmp_path)
            _wait_for_beat(engine, 1)
            for f in factories:
                assert deadman.check(f, clock.utcnow()) == "up"
            assert hook.wait_for(2)
            time.sleep(0.5)
            assert len(mailbox.messages) == 2 and len(hook.deliveries) == 2
            assert json.loads(hook.deliveries[1].body)["event"] == "worker.up"
            assert "running again" in mailbox.messages[1][1]["Subject"]
            with db.session_factory(engine)() as s:
                outage = s.scalars(select(WorkerOutage)).one()
                assert outage.paged_at and outage.recovered_at and outage.recovery_paged_at
        finally:
            worker.kill()
            worker.wait(timeout=30)


def test_a_worker_stopping_on_purpose_is_still_an_outage(
        db_url: str, engine: Engine, tmp_path: Path) -> None:
    """SIGTERM: the worker records its stop, and no worker runs: readiness fails alike."""
    worker = _start_worker(db_url, tmp_path)
    try:
        _wait_for_beat(engine, 0)
    finally:
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=60) == 0
    with db.session_factory(engine)() as s:
        row = s.scalars(select(WorkerHeartbeat)).one()
        assert row.stopped_at is not None
    app = create_app(db_url)
    with TestClient(app) as client, clock.frozen(clock.utcnow() + timedelta(minutes=3)):
        assert client.get("/ready").status_code == 503
    app.state.engine.dispose()


def test_no_admin_contact_configured_still_detects_and_keeps_trying(
        engine: Engine, caplog: pytest.LogCaptureFixture) -> None:
    sessions = db.session_factory(engine)
    started = clock.utcnow() - timedelta(minutes=10)
    with sessions() as s, s.begin():
        s.add(WorkerHeartbeat(worker_id="w1", host="h", pid=1, started_at=started,
                              beat_at=started))
    assert deadman.check(sessions, clock.utcnow()) == "down"
    assert "no admin contact to page" in caplog.text
    with sessions() as s:
        outage = s.scalars(select(WorkerOutage)).one()
        assert outage.paged_at is None and outage.claimed_until is None


def test_a_database_no_worker_ever_ran_on_is_ready_and_says_so(db_url: str) -> None:
    app = create_app(db_url)
    with TestClient(app) as client:
        body = client.get("/ready").json()
        assert body["status"] == "ready"
        assert body["worker"]["status"] == "never seen"
        assert deadman.check(app.state.sessions, clock.utcnow()) == "unknown"
    app.state.engine.dispose()
