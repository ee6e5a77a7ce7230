"""Transitions per second through the engine, next to raw psycopg sending the same statements.

Drives MLA requests (requesting side, UNTOC, mla.evidence) through the full lifecycle
submit -> approve -> transmit -> acknowledge -> start_execution -> complete -> close, one
transaction per transition, as officers do it. The baseline, in the same run and database,
sends on one psycopg connection exactly the statements the engine sends for the same
transition (tests/bench/test_transitions_baseline.py compares them from the wire, libpq's
trace, so the two cannot drift): the state UPDATE with its version check and the history
INSERT, the audit entry (its own hash; the sealer chains it later) sent with the COMMIT,
the profile read of the transmit guard, the deadline opened at transmit with its escalation
steps and closed later, the peer and e-mail address look-ups of the outbox hooks, the
milestone columns. Engine and baseline run in alternating rounds on their own requests, so
load from elsewhere hits both.

    python -m bench.transitions [--requests 500] [--rounds 10] [--database URL]

Target: engine >= 70% of the baseline on PostgreSQL.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from typing import Any

import psycopg
from sqlalchemy import Engine, event, make_url, text
from sqlalchemy.orm import Session

from mla import db, hooks, templates
from mla.deadlines.rules import rules
from mla.directory import service as directory
from mla.models import Authority, Request
from mla.requests import filing, lifecycle

PATH = [("submit", "officer"), ("approve", "supervisor"), ("transmit", "officer"),
        ("acknowledge", "officer"), ("start_execution", "officer"), ("complete", "officer"),
        ("close", "officer")]
STATES = ["draft", "in_review", "approved", "transmitted", "acknowledged", "in_execution",
          "executed", "closed"]
# The milestone column each event keeps on the request (mla.models.MILESTONE_COLUMNS).
MILESTONES = {"transmit": "transmitted_at", "acknowledge": "acknowledged_at",
              "complete": "executed_at"}
DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
SCHEMA = "mla_bench"
TARGET = 0.70


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


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


def dsn(url: str) -> str:
    """The SQLAlchemy URL as libpq takes it (search_path option kept)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def two_authorities(s: Session) -> tuple[Authority, Authority]:
    """The benches' two parties: FR's ministry, which requests, and KE's, which is asked."""
    fr = directory.add_authority(s, code="FR-MJ", country="FR", name="FR",
                                 timezone="Europe/Paris", languages=["fr", "en"])
    ke = directory.add_authority(s, code="KE-ODPP", country="KE", name="KE",
                                 timezone="Africa/Nairobi", languages=["en"])
    return fr, ke


def seed(url: str, n: int) -> tuple[list[uuid.UUID], dict[str, int]]:
    engine = db.make_engine(url)
    with db.unit_of_work(engine) as s:
        fr, ke = two_authorities(s)
        users = {role: directory.add_user(s, fr, username=f"fr.{role}", full_name=role,
                                          role=role).id for role in ("officer", "supervisor")}
        officer = s.get_one(directory.User, users["officer"])
        form = templates.example("mla.evidence")
        ids = [filing.file_request(s, officer, kind="mla.evidence", requested_authority_id=ke.id,
                                   legal_basis="untoc", title=f"bench {i}", language="en",
                                   data=form).id for i in range(n)]
    engine.dispose()
    return ids, users


# --- the engine ------------------------------------------------------------------------------

class EngineRunner:
    """One session, as a worker or a request handler holds one; requests loaded up front."""

    def __init__(self, url: str, ids: list[uuid.UUID], users: dict[str, int]) -> None:
        self.engine = db.make_engine(url)
        self.session = db.session_factory(self.engine)()
        self.actors = {role: self.session.get_one(directory.User, uid)
                       for role, uid in users.items()}
        self.requests = {i: self.session.get_one(Request, i) for i in ids}
        self.session.commit()

    def transition(self, request_id: uuid.UUID, step: int) -> None:
        event_name, role = PATH[step]
        lifecycle.transition(self.session, self.requests[request_id], event_name,
                             self.actors[role])
        self.session.commit()

    def close(self) -> None:
        self.session.close()
        self.engine.dispose()


# --- the baseline ----------------------------------------------------------------------------

