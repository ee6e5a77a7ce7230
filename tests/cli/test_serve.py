"""`mla serve --workers N`: several processes behind one port, a dead worker replaced, a
clean stop on SIGTERM, and a clear refusal when the port is taken."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from mla import db

MLA = [sys.executable, "-m", "cli"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _workers(supervisor: int) -> set[int]:
    """The supervisor's worker processes (spawned interpreters running uvicorn)."""
    try:
        children = Path(f"/proc/{supervisor}/task/{supervisor}/children").read_text().split()
    except FileNotFoundError:
        return set()
    found = set()
    for pid in map(int, children):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except FileNotFoundError:
            continue
        if b"spawn_main" in cmdline:
            found.add(pid)
    return found


def _healthy(base: str) -> bool:
    try:
        # A new connection each time, so the kernel may hand it to any worker.
        return httpx.get(f"{base}/health", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def _wait(what: str, check: object, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


@pytest.fixture
def database(tmp_path: Path) -> Iterator[dict[str, str]]:
    url = f"sqlite:///{tmp_path / 'serve.db'}"
    db.upgrade(url)
    yield {**os.environ, "MLA_DATABASE_URL": url}


def test_two_workers_serve_survive_a_killed_one_and_stop_on_sigterm(
        database: dict[str, str], tmp_path: Path) -> None:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    log = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen([*MLA, "serve", "--port", str(port), "--workers", "2"],
                            env=database, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait("two workers answering", lambda: len(_workers(proc.pid)) == 2
              and _healthy(base))
        first = _workers(proc.pid)
        victim = min(first)
        os.kill(victim, signal.SIGKILL)
        _wait("a replacement worker", lambda: len(_workers(proc.pid)) == 2
              and victim not in _workers(proc.pid))
        _wait("service after the replacement", lambda: _healthy(base))
        assert all(_healthy(base) for _ in range(10))
        workers = _workers(proc.pid)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
        for pid in workers:  # no worker outlives the supervisor
            assert not Path(f"/proc/{pid}").exists() or \
                "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]
        assert not _healthy(base)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
    assert "starting another" in (tmp_path / "serve.log").read_text()


def test_a_taken_port_is_refused_not_shared(database: dict[str, str], tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run([*MLA, "serve", "--port", str(port), "--workers", "2"],
                                env=database, cwd=tmp_path, capture_output=True, text=True,
                                timeout=60)
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
