"""A real Synapse homeserver for the Matrix tests: SQLite, config generated in a temporary
directory, listening on a free loopback port, rate limits off, users registered through the
registration shared secret (the admin API `/_synapse/admin/v1/register`)."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.receivers import free_port

SERVER_NAME = "mla.test"
# Generous limits instead of none: Synapse's keys are per action; tests post and log in fast.
NO_LIMIT = {"per_second": 10000, "burst_count": 10000}
RATE_LIMITS = ("rc_message", "rc_registration", "rc_joins", "rc_invites", "rc_3pid_validation",
               "rc_admin_redaction", "rc_room_creation", "rc_reports", "rc_presence",
               "rc_delayed_event_mgmt")


@dataclass
class Account:
    user_id: str
    access_token: str


@dataclass
class Synapse:
    url: str
    shared_secret: str

    def register(self, localpart: str, *, admin: bool = False) -> Account:
        """A new account, logged in."""
        password = secrets.token_urlsafe(12)
        endpoint = f"{self.url}/_synapse/admin/v1/register"
        nonce = httpx.get(endpoint, timeout=10).json()["nonce"]
        mac = hmac.new(self.shared_secret.encode(), digestmod=hashlib.sha1)
        mac.update(b"\x00".join([nonce.encode(), localpart.encode(), password.encode(),
                                 b"admin" if admin else b"notadmin"]))
        response = httpx.post(endpoint, timeout=10, json={
            "nonce": nonce, "username": localpart, "password": password, "admin": admin,
            "mac": mac.hexdigest()})
        response.raise_for_status()
        body = response.json()
        return Account(body["user_id"], body["access_token"])

    def call(self, account: Account, method: str, path: str, **kwargs: Any) -> Any:
        response = httpx.request(method, f"{self.url}/_matrix/client/v3{path}", timeout=10,
                                 headers={"Authorization": f"Bearer {account.access_token}"},
                                 **kwargs)
        response.raise_for_status()
        return response.json()


def available() -> str | None:
    """Why Synapse cannot run here, or None."""
    try:
        import synapse  # noqa: F401
    except ImportError:
        return "matrix-synapse is not installed (pip install -e '.[dev]')"
    return None


def _config(directory: Path, port: int, secret: str) -> Path:
    path = directory / "homeserver.yaml"
    subprocess.run([sys.executable, "-m", "synapse.app.homeserver", "--server-name",
                    SERVER_NAME, "--config-path", str(path), "--data-directory",
                    str(directory), "--generate-config", "--report-stats=no"],
                   check=True, capture_output=True, cwd=directory, timeout=120)
    config = yaml.safe_load(path.read_text())
    config.update({
        "listeners": [{"port": port, "bind_addresses": ["127.0.0.1"], "type": "http",
                       "tls": False, "x_forwarded": False,
                       "resources": [{"names": ["client"], "compress": False}]}],
        "database": {"name": "sqlite3", "args": {"database": str(directory / "synapse.db")}},
        "registration_shared_secret": secret,
        "enable_registration": False,
        "report_stats": False,
        "trusted_key_servers": [],
        "suppress_key_server_warning": True,
        "federation_domain_whitelist": [],
        "presence": {"enabled": False},
        "url_preview_enabled": False,
        "enable_metrics": False,
        # A /sync answer is otherwise replayed for 2 minutes to the same request: a test's
        # first sync would get the previous test's position.
        "caches": {"sync_response_cache_duration": 0},
        "log_config": None,
        "media_store_path": str(directory / "media"),
        "signing_key_path": str(directory / f"{SERVER_NAME}.signing.key"),
        "rc_login": {"address": NO_LIMIT, "account": NO_LIMIT, "failed_attempts": NO_LIMIT},
        **{name: NO_LIMIT for name in RATE_LIMITS},
    })
    config.pop("log_config")
    path.write_text(yaml.safe_dump(config))
    return path


@contextmanager
def running(directory: Path, *, timeout: float = 120) -> Iterator[Synapse]:
    port = free_port()
    secret = secrets.token_hex(16)
    config = _config(directory, port, secret)
    log = (directory / "synapse.out").open("wb")
    process = subprocess.Popen([sys.executable, "-m", "synapse.app.homeserver",
                                "--config-path", str(config)], cwd=directory, stdout=log,
                               stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError("synapse exited: "
                                   + (directory / "synapse.out").read_text()[-2000:])
            try:
                if httpx.get(f"{url}/_matrix/client/versions", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"synapse did not answer within {timeout:.0f} s")
            time.sleep(0.2)
        yield Synapse(url, secret)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        log.close()