_STATE_AND_HISTORY = """WITH changed AS (UPDATE requests SET state = %(state)s,
    resume_state = NULL, updated_at = %(now)s, version = version + 1{milestone}
    WHERE id = %(id)s AND version = %(version)s RETURNING version)
    INSERT INTO history_events (request_id, at, actor_id, event, from_state, to_state,
                                reason, data)
    SELECT %(id)s, %(now)s, %(actor_id)s, %(event)s, %(from_state)s, %(to_state)s, NULL, NULL
    FROM changed RETURNING (SELECT version FROM changed)"""
_MILESTONE = ", {0} = CASE WHEN {0} IS NULL OR {0} > %(now)s THEN %(now)s ELSE {0} END"
_STEPS = {event_name: _STATE_AND_HISTORY.format(
    milestone=_MILESTONE.format(MILESTONES[event_name]) if event_name in MILESTONES else "")
    for event_name, _ in PATH}
_PROFILES = """SELECT id, code, country, authority_id, body, updated_at, updated_by_id
    FROM profiles WHERE code = %s OR code = %s"""
_RUNNING_RULES = "SELECT rule_id FROM deadlines WHERE request_id = %s AND closed_at IS NULL"
_OPEN_DEADLINE = """INSERT INTO deadlines (request_id, rule_id, timer, acting_authority_id,
    requesting_authority_id, requested_authority_id, opened_at, period_start, due_at,
    closed_at, suspended_at, extended_days, extension_reason)
    VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, NULL, NULL, 0, NULL) RETURNING id"""
_PEER = """SELECT peers.id, peers.authority_id, peers.base_url, peers.signing_jwks,
    peers.encryption_jwks, peers.created_at, peers.updated_at, a.id, a.code, a.country, a.name,
    a.timezone, a.languages, a.created_at
    FROM peers LEFT OUTER JOIN authorities AS a ON a.id = peers.authority_id
    WHERE peers.authority_id = %s"""
_MAIL_ADDRESSES = """SELECT address FROM authority_mail_addresses WHERE authority_id = %s
    ORDER BY id"""
_MAIL_WAITING = """SELECT mail_outbox.id, mail_outbox.message_id, mail_outbox.request_id,
    mail_outbox.receiver_id, mail_outbox.addresses, mail_outbox.subject, mail_outbox.status,
    mail_outbox.attempts, mail_outbox.next_attempt_at, mail_outbox.created_at,
    mail_outbox.sent_at, mail_outbox.acknowledged_at, a.id, a.code, a.country, a.name,
    a.timezone, a.languages, a.created_at
    FROM mail_outbox LEFT OUTER JOIN authorities AS a ON a.id = mail_outbox.receiver_id
    WHERE mail_outbox.request_id = %s AND mail_outbox.acknowledged_at IS NULL
    ORDER BY mail_outbox.id"""
_CLOSE_DEADLINES = """UPDATE deadlines SET closed_at = %s WHERE request_id = %s
    AND closed_at IS NULL AND timer = ANY(%s) RETURNING id"""
_DROP_PENDING_STEPS = """DELETE FROM deadline_steps WHERE deadline_id = ANY(%s)
    AND done_at IS NULL"""
# What the rules of UNTOC mla.evidence open and close on this path (mla/data/deadlines.yaml).
_CLOSES = {"complete": ["execution", "production", "suggested_date"],
           "close": ["execution", "production", "suggested_date", "preservation"]}


def _canonical(entry: dict[str, Any]) -> str:
    fields = {"id": 0, "at": entry["at"].isoformat(timespec="microseconds"),
              "actor_id": entry["actor_id"], "authority_id": entry["authority_id"],
              "action": entry["action"], "object_type": entry["object_type"],
              "object_id": entry["object_id"], "detail": entry["detail"]}
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


# The engine's entry (mla/audit.py _APPEND_PG): its id from the sequence and its own hash,
# no chain head to lock; the worker's sealer chains entries later, off the commit path.
_AUDIT_APPEND = """INSERT INTO audit_events (id, at, actor_id, authority_id, action,
        object_type, object_id, detail, entry_hash)
    SELECT n.id, %(at)s, %(actor_id)s, %(authority_id)s, %(action)s, %(object_type)s,
           %(object_id)s, CAST(%(detail)s AS json),
           encode(sha256(convert_to(%(before)s || CAST(n.id AS text) || %(after)s, 'UTF8')), 'hex')
    FROM (SELECT nextval('audit_events_id_seq') AS id) AS n"""
_ID_MARKER = ',"id":0,"object_id":'


