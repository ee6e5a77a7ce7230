"""Transitions per second through the engine, next to raw psycopg doing the same writes.

Drives N MLA requests (requesting side) through the full lifecycle submit -> approve ->
transmit -> acknowledge -> start_execution -> complete -> close, one transaction per
transition, as officers do it. The baseline, in the same run and database, does per
transition what the engine must at least do: UPDATE the state with a version check, INSERT
the history event, COMMIT, on one connection.

    python bench/transitions.py [--requests 500] [--database postgresql+psycopg://...]

Target: engine >= 60% of the baseline on PostgreSQL.
"""

from __future__ import annotations

import argparse
import time
import uuid
from datetime import UTC, datetime

import psycopg
from sqlalchemy import make_url, text

from mla import db, hooks, templates
from mla.directory import service as directory
from mla.models import Request
from mla.requests import filing, lifecycle

PATH = [("submit", "officer"), ("approve", "supervisor"), ("transmit", "officer"),
        ("acknowledge", "officer"), ("start_execution", "officer"), ("complete", "officer"),
        ("close", "officer")]
DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
SCHEMA = "mla_bench"


def prepare(url: str, schema: str = SCHEMA) -> str:
    """A fresh private schema, migrated; returns the URL that uses it."""
    admin = db.make_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    admin.dispose()
    scoped = make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
    scoped_url = scoped.render_as_string(hide_password=False)
    db.upgrade(scoped_url)
    return scoped_url


def drop(url: str, schema: str) -> None:
    """Leaves no bench data behind."""
    admin = db.make_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
    admin.dispose()


def seed(url: str, n: int) -> tuple[list[uuid.UUID], dict[str, int]]:
    engine = db.make_engine(url)
    with db.unit_of_work(engine) as s:
        fr = directory.add_authority(s, code="FR-MJ", country="FR", name="FR",
                                     timezone="Europe/Paris", languages=["fr", "en"])
        ke = directory.add_authority(s, code="KE-ODPP", country="KE", name="KE",
                                     timezone="Africa/Nairobi", languages=["en"])
        users = {role: directory.add_user(s, fr, username=f"fr.{role}", full_name=role,
                                          role=role).id for role in ("officer", "supervisor")}
        officer = s.get_one(directory.User, users["officer"])
        form = templates.example("mla.evidence")
        ids = [filing.file_request(s, officer, kind="mla.evidence", requested_authority_id=ke.id,
                                   legal_basis="untoc", title=f"bench {i}", language="en",
                                   data=form).id for i in range(n)]
    engine.dispose()
    return ids, users


def run_engine(url: str, ids: list[uuid.UUID], users: dict[str, int]) -> float:
    engine = db.make_engine(url)
    sessions = db.session_factory(engine)
    count = 0
    with sessions() as s:
        actors = {role: s.get_one(directory.User, uid) for role, uid in users.items()}
        requests = [s.get_one(Request, i) for i in ids]
        s.commit()
        start = time.perf_counter()
        for request in requests:
            for event, role in PATH:
                lifecycle.transition(s, request, event, actors[role])
                s.commit()
                count += 1
        elapsed = time.perf_counter() - start
    engine.dispose()
    return count / elapsed


def run_baseline(url: str, ids: list[uuid.UUID], users: dict[str, int]) -> float:
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    states = ["draft", "in_review", "approved", "transmitted", "acknowledged", "in_execution",
              "executed", "closed"]
    count = 0
    with psycopg.connect(dsn) as conn:
        conn.execute("UPDATE requests SET state = 'draft', version = 1")
        conn.commit()
        start = time.perf_counter()
        for request_id in ids:
            for step, (event, role) in enumerate(PATH):
                now = datetime.now(UTC)
                cur = conn.execute(
                    "UPDATE requests SET state = %s, version = version + 1, updated_at = %s "
                    "WHERE id = %s AND version = %s",
                    (states[step + 1], now, request_id, step + 1))
                assert cur.rowcount == 1
                conn.execute(
                    "INSERT INTO history_events (request_id, at, actor_id, event, from_state,"
                    " to_state) VALUES (%s, %s, %s, %s, %s, %s)",
                    (request_id, now, users[role], event, states[step], states[step + 1]))
                conn.commit()
                count += 1
        elapsed = time.perf_counter() - start
    return count / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--database", default=DEFAULT_URL)
    args = parser.parse_args()
    hooks.install()  # this bench is an entry point: it fires transitions in-process
    templates.load_all()
    url = prepare(args.database)
    try:
        ids, users = seed(url, args.requests)
        # Baseline first on fresh rows, then the engine on the same rows reset to draft.
        baseline = run_baseline(url, ids, users)
        engine_db = db.make_engine(url)
        with engine_db.begin() as conn:
            conn.execute(text("DELETE FROM history_events WHERE event <> 'file'"))
            conn.execute(text("UPDATE requests SET state = 'draft', version = 1"))
        engine_db.dispose()
        engine = run_engine(url, ids, users)
    finally:
        drop(args.database, SCHEMA)
    n = args.requests * len(PATH)
    print(f"requests: {args.requests}, transitions each: {len(PATH)}, total: {n}")
    print(f"raw psycopg baseline : {baseline:8.0f} transitions/s")
    print(f"engine (transition()): {engine:8.0f} transitions/s")
    ratio = engine / baseline
    verdict = "met" if ratio >= 0.6 else "NOT met"
    print(f"engine / baseline    : {ratio:8.1%}  (target >= 60%: {verdict})")


if __name__ == "__main__":
    main()
