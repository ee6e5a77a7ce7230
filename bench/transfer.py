"""Electronic transfer between instances over real HTTP on loopback, each instance a real
`mla serve` + `mla worker` on its own PostgreSQL schema (dropped afterwards).

    python -m bench.transfer pair [--requests 1000] [--clients 8] [--paced 100 --rate 5]
    python -m bench.transfer federation [--instances 5] [--requests 300] [--outages 8]
    python -m bench.transfer            # both

pair: FR-MJ transmits N approved requests to KE-ODPP (officers POST the `transmit` event
with real tokens, C at a time), then M more one by one at a steady rate; reports end-to-end
throughput and transmit -> signed receipt latency (outbox row written in the transmit
transaction -> receipt verified and recorded by the sender), under the bulk load (queueing
included) and at the steady rate, and checks KE holds each request exactly once.

federation: K instances, each registered with every other; N requests over random pairs;
while they are transmitted, delivered and acknowledged back, receivers are killed (SIGKILL,
mid-request at times) and restarted at random. Checks: 0 lost, 0 duplicated, every
acknowledgement synced back exactly once.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, func, select

from bench.transitions import DEFAULT_URL, drop, prepare
from mla import db, hooks, security, templates
from mla.directory import service as directory
from mla.models import AuditEvent, HistoryEvent, InboxMessage, OutboxMessage, Request
from mla.requests import filing, lifecycle
from mla.transfer import peers as transfer_peers

ROOT = Path(__file__).resolve().parents[1]
MLA = [sys.executable, "-m", "cli"]

AUTHORITIES = [
    ("FR-MJ", "FR", "Europe/Paris"), ("KE-ODPP", "KE", "Africa/Nairobi"),
    ("US-OIA", "US", "America/New_York"), ("BR-MJ", "BR", "America/Sao_Paulo"),
    ("IN-MHA", "IN", "Asia/Kolkata"), ("JP-MOJ", "JP", "Asia/Tokyo"),
    ("ZA-DOJ", "ZA", "Africa/Johannesburg"), ("DE-BFJ", "DE", "Europe/Berlin"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@dataclass
class Node:
    code: str
    country: str
    timezone: str
    base_url: str
    schema: str
    server_workers: int = 1
    url: str = ""
    port: int = field(default_factory=_free_port)
    engine: Engine | None = None
    server: subprocess.Popen[bytes] | None = None
    worker: subprocess.Popen[bytes] | None = None
    tokens: dict[str, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "MLA_DATABASE_URL": self.url, "MLA_INSTANCE_AUTHORITY": self.code,
                "MLA_TRANSFER_POLL_SECONDS": "0.2", "MLA_TRANSFER_BACKOFF_BASE_SECONDS": "0.3",
                "MLA_TRANSFER_BACKOFF_CAP_SECONDS": "3", "MLA_TRANSFER_TIMEOUT_SECONDS": "10",
                "MLA_TRANSFER_CONCURRENCY": "4"}

    def setup(self) -> None:
        self.url = prepare(self.base_url, self.schema)
        self.engine = db.make_engine(self.url, pool_size=2, max_overflow=2)
        with db.unit_of_work(self.engine) as s:
            home = transfer_peers.init_instance(s, code=self.code, country=self.country,
                                                name=f"Central authority {self.code}",
                                                timezone=self.timezone, languages=["en"])
            for role in ("officer", "supervisor"):
                directory.add_user(s, home, username=f"{self.code}.{role}", full_name=role,
                                   role=role)
        with db.unit_of_work(self.engine) as s:
            for role in ("officer", "supervisor"):
                user = directory.user_by_username(s, f"{self.code}.{role}")
                self.tokens[role] = security.issue_access_token(s, user)[0]

    def start_server(self, wait: bool = True) -> None:
        with self.lock:
            self.server = subprocess.Popen(
                [*MLA, "serve", "--port", str(self.port), "--workers",
                 str(self.server_workers)], cwd=ROOT, env=self.env,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                start_new_session=True)
        if wait:
            self.wait_for_server()

    def wait_for_server(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.base}/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError(f"{self.code} did not start")

    def kill_server(self) -> None:
        """SIGKILL, whatever it is doing (the whole process group, for --workers > 1)."""
        with self.lock:
            if self.server is not None:
                os.killpg(self.server.pid, signal.SIGKILL)
                self.server.wait()
                self.server = None

    def start_worker(self) -> None:
        self.worker = subprocess.Popen([*MLA, "worker", "--poll", "5"], cwd=ROOT, env=self.env,
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop(self) -> None:
        for proc in (self.worker, self.server):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
        if self.engine is not None:
            self.engine.dispose()

    def sessions(self) -> Any:
        assert self.engine is not None
        return db.session_factory(self.engine)()


def _peer_all(nodes: list[Node]) -> None:
    for node in nodes:
        with db.unit_of_work(node.engine) as s:  # type: ignore[arg-type]
            for other in nodes:
                if other is not node:
                    transfer_peers.add_peer(s, other.code, other.base)


def _approved(node: Node, targets: list[str]) -> list[str]:
    """One approved mla.evidence request of `node` to each code in `targets`; their ids."""
    ids = []
    form = templates.example("mla.evidence")
    with node.sessions() as s:
        officer = directory.user_by_username(s, f"{node.code}.officer")
        supervisor = directory.user_by_username(s, f"{node.code}.supervisor")
        authorities = {code: directory.authority_by_code(s, code).id for code in set(targets)}
        for i, code in enumerate(targets):
            request = filing.file_request(s, officer, kind="mla.evidence",
                                          requested_authority_id=authorities[code],
                                          legal_basis="untoc", title=f"bench {i}",
                                          language="en", data=form)
            lifecycle.transition(s, request, "submit", officer)
            lifecycle.transition(s, request, "approve", supervisor)
            s.commit()
            ids.append(str(request.id))
    return ids


async def _fire_all(jobs: list[tuple[Node, str, str]], clients: int) -> list[float]:
    """POSTs each (node, request id, event) as the node's officer; retries while the node is
    down (a 409 then means the event went through before the answer was lost)."""
    queue: asyncio.Queue[tuple[Node, str, str]] = asyncio.Queue()
    for job in jobs:
        queue.put_nowait(job)
    latencies: list[float] = []

    async def client() -> None:
        async with httpx.AsyncClient(timeout=30) as http:
            while True:
                try:
                    node, request_id, event = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                while True:
                    t0 = time.perf_counter()
                    try:
                        r = await http.post(
                            f"{node.base}/requests/{request_id}/transitions",
                            json={"event": event},
                            headers={"Authorization": f"Bearer {node.tokens['officer']}"})
                    except httpx.TransportError:
                        await asyncio.sleep(0.3)
                        continue
                    if r.status_code == 200:
                        latencies.append(time.perf_counter() - t0)
                        break
                    if r.status_code == 409 and "not allowed" in r.text:
                        break
                    if r.status_code >= 500:
                        await asyncio.sleep(0.3)
                        continue
                    raise RuntimeError(f"{node.code} {event} {request_id}: {r.status_code} "
                                       f"{r.text[:300]}")

    await asyncio.gather(*(client() for _ in range(clients)))
    return latencies


def _wait(what: str, check: Any, timeout: float) -> float:
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.2)
    return time.monotonic() - start


def _pending(node: Node) -> int:
    with node.sessions() as s:
        return s.scalar(select(func.count()).select_from(OutboxMessage)
                        .where(OutboxMessage.status != "delivered")) or 0


# --- two instances ----------------------------------------------------------------------


def _deliveries(fr: Node, ids: list[str]) -> list[tuple[datetime, datetime, int]]:
    with fr.sessions() as s:
        return [tuple(r) for r in s.execute(  # type: ignore[misc]
            select(OutboxMessage.created_at, OutboxMessage.delivered_at, OutboxMessage.attempts)
            .where(OutboxMessage.request_id.in_([uuid.UUID(i) for i in ids])))]


def _latency_line(rows: list[tuple[datetime, datetime, int]]) -> str:
    latencies = [(d - c).total_seconds() * 1000 for c, d, _ in rows]
    return (f"p50 {statistics.median(latencies):.0f} ms, p99 {_percentile(latencies, 0.99):.0f} "
            f"ms, max {max(latencies):.0f} ms")


async def _paced(fr: Node, ids: list[str], rate: float) -> None:
    """One transmit every 1/rate seconds, each on its own, as officers work."""
    tasks = []
    for i in ids:
        tasks.append(asyncio.create_task(_fire_all([(fr, i, "transmit")], 1)))
        await asyncio.sleep(1 / rate)
    await asyncio.gather(*tasks)


def bench_pair(database: str, requests: int, clients: int, paced: int, rate: float) -> None:
    fr = Node("FR-MJ", "FR", "Europe/Paris", database, "mla_bench_xfer_fr", server_workers=2)
    ke = Node("KE-ODPP", "KE", "Africa/Nairobi", database, "mla_bench_xfer_ke",
              server_workers=2)
    nodes = [fr, ke]
    try:
        for node in nodes:
            node.setup()
            node.start_server(wait=False)
        for node in nodes:
            node.wait_for_server()
        _peer_all(nodes)
        ids = _approved(fr, ["KE-ODPP"] * (requests + paced))
        bulk, trickle = ids[:requests], ids[requests:]
        for node in nodes:
            node.start_worker()
        time.sleep(1.0)

        # Throughput: every officer transmitting as fast as the instance answers.
        start = time.monotonic()
        transmit_latencies = asyncio.run(_fire_all([(fr, i, "transmit") for i in bulk],
                                                   clients))
        transmitted = time.monotonic() - start
        _wait("all receipts", lambda: _pending(fr) == 0, 900)
        rows = _deliveries(fr, bulk)
        span = (max(d for _, d, _ in rows) - min(c for c, _, _ in rows)).total_seconds()

        # Latency at a steady pace the pair keeps up with.
        if trickle:
            asyncio.run(_paced(fr, trickle, rate))
            _wait("paced receipts", lambda: _pending(fr) == 0, 300)
            paced_rows = _deliveries(fr, trickle)
        with ke.sessions() as s:
            received = s.scalar(select(func.count()).select_from(Request)) or 0
            distinct = s.scalar(select(func.count(func.distinct(
                Request.counterpart_reference)))) or 0
            inbox = s.scalar(select(func.count()).select_from(InboxMessage)) or 0
        load = os.getloadavg()[0]
        print(f"pair: FR-MJ -> KE-ODPP, PostgreSQL both, `mla serve --workers 2` + `mla worker`"
              f" each, {os.cpu_count()} CPUs, load average {load:.1f}")
        print(f"  {requests} requests, {clients} officers transmitting at once:")
        print(f"    transmit (HTTP transition: outbox row, signed + encrypted envelope): "
              f"{len(bulk) / transmitted:.0f}/s, p50 "
              f"{statistics.median(transmit_latencies) * 1000:.0f} ms, p99 "
              f"{_percentile(transmit_latencies, 0.99) * 1000:.0f} ms")
        print(f"    end to end (first outbox row -> last signed receipt): {span:.1f} s = "
              f"{len(rows) / span:.0f} requests/s")
        print(f"    transmit -> receipt latency (queueing included): {_latency_line(rows)}")
        if trickle:
            print(f"  {paced} requests paced at {rate:g}/s:")
            print(f"    transmit -> receipt latency: {_latency_line(paced_rows)}")
        print(f"  KE-ODPP holds {received} requests ({distinct} distinct senders' references, "
              f"{inbox} inbox messages); deliveries retried: "
              f"{sum(1 for *_, a in rows if a > 1)}")
        assert received == distinct == inbox == requests + paced, "lost or duplicated"
    finally:
        for node in nodes:
            node.stop()
        for node in nodes:
            drop(database, node.schema)


# --- federation with outages --------------------------------------------------------------


def _outages(nodes: list[Node], stop: threading.Event, count: int, log: list[str]) -> None:
    rng = random.Random(7)
    done = 0
    while not stop.is_set() and done < count:
        stop.wait(rng.uniform(0.5, 2.0))
        node = rng.choice(nodes)
        node.kill_server()
        down = rng.uniform(1.0, 4.0)
        log.append(f"{node.code} down {down:.1f} s")
        time.sleep(down)
        node.start_server()
        done += 1


def bench_federation(database: str, instances: int, requests: int, outages: int,
                     clients: int) -> None:
    nodes = [Node(code, country, tz, database, f"mla_bench_fed_{i}")
             for i, (code, country, tz) in enumerate(AUTHORITIES[:instances])]
    rng = random.Random(42)
    try:
        for node in nodes:
            node.setup()
            node.start_server(wait=False)
        for node in nodes:
            node.wait_for_server()
        _peer_all(nodes)
        plan: dict[str, list[str]] = {n.code: [] for n in nodes}
        for _ in range(requests):
            sender, receiver = rng.sample(nodes, 2)
            plan[sender.code].append(receiver.code)
        by_code = {n.code: n for n in nodes}
        jobs = [(by_code[code], rid, "transmit") for code, targets in plan.items()
                for rid in _approved(by_code[code], targets)]
        rng.shuffle(jobs)
        for node in nodes:
            node.start_worker()
        stop = threading.Event()
        outage_log: list[str] = []
        chaos = threading.Thread(target=_outages, args=(nodes, stop, outages, outage_log))
        start = time.monotonic()
        chaos.start()
        asyncio.run(_fire_all(jobs, clients))
        _wait("requests delivered", lambda: all(_pending(n) == 0 for n in nodes), 900)

        # Each receiver acknowledges what it got; the acknowledgements travel back.
        acks = []
        for node in nodes:
            with node.sessions() as s:
                acks += [(node, str(i), "acknowledge") for i in s.scalars(
                    select(Request.id).where(Request.workflow == "mla_requested"))]
        rng.shuffle(acks)
        asyncio.run(_fire_all(acks, clients))
        stop.set()
        chaos.join()
        _wait("acknowledgements delivered", lambda: all(_pending(n) == 0 for n in nodes), 900)
        elapsed = time.monotonic() - start

        sent = delivered = received = distinct = retried = acknowledged = 0
        double_acks = duplicates = 0
        references: dict[str, set[str]] = {n.code: set() for n in nodes}
        for node in nodes:
            with node.sessions() as s:
                rows = s.execute(select(OutboxMessage.kind, OutboxMessage.status,
                                        OutboxMessage.attempts)).all()
                sent += sum(1 for k, _, _ in rows if k == "request")
                delivered += sum(1 for k, st, _ in rows if k == "request" and st == "delivered")
                retried += sum(1 for _, _, a in rows if a > 1)
                mine = s.execute(select(Request.reference, Request.state).where(
                    Request.workflow == "mla_requesting")).all()
                acknowledged += sum(1 for _, st in mine if st == "acknowledged")
                references[node.code] = {r for r, _ in mine}
                # Deliveries that reached a receiver twice (e.g. killed after its commit,
                # before its answer) and were answered from the inbox.
                duplicates += s.scalar(select(func.count()).select_from(AuditEvent).where(
                    AuditEvent.action == "transfer.duplicate")) or 0
                double_acks += s.scalar(select(func.count()).select_from(
                    select(HistoryEvent.request_id).where(HistoryEvent.event == "acknowledge")
                    .group_by(HistoryEvent.request_id).having(func.count() > 1).subquery())) or 0
        all_refs = set().union(*references.values())
        for node in nodes:
            with node.sessions() as s:
                counterparts = list(s.scalars(select(Request.counterpart_reference).where(
                    Request.workflow == "mla_requested")))
            received += len(counterparts)
            distinct += len(set(counterparts))
            assert set(counterparts) <= all_refs
        lost = sent - distinct
        duplicated = received - distinct
        print(f"federation: {instances} instances (each serve + worker, PostgreSQL), "
              f"{requests} requests over random pairs, {len(outage_log)} receiver outages "
              f"(SIGKILL, 1-4 s): {', '.join(outage_log)}")
        print(f"  sent {sent}, delivered {delivered}, received {received} "
              f"({distinct} distinct): lost {lost}, duplicated {duplicated}")
        print(f"  acknowledgements synced back: {acknowledged}/{sent}, applied twice: "
              f"{double_acks}; messages that needed retries: {retried}, delivered twice and "
              f"answered from the inbox: {duplicates}; "
              f"wall time {elapsed:.1f} s")
        assert lost == 0 and duplicated == 0 and acknowledged == sent and double_acks == 0
    finally:
        for node in nodes:
            node.stop()
        for node in nodes:
            drop(database, node.schema)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("which", nargs="?", choices=["pair", "federation", "both"],
                        default="both")
    parser.add_argument("--requests", type=int, default=None,
                        help="pair: 1000, federation: 300")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--paced", type=int, default=100,
                        help="pair: requests sent one by one after the bulk, for latency")
    parser.add_argument("--rate", type=float, default=5.0, help="pair: paced transmits/s")
    parser.add_argument("--instances", type=int, default=5)
    parser.add_argument("--outages", type=int, default=8)
    parser.add_argument("--database", default=DEFAULT_URL)
    args = parser.parse_args()
    hooks.install()  # this bench is an entry point: it fires transitions in-process
    templates.load_all()
    if args.which in ("pair", "both"):
        bench_pair(args.database, args.requests or 1000, args.clients, args.paced,
                   args.rate)
    if args.which in ("federation", "both"):
        bench_federation(args.database, args.instances, args.requests or 300, args.outages,
                         args.clients)


if __name__ == "__main__":
    main()