def audit_append_and_commit(conn: psycopg.Connection[Any], entry: dict[str, Any]) -> None:
    """The engine's audit append at commit (mla/audit.py), and nothing else: the entry's
    canonical text split around the id the sequence hands out, hashed into the row's own
    entry hash by the INSERT, sent in one pipeline with the COMMIT.
    The one place to change when the engine's audit append changes."""
    text_with_id = _canonical(entry)
    cut = text_with_id.rindex(_ID_MARKER)
    params = {**entry, "detail": json.dumps(entry["detail"]),
              "before": text_with_id[:cut] + ',"id":',
              "after": text_with_id[cut + len(',"id":0'):]}
    with conn.pipeline(), conn.cursor() as cur:
        cur.execute(_AUDIT_APPEND, params)
        conn.commit()


@dataclass(frozen=True)
class Directory:
    """What the baseline holds in memory, as the engine's caches do: authorities' codes and
    countries, and the deadline rules' escalation ladder."""

    codes: dict[int, str]
    countries: dict[int, str]
    ladder: tuple[Any, ...]

    @classmethod
    def load(cls, conn: psycopg.Connection[Any]) -> Directory:
        rows = conn.execute("SELECT id, code, country FROM authorities").fetchall()
        return cls({r[0]: r[1] for r in rows}, {r[0]: r[2] for r in rows}, rules().ladder)


def send_transition(conn: psycopg.Connection[Any], request: Req, step: int, actor: int,
                    actor_authority: int, directory: Directory) -> int:
    """The statements the engine sends for PATH[step], in its order, and the COMMIT; the
    request's new version."""
    event_name = PATH[step][0]
    cur = conn.cursor()
    if event_name == "transmit":  # the guard profile_requirements reads the profile
        cur.execute(_PROFILES, (directory.countries[request.requested_id],
                                directory.codes[request.requested_id])).fetchall()
    now = datetime.now(UTC)
    version = cur.execute(_STEPS[event_name], {
        "state": STATES[step + 1], "now": now, "id": request.id,
        "version": request.version, "actor_id": actor, "event": event_name,
        "from_state": STATES[step], "to_state": STATES[step + 1]}).fetchone()
    if version is None:  # someone else changed it first: nothing was written
        conn.rollback()
        raise LookupError(f"request {request.id} is not at version {request.version}")
    request.version = version[0]
    if event_name == "transmit":
        _open_deadline(cur, request, now, directory.ladder)
        # The transfer outbox and the mail outbox each look for a peer instance.
        cur.execute(_PEER, (request.requested_id,)).fetchall()
        cur.execute(_PEER, (request.requested_id,)).fetchall()
        cur.execute(_MAIL_ADDRESSES, (request.requested_id,)).fetchall()
    elif event_name == "acknowledge":
        cur.execute(_MAIL_WAITING, (request.id,)).fetchall()
    elif event_name in _CLOSES:
        closed = [r[0] for r in cur.execute(
            _CLOSE_DEADLINES, (now, request.id, _CLOSES[event_name])).fetchall()]
        if closed:
            cur.execute(_DROP_PENDING_STEPS, (closed,))
    audit_append_and_commit(conn, {
        "at": datetime.now(UTC), "actor_id": actor, "authority_id": actor_authority,
        "action": "request.transition", "object_type": "request",
        "object_id": str(request.id),
        "detail": {"event": event_name, "from": STATES[step], "to": STATES[step + 1]}})
    return request.version


def _open_deadline(cur: psycopg.Cursor[Any], request: Req, now: datetime,
                   ladder: tuple[Any, ...]) -> None:
    running = {r[0] for r in cur.execute(_RUNNING_RULES, (request.id,)).fetchall()}
    if "untoc.suggested_date" in running or request.desired is None:
        return
    due = datetime.combine(request.desired, dtime(), UTC) + timedelta(days=1)
    row = cur.execute(_OPEN_DEADLINE, (
        request.id, "untoc.suggested_date", "suggested_date", request.requested_id,
        request.requesting_id, request.requested_id, now, now, due)).fetchone()
    assert row is not None
    span = due - now
    steps = [(row[0], s.step, due + s.after_due if s.after_due is not None
              else now + span * (s.at or 0)) for s in ladder]
    values = ", ".join(["(%s, %s, %s, NULL)"] * len(steps))
    cur.execute(f"INSERT INTO deadline_steps (deadline_id, step, due_at, done_at) "
                f"VALUES {values}", [v for step in steps for v in step])


