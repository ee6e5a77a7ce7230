"""Our engine next to a Python workflow peer, SpiffWorkflow (BPMN), on the same PostgreSQL.

Both run the requesting side of an MLA request along the same path, draft -> submit ->
approve -> transmit -> acknowledge -> start_execution -> complete -> close (7 officer steps;
bench/mla_requesting.bpmn is that lifecycle as a BPMN process, one user task per step, the
supervisor's approval in its own lane), one transaction per step, persisted after every
step:

- ours: `lifecycle.transition` with its hooks installed, so every step also writes its
  history event, its audit entry and opens/closes the legal deadlines (transmit opens five
  clocks, acknowledge ... close close them);
- SpiffWorkflow: the ready user task of the acting officer's lane is run, the engine steps
  to the next wait, and the workflow's serialized state (`BpmnWorkflowSerializer`, JSON) is
  written to a table with a version check, as its users persist it. Spiff's side talks to
  PostgreSQL with bare psycopg, no ORM: nothing of ours, and the cheapest way to store it.

Two ways of using Spiff, each reported against ours reloading the request every step as a
stateless API does (a fresh session, the request row SELECTed, the transition, COMMIT):

(a) stateless: each step loads the workflow's JSON and deserializes it with the serializer's
    defaults, in which the state carries its process spec;
(b) spec cached: the BPMN is parsed once, its spec stored once in a table of its own and kept
    in memory; the state saved after each step leaves the spec out and is restored against
    the cached one, as a careful user does.

Also printed: ours keeping each request in its session between steps, as bench.transitions
drives it (what issue #26's outside measurement set against Spiff (a)); and the database's
floor, Spiff's three round trips (SELECT, UPDATE, COMMIT) with no engine at all.

The five runs are interleaved in batches (order rotated every round), so the machine's
noise hits all of them; the load average is printed next to the figures. Everything is
written to a private schema dropped at the end.

    python -m bench.peers [--requests 300] [--batch 25] [--database postgresql+psycopg://...]

Target: ours >= 5x Spiff's persisted transitions per second.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import make_url

from bench.transitions import DEFAULT_URL, drop, prepare, two_authorities
from mla import db, hooks, templates
from mla.directory import service as directory
from mla.models import Request
from mla.requests import filing, lifecycle

try:
    from SpiffWorkflow.bpmn import BpmnWorkflow
    from SpiffWorkflow.bpmn.parser import BpmnParser
    from SpiffWorkflow.bpmn.serializer import DEFAULT_CONFIG, BpmnWorkflowSerializer
    from SpiffWorkflow.bpmn.serializer.default.workflow import (
        BpmnWorkflowConverter,
        WorkflowConverter,
    )
    from SpiffWorkflow.util.task import TaskState
except ImportError as exc:  # pragma: no cover - the message is the point
    raise SystemExit("bench.peers needs SpiffWorkflow: pip install -e '.[bench]'") from exc

BPMN = Path(__file__).with_name("mla_requesting.bpmn")
PROCESS = "mla_requesting"
PATH = [("submit", "officer"), ("approve", "supervisor"), ("transmit", "officer"),
        ("acknowledge", "officer"), ("start_execution", "officer"), ("complete", "officer"),
        ("close", "officer")]
SCHEMA = "mla_bench_peers"
TARGET = 5.0

SPIFF_TABLES = """
CREATE TABLE spiff_specs (name text PRIMARY KEY, spec json NOT NULL);
CREATE TABLE spiff_workflows (id uuid PRIMARY KEY, version integer NOT NULL,
                              state json NOT NULL)
