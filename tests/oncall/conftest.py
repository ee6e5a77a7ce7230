"""The real Kannel SMS gateway (tests/oncall/kannel.py), once per test session (each xdist
worker starts its own on free loopback ports)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import IN_CI
from tests.oncall import kannel as kannel_gateway


@pytest.fixture(scope="session")
def kannel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[kannel_gateway.Kannel]:
    absent = kannel_gateway.missing()
    if absent:
        message = (f"Kannel is not installed ({absent} missing): `apt-get install kannel "
                   "kannel-extras` (bearerbox, smsbox and the fakesmsc handset)")
        if IN_CI:
            pytest.fail(f"{message}; CI=true requires it", pytrace=False)
        pytest.skip(f"{message} to run the SMS gateway tests")
    with kannel_gateway.running(tmp_path_factory.mktemp("kannel")) as gateway:
        yield gateway


@pytest.fixture
def sms_gateway(kannel: kannel_gateway.Kannel, db_url: str,
                monkeypatch: pytest.MonkeyPatch) -> Iterator[kannel_gateway.Kannel]:
    """Kannel configured as this instance's SMS gateway, and the API where Kannel calls
    back (replies, delivery reports) running on the test database."""
    for name, value in (("SENDSMS_URL", kannel.sendsms_url),
                        ("USERNAME", kannel_gateway.USERNAME),
                        ("PASSWORD", kannel_gateway.PASSWORD),
                        ("CALLBACK_SECRET", kannel_gateway.SECRET),
                        ("CALLBACK_URL", f"http://127.0.0.1:{kannel.callback_port}")):
        monkeypatch.setenv(f"MLA_SMS_{name}", value)
    with kannel_gateway.api_server(db_url, kannel.callback_port):
        yield kannel
