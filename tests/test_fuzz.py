"""Schemathesis walks every operation of the OpenAPI document with generated input, as an
officer with a real token: whatever the input, the answer is never a 5xx."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from tests.api_helpers import Api, api  # noqa: F401 - fixture


@pytest.fixture
def api_schema(api: Api) -> schemathesis.BaseSchema:  # noqa: F811
    # Some objects to address, so that generated ids sometimes meet real rows.
    api.file()
    return schemathesis.openapi.from_asgi("/openapi.json", api.app)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=12, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_no_server_error(case: schemathesis.Case, api: Api) -> None:  # noqa: F811
    response = case.call(headers=api.headers("fr.officer"))
    assert response.status_code < 500, (case.method, case.path, response.text)
    if response.status_code >= 400:
        assert response.headers["content-type"].startswith("application/problem+json"), (
            case.method, case.path, response.status_code)
