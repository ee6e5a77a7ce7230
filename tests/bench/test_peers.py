"""`python -m bench.peers` with tiny counts: the side-by-side with SpiffWorkflow still runs
both engines through the whole lifecycle, prints its ratios and leaves nothing behind."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.conftest import IN_CI, PG_URL


@pytest.fixture
def spiff() -> None:
    try:
        import SpiffWorkflow  # noqa: F401
    except ImportError:
        message = "SpiffWorkflow is not installed (pip install -e '.[bench]')"
        if IN_CI:
            pytest.fail(f"{message}; CI=true requires it", pytrace=False)
        pytest.skip(message)


def test_peers_bench_runs_both_engines_and_drops_its_schema(
        spiff: None, postgresql_base_url: str) -> None:
    schema = f"mla_bench_peers_{uuid.uuid4().hex[:8]}"
    done = subprocess.run(
        [sys.executable, "-m", "bench.peers", "--requests", "3", "--batch", "1",
         "--database", PG_URL, "--schema", schema],
        cwd=Path(__file__).resolve().parents[2], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "(a) ours / spiff =" in done.stdout
    assert "(b) ours / spiff =" in done.stdout
    assert "load average" in done.stdout
    engine = create_engine(PG_URL)
    with engine.connect() as conn:
        left = conn.scalar(text("SELECT count(*) FROM pg_namespace WHERE nspname = :s"),
                           {"s": schema})
    engine.dispose()
    assert left == 0
