"""The FastAPI application."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio.to_thread
from fastapi import FastAPI, Response
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from api import docs, headers, limits, observe, problems, web
from api.routers import (
    alerts,
    attachments,
    audit,
    auth,
    calendar,
    cases,
    catalog,
    deadlines,
    directory,
    documents,
    profiles,
    requests,
    search,
    sms,
    stats,
    transfer,
    users,
)
from mla import db, hooks, settings, templates
from mla.clock import utcnow
from mla.deadlines import rules as deadline_rules
from mla.ops import deadman, readiness

log = logging.getLogger("mla.api")

DESCRIPTION = """\
Mutual legal assistance and extradition requests between central authorities.

Log in with `POST /auth/token` (OAuth2 password form) and send the access token as
`Authorization: Bearer ...`. Every error is an RFC 9457 problem document
(`application/problem+json`); invalid fields are listed in `errors`. Objects that are not
your authority's answer 404. Writes to a request accept `If-Match: "<version>"` and answer
409 with `current_version` when someone changed it first.
"""


def create_app(database_url: str | None = None) -> FastAPI:
    hooks.install()
    # Broken template files stop the server at start-up, not at the first filing.
    templates.load_all()
    # Loaded once here rather than by the first requests all at once; a broken rules file
    # stops the start like a broken template.
    deadline_rules.rules()
    config = settings.get()
    url = database_url or config.database_url
    threads = config.api_threads
    # A kept connection for every thread: with fewer, the pool opens and closes overflow
    # connections (a new PostgreSQL backend each) whenever the threads are all busy. The
    # overflow covers threads that work without a session slot (see lifespan), so no thread
    # ever waits for a connection that only a request waiting for a thread could give back.
    pool = {} if url.startswith("sqlite") else {"pool_size": threads, "max_overflow": threads}
    engine = db.make_engine(url, **pool)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Synchronous routes run in this pool. More threads than that only fight over the
        # GIL, and one holding row locks (a changed request's, until its commit) waits its
        # turn behind them; further requests wait on the event loop instead.
        anyio.to_thread.current_default_thread_limiter().total_tokens = threads
        # As many requests hold a database session at once as there are threads and pooled
        # connections (api.deps.get_session). A request that has its connection then always
        # gets a thread, and one waiting for a connection never blocks a thread: otherwise
        # requests holding connections between their dependencies' threads and the
        # endpoint's, and threads waiting for a connection, can each wait on the other until
        # the pool times out.
        app.state.session_slots = asyncio.Semaphore(threads)
        # The dead-man switch: pages the admin when no worker beats (mla/ops/deadman.py).
        watch = deadman.Watch(app.state.sessions)
        watch.start()
        try:
            yield
        finally:
            watch.close()

    # /docs and /redoc come from api.docs: assets served here, not from a CDN.
    app = FastAPI(title="MLA & extradition workflow engine", version="0.1.0",
                  description=DESCRIPTION, lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.engine = engine
    app.state.sessions = db.session_factory(engine)
    problems.install(app)
    # Body size, nesting, text and number rules before any route reads the request.
    app.add_middleware(limits.InputLimits)
    # Outermost, so that every answer gets them, refusals of the input limits included.
    app.add_middleware(headers.SecurityHeaders,
                       static=(f"{web.PREFIX}/static/", f"{docs.ASSETS}/"))
    # Outside even those: request id, log line and latency of every answer.
    app.add_middleware(observe.Observe)
    for module in (auth, directory, requests, documents, attachments, deadlines, users, audit,
                   catalog, alerts, calendar, sms, stats, transfer, cases, search,
                   profiles):
        app.include_router(module.router)
    app.include_router(transfer.requests_router)
    app.include_router(observe.router)
    app.include_router(audit.checkpoints_router)
    web.install(app)
    docs.install(app)

    @app.get("/health", tags=["operations"])
    def health() -> dict[str, Any]:
        """Liveness: whether this instance reaches its database (`/ready` says whether it
        can serve). Authorization: public."""
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return {"status": "ok"}

    ready_responses: dict[int | str, dict[str, Any]] = {
        200: {"description": "Ready", "content": {"application/json": {"example": {
            "status": "ready", "revision": db.head_revision(),
            "worker": {"status": "beating", "running": 1,
                       "youngest_heartbeat_age_seconds": 4.2, "stale_after_seconds": 120},
            "outbox": {"pending": 0, "oldest_age_seconds": None}}}}},
        503: {"model": problems.ProblemOut,
              "description": "The database is unreachable or not at the migrations' head, "
                             "or no worker has beaten for MLA_WORKER_STALE_SECONDS"}}

    def ready() -> Response:
        """Readiness: whether this instance can serve requests, its database reachable and
        migrated to the head of this engine's migrations, and its work done: `worker` is the
        youngest `mla worker` heartbeat (`beating`, `silent` past MLA_WORKER_STALE_SECONDS,
        `never seen` on a database no worker ran on yet), `outbox` what waits for peer
        instances. 503 when the schema is not at head (`current_revision`, null: no tables;
        `head_revision`: run `mla db upgrade`) or the worker is silent. Authorization:
        public."""
        try:
            state = db.schema_state(engine)
        except SQLAlchemyError as exc:
            log.warning("/ready: database unreachable: %s", str(exc).splitlines()[0])
            return problems.problem(503, "Not ready", "the database cannot be reached",
                                    instance="/ready", current_revision=None,
                                    head_revision=db.head_revision())
        problem = state.problem()
        if problem is not None:
            return problems.problem(503, "Not ready", problem, instance="/ready",
                                    current_revision=state.current,
                                    head_revision=state.head)
        now = utcnow()
        try:
            with app.state.sessions() as session:
                worker_ok, worker = readiness.worker_report(session, now)
                outbox = readiness.outbox_backlog(session, now)
        except SQLAlchemyError as exc:
            log.warning("/ready: database unreachable: %s", str(exc).splitlines()[0])
            return problems.problem(503, "Not ready", "the database cannot be reached",
                                    instance="/ready", current_revision=state.current,
                                    head_revision=db.head_revision())
        if not worker_ok:
            return problems.problem(
                503, "Not ready", "no worker has beaten for "
                f"{worker['youngest_heartbeat_age_seconds']:.0f} s: deadlines are not "
                "escalating and pages are not going out (start `mla worker`)",
                instance="/ready", revision=state.current, worker=worker, outbox=outbox)
        return JSONResponse({"status": "ready", "revision": state.current,
                             "worker": worker, "outbox": outbox})

    # /health/ready is the same check under the name orchestrators look for.
    for path in ("/ready", "/health/ready"):
        app.add_api_route(path, ready, methods=["GET"], tags=["operations"],
                          response_model=None, responses=ready_responses)

    return app
