"""`mla serve` on loopback for the console tests that talk to a real server: the browser
tests (test_console.py) and the HTTP-only ones (test_console_http.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, select

from cli import demo
from mla import db, security
from mla.directory import service as directory
from mla.models import Request
from tests.serving import mla_serve

PASSWORD = demo.DEMO_PASSWORD


class Server:
    def __init__(self, base: str, engine: Engine) -> None:
        self.base = base
        self.engine = engine

    def url(self, path: str) -> str:
        return self.base + path

    def request_id(self, reference: str) -> str:
        with db.session_factory(self.engine)() as s:
            return str(s.scalar(select(Request.id).where(Request.reference == reference)))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`mla serve` on a free loopback port, on a database migrated by `mla db upgrade` and
    seeded with the demo (FR and KE, two requests driven a few steps) plus a stranger, US."""
    workdir = tmp_path_factory.mktemp("console")
    url = f"sqlite:///{workdir / 'console.db'}"
    # The demo's supervisors log in by password alone here: the second factor has its own
    # tests (tests/identity/).
    env = {**os.environ, "MLA_DATABASE_URL": url, "MLA_SECOND_FACTOR_ROLES": "none"}
    mla = [sys.executable, "-m", "cli"]
    upgraded = subprocess.run([*mla, "db", "upgrade"], cwd=workdir, env=env,
                              capture_output=True, text=True, timeout=120)
    assert upgraded.returncode == 0, upgraded.stderr
    engine = db.make_engine(url)
    demo.run(engine, lambda line: None)
    with db.unit_of_work(engine) as s:
        us = directory.add_authority(s, code="US-OIA", country="US", timezone="America/New_York",
                                     name="Office of International Affairs", languages=["en"])
        stranger = directory.add_user(s, us, username="us.officer", full_name="Sam Reed",
                                      role="officer")
        security.set_password(s, stranger, PASSWORD)
    try:
        with mla_serve(workdir, env) as base:
            yield Server(base, engine)
    finally:
        engine.dispose()
