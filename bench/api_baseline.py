"""bench.api's baseline: the least an HTTP server needs to serve the two calls the bench
makes, Starlette + psycopg and nothing else, doing the same work as `mla serve`.

- the same ES256 bearer token verified the same way (python-jose, the key from the
  `signing_keys` table, algorithm, audience, issuer and expiry checked; a verified token's
  claims kept for KEY_CACHE_SECONDS as mla.security keeps them), the user and the token's
  revocation read in one statement on every request;
- POST /requests/{id}/transitions with If-Match: the request read where the user's
  authority is a party, then the engine's statements for the event (bench.transitions.
  send_transition: state, history, deadlines, outbox look-ups, audit append with the COMMIT);
- GET /requests/{id}: the user, the request, its deadlines, its languages, the audited read
  appended with the COMMIT, and the same JSON body (request, parties, form, deadlines with
  their rules' titles and citations).

Each worker process has as many threads and kept connections as `mla serve`'s
(MLA_API_THREADS), its own SO_REUSEPORT socket, and Nagle off, as api/server.py does.

    python -m bench.api_baseline --port 8001 --workers 2   (MLA_DATABASE_URL)
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import queue
import signal
import socket
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime
from typing import Any

import anyio
import psycopg
import uvicorn
from jose import jwk, jwt
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from api.server import NoDelayHTTPProtocol
from bench.transitions import (
    PATH,
    STATES,
    Directory,
    Req,
    audit_append_and_commit,
    desired_deadline,
    dsn,
    send_transition,
)
from mla import settings
from mla.deadlines.rules import rules

KEY_CACHE_SECONDS = 30.0
_USER = """SELECT u.id, u.username, u.full_name, u.email, u.role, u.active, u.authority_id,
    u.sessions_version, a.code, a.country, a.name, a.timezone,
    EXISTS (SELECT 1 FROM revoked_tokens WHERE jti = %s)
    FROM users u JOIN authorities a ON a.id = u.authority_id WHERE u.id = %s"""
_REQUEST = """SELECT r.id, r.reference, r.kind, r.workflow, r.state, r.urgent, r.version,
    r.created_at, r.updated_at, r.counterpart_reference, r.urgency_reasons, r.legal_basis,
    r.title, r.template_version, r.language, r.data, r.requesting_authority_id,
    r.requested_authority_id, r.resume_state,
    a1.code, a1.name, a1.country, a1.timezone, a2.code, a2.name, a2.country, a2.timezone
    FROM requests r JOIN authorities a1 ON a1.id = r.requesting_authority_id
    JOIN authorities a2 ON a2.id = r.requested_authority_id
    WHERE r.id = %s AND (r.requesting_authority_id = %s OR r.requested_authority_id = %s)"""
_DEADLINES = """SELECT id, request_id, rule_id, timer, opened_at, due_at, closed_at,
    suspended_at, extended_days, extension_reason
    FROM deadlines WHERE request_id = %s ORDER BY due_at, id"""
_LANGUAGES = "SELECT language FROM request_texts WHERE request_id = %s"
_STEP = {event: i for i, (event, _) in enumerate(PATH)}
_ALLOWED = {STATES[i]: [event] for i, (event, _) in enumerate(PATH)}


class Problem(Exception):
    def __init__(self, status: int, detail: str) -> None:
        self.status, self.detail = status, detail


class Baseline:
    def __init__(self, url: str, threads: int) -> None:
        self.url = url
        self.pool: queue.LifoQueue[psycopg.Connection[Any]] = queue.LifoQueue()
        self.threads = threads
        config = settings.get()
        self.issuer, self.audience = config.token_issuer, config.token_audience
        self.keys: dict[str, tuple[float, Any]] = {}
        self.tokens: dict[str, tuple[float, dict[str, Any]]] = {}
        with psycopg.connect(dsn(url)) as conn:
            self.directory = Directory.load(conn)
        self.rules = rules().rules

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection[Any]]:
        try:
            conn = self.pool.get_nowait()
        except queue.Empty:
            conn = psycopg.connect(dsn(self.url))
        try:
            yield conn
        finally:
            if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                conn.rollback()
            self.pool.put(conn)

    # -- the token --------------------------------------------------------------------------

    def claims(self, conn: psycopg.Connection[Any], authorization: str | None
               ) -> dict[str, Any]:
        if not authorization or not authorization.lower().startswith("bearer "):
            raise Problem(401, "a bearer access token is required")
        token = authorization[7:]
        cached = self.tokens.get(token)
        if cached and time.monotonic() - cached[0] < KEY_CACHE_SECONDS \
                and cached[1]["exp"] > time.time():
            return cached[1]
        header = jwt.get_unverified_header(token)
        if header.get("alg") != "ES256" or not isinstance(header.get("kid"), str):
            raise Problem(401, "tokens must be signed with ES256 and name their key")
        key = self.key(conn, header["kid"])
        claims: dict[str, Any] = jwt.decode(
            token, key, algorithms=["ES256"], audience=self.audience, issuer=self.issuer,
            options={"require_exp": True, "require_iat": True, "require_sub": True,
                     "require_aud": True, "require_iss": True})
        self.tokens[token] = (time.monotonic(), claims)
        return claims

    def key(self, conn: psycopg.Connection[Any], kid: str) -> Any:
        cached = self.keys.get(kid)
        if cached and time.monotonic() - cached[0] < KEY_CACHE_SECONDS:
            return cached[1]
        row = conn.execute("SELECT public_jwk FROM signing_keys WHERE kid = %s "
                           "AND retired_at IS NULL", (kid,)).fetchone()
        if row is None:
            raise Problem(401, "unknown signing key")
        key = jwk.construct(row[0], "ES256")
        self.keys[kid] = (time.monotonic(), key)
        return key

    def user(self, conn: psycopg.Connection[Any], authorization: str | None) -> tuple:
        claims = self.claims(conn, authorization)
        row = conn.execute(_USER, (claims.get("sid") or claims["jti"], int(claims["sub"])
                                   )).fetchone()
        if row is None or not row[5] or row[12]:
            raise Problem(401, "the account is unknown, deactivated or logged out")
        if claims.get("role") != row[4] or claims.get("authority") != row[8] \
                or claims.get("ver", 0) != row[7]:
            raise Problem(401, "the account changed since the token was issued")
        return tuple(row)

    def request(self, conn: psycopg.Connection[Any], request_id: str, user: tuple) -> tuple:
        try:
            rid = uuid.UUID(request_id)
        except ValueError:
            raise Problem(404, f"no request {request_id}") from None
        row = conn.execute(_REQUEST, (rid, user[6], user[6])).fetchone()
        if row is None:
            raise Problem(404, f"no request {request_id}")
        return tuple(row)

    # -- the two calls ----------------------------------------------------------------------

    def transition(self, request_id: str, authorization: str | None, if_match: str | None,
                   body: bytes) -> tuple[dict[str, Any], int]:
        event = json.loads(body).get("event")
        if event not in _STEP:
            raise Problem(422, "unknown event")
        with self.connection() as conn:
            user = self.user(conn, authorization)
            row = self.request(conn, request_id, user)
            step = _STEP[event]
            if row[4] != STATES[step] or user[4] != PATH[step][1]:
                raise Problem(409, f"'{event}' is not possible now for you")
            expected = int(if_match.strip('W/"')) if if_match else row[6]
            if expected != row[6]:
                raise Problem(409, f"the request is at version {row[6]}")
            req = Req(row[0], row[6], row[16], row[17],
                      desired_deadline(row[15]))
            try:
                version = send_transition(conn, req, step, user[0], user[6], self.directory)
            except LookupError:
                raise Problem(409, "changed by someone else") from None
        return {"reference": row[1], "event": event, "from_state": STATES[step],
                "to_state": STATES[step + 1], "version": version,
                "allowed_events": _ALLOWED.get(STATES[step + 1], [])}, version

    def read(self, request_id: str, authorization: str | None) -> tuple[dict[str, Any], int]:
        with self.connection() as conn:
            user = self.user(conn, authorization)
            row = self.request(conn, request_id, user)
            deadlines = conn.execute(_DEADLINES, (row[0],)).fetchall()
            languages = list(dict.fromkeys([row[14], *(r[0] for r in conn.execute(
                _LANGUAGES, (row[0],)).fetchall())]))
            audit_append_and_commit(conn, {
                "at": datetime.now(UTC), "actor_id": user[0], "authority_id": user[6],
                "action": "request.read", "object_type": "request",
                "object_id": str(row[0]), "detail": None})
        now = datetime.now(UTC)
        body = {
            "id": str(row[0]), "reference": row[1], "kind": row[2], "workflow": row[3],
            "requesting": {"code": row[19], "name": row[20], "country": row[21]},
            "requested": {"code": row[23], "name": row[24], "country": row[25]},
            "state": row[4], "urgent": row[5], "version": row[6],
            "created_at": _iso(row[7]), "updated_at": _iso(row[8]),
            "deadlines": [self._deadline(d, row, now) for d in deadlines],
            "counterpart_reference": row[9], "urgency_reasons": row[10],
            "legal_basis": row[11], "title": row[12], "template_version": row[13],
            "language": row[14], "languages": languages, "data": row[15],
            "allowed_events": _ALLOWED.get(row[4], []),
        }
        return body, row[6]

    def _deadline(self, d: tuple, row: tuple, now: datetime) -> dict[str, Any]:
        rule = self.rules[d[2]]
        acting, zone = (row[23], row[26]) if rule.acts == "requested" else (row[19], row[22])
        state = "closed" if d[6] else "suspended" if d[7] else \
            "overdue" if d[5] <= now else "running"
        return {"id": d[0], "request_id": str(d[1]), "reference": row[1], "rule": d[2],
                "timer": d[3], "titles": dict(rule.title), "citation": rule.citation,
                "trigger": rule.trigger, "acting_authority": acting,
                "opened_at": _iso(d[4]), "due_at": _iso(d[5]),
                "due_local": f"{d[5].isoformat(timespec='minutes')} {zone}", "status": state,
                "closed_at": _iso(d[6]), "extended_days": d[8], "extension_reason": d[9]}


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None


def create_app() -> Starlette:
    url = os.environ["MLA_DATABASE_URL"]
    threads = settings.get().api_threads
    baseline = Baseline(url, threads)

    async def transition(request: Request) -> Response:
        body = await request.body()
        try:
            out, version = await run_in_threadpool(
                baseline.transition, request.path_params["request_id"],
                request.headers.get("authorization"), request.headers.get("if-match"), body)
        except Problem as exc:
            return JSONResponse({"detail": exc.detail}, exc.status,
                                media_type="application/problem+json")
        return JSONResponse(out, headers={"ETag": f'"{version}"'})

    async def read(request: Request) -> Response:
        try:
            out, version = await run_in_threadpool(
                baseline.read, request.path_params["request_id"],
                request.headers.get("authorization"))
        except Problem as exc:
            return JSONResponse({"detail": exc.detail}, exc.status,
                                media_type="application/problem+json")
        return JSONResponse(out, headers={"ETag": f'"{version}"'})

    async def health(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        anyio.to_thread.current_default_thread_limiter().total_tokens = threads
        yield

    return Starlette(routes=[
        Route("/requests/{request_id}/transitions", transition, methods=["POST"]),
        Route("/requests/{request_id}", read, methods=["GET"]),
        Route("/health", health, methods=["GET"]),
    ], lifespan=lifespan)


def _worker(port: int) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(("127.0.0.1", port))
    uvicorn.Server(uvicorn.Config("bench.api_baseline:create_app", factory=True,
                                  http=NoDelayHTTPProtocol, log_level="warning",
                                  access_log=False)).run(sockets=[sock])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    # Stopped by SIGTERM (bench.api): the workers are stopped with it.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    spawn = multiprocessing.get_context("spawn")
    procs = [spawn.Process(target=_worker, args=(args.port,)) for _ in range(args.workers)]
    for p in procs:
        p.start()
    try:
        for p in procs:
            p.join()
    finally:
        for p in procs:
            p.terminate()


if __name__ == "__main__":
    main()
