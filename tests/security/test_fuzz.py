"""Schemathesis walks every operation of the OpenAPI document with generated input, as an
officer with a real token: whatever the input, the answer is never a 5xx, and every error is
problem JSON."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.api_helpers import Api

EXAMPLES_PER_OPERATION = 12


def test_no_server_error_on_any_operation(api: Api) -> None:
    api.file()  # some rows, so that generated input sometimes meets real data
    schema = schemathesis.openapi.from_asgi("/openapi.json", api.app)
    headers = api.headers("fr.officer")
    checked = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, derandomize=True,
                  database=None, suppress_health_check=list(HealthCheck))
        def check(case: schemathesis.Case) -> None:
            response = case.call(headers=headers)
            where = (case.method, case.formatted_path, response.status_code, response.text[:300])
            assert response.status_code < 500, where
            if response.status_code >= 400:
                content_type = response.headers.get("content-type") or [""]
                assert content_type[0].startswith("application/problem+json"), where

        check()
        checked.append(operation.label)
    assert len(checked) >= 25, checked
