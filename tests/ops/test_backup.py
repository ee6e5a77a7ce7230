"""The restore drill: back up, keep working, restore; the audit chain verifies, and the worker
resumes sending what was sent after the backup under the same ids (receivers drop those),
while what is new after the restore never reuses an id already sent."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from mla import audit, db
from mla.models import Notification, Request
from mla.oncall import delivery as page_delivery
from mla.oncall import paging
from mla.oncall import service as oncall
from mla.requests import filing
from tests.conftest import World, build_world
from tests.receivers import WebhookReceiver

ROOT = Path(__file__).resolve().parents[2]
NET = "budapest_24_7"
SECRET = "desk-secret-shared-with-ke"


def mla(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cli", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, env={**os.environ})


@pytest.fixture
def hook() -> Iterator[WebhookReceiver]:
    with WebhookReceiver(SECRET) as receiver:
        yield receiver


def _desk(session: Session, world: World, url: str) -> None:
    desk = oncall.save_contact(session, world.ke.id, {
        "network": NET, "name": "Desk A", "email": "a@ke.example", "languages": ["en"],
        "channels": ["webhook"], "webhook_url": url, "webhook_secret": SECRET,
        "timezone": "Africa/Nairobi"})
    oncall.set_rotation(session, world.ke.id, network=NET, timezone="Africa/Nairobi",
                        handoff_time="08:00", shift_hours=24, starts_on=date(2026, 1, 1),
                        members=[desk.id])
    paging.set_policy(session, world.ke.id, network=NET, repeat=0,
                      steps=[{"notify": "on_call", "delay_minutes": 30}])
    session.commit()


def _urgent(session: Session, world: World, ref: str) -> None:
    filing.register_incoming(
        session, world["ke.officer"], kind="mla.e_evidence.preservation",
        requesting_authority_id=world.fr.id, counterpart_reference=ref,
        legal_basis="budapest", title=f"Preserve {ref}", language="en", data={})
    session.commit()


def _ids(hook: WebhookReceiver) -> list[str]:
    return [d.headers["X-MLA-Notification-Id"] for d in hook.deliveries]


def test_restore_drill(db_url: str, engine: Engine, hook: WebhookReceiver,
                       tmp_path: Path) -> None:
    sessions = db.session_factory(engine)
    with sessions() as s:
        world = build_world(s)
        _desk(s, world, hook.url)
        _urgent(s, world, "FR-1")  # its page waits for the worker
    file = tmp_path / "mla.backup"
    done = mla("backup", "--database", db_url, str(file))
    assert done.returncode == 0, done.stderr
    assert file.stat().st_size > 0

    # Work goes on after the backup: the first page goes out, a second request comes in.
    with sessions() as s:
        page_delivery.run_batch(s)
        world = World(*(s.merge(a) for a in (world.fr, world.ke, world.us)),
                      {k: s.merge(u) for k, u in world.users.items()})
        _urgent(s, world, "FR-2")
        page_delivery.run_batch(s)
    assert hook.wait_for(2)
    sent_before = _ids(hook)
    assert len(set(sent_before)) == 2

    engine.dispose()
    done = mla("restore", "--database", db_url, "--yes", str(file))
    assert done.returncode == 0, done.stderr
    assert "restored" in done.stdout
    done = mla("audit", "verify", "--database", db_url)
    assert done.returncode == 0, done.stderr
    engine.dispose()

    with sessions() as s:
        assert audit.verify(s).ok
        refs = set(s.scalars(select(Request.counterpart_reference)))
        assert refs == {"FR-1"}  # the request after the backup is gone
        assert any(e.action == "ops.restore" for e in audit.events(s, limit=500))
        # The worker resumes: the first page's message goes out again, under its id.
        page_delivery.run_batch(s)
        assert hook.wait_for(3)
        assert _ids(hook)[2] == sent_before[0]
        assert json.loads(hook.deliveries[2].body)["notification_id"] == \
            json.loads(hook.deliveries[0].body)["notification_id"]
        # New work after the restore: a new id, never one a receiver saw before.
        world = World(*(s.get(type(a), a.id) for a in (world.fr, world.ke, world.us)),
                      {k: s.get(type(u), u.id) for k, u in world.users.items()})
        _urgent(s, world, "FR-3")
        page_delivery.run_batch(s)
        assert hook.wait_for(4)
        new_id = _ids(hook)[3]
        if engine.dialect.name == "postgresql":
            assert new_id not in sent_before
        assert s.scalar(select(func.count()).select_from(Notification).where(
            Notification.status == "pending", Notification.channel == "webhook")) == 0


def test_restore_refuses_a_file_that_is_not_a_backup_of_this_kind(
        db_url: str, tmp_path: Path) -> None:
    junk = tmp_path / "notes.txt"
    junk.write_text("not a backup")
    done = mla("restore", "--database", db_url, "--yes", str(junk))
    assert done.returncode == 1
    assert "is not a" in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    done = mla("backup", "--database", db_url, str(tmp_path / "no-such-dir" / "b"))
    assert done.returncode == 1 and "no such directory" in done.stderr