@dataclass
class Req:
    id: uuid.UUID
    version: int
    requesting_id: int
    requested_id: int
    desired: date | None


class BaselineRunner:
    """Raw psycopg on one connection: per transition the engine's statements, in its order,
    one transaction each. Requests, users and the rules' ladder are read up front, as the
    engine's session and caches hold them."""

    def __init__(self, url: str, ids: list[uuid.UUID], users: dict[str, int]) -> None:
        self.conn = psycopg.connect(dsn(url))
        self.users = users
        rows = self.conn.execute(
            "SELECT id, version, requesting_authority_id, requested_authority_id, data "
            "FROM requests WHERE id = ANY(%s)", (ids,)).fetchall()
        self.requests = {r[0]: Req(r[0], r[1], r[2], r[3], desired_deadline(r[4])) for r in rows}
        self.authority_of = dict(self.conn.execute(
            "SELECT u.id, u.authority_id FROM users u").fetchall())
        self.directory = Directory.load(self.conn)
        self.conn.commit()

    def transition(self, request_id: uuid.UUID, step: int) -> None:
        actor = self.users[PATH[step][1]]
        send_transition(self.conn, self.requests[request_id], step, actor,
                        self.authority_of[actor], self.directory)

    def close(self) -> None:
        self.conn.close()


def desired_deadline(data: Any) -> date | None:
    try:
        return date.fromisoformat(str((data or {}).get("desired_deadline")))
    except ValueError:
        return None


# --- what goes over the wire -----------------------------------------------------------------

_TRACE_LINE = re.compile(r'^F\t\d+\t(Query|Parse|Bind)\t "([^"]*)"(?: "((?:[^"]|"")*)")?')


@contextmanager
def traced(raw: psycopg.Connection[Any]) -> Iterator[list[str]]:
    """The statements the connection sends inside the block, from libpq's own trace of the
    protocol (pipelined and prepared statements included), in order."""
    statements: list[str] = []
    # Every statement parsed where it is sent: a prepared one's text is not repeated.
    threshold, raw.prepare_threshold = raw.prepare_threshold, None
    with tempfile.TemporaryFile() as out:
        raw.pgconn.trace(out.fileno())
        raw.pgconn.set_trace_flags(psycopg.pq.Trace.SUPPRESS_TIMESTAMPS
                                   | psycopg.pq.Trace.REGRESS_MODE)
        try:
            yield statements
        finally:
            raw.pgconn.untrace()
            raw.prepare_threshold = threshold
            out.seek(0)
            statements.extend(_statements(out.read().decode("utf-8", "replace")))


def _statements(trace: str) -> list[str]:
    """Each executed statement once: simple queries, and every Bind of a parsed one."""
    parsed: dict[str, str] = {}
    executed = []
    # Parse and Query texts span lines; join a message's continuation lines first.
    messages: list[str] = []
    for line in trace.splitlines():
        if line.startswith(("F\t", "B\t")) or not messages:
            messages.append(line)
        else:
            messages[-1] += " " + line
    for message in messages:
        match = _TRACE_LINE.match(message)
        if match is None:
            continue
        kind, first, second = match.groups()
        if kind == "Query":
            executed.append(first)
        elif kind == "Parse":
            parsed[first] = second or ""
        else:  # Bind "portal" "statement"
            executed.append(parsed.get(second or "", ""))
    return executed


_WRITE = re.compile(r"\b(insert into|update|delete from)\s+(\w+)")
_READ = re.compile(r"\b(?:from|join)\s+(\w+)")
_CTE = re.compile(r"(?:\bwith|,)\s+(\w+)\s+as\s*\(")


def shape(statement: str) -> str:
    """What a statement does, independent of how it is spelled: transaction control, or the
    tables it writes and reads (e.g. 'insert history_events + update requests')."""
    sql = " ".join(statement.lower().split()).rstrip(";").strip()
    if sql in ("begin", "commit", "rollback", ""):
        return sql or "ping"
    ctes = set(_CTE.findall(sql))
    writes = {(verb.split()[0], table) for verb, table in _WRITE.findall(sql)
              if table not in ctes and table != "set"}
    written = {table for _, table in writes if table}
    reads = {("select", t) for t in _READ.findall(sql)
             if t not in ctes and t not in written}
    return " + ".join(f"{verb} {table}" for verb, table in sorted(writes | reads))


