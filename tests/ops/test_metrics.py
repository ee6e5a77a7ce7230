"""`GET /metrics`: what operators alert on, readable from loopback or with the token, with no
case content in any label; summed over the processes of `mla serve --workers N`."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from mla import clock, db
from mla.models import Deadline, WorkerHeartbeat
from mla.ops.logs import JsonFormatter
from tests.api_helpers import Api
from tests.receivers import free_port

ROOT = Path(__file__).resolve().parents[2]


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(found: dict, name: str, **labels: str) -> float:  # type: ignore[type-arg]
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_count_routes_transitions_deadlines_and_worker_without_case_content(
        api: Api) -> None:
    before = samples(api.client.get("/metrics").text)
    request = api.file(title="Operation Nightjar: accounts of Jean Dupont")
    rid = request["id"]
    for user, event in (("fr.officer", "submit"), ("fr.supervisor", "approve"),
                        ("fr.officer", "transmit")):
        response = api.call(user, "POST", f"/requests/{rid}/transitions", json={"event": event})
        assert response.status_code == 200, response.text
    api.call("fr.officer", "GET", f"/requests/{rid}")
    with api.session.begin():
        api.session.add(WorkerHeartbeat(
            worker_id="w", host="h", pid=1, started_at=clock.utcnow(),
            beat_at=clock.utcnow() - timedelta(seconds=42)))
    response = api.client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    after = samples(text)
    route = "/requests/{request_id}/transitions"
    assert value(after, "mla_http_request_duration_seconds_count", method="POST",
                 route=route, status="200") - value(
        before, "mla_http_request_duration_seconds_count", method="POST", route=route,
        status="200") == 3
    assert value(after, "mla_http_request_duration_seconds_count", method="GET",
                 route="/requests/{request_id}", status="200") >= 1
    workflow = request["workflow"]
    for event in ("submit", "approve", "transmit"):
        assert value(after, "mla_transitions_total", workflow=workflow, event=event) - value(
            before, "mla_transitions_total", workflow=workflow, event=event) == 1
    running = value(after, "mla_deadlines_running")
    open_deadlines = [d for d in api.session.scalars(select(Deadline)) if d.closed_at is None]
    assert running == len(open_deadlines) >= 1
    # The example's suggested date is in the past.
    now = clock.utcnow()
    overdue = sum(d.due_at < now for d in open_deadlines)
    assert value(after, "mla_deadlines_overdue") == overdue
    assert 42 <= value(after, "mla_worker_heartbeat_age_seconds") < 60
    assert value(after, "mla_workers_running") == 1
    # Sealed into the chain by the worker, or waiting for it.
    assert value(after, "mla_audit_chain_length") + value(after, "mla_audit_unsealed") > 0
    assert value(after, "mla_audit_oldest_unsealed_age_seconds") >= 0
    for name in ("mla_pages_open", "mla_page_oldest_unacknowledged_age_seconds",
                 "mla_outbox_pending", "mla_outbox_oldest_age_seconds",
                 "mla_stats_sealing_lag_months", "mla_audit_rows_since_checkpoint"):
        assert (name, ()) in after, name
    # Only route templates and names from the code: no id, reference, title or person.
    for secret in (rid, request["reference"], "Nightjar", "Dupont"):
        assert secret not in text
    # Before the earliest due time none is overdue; a year later all are.
    earliest = min(d.due_at for d in open_deadlines)
    with clock.frozen(earliest - timedelta(seconds=1)):
        assert value(samples(api.client.get("/metrics").text), "mla_deadlines_overdue") == 0
    with clock.frozen(clock.utcnow() + timedelta(days=400)):
        later = samples(api.client.get("/metrics").text)
    assert value(later, "mla_deadlines_overdue") == running


def test_metrics_are_for_loopback_or_the_token_holder(
        api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    # Through a reverse proxy on the same machine every client looks local.
    proxied = api.client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
    assert proxied.status_code == 403
    monkeypatch.setenv("MLA_METRICS_TOKEN", "scrape-me-please")
    assert api.client.get("/metrics").status_code == 401
    assert api.client.get("/metrics", headers={
        "Authorization": "Bearer wrong"}).status_code == 401
    assert api.client.get("/metrics", headers={
        "Authorization": "Bearer scrape-me-please",
        "X-Forwarded-For": "203.0.113.9"}).status_code == 200
    # An officer's access token is not the metrics token.
    assert api.call("fr.officer", "GET", "/metrics").status_code == 401


def test_one_json_log_line_per_request_with_its_id_route_status_and_user(
        api: Api, caplog: pytest.LogCaptureFixture) -> None:
    request = api.file()
    with caplog.at_level(logging.INFO, logger="mla.request"):
        response = api.call("fr.officer", "PATCH", f"/requests/{request['id']}",
                            json={"title": "Secret title of the case", "data": {}},
                            headers={"X-Request-ID": "req-abc.123"})
    assert response.status_code == 200, response.text
    assert response.headers["X-Request-ID"] == "req-abc.123"
    lines = [json.loads(JsonFormatter().format(r)) for r in caplog.records
             if r.name == "mla.request"]
    assert len(lines) == 1
    line = lines[0]
    assert line["request_id"] == "req-abc.123"
    assert line["route"] == "/requests/{request_id}"
    assert (line["method"], line["status"]) == ("PATCH", 200)
    assert line["user_id"] == api.world["fr.officer"].id
    assert isinstance(line["duration_ms"], float) and line["time"].endswith("+00:00")
    assert "Secret title" not in json.dumps(line) and request["id"] not in json.dumps(line)
    # An id that is not a sane token is replaced, not logged.
    odd = api.client.get("/health", headers={"X-Request-ID": "x\"; drop table"})
    assert odd.headers["X-Request-ID"] != "x\"; drop table"
    assert len(odd.headers["X-Request-ID"]) == 32


def test_serve_with_several_workers_sums_every_process(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    db.upgrade(url)
    port = free_port()
    env = {**os.environ, "MLA_DATABASE_URL": url}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    proc = subprocess.Popen([sys.executable, "-m", "cli", "serve", "--port", str(port),
                             "--workers", "2"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=(tmp_path / "s.log").open("w"))
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                httpx.get(f"{base}/health", timeout=2)
                break
            except httpx.TransportError:
                assert proc.poll() is None, (tmp_path / "s.log").read_text()
                assert time.monotonic() < deadline
                time.sleep(0.3)
        time.sleep(3)  # the second process binds its socket a little later
        totals = set()
        for _ in range(40):
            # A new connection each: the kernel spreads them over both processes' sockets.
            assert httpx.get(f"{base}/health", timeout=5).status_code == 200
        found = samples(httpx.get(f"{base}/metrics", timeout=5).text)
        assert value(found, "mla_http_request_duration_seconds_count", method="GET",
                     route="/health", status="200") >= 41
        for _ in range(6):
            again = samples(httpx.get(f"{base}/metrics", timeout=5).text)
            # Whichever process answers, it sums both.
            totals.add(value(again, "mla_http_request_duration_seconds_count", method="GET",
                           route="/health", status="200"))
        assert totals == {value(found, "mla_http_request_duration_seconds_count",
                              method="GET", route="/health", status="200")}
        log = (tmp_path / "s.log").read_text()
        lines = [json.loads(x) for x in log.splitlines() if x.startswith("{")]
        health = [x for x in lines if x.get("route") == "/health"]
        assert len(health) >= 41 and all(x["request_id"] for x in health)
    finally:
        proc.terminate()
        proc.wait(timeout=60)
