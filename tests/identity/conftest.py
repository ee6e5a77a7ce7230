"""A real OpenID provider on loopback for the whole session (tests/idp/provider.mjs), and the
settings that point this instance at it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from mla import db, security
from mla.identity import oidc
from tests.conftest import IN_CI, build_world
from tests.identity import idp
from tests.serving import mla_serve

PASSWORD = "a local password of 12+"

MAPPING = Path(__file__).with_name("mapping.yaml")
# Registered at the provider for the code flows run without a browser (never fetched).
NO_BROWSER_CALLBACK = "http://127.0.0.1:9/callback"


@pytest.fixture(scope="session")
def console_port() -> int:
    """The port the browser tests' `mla serve` will listen on, registered at the provider."""
    return idp.free_port()


@pytest.fixture(scope="session")
def provider(tmp_path_factory: pytest.TempPathFactory, console_port: int) -> Iterator[idp.Provider]:
    port = idp.free_port()
    found = idp.Provider(
        issuer=f"http://127.0.0.1:{port}", port=port, workdir=tmp_path_factory.mktemp("idp"),
        keys=[idp.rsa_jwk("key-1")],
        redirect_uris=[f"http://127.0.0.1:{console_port}/console/login/oidc/callback",
                       NO_BROWSER_CALLBACK])
    try:
        found.start()
    except RuntimeError as exc:
        if IN_CI:
            pytest.fail(str(exc), pytrace=False)
        pytest.skip(str(exc))
    yield found
    found.stop()


def provider_environment(provider: idp.Provider) -> dict[str, str]:
    return {"MLA_OIDC_ISSUER": provider.issuer, "MLA_OIDC_CLIENT_ID": idp.CLIENT_ID,
            "MLA_OIDC_CLIENT_SECRET": idp.CLIENT_SECRET, "MLA_OIDC_AUDIENCE": idp.AUDIENCE,
            "MLA_OIDC_SCOPES": "openid profile email groups",
            "MLA_OIDC_MAPPING_FILE": str(MAPPING)}


@pytest.fixture
def sso(provider: idp.Provider, monkeypatch: pytest.MonkeyPatch) -> idp.Provider:
    """This process's settings point at the provider (for the in-process API)."""
    for name, value in provider_environment(provider).items():
        monkeypatch.setenv(name, value)
    oidc._verified.clear()
    return provider


class Console:
    def __init__(self, base: str, engine: Engine) -> None:
        self.base = base
        self.engine = engine

    def url(self, path: str) -> str:
        return self.base + path


def _serve(workdir: Path, env: dict[str, str], port: int, base: str) -> Iterator[Console]:
    """`mla serve` on a migrated SQLite database with the test world (FR-MJ, KE-ODPP, US-OIA,
    local users with PASSWORD)."""
    url = f"sqlite:///{workdir / 'identity.db'}"
    env = {**env, "MLA_DATABASE_URL": url}
    upgraded = subprocess.run([sys.executable, "-m", "cli", "db", "upgrade"], cwd=workdir,
                              env=env, capture_output=True, text=True, timeout=120)
    assert upgraded.returncode == 0, upgraded.stderr
    engine = db.make_engine(url)
    with db.session_factory(engine)() as s:
        world = build_world(s)
        for user in world.users.values():
            security.set_password(s, user, PASSWORD)
        s.commit()
    try:
        with mla_serve(workdir, env, port):
            yield Console(base, engine)
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def console(provider: idp.Provider, console_port: int,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    """`mla serve` pointed at the provider, on the port registered there."""
    base = f"http://127.0.0.1:{console_port}"
    env = {**os.environ, **provider_environment(provider), "MLA_PUBLIC_URL": base}
    yield from _serve(tmp_path_factory.mktemp("identity-console"), env, console_port, base)


@pytest.fixture(scope="module")
def local_console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    """`mla serve` with local accounts only, at http://localhost:<port>: WebAuthn takes a
    host name as relying party id, never an IP address."""
    port = idp.free_port()
    base = f"http://localhost:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLA_OIDC_")}
    yield from _serve(tmp_path_factory.mktemp("local-console"), {**env, "MLA_PUBLIC_URL": base},
                      port, base)
