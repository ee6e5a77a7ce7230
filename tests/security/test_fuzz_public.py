"""Schemathesis on every operation anyone may call without a token (those documented
`Authorization: public`: the transfer inbox, login, the JWKS, the instance's identity, the
reference data), with transfer switched on so that the inbox does all its work: whatever
arrives, the answer is never a 5xx, and every error is problem JSON (issue #16).
Deterministic (derandomized, no example database) and bounded (examples per operation)."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.api_helpers import Api
from tests.transfer.inbound import enable

EXAMPLES_PER_OPERATION = 40


def test_no_server_error_on_any_public_operation(api: Api,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    enable(api, monkeypatch)
    api.file()
    schema = schemathesis.openapi.from_asgi("/openapi.json", api.app)
    checked = []
    for result in schema.get_all_operations():
        operation = result.ok()
        description = " ".join((operation.definition.raw.get("description") or "").split())
        if "Authorization: public" not in description:
            continue

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, derandomize=True,
                  database=None, suppress_health_check=list(HealthCheck))
        def check(case: schemathesis.Case) -> None:
            response = case.call()
            where = (case.method, case.formatted_path, response.status_code, response.text[:300])
            assert response.status_code < 500, where
            if response.status_code >= 400:
                content_type = response.headers.get("content-type") or [""]
                assert content_type[0].startswith("application/problem+json"), where

        check()
        checked.append(operation.label)
    assert {"POST /transfer/inbox", "POST /auth/token", "GET /.well-known/jwks.json",
            "GET /transfer/identity"} <= set(checked), checked
