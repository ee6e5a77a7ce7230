"""`python -m bench.escalation` with tiny counts: the engine's batches and the raw psycopg
worker share the due steps, the ratio and both sizes are printed, the claim walks the
partial index, and the bench leaves nothing behind."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

from sqlalchemy import create_engine, text

from tests.conftest import PG_URL


def test_escalation_bench_compares_with_a_raw_worker_at_two_sizes(
        postgresql_base_url: str) -> None:
    schema = f"mla_bench_escalation_{uuid.uuid4().hex[:8]}"
    done = subprocess.run(
        [sys.executable, "-m", "bench.escalation", "--sizes", "400,1200", "--due", "100",
         "--batch", "30", "--database", PG_URL, "--schema", schema],
        cwd=Path(__file__).resolve().parents[2], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "engine / baseline, worst size:" in out
    assert "cost of a batch at 1,200 / at 400" in out
    assert out.count("uses the partial index on the due instant:") == 2
    assert "due -> alert p50" in out
    assert "load average" in out
    engine = create_engine(PG_URL)
    with engine.connect() as conn:
        left = conn.scalar(text("SELECT count(*) FROM pg_namespace WHERE nspname = :s"),
                           {"s": schema})
    engine.dispose()
    assert left == 0
