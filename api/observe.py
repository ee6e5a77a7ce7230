"""What operators watch: every request gets an id (`X-Request-ID`, the client's if it is a
sane token, else a new one, answered back), one log line (id, method, route template, status,
user id, milliseconds: never the body or the query) and an observation of the latency
histogram per route template (mla/ops/metrics.py); and `GET /metrics`, readable from loopback
or with MLA_METRICS_TOKEN."""

from __future__ import annotations

import hmac
import ipaddress
import logging
import re
import time
import uuid

from fastapi import APIRouter, Request, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mla import logcontext, settings
from mla.errors import Forbidden, Unauthorized
from mla.ops import metrics

log = logging.getLogger("mla.request")
HEADER = "x-request-id"
_SANE_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


class Observe:
    """Pure ASGI, so that streaming answers pass through untouched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(HEADER.encode(), b"").decode("latin-1")
        request_id = given if _SANE_ID.fullmatch(given) else uuid.uuid4().hex
        token = logcontext.REQUEST_ID.set(request_id)
        state = scope.setdefault("state", {})
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", []).append(
                    (b"x-request-id", request_id.encode()))
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path", None) or "(no route)"
            metrics.HTTP_LATENCY.labels(scope["method"], template, str(status)).observe(elapsed)
            log.info("%s %s %d", scope["method"], template, status, extra={
                "request_id": request_id, "method": scope["method"], "route": template,
                "status": status, "user_id": state.get("user_id"),
                "duration_ms": round(elapsed * 1000, 1)})
            logcontext.REQUEST_ID.reset(token)


router = APIRouter(tags=["operations"])

_PROXY_HEADERS = ("x-forwarded-for", "forwarded", "x-real-ip")


def _may_read(request: Request) -> None:
    token = settings.get().metrics_token
    given = request.headers.get("authorization", "")
    if token:
        if hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            return
        raise Unauthorized("/metrics needs `Authorization: Bearer <MLA_METRICS_TOKEN>`")
    host = request.client.host if request.client else ""
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "testclient"  # Starlette's TestClient, in-process
    # A reverse proxy on the same machine makes every client look local: what it forwards
    # is not read without the token.
    if not loopback or any(h in request.headers for h in _PROXY_HEADERS):
        raise Forbidden("/metrics is read from this machine (loopback) or with "
                        "MLA_METRICS_TOKEN")


@router.get("/metrics", response_class=Response, responses={
    200: {"content": {metrics.CONTENT_TYPE: {}}, "description": "Prometheus text format"}})
def read_metrics(request: Request) -> Response:
    """Prometheus metrics: HTTP latency per route template, transitions per workflow and
    event, deadlines running and overdue, open pages and the oldest one's age, outbox backlog,
    worker heartbeat age, sealing lag, audit rows not yet checkpointed. No case content or
    personal data in any label. Authorization: a client on loopback (not through a proxy), or
    anyone with `Authorization: Bearer` MLA_METRICS_TOKEN."""
    _may_read(request)
    return Response(metrics.exposition(request.app.state.sessions),
                    media_type=metrics.CONTENT_TYPE)
