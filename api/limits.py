"""What an HTTP request may carry, checked before any route reads it.

Body size, per route: attachment uploads up to `MLA_MAX_ATTACHMENT_BYTES` (plus the
multipart framing), the transfer inbox its envelope limit (it reads and caps its own body, so
that a refusal is audited), every other route `MLA_MAX_BODY_BYTES`. A Content-Length above the
limit is answered 413 before a byte is read; a body without one is read up to the limit and
refused once it passes it.

Then the rules of `mla/inputs.py`, at this one place for every route of the API and the
console: path parameters and query parameters hold no control character; JSON bodies are
nested at most `inputs.MAX_DEPTH` levels, hold no control character but tab, line feed and
carriage return, and no number past 64 bits; form bodies (URL-encoded, or multipart outside
uploads) follow the same text rule. A refusal names each field, as the API's own validation
does (422); the console gets it as a page.
"""

from __future__ import annotations

import email.message
import re
from typing import Any
from urllib.parse import parse_qsl

from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.problems import problem
from mla import inputs, settings
from mla.errors import FieldProblem

# Routes whose body is a file: the attachment limit, counted while the route reads.
UPLOAD_ROUTES = frozenset({("POST", "/requests/{request_id}/attachments"),
                           ("POST", "/console/requests/{request_id}/attachments")})
# Routes that read and limit their body themselves (api/routers/transfer.py).
SELF_LIMITED_ROUTES = frozenset({("POST", "/transfer/inbox")})
# Boundaries, part headers and the console's CSRF field around an uploaded file.
MULTIPART_OVERHEAD = 64 * 1024


class BodyTooLarge(HTTPException):
    """Raised from `receive` when an upload passes its limit; an HTTPException so that
    FastAPI's body reading lets it through to the problem handler."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the body is over the limit of {limit} bytes for this route")
        self.limit = limit


_RouteEntry = tuple[frozenset[str], str, "re.Pattern[str]"]


def _routes(app: Any) -> list[_RouteEntry]:
    """(methods, path format, regex) of every route of `app`, computed once per app."""
    table: list[_RouteEntry] | None = getattr(app.state, "input_limit_routes", None)
    if table is None:
        try:  # FastAPI that keeps included routers whole lists their routes through this
            from fastapi.routing import iter_route_contexts

            found: Any = iter_route_contexts(app.routes)
        except ImportError:
            found = app.routes
        table = [(frozenset(getattr(r, "methods", None) or ()), r.path, compile_path(r.path)[0])
                 for r in found if isinstance(getattr(r, "path", None), str)]
        app.state.input_limit_routes = table
    return table


def _route(scope: Scope) -> tuple[str | None, dict[str, str]]:
    """The path format of the route the request is for (None if none of this method), and
    the path parameters as sent (of a route of any method with this path)."""
    app = scope.get("app")
    if app is None or not hasattr(app, "state"):
        return None, {}
    params: dict[str, str] | None = None
    for methods, path, regex in _routes(app):
        found = regex.match(scope["path"])
        if found is None:
            continue
        if scope["method"] in methods:
            return path, found.groupdict()
        if params is None:
            params = found.groupdict()
    return None, params or {}


def _address_problems(scope: Scope, params: dict[str, str]) -> list[FieldProblem]:
    problems: list[FieldProblem] = []
    if inputs.text_problem(scope["path"], single_line=True):
        named = [FieldProblem(name, why) for name, value in params.items()
                 if (why := inputs.text_problem(value, single_line=True))]
        problems += named or [FieldProblem("path", "contains a control character")]
    query = scope.get("query_string", b"").decode("latin-1")
    pairs = parse_qsl(query, keep_blank_values=True, encoding="utf-8", errors="replace")
    return problems + inputs.fields_problems(pairs, single_line=lambda _: True)


def _content_type(scope: Scope) -> str:
    """`type/subtype` lower-cased, or "" when the request names none."""
    for name, value in scope["headers"]:
        if name == b"content-type":
            message = email.message.Message()
            message["content-type"] = value.decode("latin-1")
            return message.get_content_type()
    return ""


def _is_json(content_type: str) -> bool:
    # As FastAPI decides it: no content type, application/json or application/*+json.
    return content_type == "" or content_type == "application/json" or (
        content_type.startswith("application/") and content_type.endswith("+json"))


async def _form_problems(scope: Scope, body: bytes) -> list[FieldProblem]:
    pairs: list[tuple[str, str]] = []
    try:
        form = await Request(scope, _replay(body, _nothing)).form()
    except Exception:
        return []  # not a form: the route says so in its own words
    try:
        for name, value in form.multi_items():
            if isinstance(value, str):
                pairs.append((name, value))
            elif isinstance(value, UploadFile) and value.filename is not None:
                pairs.append((f"{name}.filename", value.filename))
    finally:
        await form.close()
    return inputs.fields_problems(pairs)


async def _body_problems(scope: Scope, body: bytes) -> list[FieldProblem]:
    if not body:
        return []
    content_type = _content_type(scope)
    if _is_json(content_type):
        try:
            document = inputs.load_json(body)
        except inputs.TooDeep as exc:
            return [FieldProblem("body", f"is {exc}")]
        except ValueError:
            return []  # not JSON: FastAPI answers that, as it always did
        return inputs.json_problems(document)
    if content_type == "application/x-www-form-urlencoded":
        pairs = parse_qsl(body.decode("latin-1"), keep_blank_values=True, encoding="utf-8",
                          errors="replace")
        return inputs.fields_problems(pairs)
    if content_type == "multipart/form-data":
        return await _form_problems(scope, body)
    return []


async def _nothing() -> Message:
    return {"type": "http.disconnect"}


def _replay(body: bytes, receive: Receive) -> Receive:
    """`receive` for the route: the body read here, then the client's own messages (its
    disconnect)."""
    given = False

    async def replay() -> Message:
        nonlocal given
        if not given:
            given = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _read(receive: Receive, limit: int) -> bytes | None:
    """The whole body, or None as soon as it passes `limit` (the rest is not read)."""
    parts: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise _Disconnected
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        parts.append(chunk)
        if not message.get("more_body", False):
            return b"".join(parts)


class _Disconnected(Exception):
    """The client went away before its body was read; nobody is left to answer."""


TITLES = {400: "Bad request", 413: "Content too large", 422: "Invalid input"}


def _refusal(scope: Scope, status: int, detail: str,
             problems: list[FieldProblem] | None = None, **extra: Any) -> Response:
    problems = problems or []
    if scope["path"].startswith("/console/"):
        from api.web.session import error_page

        listed = "; ".join(f"{p.path}: {p.message}" for p in problems)
        return error_page(Request(scope), status, TITLES[status],
                          f"{detail}: {listed}" if listed else detail)
    if problems:
        extra["errors"] = [{"field": p.path, "message": p.message} for p in problems]
    return problem(status, TITLES[status], detail, instance=scope["path"], **extra)


def _content_length(scope: Scope) -> tuple[bool, int | None]:
    """(whether the header is usable, its value)."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            number = inputs.parse_int(value.decode("latin-1").strip())
            return number is not None, number
    return True, None


