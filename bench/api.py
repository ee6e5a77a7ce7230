"""HTTP throughput: N concurrent clients with real tokens against `mla serve` on PostgreSQL.

Each client takes requests from a shared queue and drives each through the 7-step lifecycle
(submit ... close) by POST /requests/{id}/transitions with If-Match, reading the request
(GET /requests/{id}, full officer view, audited) after each step.

    python -m bench.api [--clients 16] [--requests 400] [--workers 2]

Targets: >= 1,000 transitions/s with 16 clients on the 2-core machine; p99 read < 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import time

import httpx

from bench.transitions import DEFAULT_URL, PATH, prepare, seed
from mla import db, directory, security, templates


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


async def _client(base: str, queue: asyncio.Queue[str], tokens: dict[str, str],
                  writes: list[float], reads: list[float]) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        while True:
            try:
                request_id = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            version = 1
            for event, role in PATH:
                headers = {"Authorization": f"Bearer {tokens[role]}",
                           "If-Match": f'"{version}"'}
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


async def _run(base: str, ids: list[str], tokens: dict[str, str],
               clients: int) -> tuple[float, list[float], list[float]]:
    queue: asyncio.Queue[str] = asyncio.Queue()
    for i in ids:
        queue.put_nowait(i)
    writes: list[float] = []
    reads: list[float] = []
    start = time.perf_counter()
    await asyncio.gather(*(_client(base, queue, tokens, writes, reads) for _ in range(clients)))
    return time.perf_counter() - start, writes, reads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--database", default=DEFAULT_URL)
    args = parser.parse_args()
    templates.load_all()
    url = prepare(args.database, "mla_bench_api")
    ids, users = seed(url, args.requests)
    tokens = _tokens(url, users)
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "mla.cli", "serve", "--port", str(port), "--workers",
         str(args.workers)],
        env={**os.environ, "MLA_DATABASE_URL": url}, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        elapsed, writes, reads = asyncio.run(_run(base, [str(i) for i in ids], tokens,
                                                  args.clients))
    finally:
        server.terminate()
        server.wait(timeout=10)
    rate = len(writes) / elapsed
    print(f"clients: {args.clients}, server workers: {args.workers}, "
          f"requests: {args.requests}, transitions: {len(writes)}, reads: {len(reads)}")
    print(f"transitions/s          : {rate:8.0f}  (target >= 1000: "
          f"{'met' if rate >= 1000 else 'NOT met'})")
    print(f"transition p50 / p99 ms: {statistics.median(writes) * 1000:8.1f} / "
          f"{_percentile(writes, 0.99):.1f}")
    p99_read = _percentile(reads, 0.99)
    print(f"read p50 / p99 ms      : {statistics.median(reads) * 1000:8.1f} / {p99_read:.1f}"
          f"  (target p99 < 50: {'met' if p99_read < 50 else 'NOT met'})")


if __name__ == "__main__":
    main()
