"""The `mla` command as a user runs it: a real process on a fresh database."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

import workflows

ROOT = Path(__file__).resolve().parents[2]
MLA = [sys.executable, "-m", "cli"]


def run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*MLA, *args], cwd=cwd, capture_output=True, text=True, timeout=120,
                          env={**os.environ, **env})


def test_db_upgrade_creates_schema(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    result = run(["db", "upgrade"], tmp_path, MLA_DATABASE_URL=url)
    assert result.returncode == 0, result.stderr
    assert "Database at head" in result.stdout


@pytest.mark.parametrize("name", workflows.names())
def test_workflow_diagram_command(name: str, tmp_path: Path) -> None:
    result = run(["workflows", "diagram", name], tmp_path)
    assert result.returncode == 0
    assert result.stdout.startswith("stateDiagram-v2")
    assert len([line for line in result.stdout.splitlines() if " : " in line and "-->" in line
                ]) == len(workflows.get(name).steps)


def test_unknown_workflow_is_a_clear_error(tmp_path: Path) -> None:
    result = run(["workflows", "diagram", "nope"], tmp_path)
    assert result.returncode == 1
    assert "no workflow named 'nope'" in result.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_answers_on_loopback(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    assert run(["db", "upgrade"], tmp_path, MLA_DATABASE_URL=url).returncode == 0
    port = _free_port()
    proc = subprocess.Popen([*MLA, "serve", "--port", str(port)], cwd=tmp_path,
                            env={**os.environ, "MLA_DATABASE_URL": url},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90  # a busy 2-core machine starts slowly
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.2)
        assert response.status_code == 200 and response.json() == {"status": "ok"}
    finally:
        proc.terminate()
        proc.wait(timeout=10)