class InputLimits:
    """ASGI middleware applying the limits above; see the module's text."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path, params = _route(scope)
        problems = _address_problems(scope, params)
        if problems:
            await _refusal(scope, 422, "the address of the request holds characters it may "
                           "not", problems)(scope, receive, send)
            return
        key = (scope["method"], path)
        if key in SELF_LIMITED_ROUTES:
            await self.app(scope, receive, send)
            return
        config = settings.get()
        upload = key in UPLOAD_ROUTES
        limit = config.max_attachment_bytes + MULTIPART_OVERHEAD if upload \
            else config.max_body_bytes
        usable, length = _content_length(scope)
        if not usable:
            await _refusal(scope, 400, "Content-Length must be a number of bytes"
                           )(scope, receive, send)
            return
        if length is not None and length > limit:
            await _too_large(scope, limit)(scope, receive, send)
            return
        if upload:
            await self._counted(scope, receive, send, limit)
            return
        try:
            body = await _read(receive, limit)
        except _Disconnected:
            return
        if body is None:
            await _too_large(scope, limit)(scope, receive, send)
            return
        problems = await _body_problems(scope, body)
        if problems:
            await _refusal(scope, 422, "the request body holds values the engine does not "
                           "accept", problems)(scope, receive, send)
            return
        await self.app(scope, _replay(body, receive), send)

    async def _counted(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        size = 0
        started = False

        async def counting() -> Message:
            nonlocal size
            message = await receive()
            if message["type"] == "http.request":
                size += len(message.get("body", b""))
                if size > limit:
                    raise BodyTooLarge(limit)
            return message

        async def watching(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting, watching)
        except BodyTooLarge:
            # Raised where no problem handler runs (outside a route): answered here.
            if started:
                raise
            await _too_large(scope, limit)(scope, receive, send)


def _too_large(scope: Scope, limit: int) -> Response:
    return _refusal(scope, 413, f"request bodies of this route are limited to {limit} bytes",
                    max_bytes=limit)
