"""Fixtures of the transfer tests."""

from __future__ import annotations

import pytest

from tests.api_helpers import Api
from tests.transfer import vector_instance


@pytest.fixture
def vector_receiver(api: Api, monkeypatch: pytest.MonkeyPatch) -> Api:
    """KE-ODPP's instance holding the conformance vectors' keys, FR-MJ its peer
    (tests/transfer/vector_instance.py)."""
    return vector_instance.receiver(api, monkeypatch)
