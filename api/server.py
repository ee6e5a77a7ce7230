"""Running the API: `mla serve`, one process or several behind one port."""

from __future__ import annotations

import asyncio
import multiprocessing
import signal
import socket
import sys
import time
from typing import Any

import uvicorn
from uvicorn.protocols.http.auto import AutoHTTPProtocol

from mla import settings
from mla.ops import logs

APP = "api.app:create_app"


def proxy_options() -> dict[str, Any]:
    """uvicorn's handling of `X-Forwarded-For` / `X-Forwarded-Proto`, from
    MLA_TRUSTED_PROXIES. uvicorn on its own believes them from 127.0.0.1 (or from
    $FORWARDED_ALLOW_IPS): any local process could then pick the address the login limit
    counts and make the console think a plain HTTP request came over HTTPS. Unset, nobody's
    headers are believed."""
    trusted = settings.get().trusted_proxy_list
    if not trusted:
        return {"proxy_headers": False, "forwarded_allow_ips": []}
    return {"proxy_headers": True, "forwarded_allow_ips": trusted}


class NoDelayHTTPProtocol(AutoHTTPProtocol):  # type: ignore[misc, valid-type]
    """uvicorn's HTTP protocol with Nagle's algorithm off on every connection.

    With `--workers` above 1 uvicorn binds the listening socket itself, without naming the
    protocol, so asyncio does not recognise it as TCP and leaves Nagle on: a response written
    as headers then body waits for the client's delayed ACK, about 40 ms on Linux, on every
    keep-alive request."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)


def serve(host: str, port: int, workers: int, log_level: str = "info") -> None:
    """Runs the API under uvicorn, in `workers` processes. uvicorn's access log is off: every
    request has its line from api/observe.py instead, with its id, route and user.

    uvicorn's own multi-process mode shares one listening socket: the worker that wakes first
    accepts every connection waiting, so a burst of keep-alive clients (a proxy's pool, a
    benchmark) lands on one process and the others idle. Here each worker binds its own
    socket with SO_REUSEPORT and the kernel spreads connections over them."""
    if workers <= 1 or not hasattr(socket, "SO_REUSEPORT"):
        uvicorn.run(APP, factory=True, host=host, port=port, workers=workers,
                    http="api.server:NoDelayHTTPProtocol", log_level=log_level,
                    access_log=False, **proxy_options())
        return
    # SO_REUSEPORT would let a second `mla serve` on the same port join this one and take
    # part of its connections; a plain bind first fails if anything listens there already.
    with socket.socket(_family(host), socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        _bind_or_exit(probe, host, port, 1)
    _supervise(host, port, workers, log_level)


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def _bind_or_exit(sock: socket.socket, host: str, port: int, code: int) -> None:
    try:
        sock.bind((host, port))
    except OSError as exc:
        print(f"mla serve: cannot listen on {host}:{port}: {exc}", file=sys.stderr)
        sys.exit(code)


def _worker(host: str, port: int, log_level: str) -> None:
    logs.configure()
    sock = socket.socket(_family(host), socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    _bind_or_exit(sock, host, port, 3)
    server = uvicorn.Server(uvicorn.Config(APP, factory=True, host=host,
                                          port=port, http=NoDelayHTTPProtocol,
                                          log_level=log_level, access_log=False,
                                          **proxy_options()))
    server.run(sockets=[sock])


# A worker that exits with an error sooner than this after its start failed to start (port
# taken, broken template, database unreachable); starting it again would only fail again.
# One killed by a signal (the OOM killer, an operator) is replaced.
_STARTUP_SECONDS = 10.0


def _supervise(host: str, port: int, workers: int, log_level: str) -> None:
    """Starts the workers, replaces one that dies while serving, stops all on SIGINT or
    SIGTERM (each finishes the requests in flight), and exits with a worker's code if one
    fails to start."""
    spawn = multiprocessing.get_context("spawn")
    stopping: list[int] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda signum, _frame: stopping.append(signum))

    def start() -> tuple[Any, float]:
        process = spawn.Process(target=_worker, args=(host, port, log_level))
        process.start()
        return process, time.monotonic()

    procs = [start() for _ in range(workers)]
    print(f"mla serve: {workers} workers on http://{host}:{port}", file=sys.stderr)
    exit_code = 0
    try:
        while not stopping and not exit_code:
            time.sleep(0.2)
            for i, (process, started) in enumerate(procs):
                if process.is_alive() or stopping:
                    continue
                if time.monotonic() - started < _STARTUP_SECONDS and \
                        (process.exitcode or 0) > 0:
                    exit_code = process.exitcode or 1
                    print(f"mla serve: worker {process.pid} failed to start "
                          f"(exit code {process.exitcode})", file=sys.stderr)
                    break
                print(f"mla serve: worker {process.pid} died (exit code {process.exitcode}); "
                      "starting another", file=sys.stderr)
                procs[i] = start()
    finally:
        for process, _ in procs:
            if process.is_alive():
                process.terminate()
        for process, _ in procs:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
                process.join()
    if exit_code:
        sys.exit(exit_code)