def per_transition(statements: list[str]) -> list[list[str]]:
    """Shapes cut at each COMMIT; the connection pool's liveness pings left out."""
    out: list[list[str]] = [[]]
    for statement in statements:
        kind = shape(statement)
        if kind == "ping":
            continue
        out[-1].append(kind)
        if kind == "commit":
            out.append([])
    return [t for t in out if t]


def engine_shapes(runner: EngineRunner, request_id: uuid.UUID) -> list[list[str]]:
    """The engine's statements for one lifecycle, as the server receives them."""
    statements: list[str] = []
    with _engine_trace(runner.engine, statements):
        for step in range(len(PATH)):
            runner.transition(request_id, step)
    return per_transition(statements)


@contextmanager
def _engine_trace(engine: Engine, into: list[str]) -> Iterator[None]:
    # The pool hands the session one connection at a time; trace whichever it checks out.
    active: list[Any] = []

    def checkout(dbapi_connection: Any, *_: Any) -> None:
        context = traced(dbapi_connection)
        active.append((context, context.__enter__()))

    def checkin(*_: Any) -> None:
        while active:
            context, statements = active.pop()
            context.__exit__(None, None, None)
            into.extend(statements)

    event.listen(engine, "checkout", checkout)
    event.listen(engine, "checkin", checkin)
    try:
        yield
    finally:
        checkin()
        event.remove(engine, "checkout", checkout)
        event.remove(engine, "checkin", checkin)


def baseline_shapes(runner: BaselineRunner, request_id: uuid.UUID) -> list[list[str]]:
    with traced(runner.conn) as statements:
        for step in range(len(PATH)):
            runner.transition(request_id, step)
    return per_transition(statements)


# --- the run ---------------------------------------------------------------------------------

def _drive(transition: Callable[[uuid.UUID, int], None], ids: list[uuid.UUID]) -> float:
    start = time.perf_counter()
    for request_id in ids:
        for step in range(len(PATH)):
            transition(request_id, step)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=500, help="per side")
    parser.add_argument("--rounds", type=int, default=10, help="alternations of the sides")
    parser.add_argument("--database", default=DEFAULT_URL)
    parser.add_argument("--schema", default=SCHEMA, help="private schema, dropped at the end")
    args = parser.parse_args(argv)
    hooks.install()  # this bench is an entry point: it fires transitions in-process
    templates.load_all()
    url = prepare(args.database, args.schema)
    try:
        # One extra request each for the statement check, not timed.
        ids, users = seed(url, 2 * args.requests + 2)
        engine_ids, baseline_ids = ids[:args.requests + 1], ids[args.requests + 1:]
        engine = EngineRunner(url, engine_ids, users)
        baseline = BaselineRunner(url, baseline_ids, users)
        try:
            same = engine_shapes(engine, engine_ids.pop()) == \
                baseline_shapes(baseline, baseline_ids.pop())
            load_before = load()
            times = {"engine": 0.0, "baseline": 0.0}
            chunk = max(1, args.requests // args.rounds)
            for r, start in enumerate(range(0, args.requests, chunk)):
                sides = [("engine", engine.transition, engine_ids),
                         ("baseline", baseline.transition, baseline_ids)]
                for name, transition, side_ids in sides[::1 if r % 2 == 0 else -1]:
                    times[name] += _drive(transition, side_ids[start:start + chunk])
            load_after = load()
        finally:
            engine.close()
            baseline.close()
    finally:
        drop(args.database, args.schema)
    n = args.requests * len(PATH)
    rate = {name: n / elapsed for name, elapsed in times.items()}
    ratio = rate["engine"] / rate["baseline"]
    print(f"engine / baseline    : {ratio:8.1%}  (target >= {TARGET:.0%}: "
          f"{'met' if ratio >= TARGET else 'NOT met'})")
    print(f"raw psycopg baseline : {rate['baseline']:8.0f} transitions/s")
    print(f"engine (transition()): {rate['engine']:8.0f} transitions/s")
    print(f"requests per side: {args.requests}, transitions each: {len(PATH)}, total per side: "
          f"{n}, in {args.rounds} alternating rounds")
    print(f"same statements on the wire per transition: {'yes' if same else 'NO'}")
    print(f"load average (1/5/15 min) before: {load_before}, after: {load_after}, "
          f"CPUs: {os.cpu_count()}")


if __name__ == "__main__":
    main()
