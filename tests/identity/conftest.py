"""A real OpenID provider on loopback for the whole session (tests/idp/provider.mjs), and the
settings that point this instance at it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mla.identity import oidc
from tests.conftest import IN_CI
from tests.identity import idp

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
