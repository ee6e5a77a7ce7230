"""HTTP throughput: N concurrent clients with real tokens against `mla serve` on PostgreSQL,
and in the same run against a minimal Starlette + psycopg server doing the same work.

Each client takes requests from a shared queue and drives each through the 7-step lifecycle
(submit ... close) by POST /requests/{id}/transitions with If-Match, reading the request
(GET /requests/{id}, full officer view, audited) after each step. Every client keeps one
keep-alive connection. The baseline (bench/api_baseline.py) verifies the same ES256 tokens
and sends the same statements for both calls (bench.transitions.send_transition for the
transition), with as many worker processes, threads and connections. The two servers run
side by side and are driven in alternating rounds, each on its own requests, so that load
from elsewhere on the machine hits both; a warm-up pass on each (connections opened,
statements prepared, caches filled) is not counted. transitions/s counts the transitions of
the measured rounds over their wall time, reads included.

    python -m bench.api [--clients 16] [--requests 400] [--rounds 4] [--warmup 32] [--workers 2]

Targets: ours >= 50% of the baseline for transitions and for reads; read p99 < 50 ms with 16
clients. The clients run on the same machine as the servers and PostgreSQL and take CPU from
them; the load average before and after is printed.
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
from typing import Any

import httpx

from bench.transitions import DEFAULT_URL, PATH, drop, load, prepare, seed
from mla import db, hooks, security, templates
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


async def _rounds(bases: dict[str, str], warmup: dict[str, list[str]],
                  ids: dict[str, list[str]], tokens: dict[str, str], clients: int,
                  rounds: int) -> dict[str, tuple[float, list[float], list[float]]]:
    """Both servers warmed up, then driven in alternating rounds; per server the measured
    wall time, transition latencies and read latencies."""
    https = {name: [httpx.AsyncClient(base_url=base, timeout=30) for _ in range(clients)]
             for name, base in bases.items()}
    totals: dict[str, tuple[float, list[float], list[float]]] = {
        name: (0.0, [], []) for name in bases}
    try:
        for name in bases:
            await _pass(https[name], warmup[name], tokens)
        names = list(bases)
        for r in range(rounds):
            for name in names if r % 2 == 0 else names[::-1]:
                chunk = ids[name][r::rounds]
                elapsed, writes, reads = await _pass(https[name], chunk, tokens)
                total, all_writes, all_reads = totals[name]
                totals[name] = (total + elapsed, all_writes + writes, all_reads + reads)
        return totals
    finally:
        await asyncio.gather(*(http.aclose() for group in https.values() for http in group))


def _start(command: list[str], url: str, log: Any) -> subprocess.Popen[bytes]:
    return subprocess.Popen(command, env={**os.environ, "MLA_DATABASE_URL": url},
                            stdout=log, stderr=subprocess.STDOUT)


def _wait_healthy(base: str) -> None:
    deadline = time.monotonic() + 180  # two servers start on a busy machine
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{base} did not come up")


def _stop(server: subprocess.Popen[bytes] | None) -> None:
    if server is not None:
        server.terminate()
        server.wait(timeout=30)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=400, help="measured requests per server")
    parser.add_argument("--rounds", type=int, default=4, help="alternations of the servers")
    parser.add_argument("--warmup", type=int, default=32, help="requests driven first on each "
                        "server, not measured")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--database", default=DEFAULT_URL)
    parser.add_argument("--schema", default=SCHEMA, help="private schema, dropped at the end")
    args = parser.parse_args(argv)
    hooks.install()  # the requests are filed in-process
    templates.load_all()
    url = prepare(args.database, args.schema)
    ours: subprocess.Popen[bytes] | None = None
    theirs: subprocess.Popen[bytes] | None = None
    per_side = args.warmup + args.requests
    with tempfile.NamedTemporaryFile("w+", prefix="mla-bench-api-", suffix=".log") as log:
        try:
            ids, users = seed(url, 2 * per_side)
            tokens = _tokens(url, users)
            ports = {"engine": _free_port(), "baseline": _free_port()}
            ours = _start([sys.executable, "-m", "cli", "serve", "--port",
                           str(ports["engine"]), "--workers", str(args.workers)], url, log)
            theirs = _start([sys.executable, "-m", "bench.api_baseline", "--port",
                             str(ports["baseline"]), "--workers", str(args.workers)], url, log)
            bases = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
            try:
                for base in bases.values():
                    _wait_healthy(base)
            except RuntimeError:
                log.seek(0)
                print("".join(log.readlines()[-40:]), file=sys.stderr)
                raise
            names = [str(i) for i in ids]
            sides = {"engine": names[:per_side], "baseline": names[per_side:]}
            load_before = load()
            try:
                results = asyncio.run(_rounds(
                    bases, {n: side[:args.warmup] for n, side in sides.items()},
                    {n: side[args.warmup:] for n, side in sides.items()}, tokens,
                    args.clients, args.rounds))
            except Exception:
                log.seek(0)
                print("".join(log.readlines()[-40:]), file=sys.stderr)
                raise
            load_after = load()
        finally:
            _stop(ours)
            _stop(theirs)
            drop(args.database, args.schema)
    rates = {name: len(writes) / elapsed for name, (elapsed, writes, _) in results.items()}
    # Per-call CPU-bound service rate: calls of a kind per second of their own latency.
    reads = {name: r for name, (_, _, r) in results.items()}
    writes = {name: w for name, (_, w, _) in results.items()}
    ratio = rates["engine"] / rates["baseline"]
    # With the same number of clients always waiting on each call, calls per second go as
    # the inverse of their mean latency (Little's law): the ratio of each kind of call.
    call_ratio = {name: statistics.fmean(calls["baseline"]) / statistics.fmean(calls["engine"])
                  for name, calls in (("transitions", writes), ("reads", reads))}
    p99_read = _percentile(reads["engine"], 0.99)
    print(f"ours / baseline, lifecycle throughput (transitions with their reads): {ratio:6.1%}"
          f"  (target >= 50%: {'met' if ratio >= 0.5 else 'NOT met'})")
    for name, value in call_ratio.items():
        print(f"ours / baseline, {name:11} (inverse of mean latency)            : "
              f"{value:6.1%}  (target >= 50%: {'met' if value >= 0.5 else 'NOT met'})")
    for name, label in (("engine", "mla serve"), ("baseline", "Starlette + psycopg")):
        print(f"{label:20}: {rates[name]:6.0f} transitions/s; transition p50 / p99 ms "
              f"{statistics.median(writes[name]) * 1000:6.1f} / "
              f"{_percentile(writes[name], 0.99):6.1f}; read p50 / p99 ms "
              f"{statistics.median(reads[name]) * 1000:6.1f} / "
              f"{_percentile(reads[name], 0.99):6.1f}")
    print(f"read p99 of mla serve: {p99_read:.1f} ms (target < 50 with {args.clients} clients: "
          f"{'met' if p99_read < 50 else 'NOT met'})")
    print(f"clients: {args.clients}, server workers: {args.workers} each, requests per server: "
          f"{args.requests} (+{args.warmup} warm-up) in {args.rounds} alternating rounds, "
          f"transitions per server: {len(writes['engine'])}")
    print(f"load average (1/5/15 min) before: {load_before}, after: {load_after}, "
          f"CPUs: {os.cpu_count()}")


if __name__ == "__main__":
    main()
