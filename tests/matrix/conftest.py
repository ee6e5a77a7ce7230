"""One Synapse for the session (about 7 s to start), its bot account, and the pager's Matrix
settings pointing at them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import IN_CI
from tests.matrix import synapse


@pytest.fixture(scope="session")
def homeserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[synapse.Synapse]:
    reason = synapse.available()
    if reason is not None:
        if IN_CI:
            pytest.exit(f"{reason}; CI=true requires it", returncode=1)
        pytest.skip(f"{reason}: Matrix tests skipped")
    with synapse.running(tmp_path_factory.mktemp("synapse")) as server:
        yield server


@pytest.fixture(scope="session")
def bot_account(homeserver: synapse.Synapse) -> synapse.Account:
    return homeserver.register("mla-pager")


@pytest.fixture
def bot(homeserver: synapse.Synapse, bot_account: synapse.Account,
        monkeypatch: pytest.MonkeyPatch) -> synapse.Account:
    monkeypatch.setenv("MLA_MATRIX_HOMESERVER", homeserver.url)
    monkeypatch.setenv("MLA_MATRIX_USER_ID", bot_account.user_id)
    monkeypatch.setenv("MLA_MATRIX_ACCESS_TOKEN", bot_account.access_token)
    monkeypatch.setenv("MLA_PUBLIC_URL", "https://mla.example.org")
    return bot_account
