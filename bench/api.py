"""HTTP throughput: N concurrent clients with real tokens against `mla serve` on PostgreSQL.

Each client takes requests from a shared queue and drives each through the 7-step lifecycle
(submit ... close) by POST /requests/{id}/transitions with If-Match, reading the request
(GET /requests/{id}, full officer view, audited) after each step. Every client keeps one
keep-alive connection. A warm-up pass (connections opened, statements prepared, caches
filled) runs first and is not counted. transitions/s counts the transitions of the measured
pass over its wall time, reads included.

    python -m bench.api [--clients 16] [--requests 400] [--warmup 32] [--workers 2]

Targets: >= 1,000 transitions/s with 16 clients on the 2-core machine; p99 read < 50 ms.
The clients run on the same machine as the server and PostgreSQL and take CPU from them;
the load average before and after is printed because other work on the machine moves the
numbers a lot.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import httpx

from bench.transitions import DEFAULT_URL, PATH, drop, prepare, seed
from mla import db, security, templates
from mla.directory import service as directory

SCHEMA = "mla_bench_api"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _tokens(url: str, users: dict[str, int]) -> dict[str, str]:
    engine = db.make_engine(url)
    with db.unit_of_work(engine) as s:
        tokens = {role: security.issue_access_token(s, s.get_one(directory.User, uid))[0]
                  for role, uid in users.items()}
    engine.dispose()
    return tokens


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def _client(http: httpx.AsyncClient, queue: asyncio.Queue[str], tokens: dict[str, str],
                  writes: list[float], reads: list[float]) -> None:
    while True:
        try:
            request_id = queue.get_nowait()
        except asyncio.QueueEmpty:
            return
        version = 1
        for event, role in PATH:
            headers = {"Authorization": f"Bearer {tokens[role]}", "If-Match": f'"{version}"'}
            t0 = time.perf_counter()
            r = await http.post(f"/requests/{request_id}/transitions",
                                json={"event": event}, headers=headers)
            writes.append(time.perf_counter() - t0)
            r.raise_for_status()
            version = r.json()["version"]
            t0 = time.perf_counter()
            r = await http.get(f"/requests/{request_id}",
                               headers={"Authorization": f"Bearer {tokens['officer']}"})
            reads.append(time.perf_counter() - t0)
            r.raise_for_status()


async def _pass(clients: list[httpx.AsyncClient], ids: list[str], tokens: dict[str, str],
                ) -> tuple[float, list[float], list[float]]:
    queue: asyncio.Queue[str] = asyncio.Queue()
    for i in ids:
        queue.put_nowait(i)
    writes: list[float] = []
    reads: list[float] = []
    start = time.perf_counter()
    await asyncio.gather(*(_client(http, queue, tokens, writes, reads) for http in clients))
    return time.perf_counter() - start, writes, reads


async def _run(base: str, warmup: list[str], ids: list[str], tokens: dict[str, str],
               clients: int) -> tuple[float, list[float], list[float]]:
    # The same clients, and so the same connections, warm up and then measure.
    https = [httpx.AsyncClient(base_url=base, timeout=30) for _ in range(clients)]
    try:
        await _pass(https, warmup, tokens)
        return await _pass(https, ids, tokens)
    finally:
        await asyncio.gather(*(http.aclose() for http in https))


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=400, help="measured requests")
    parser.add_argument("--warmup", type=int, default=32, help="requests driven first, "
                        "not measured")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--database", default=DEFAULT_URL)
    args = parser.parse_args()
    templates.load_all()
    url = prepare(args.database, SCHEMA)
    server: subprocess.Popen[bytes] | None = None
    with tempfile.NamedTemporaryFile("w+", prefix="mla-bench-api-", suffix=".log") as log:
        try:
            ids, users = seed(url, args.warmup + args.requests)
            tokens = _tokens(url, users)
            port = _free_port()
            server = subprocess.Popen(
                [sys.executable, "-m", "cli", "serve", "--port", str(port), "--workers",
                 str(args.workers)],
                env={**os.environ, "MLA_DATABASE_URL": url}, stdout=log,
                stderr=subprocess.STDOUT,
            )
            base = f"http://127.0.0.1:{port}"
            for _ in range(300):
                try:
                    if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.1)
            load_before = _load()
            try:
                elapsed, writes, reads = asyncio.run(_run(
                    base, [str(i) for i in ids[:args.warmup]],
                    [str(i) for i in ids[args.warmup:]], tokens, args.clients))
            except Exception:
                log.seek(0)
                print("".join(log.readlines()[-40:]), file=sys.stderr)
                raise
            load_after = _load()
        finally:
            if server is not None:
                server.terminate()
                server.wait(timeout=30)
            drop(args.database, SCHEMA)
    rate = len(writes) / elapsed
    print(f"clients: {args.clients}, server workers: {args.workers}, "
          f"requests: {args.requests} (+{args.warmup} warm-up), transitions: {len(writes)}, "
          f"reads: {len(reads)}")
    print(f"load average (1/5/15 min) before: {load_before}, after: {load_after}, "
          f"CPUs: {os.cpu_count()}")
    print(f"transitions/s          : {rate:8.0f}  (target >= 1000: "
          f"{'met' if rate >= 1000 else 'NOT met'})")
    print(f"transition p50 / p99 ms: {statistics.median(writes) * 1000:8.1f} / "
          f"{_percentile(writes, 0.99):.1f}")
    p99_read = _percentile(reads, 0.99)
    print(f"read p50 / p99 ms      : {statistics.median(reads) * 1000:8.1f} / {p99_read:.1f}"
          f"  (target p99 < 50: {'met' if p99_read < 50 else 'NOT met'})")


if __name__ == "__main__":
    main()
