"""Audit anchoring: a database owner who rewrites the audit chain whole (every hash from the
changed row on, and the head) passes `mla audit verify`, but not a check against a signed
checkpoint kept outside the database: in a directory, or witnessed by a peer instance over
real HTTP."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from jose import jws
from sqlalchemy import Engine, select, text, update

from mla import audit, db
from mla.clock import utcnow
from mla.models import AuditCheckpoint, AuditEvent, AuditHead
from mla.ops import anchor
from mla.transfer import keys as transfer_keys
from mla.transfer import peers as transfer_peers
from mla.transfer.canonical import canonical
from tests.conftest import World
from tests.receivers import free_port
from tests.transfer.test_transfer import FR, KE, _pg_url

ROOT = Path(__file__).resolve().parents[2]
MLA = [sys.executable, "-m", "cli"]


def mla(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*MLA, *args], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={**os.environ, **env})


def rewrite_chain(engine: Engine, row_id: int) -> None:
    """What an owner of the database can do: lift the append-only trigger, change a row, and
    recompute every hash after it and the head, so that the chain holds again."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("ALTER TABLE audit_events DISABLE TRIGGER USER"))
        else:
            conn.execute(text("DROP TRIGGER audit_events_no_update"))
        rows = [dict(r._mapping) for r in conn.execute(
            select(*AuditEvent.__table__.c).order_by(AuditEvent.id))]
        prev = audit.GENESIS
        for row in rows:
            if row["hash"] is None:
                break  # not sealed yet: outside the chain
            if row["id"] == row_id:
                row["detail"] = {**(row["detail"] or {}), "rewritten": True}
                if row["entry_hash"] is not None:
                    row["entry_hash"] = audit.entry_hash(row)
            if row["id"] >= row_id:
                row["hash"] = audit.chain_hash(prev, row)
                conn.execute(update(AuditEvent).where(AuditEvent.id == row["id"])
                             .values(detail=row["detail"], hash=row["hash"],
                                     entry_hash=row["entry_hash"]))
            prev = row["hash"]
        conn.execute(update(AuditHead).where(AuditHead.id == 1).values(last_hash=prev))
        if engine.dialect.name == "postgresql":
            conn.execute(text("ALTER TABLE audit_events ENABLE TRIGGER USER"))
        else:
            for statement in audit.SQLITE_TRIGGERS:
                conn.execute(text(statement))


def add_events(engine: Engine, count: int) -> None:
    with db.unit_of_work(engine) as s:
        for i in range(count):
            audit.record(s, "request.read", object_type="request", object_id=f"r{i}",
                         detail={"n": i})


def test_a_rewritten_chain_fails_against_checkpoint_files(
        db_url: str, engine: Engine, world: World, tmp_path: Path) -> None:
    add_events(engine, 5)
    folder = tmp_path / "witness"
    done = mla("audit", "checkpoint", "--database", db_url, "--out", str(folder), "--no-send")
    assert done.returncode == 0, done.stderr
    [file] = folder.iterdir()
    witnessed_length = int(done.stdout.split("checkpoint: ")[1].split()[0])
    add_events(engine, 3)  # the chain grows after the checkpoint: still fine
    done = mla("audit", "verify", "--database", db_url, "--checkpoints", str(folder))
    assert done.returncode == 0, done.stderr
    assert "matches 1 signed checkpoints" in done.stdout

    rewrite_chain(engine, witnessed_length - 2)
    done = mla("audit", "verify", "--database", db_url)
    assert done.returncode == 0, "a whole rewrite holds together on its own"
    done = mla("audit", "verify", "--database", db_url, "--checkpoints", str(folder))
    assert done.returncode == 1
    assert f"checkpoint at row {witnessed_length}" in done.stderr
    assert "rewritten" in done.stderr
    assert file.read_text().count(".") == 2  # the file is the compact JWS itself


def test_checkpoint_of_unchanged_chain_is_not_repeated(engine: Engine, world: World) -> None:
    with db.unit_of_work(engine) as s:
        first = anchor.make(s, utcnow())
        assert first is not None
        assert anchor.make(s, utcnow()) is None
    add_events(engine, 1)
    with db.unit_of_work(engine) as s:
        assert anchor.make(s, utcnow()) is None  # the chain covers sealed entries only
    audit.seal_all(db.session_factory(engine))
    with db.unit_of_work(engine) as s:
        second = anchor.make(s, utcnow())
        assert second is not None and second.chain_length == first.chain_length + 1


# --- two real instances --------------------------------------------------------------------


