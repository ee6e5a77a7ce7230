"""The id of the HTTP request being served (api/observe.py sets it), so that rows a request
writes for the worker (pages, outbox messages) keep it and the worker's log lines about them
carry the same id (mla/ops/logs.py formats it)."""

from __future__ import annotations

import contextvars

REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "mla_request_id", default=None)


def current() -> str | None:
    return REQUEST_ID.get()
