"""`mla serve` started by a test in a directory of its own, up and answering before the test
goes on, stopped after it."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

# A busy 2-core machine (xdist workers, browsers, the other servers) starts slowly.
START_SECONDS = 90


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def mla_serve(workdir: Path, env: dict[str, str], port: int | None = None,
              ready: str = "/health") -> Iterator[str]:
    """The base URL of `mla serve` on loopback, once `ready` answers 200; its output goes to
    workdir/serve.log, shown if it dies before that."""
    port = port or free_port()
    log_path = workdir / "serve.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "cli", "serve", "--port", str(port)],
                                cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        try:
            limit = time.monotonic() + START_SECONDS
            while True:
                try:
                    if httpx.get(base + ready, timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert proc.poll() is None, log_path.read_text()
                assert time.monotonic() < limit, "mla serve did not start"
                time.sleep(0.2)
            yield base
        finally:
            proc.terminate()
            proc.wait(timeout=10)
