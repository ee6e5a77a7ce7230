"""Urgent request -> first page delivered, end to end, on PostgreSQL.

Starts `mla serve` and `mla worker` as subprocesses on a private schema, and a webhook
receiver on loopback (it checks each HMAC signature) for KE-ODPP's Budapest 24/7 desk. Then,
one at a time with a pause between (so the worker is asleep, as it is at 3 a.m.), it makes
urgent requests reach KE-ODPP over HTTP:

- `incoming`: KE registers a preservation request received (POST /requests/incoming);
- `transmit`: FR transmits a preservation request already approved
  (POST /requests/{id}/transitions {"event": "transmit"}).

Latency = from sending that HTTP request to the webhook arriving at the receiver.

The desk is also paged by SMS at once, through a real Kannel gateway (bearerbox, smsbox) to
Kannel's fake handset (fakesmsc, tests/oncall/kannel.py): filing -> SMS at the fake SMSC is
measured on the same pages, interleaved with the webhook's (skipped, and said so, where
Kannel is not installed; `--no-sms` leaves it out).

    python -m bench.paging [--requests 100] [--pause 0.2] [--database URL] [--no-sms]

Targets: webhook p99 <= 1 s; SMS p99 <= 2 s.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import hmac
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from bench.api import _free_port, _percentile
from bench.transitions import DEFAULT_URL, drop, prepare, two_authorities
from mla import db, security, templates
from mla.directory import service as directory
from mla.oncall import paging
from mla.oncall import service as oncall
from tests.oncall import kannel as kannel_gateway

SCHEMA = "mla_bench_paging"
SECRET = "bench-secret-0123456789"
KIND = "mla.e_evidence.preservation"
PHONE = "+254700000001"


class Handset:
    """When each SMS reached Kannel's fake handset: its output read as it grows."""

    def __init__(self, log: Path) -> None:
        self.log = log
        self.offset = 0
        self.buffer = ""
        self.seen: list[tuple[float, str]] = []

    def wait(self, reference: str, timeout: float = 30) -> float:
        limit = time.perf_counter() + timeout
        while True:
            for arrived, line in self.seen:
                if reference in line:
                    return arrived
            with self.log.open("rb") as f:
                f.seek(self.offset)
                chunk = f.read()
            now = time.perf_counter()
            if chunk:
                self.offset += len(chunk)
                self.buffer += chunk.decode("utf-8", "replace")
                *lines, self.buffer = self.buffer.split("\n")
                self.seen += [(now, line) for line in lines if "Got message" in line]
                continue
            if now > limit:
                raise TimeoutError(f"no SMS for {reference} within {timeout} s")
            time.sleep(0.002)


class Receiver:
    def __init__(self) -> None:
        self.arrivals: dict[str, float] = {}
        self.bad_signatures = 0
        self.cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                arrived = time.perf_counter()
                stamp = self.headers.get("X-MLA-Timestamp", "")
                expected = hmac.new(SECRET.encode(), f"{stamp}.".encode() + body,
                                    hashlib.sha256).hexdigest()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()
                with receiver.cond:
                    if not hmac.compare_digest(expected,
                                               self.headers.get("X-MLA-Signature", "")):
                        receiver.bad_signatures += 1
                    reference = json.loads(body)["reference"]
                    receiver.arrivals.setdefault(reference, arrived)
                    receiver.cond.notify_all()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/page"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait(self, reference: str, timeout: float = 30) -> float:
        with self.cond:
            if not self.cond.wait_for(lambda: reference in self.arrivals, timeout):
                raise TimeoutError(f"no page for {reference} within {timeout} s")
            return self.arrivals[reference]


def seed(url: str, hook_url: str, sms: bool) -> dict[str, str]:
    engine = db.make_engine(url)
    with db.unit_of_work(engine) as s:
        fr, ke = two_authorities(s)
        users = {f"fr.{r}": directory.add_user(s, fr, username=f"fr.{r}", full_name=r, role=r)
                 for r in ("officer", "supervisor")}
        users["ke.officer"] = directory.add_user(s, ke, username="ke.officer",
                                                 full_name="officer", role="officer")
        desk = oncall.save_contact(s, ke.id, {
            "network": "budapest_24_7", "name": "Cyber desk", "languages": ["en"],
            "channels": ["webhook", "sms"] if sms else ["webhook"], "phone": PHONE,
            "webhook_url": hook_url, "webhook_secret": SECRET, "timezone": "Africa/Nairobi"})
        oncall.set_rotation(s, ke.id, network="budapest_24_7", timezone="Africa/Nairobi",
                            handoff_time="08:00", shift_hours=24, starts_on=date(2026, 1, 1),
                            members=[desk.id])
        paging.set_policy(s, ke.id, network="budapest_24_7", repeat=0,
                          steps=[{"notify": "on_call", "delay_minutes": 5}])
        tokens = {name: security.issue_access_token(s, user)[0] for name, user in users.items()}
    engine.dispose()
    return tokens


