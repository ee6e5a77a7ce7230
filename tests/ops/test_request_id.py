"""The id of the HTTP request that opened a page travels with the page into the worker's log
line about sending it."""

from __future__ import annotations

import json
import logging

import pytest
from sqlalchemy import select

from mla.models import Page
from mla.oncall import delivery as page_delivery
from mla.ops.logs import JsonFormatter
from tests.api_helpers import Api
from tests.ops.test_backup import _desk
from tests.receivers import WebhookReceiver

SECRET = "desk-secret-shared-with-ke"


def test_the_worker_logs_a_page_under_the_request_id_that_opened_it(
        api: Api, caplog: pytest.LogCaptureFixture) -> None:
    with WebhookReceiver(SECRET) as hook:
        _desk(api.session, api.world, hook.url)
        response = api.call("ke.officer", "POST", "/requests/incoming", headers={
            "X-Request-ID": "edge-7f3a"}, json={
            "kind": "mla.e_evidence.preservation", "requesting_authority": "FR-MJ",
            "counterpart_reference": "FR-9", "legal_basis": "budapest", "title": "Preserve",
            "language": "en", "data": {}})
        assert response.status_code == 201, response.text
        api.session.expire_all()
        page = api.session.scalars(select(Page)).one()
        assert page.http_request_id == "edge-7f3a"
        api.session.commit()
        with caplog.at_level(logging.INFO, logger="mla.paging"):
            page_delivery.run_batch(api.session)
        assert hook.wait_for(1)
    lines = [json.loads(JsonFormatter().format(r)) for r in caplog.records
             if "sent" in r.getMessage()]
    assert lines, caplog.text
    assert {line["request_id"] for line in lines} == {"edge-7f3a"}
    assert lines[0]["page_id"] == page.id