class Node:
    def __init__(self, spec: dict[str, str], url: str) -> None:
        self.code = spec["code"]
        self.url = url
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = {"MLA_DATABASE_URL": url, "MLA_INSTANCE_AUTHORITY": self.code}
        db.upgrade(url)
        self.engine = db.make_engine(url)
        with db.unit_of_work(self.engine) as s:
            transfer_peers.init_instance(s, code=spec["code"], country=spec["country"],
                                         name=spec["name"], timezone=spec["timezone"],
                                         languages=["en"])
        self.server: subprocess.Popen[bytes] | None = None

    def start(self, log: Path) -> None:
        self.server = subprocess.Popen([*MLA, "serve", "--port", str(self.port)], cwd=ROOT,
                                       env={**os.environ, **self.env},
                                       stdout=log.open("ab"), stderr=subprocess.STDOUT)

    def wait(self) -> None:
        import time

        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{self.base}/health", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert self.server is not None and self.server.poll() is None
            assert time.monotonic() < deadline
            time.sleep(0.2)

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return mla(*args, **self.env)


@pytest.fixture(scope="module")
def pair(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[tuple[Node, Node]]:
    tmp = tmp_path_factory.mktemp("anchor")
    fr = Node(FR, f"sqlite:///{tmp / 'fr.db'}")
    ke = Node(KE, _pg_url(request) or f"sqlite:///{tmp / 'ke.db'}")
    try:
        for node in (fr, ke):
            node.start(tmp / f"{node.code}.log")
        for node in (fr, ke):
            node.wait()
        assert fr.cli("peers", "add", ke.code, "--url", ke.base).returncode == 0
        assert ke.cli("peers", "add", fr.code, "--url", fr.base).returncode == 0
        yield fr, ke
    finally:
        for node in (fr, ke):
            if node.server is not None:
                node.server.terminate()
                node.server.wait(timeout=30)
            node.engine.dispose()


def _sign_as(node: Node, statement: dict[str, Any]) -> str:
    with db.session_factory(node.engine)() as s:
        key = transfer_keys.current_key(s, "sig")
        return jws.sign(canonical(statement).encode(), transfer_keys.private_key(key),
                        headers={"kid": key.kid, "typ": anchor.TYPE}, algorithm="ES256")


def test_a_peer_witnesses_checkpoints_and_catches_a_rewrite(pair: tuple[Node, Node]) -> None:
    fr, ke = pair
    add_events(fr.engine, 4)
    done = fr.cli("audit", "checkpoint")
    assert done.returncode == 0, done.stderr
    assert f"witnessed by {ke.code}: ok" in done.stdout
    published = httpx.get(f"{fr.base}/audit/checkpoints").json()
    held = httpx.get(f"{ke.base}/audit/checkpoints/witnessed/{fr.code}").json()
    assert [c["jws"] for c in held] == [published[0]["jws"]]
    length = held[0]["chain_length"]
    assert held[0]["authority"] == fr.code and length >= 4
    done = fr.cli("audit", "verify", "--checkpoints", "peer")
    assert done.returncode == 0, done.stderr

    # The peer refuses a second checkpoint of the same length with another head hash, and
    # one FR did not sign.
    forged = {"type": "audit-checkpoint", "authority": fr.code, "chain_length": length,
              "head_hash": "f" * 64, "made_at": utcnow().isoformat()}
    answer = httpx.post(f"{ke.base}/audit/checkpoints/witness",
                        json={"jws": _sign_as(fr, forged)})
    assert answer.status_code == 409, answer.text
    answer = httpx.post(f"{ke.base}/audit/checkpoints/witness",
                        json={"jws": _sign_as(ke, {**forged, "chain_length": length + 1})})
    assert answer.status_code == 401, answer.text
    answer = httpx.post(f"{ke.base}/audit/checkpoints/witness", json={"jws": "not.a.jws"})
    assert answer.status_code == 422 and answer.json()["errors"][0]["field"] == "jws"
    with db.session_factory(ke.engine)() as s:
        assert [c.head_hash for c in s.scalars(select(AuditCheckpoint).where(
            AuditCheckpoint.authority_code == fr.code))] == [held[0]["head_hash"]]
        witnessed = [e for e in audit.events(s, limit=500)
                     if e.action == "audit.checkpoint_witnessed"]
        assert [(e.object_id, (e.detail or {}).get("authority")) for e in witnessed] == \
            [(str(length), fr.code)]

    rewrite_chain(fr.engine, 2)
    assert fr.cli("audit", "verify").returncode == 0
    done = fr.cli("audit", "verify", "--checkpoints", "peer")
    assert done.returncode == 1
    assert f"checkpoint at row {length}" in done.stderr and "rewritten" in done.stderr
