"""A first run, as a newcomer makes it (issue #17): `mla serve` refuses a database that is
not migrated instead of coming up to answer 500 at the first login, except the embedded
default, which it migrates; `/ready` says whether the schema is at the head; `mla users add`
checks what it is given before it asks for the password; `mla demo` runs once per database,
seeds a 24/7 service and ends with where to log in."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.app import create_app
from cli import demo
from mla import db, security
from mla.directory import service as directory
from mla.models import AuditEvent, ContactPoint, EscalationPolicy, Request, Rotation

MLA = [sys.executable, "-m", "cli"]


def _environment(**env: str) -> dict[str, str]:
    """The caller's environment without any MLA_* setting, plus `env`."""
    return {**{k: v for k, v in os.environ.items() if not k.startswith("MLA_")}, **env}


def _mla(args: list[str], cwd: Path, input: str | None = None,
         **env: str) -> subprocess.CompletedProcess[str]:
    # A session of its own: no terminal, so a password prompt reads standard input.
    return subprocess.run([*MLA, *args], cwd=cwd, capture_output=True, text=True, timeout=180,
                          input=input, stdin=None if input is not None else subprocess.DEVNULL,
                          env=_environment(**env), start_new_session=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- mla serve and /ready -----------------------------------------------------------------


def test_serve_refuses_a_database_without_tables_in_one_line(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    result = _mla(["serve", "--port", str(_free_port())], tmp_path, MLA_DATABASE_URL=url)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"Error: database {url} has no tables: run `mla db upgrade`"]


def test_serve_in_a_new_directory_migrates_the_embedded_database_and_logins_work(
        tmp_path: Path) -> None:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "serve.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen([*MLA, "serve", "--port", str(port)], cwd=tmp_path,
                                env=_environment(), stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                health = httpx.get(f"{base}/health", timeout=2)
                break
            except httpx.TransportError:
                assert proc.poll() is None, log_path.read_text()
                assert time.monotonic() < deadline, "mla serve did not start"
                time.sleep(0.2)
        assert health.json() == {"status": "ok"}
        ready = httpx.get(f"{base}/ready", timeout=5)
        assert ready.status_code == 200
        assert (ready.json()["status"], ready.json()["revision"]) == \
            ("ready", db.head_revision())
        # The first login reaches its tables: a wrong password is 401, not 500.
        login = httpx.post(f"{base}/auth/token", timeout=10,
                           data={"username": "nobody", "password": "wrong password!"})
        assert login.status_code == 401, login.text
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert (tmp_path / "mla.db").exists()
    said = [line for line in log_path.read_text().splitlines() if "migrating" in line]
    assert said == [f"mla serve: migrating the embedded database {tmp_path.resolve() / 'mla.db'} "
                    "from nothing (a new database, without users: see `mla demo`) to "
                    f"{db.head_revision()} (MLA_DATABASE_URL is unset)"]


@pytest.mark.parametrize("where", ["no tables", "0009", "unreachable"])
def test_ready_is_503_with_the_revisions_until_the_database_is_at_head(
        where: str, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / ('no-such-dir' if where == 'unreachable' else '') / 'r.db'}"
    if where == "0009":
        db.upgrade(url, "0009")
    with TestClient(create_app(url)) as client:
        response = client.get("/ready")
        assert response.status_code == 503
        assert response.headers["content-type"].startswith("application/problem+json")
        body = response.json()
        assert body["head_revision"] == db.head_revision()
        assert body["current_revision"] == (None if where != "0009" else "0009")
        assert "mla db upgrade" in body["detail"] or where == "unreachable"
        assert str(tmp_path) not in body["detail"]  # a stranger learns no path
        if where == "0009":
            db.upgrade(url)
            body = client.get("/ready").json()
            assert (body["status"], body["revision"]) == ("ready", db.head_revision())
            assert body["worker"]["status"] == "never seen"


# --- mla users add ------------------------------------------------------------------------


@pytest.fixture
def migrated(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'users.db'}"
    db.upgrade(url)
    engine = db.make_engine(url)
    with db.unit_of_work(engine) as s:
        demo.seed(s)
    engine.dispose()
    return url


@pytest.mark.parametrize(("option", "value", "error"), [
    ("--authority", "XX-NOPE", "no authority with code XX-NOPE"),
    ("--username", "fr.officer", "fr.officer is taken"),
])
def test_users_add_checks_before_it_asks_for_the_password(
        option: str, value: str, error: str, migrated: str, tmp_path: Path) -> None:
    args = {"--authority": "FR-MJ", "--username": "fr.new", "--full-name": "Jeanne Roux",
            "--role": "officer", option: value}
    result = _mla(["users", "add", "--database", migrated,
                   *(x for pair in args.items() for x in pair)], tmp_path,
                  input="a long enough password\n" * 2)
    assert result.returncode == 1
    assert error in result.stderr
    assert "Password" not in result.stdout + result.stderr


def test_users_add_asks_for_the_password_once_the_rest_is_right(
        migrated: str, tmp_path: Path) -> None:
    result = _mla(["users", "add", "--database", migrated, "--authority", "FR-MJ",
                   "--username", "fr.new", "--full-name", "Jeanne Roux", "--role", "officer"],
                  tmp_path, input="short\na long enough password\na long enough password\n")
    assert result.returncode == 0, result.stderr
    assert "at least 12 characters" in result.stdout + result.stderr
    assert "user fr.new (officer, FR-MJ) created" in result.stdout
    engine = db.make_engine(migrated)
    with db.session_factory(engine)() as s:
        assert security.authenticate(s, "fr.new", "a long enough password", "127.0.0.1")
    engine.dispose()


# --- mla demo -----------------------------------------------------------------------------


def test_demo_on_a_fresh_machine_runs_once_seeds_24_7_and_says_where_to_log_in(
        tmp_path: Path) -> None:
    first = _mla(["demo"], tmp_path)
    assert first.returncode == 0, first.stderr
    out = first.stdout
    assert (tmp_path / "mla.db").exists()
    assert "FR-MJ-" in out and "KE-ODPP" in out
    # The transmit guard explains itself before the translation is added.
    assert "refused: fr.officer transmit" in out and "accepts only en, sw" in out
    assert "in_execution" in out and "formal_request_due" in out
    assert "History of" in out and "notify_arrest" in out
    tail = first.stdout.strip().splitlines()[-11:]
    assert tail[1].endswith("http://127.0.0.1:8000/console/")
    assert tail[2].endswith("http://127.0.0.1:8000/docs")
    assert demo.DEMO_PASSWORD in tail[3]
    assert [line.split()[0] for line in tail[4:9]] == \
        ["officer", "supervisor", "liaison", "contact_point", "admin"]
    assert "fr.officer, ke.officer" in tail[4] and "ke.contact" in tail[7]
    # How to try it without an authenticator app, supervisors needing a second factor.
    assert "second factor" in tail[9] and "MLA_SECOND_FACTOR_ROLES=none" in tail[10]
    engine = db.make_engine(f"sqlite:///{tmp_path / 'mla.db'}")

    def counts() -> dict[str, object]:
        with db.session_factory(engine)() as s:
            out: dict[str, object] = {"requests": s.scalar(select(func.count(Request.id))),
                                      "audit": s.scalar(select(func.count(AuditEvent.id)))}
            for code in ("FR-MJ", "KE-ODPP"):
                authority = directory.authority_by_code(s, code).id
                out[code] = tuple(s.scalar(select(func.count()).select_from(model).where(
                    model.authority_id == authority))
                    for model in (ContactPoint, Rotation, EscalationPolicy))
            return out

    before = counts()
    assert before["requests"] == 2
    for code in ("FR-MJ", "KE-ODPP"):
        contacts, rotations, policies = before[code]  # type: ignore[misc]
        assert contacts >= 2 and rotations >= 1 and policies >= 1, before
    assert "24/7" in first.stdout and "on call now" in first.stdout

    again = _mla(["demo"], tmp_path)
    assert again.returncode == 0, again.stderr
    assert "The demo data is already in this database" in again.stdout
    assert "Driving two requests" not in again.stdout and "-00003" not in again.stdout
    assert again.stdout.strip().splitlines()[-11:] == tail
    assert counts() == before
    engine.dispose()