"""


# --- SpiffWorkflow as its users persist it -------------------------------------------------

def parse_spec() -> tuple[Any, dict[str, Any]]:
    parser = BpmnParser()
    parser.add_bpmn_file(str(BPMN))
    return parser.get_spec(PROCESS), parser.get_subprocess_specs(PROCESS)


def cached_spec_serializer(specs: dict[str, tuple[Any, dict[str, Any]]]) -> BpmnWorkflowSerializer:
    """A serializer whose workflow state names its spec instead of carrying it; restoring
    takes the spec from `specs` (parsed once), as a careful Spiff user stores specs apart."""

    class CachedSpecConverter(BpmnWorkflowConverter):  # type: ignore[misc]
        def to_dict(self, workflow: Any) -> dict[str, Any]:
            dct: dict[str, Any] = WorkflowConverter.to_dict(self, workflow)
            dct["spec"] = workflow.spec.name
            dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
            dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
            return dct

        def from_dict(self, dct: dict[str, Any]) -> Any:
            spec, subprocess_specs = specs[dct.pop("spec")]
            workflow = self.target_class(spec, subprocess_specs, deserializing=True)
            workflow.tasks = self.mapping_from_dict(dct["tasks"], uuid.UUID, workflow=workflow)
            workflow.task_tree = workflow.tasks.get(uuid.UUID(dct["root"]))
            self.set_default_attributes(workflow, dct)
            self.subprocesses_from_dict(dct["subprocesses"], workflow)
            workflow.bpmn_events = self.registry.restore(dct.pop("bpmn_events", []))
            return workflow

    config = dict(DEFAULT_CONFIG)
    config[BpmnWorkflow] = CachedSpecConverter
    return BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(config))


def spiff_step(conn: psycopg.Connection, serializer: BpmnWorkflowSerializer,
               workflow_id: uuid.UUID, role: str, user_id: int) -> None:
    """One officer step: load, deserialize, run the lane's ready user task, engine steps to
    the next wait, serialize, save with a version check, commit."""
    version, state = conn.execute(
        "SELECT version, state::text FROM spiff_workflows WHERE id = %s",
        (workflow_id,)).fetchone()  # type: ignore[misc]
    workflow = serializer.deserialize_json(state)
    task = workflow.get_next_task(state=TaskState.READY, manual=True)
    if task is None or task.task_spec.lane != role:
        raise RuntimeError(f"spiff: no ready task for {role} in workflow {workflow_id}")
    task.data["by"] = user_id
    task.run()
    workflow.do_engine_steps()
    cur = conn.execute("UPDATE spiff_workflows SET state = %s, version = version + 1 "
                       "WHERE id = %s AND version = %s",
                       (serializer.serialize_json(workflow), workflow_id, version))
    if cur.rowcount != 1:
        raise RuntimeError(f"spiff: workflow {workflow_id} changed underneath")
    conn.commit()


def floor_step(conn: psycopg.Connection, workflow_id: uuid.UUID) -> None:
    """Spiff's statements without Spiff: the state read and written back unchanged. What any
    engine that persists each step pays the database at least; nobody can be 5x this."""
    version, state = conn.execute(
        "SELECT version, state::text FROM spiff_workflows WHERE id = %s",
        (workflow_id,)).fetchone()  # type: ignore[misc]
    conn.execute("UPDATE spiff_workflows SET state = %s, version = version + 1 "
                 "WHERE id = %s AND version = %s", (state, workflow_id, version))
    conn.commit()


def spiff_seed(conn: psycopg.Connection, serializer: BpmnWorkflowSerializer,
               spec: tuple[Any, dict[str, Any]], n: int) -> list[uuid.UUID]:
    ids = []
    for _ in range(n):
        workflow = BpmnWorkflow(*spec)
        workflow.do_engine_steps()
        workflow_id = uuid.uuid4()
        conn.execute("INSERT INTO spiff_workflows (id, version, state) VALUES (%s, 1, %s)",
                     (workflow_id, serializer.serialize_json(workflow)))
        ids.append(workflow_id)
    conn.commit()
    return ids


# --- ours ----------------------------------------------------------------------------------

def seed(url: str, n: int) -> tuple[list[uuid.UUID], dict[str, Any]]:
    """`n` draft requests; the officer and the supervisor, loaded once (what a token gives)."""
    engine = db.make_engine(url)
    with db.unit_of_work(engine) as s:
        fr, ke = two_authorities(s)
        actors = {role: directory.add_user(s, fr, username=f"fr.{role}", full_name=role,
                                           role=role) for role in ("officer", "supervisor")}
        form = templates.example("mla.evidence")
        ids = [filing.file_request(s, actors["officer"], kind="mla.evidence",
                                   requested_authority_id=ke.id, legal_basis="untoc",
                                   title=f"bench {i}", language="en", data=form).id
               for i in range(n)]
    engine.dispose()
    return ids, actors


class Kept:
    """Ours as bench.transitions drives it: one session, each request loaded once and kept
    between its steps (what the outside measurement of issue #26 compared with Spiff (a))."""

    def __init__(self, sessions: Any, actors: dict[str, Any]) -> None:
        self.session = sessions()
        self.actors = actors
        self.loaded: dict[uuid.UUID, Request] = {}

    def step(self, request_id: uuid.UUID, event: str, role: str) -> None:
        request = self.loaded.get(request_id)
        if request is None:
            request = self.loaded[request_id] = self.session.get_one(Request, request_id)
            self.session.commit()
        lifecycle.transition(self.session, request, event, self.actors[role])
        self.session.commit()


def ours_step(sessions: Any, request_id: uuid.UUID, event: str, actor: Any) -> None:
    """One officer step as a stateless API serves it: a fresh session, the request row
    reloaded, the transition with its hooks, COMMIT."""
    with sessions() as s:
        request = s.get_one(Request, request_id)
        lifecycle.transition(s, request, event, actor)
        s.commit()


# --- the run -------------------------------------------------------------------------------

def lifecycles(ids: list[uuid.UUID], step: Callable[[uuid.UUID, str, str], None]) -> float:
    """Drives each id through PATH; returns the elapsed seconds."""
    start = time.perf_counter()
    for item in ids:
        for event, role in PATH:
            step(item, event, role)
    return time.perf_counter() - start


def run(url: str, requests: int, batch: int) -> dict[str, float]:
    """Persisted transitions per second of each engine, interleaved in batches."""
    hooks.install()  # an entry point: it fires transitions in-process
    templates.load_all()
    request_ids, actors = seed(url, 2 * requests)
    request_ids, kept_ids = request_ids[:requests], request_ids[requests:]
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    spec = parse_spec()
    plain = BpmnWorkflowSerializer()
    cached = cached_spec_serializer({PROCESS: spec})
    engine = db.make_engine(url)
    sessions = db.session_factory(engine)
    with psycopg.connect(dsn) as conn:
        for statement in SPIFF_TABLES.split(";\n"):
            conn.execute(statement)
        # Stored once, for a careful user's other processes to load it from; the state of
        # mode (b) names it.
        conn.execute("INSERT INTO spiff_specs (name, spec) VALUES (%s, %s)",
                     (PROCESS, json.dumps(plain.to_dict(spec[0]))))
        spiff_a = spiff_seed(conn, plain, spec, requests)
        spiff_b = spiff_seed(conn, cached, spec, requests)
        floor = spiff_seed(conn, cached, spec, requests)
        user_ids = {role: actor.id for role, actor in actors.items()}
        kept = Kept(sessions, actors)
        runs: dict[str, tuple[list[uuid.UUID], Callable[[uuid.UUID, str, str], None]]] = {
            "ours": (request_ids,
                     lambda i, e, r: ours_step(sessions, i, e, actors[r])),
            "ours_kept": (kept_ids, kept.step),
            "spiff_a": (spiff_a,
                        lambda i, e, r: spiff_step(conn, plain, i, r, user_ids[r])),
            "spiff_b": (spiff_b,
                        lambda i, e, r: spiff_step(conn, cached, i, r, user_ids[r])),
            "floor": (floor, lambda i, e, r: floor_step(conn, i)),
        }
        elapsed = dict.fromkeys(runs, 0.0)
        order = list(runs)
        for k, lo in enumerate(range(0, requests, batch)):
            # Rotated each round: none of them always runs right after the same one.
            for name in order[k % len(order):] + order[:k % len(order)]:
                ids, step = runs[name]
                elapsed[name] += lifecycles(ids[lo:lo + batch], step)
        # The same work done: every lifecycle reached its end, on both sides.
        closed = conn.execute("SELECT count(*) FROM requests WHERE state = 'closed'"
                              ).fetchone()[0]  # type: ignore[index]
        completed = conn.execute("SELECT count(*) FROM spiff_workflows "
                                 "WHERE (state->>'completed')::boolean").fetchone()[0]  # type: ignore[index]
        if closed != 2 * requests or completed != 2 * requests:
            raise RuntimeError(f"unequal work: {closed} requests closed of {2 * requests}, "
                               f"{completed} Spiff workflows completed of {2 * requests}")

    kept.session.close()
    engine.dispose()
    return {name: requests * len(PATH) / seconds for name, seconds in elapsed.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=300,
                        help="lifecycles per engine (7 transitions each)")
    parser.add_argument("--batch", type=int, default=25,
                        help="lifecycles per engine before the next one takes its turn")
    parser.add_argument("--database", default=DEFAULT_URL)
    parser.add_argument("--schema", default=SCHEMA, help="the private schema, dropped after")
    args = parser.parse_args()
    load_before = os.getloadavg()
    url = prepare(args.database, args.schema)
    try:
        rates = run(url, args.requests, args.batch)
    finally:
        drop(args.database, args.schema)
    load_after = os.getloadavg()
    print(f"lifecycles per engine: {args.requests} x {len(PATH)} transitions, "
          f"interleaved in batches of {args.batch}; {os.cpu_count()} cores, "
          f"load average {load_before[0]:.2f} before, {load_after[0]:.2f} after")
    for mode, name, what in (
            ("a", "spiff_a", "stateless: Spiff deserializes its state with the spec in it"),
            ("b", "spiff_b", "Spiff's spec parsed once and cached, state without it")):
        ratio = rates["ours"] / rates[name]
        verdict = "met" if ratio >= TARGET else "NOT met"
        print(f"({mode}) ours / spiff = {ratio:5.1f}x  (target >= {TARGET:.0f}x: {verdict})  "
              f"[{what}]")
    print(f"    ours (request reloaded each step) : {rates['ours']:7.0f} transitions/s")
    print(f"    ours (request kept in the session): {rates['ours_kept']:7.0f} transitions/s"
          f"  ({rates['ours_kept'] / rates['spiff_a']:.1f}x spiff (a))")
    print(f"    spiff (a) stateless               : {rates['spiff_a']:7.0f} transitions/s")
    print(f"    spiff (b) spec cached             : {rates['spiff_b']:7.0f} transitions/s")
    print(f"    the database's floor              : {rates['floor']:7.0f} persisted steps/s"
          "  (Spiff's SELECT, UPDATE and COMMIT with no engine)")


if __name__ == "__main__":
    main()
