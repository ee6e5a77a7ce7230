"""`mla serve` believes `X-Forwarded-For` / `X-Forwarded-Proto` only from the proxies named in
MLA_TRUSTED_PROXIES (issue #16). uvicorn alone believes them from 127.0.0.1, so any local
process could choose the address the login limit counts against and make the console set
its cookies as if the request came over HTTPS. A real server, in one process and in several
(SO_REUSEPORT), on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from api import server
from mla import settings
from mla.models import LoginAttempt
from tests.conftest import World

MLA = [sys.executable, "-m", "cli"]
SPOOFED = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(db_url: str, tmp_path: Path, workers: int, **env: str
           ) -> tuple[subprocess.Popen[bytes], str, Path]:
    port = _free_port()
    log_path = tmp_path / f"serve-{port}.log"
    environment = {k: v for k, v in os.environ.items()
                   if k not in ("FORWARDED_ALLOW_IPS", "MLA_TRUSTED_PROXIES")}
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [*MLA, "serve", "--port", str(port), "--workers", str(workers)],
            env={**environment, "MLA_DATABASE_URL": db_url, **env}, cwd=tmp_path,
            stdout=log, stderr=subprocess.STDOUT)
    return proc, f"http://127.0.0.1:{port}", log_path


def _wait(proc: subprocess.Popen[bytes], base: str, log_path: Path) -> None:
    deadline = time.monotonic() + 120
    while True:
        try:
            if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert proc.poll() is None, log_path.read_text()
        assert time.monotonic() < deadline, log_path.read_text()
        time.sleep(0.1)


@contextmanager
def _serving(db_url: str, tmp_path: Path, workers: int,
             *settings: dict[str, str]) -> Iterator[list[str]]:
    """One server per entry of `settings` (extra environment), started together."""
    started = [_start(db_url, tmp_path, workers, **env) for env in settings]
    try:
        for proc, base, log_path in started:
            _wait(proc, base, log_path)
        yield [base for _, base, _ in started]
    finally:
        for proc, _, _ in started:
            proc.terminate()
        for proc, _, _ in started:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _seen_as(base: str, session: Session) -> tuple[str, bool]:
    """(the address a failed login is counted against, whether the console's cookie is
    Secure), for requests carrying the spoofed headers."""
    login = httpx.post(f"{base}/auth/token", headers=SPOOFED, timeout=30,
                       data={"username": "fr.officer", "password": "not the password"})
    assert login.status_code == 401, login.text
    session.rollback()
    address = session.scalars(select(LoginAttempt.ip).order_by(LoginAttempt.id.desc())).first()
    page = httpx.get(f"{base}/console/login", headers=SPOOFED, timeout=30)
    assert page.status_code == 200
    cookies = page.headers.get_list("set-cookie")
    assert cookies, page.headers
    return str(address), all("secure" in c.lower().split("; ") for c in cookies)


@pytest.mark.parametrize("workers", [1, 2])
def test_forwarded_headers_count_only_from_trusted_proxies(
        db_url: str, session: Session, world: World, tmp_path: Path, workers: int) -> None:
    with _serving(db_url, tmp_path, workers, {}, {"MLA_TRUSTED_PROXIES": "127.0.0.1"}
                  ) as (plain, behind_proxy):
        assert _seen_as(plain, session) == ("127.0.0.1", False)
        assert _seen_as(behind_proxy, session) == ("203.0.113.7", True)


def test_the_setting_is_what_uvicorn_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLA_TRUSTED_PROXIES", raising=False)
    assert server.proxy_options() == {"proxy_headers": False, "forwarded_allow_ips": []}
    monkeypatch.setenv("MLA_TRUSTED_PROXIES", " 10.0.0.0/8, ::1 ")
    assert server.proxy_options() == {"proxy_headers": True,
                                      "forwarded_allow_ips": ["10.0.0.0/8", "::1"]}
    monkeypatch.setenv("MLA_TRUSTED_PROXIES", "proxy.example")
    with pytest.raises(settings.SettingsError, match=r"^MLA_TRUSTED_PROXIES='proxy.example'"):
        server.proxy_options()
