"""bench.transitions compares the engine with a raw psycopg baseline: the comparison only
means something while the baseline sends what the engine sends. Both are read from libpq's
trace of the wire, transition by transition."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import Engine, text

from bench import transitions
from mla import templates
from tests.conftest import PG_URL


@pytest.fixture
def bench_url(pg_engine: Engine) -> str:
    templates.load_all()
    return pg_engine.url.render_as_string(hide_password=False)


def test_baseline_sends_the_engines_statements_for_every_transition(bench_url: str) -> None:
    ids, users = transitions.seed(bench_url, 4)
    engine = transitions.EngineRunner(bench_url, ids[:2], users)
    baseline = transitions.BaselineRunner(bench_url, ids[2:], users)
    try:
        # The second lifecycle on each side: statements prepared and caches filled, as timed.
        transitions.engine_shapes(engine, ids[0])
        transitions.baseline_shapes(baseline, ids[2])
        ours = transitions.engine_shapes(engine, ids[1])
        theirs = transitions.baseline_shapes(baseline, ids[3])
    finally:
        engine.close()
        baseline.close()
    assert len(ours) == len(transitions.PATH)
    for (event, _), engine_sent, baseline_sent in zip(transitions.PATH, ours, theirs,
                                                      strict=True):
        assert baseline_sent == engine_sent, f"{event}: the baseline no longer mirrors the engine"
    # The work itself is on the wire: the state change with its history, and its audit entry.
    assert all("insert history_events + update requests" in t for t in ours)
    # The entry is written with the change, and no transition touches the chain head: the
    # sealer chains entries later, off the commit path.
    assert all("insert audit_events" in t and "audit_head" not in t for t in ours)
    assert "insert deadlines" in ours[2]


def test_shape_tells_statements_apart() -> None:
    assert transitions.shape("WITH changed AS (UPDATE requests SET x = 1 RETURNING version) "
                             "INSERT INTO history_events (a) SELECT 1 FROM changed") == \
        "insert history_events + update requests"
    assert transitions.shape("SELECT p.id FROM peers p LEFT OUTER JOIN authorities a ON 1=1") \
        == "select authorities + select peers"
    assert transitions.shape("DELETE FROM deadline_steps WHERE x") == "delete deadline_steps"
    assert transitions.shape(";") == "ping"


def test_run_prints_ratio_and_load_and_leaves_nothing(pg_engine: Engine,
                                                      capsys: pytest.CaptureFixture[str]
                                                      ) -> None:
    schema = f"mla_bench_test_{uuid.uuid4().hex[:8]}"
    transitions.main(["--requests", "2", "--rounds", "2", "--database", PG_URL,
                      "--schema", schema])
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("engine / baseline")
    assert "same statements on the wire per transition: yes" in out
    assert "load average (1/5/15 min)" in out
    with pg_engine.connect() as conn:
        left = conn.execute(text("SELECT count(*) FROM information_schema.schemata "
                                 "WHERE schema_name = :s"), {"s": schema}).scalar()
    assert left == 0