def _wait_healthy(base: str) -> None:
    for _ in range(300):
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError("mla serve did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=100, help="per path")
    parser.add_argument("--pause", type=float, default=0.2,
                        help="seconds between requests (the worker falls asleep)")
    parser.add_argument("--database", default=DEFAULT_URL)
    parser.add_argument("--no-sms", action="store_true", help="webhook only")
    args = parser.parse_args()
    templates.load_all()
    missing = None if args.no_sms else kannel_gateway.missing()
    sms = not args.no_sms and missing is None
    if missing:
        print(f"Kannel not installed ({missing}): the SMS leg is skipped "
              "(apt-get install kannel kannel-extras)")
    receiver = Receiver()
    url = prepare(args.database, SCHEMA)
    tokens = seed(url, receiver.url, sms)
    stack = contextlib.ExitStack()
    port = _free_port()
    env = {**os.environ, "MLA_DATABASE_URL": url}
    handset = None
    if sms:
        gateway = stack.enter_context(kannel_gateway.running(
            Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="mla-kannel-")))))
        port = gateway.callback_port  # where Kannel calls back
        handset = Handset(gateway.handset.log)
        env |= {"MLA_SMS_SENDSMS_URL": gateway.sendsms_url,
                "MLA_SMS_USERNAME": kannel_gateway.USERNAME,
                "MLA_SMS_PASSWORD": kannel_gateway.PASSWORD,
                "MLA_SMS_CALLBACK_SECRET": kannel_gateway.SECRET,
                "MLA_SMS_CALLBACK_URL": f"http://127.0.0.1:{port}"}
    procs = [
        subprocess.Popen([sys.executable, "-m", "cli", "serve", "--port", str(port)],
                         env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
        subprocess.Popen([sys.executable, "-m", "cli", "worker", "--poll", "5"],
                         env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
    ]
    base = f"http://127.0.0.1:{port}"
    results: dict[str, list[float]] = {"incoming": [], "transmit": []}
    texts: dict[str, list[float]] = {"incoming": [], "transmit": []}
    responses: list[float] = []
    try:
        _wait_healthy(base)
        with httpx.Client(base_url=base, timeout=30) as http:
            def auth(name: str) -> dict[str, str]:
                return {"Authorization": f"Bearer {tokens[name]}"}

            form = templates.example(KIND)
            drafts = []
            for i in range(args.requests):
                r = http.post("/requests", headers=auth("fr.officer"), json={
                    "kind": KIND, "requested_authority": "KE-ODPP", "legal_basis": "budapest",
                    "title": f"bench {i}", "language": "en", "data": form})
                r.raise_for_status()
                rid = r.json()["id"]
                for event, who in (("submit", "fr.officer"), ("approve", "fr.supervisor")):
                    http.post(f"/requests/{rid}/transitions", headers=auth(who),
                              json={"event": event}).raise_for_status()
                drafts.append((rid, r.json()["reference"]))
            time.sleep(1)
            for i in range(args.requests):
                time.sleep(args.pause)
                t0 = time.perf_counter()
                r = http.post("/requests/incoming", headers=auth("ke.officer"), json={
                    "kind": KIND, "requesting_authority": "FR-MJ",
                    "counterpart_reference": f"FR-B-{i}", "legal_basis": "budapest",
                    "title": "bench", "language": "en", "data": {}})
                r.raise_for_status()
                responses.append(time.perf_counter() - t0)
                results["incoming"].append(receiver.wait(r.json()["reference"]) - t0)
                if handset:
                    texts["incoming"].append(handset.wait(r.json()["reference"]) - t0)
                time.sleep(args.pause)
                rid, reference = drafts[i]
                t0 = time.perf_counter()
                http.post(f"/requests/{rid}/transitions", headers=auth("fr.officer"),
                          json={"event": "transmit"}).raise_for_status()
                responses.append(time.perf_counter() - t0)
                results["transmit"].append(receiver.wait(reference) - t0)
                if handset:
                    texts["transmit"].append(handset.wait(reference) - t0)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=10)
        receiver.server.shutdown()
        stack.close()
        drop(args.database, SCHEMA)
    every = results["incoming"] + results["transmit"]
    print(f"urgent requests: {len(every)} ({args.requests} received + {args.requests} "
          f"transmitted), one every {args.pause:.2f} s, 1 worker (LISTEN/NOTIFY wake-up)")
    for name, values in (*results.items(), ("all", every)):
        print(f"{name:9s} -> webhook p50 / p99 / max ms: {statistics.median(values) * 1000:7.1f}"
              f" / {_percentile(values, 0.99):7.1f} / {max(values) * 1000:7.1f}")
    print(f"(the HTTP call alone: p50 {statistics.median(responses) * 1000:.1f} ms, p99 "
          f"{_percentile(responses, 0.99):.1f} ms)")
    p99 = _percentile(every, 0.99)
    print(f"target p99 <= 1000 ms: {'met' if p99 <= 1000 else 'NOT met'}; "
          f"bad signatures: {receiver.bad_signatures}")
    if handset:
        sent = texts["incoming"] + texts["transmit"]
        for name, values in (*texts.items(), ("all", sent)):
            print(f"{name:9s} -> SMS at the fake SMSC p50 / p99 / max ms: "
                  f"{statistics.median(values) * 1000:7.1f} / "
                  f"{_percentile(values, 0.99):7.1f} / {max(values) * 1000:7.1f}")
        sms_p99 = _percentile(sent, 0.99)
        print(f"SMS p99 / webhook p99 (same pages): {sms_p99 / p99:.2f}; target SMS p99 <= "
              f"2000 ms: {'met' if sms_p99 <= 2000 else 'NOT met'}")
    print(f"load average (1, 5, 15 min): {', '.join(f'{x:.2f}' for x in os.getloadavg())} "
          f"on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
