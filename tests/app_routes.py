"""The application's routes as a flat list, read from `create_app().routes` (API and console),
so a test that walks every route of some sort covers a new route without anyone remembering
to add it; and a console client that acts as any user of the test world."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts

from api.web.session import CSRF_COOKIE, CSRF_FIELD, SESSION_COOKIE
from tests.api_helpers import Api

WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CSRF = "same-in-form-and-cookie"


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    query: tuple[str, ...]  # query parameters, as a client spells them (aliases)

    @property
    def params(self) -> set[str]:
        return set(re.findall(r"{(\w+)}", self.path))

    @property
    def key(self) -> str:
        return f"{self.method} {self.path}"


def routes(app: FastAPI) -> list[Route]:
    """Every (method, path) the app answers; HEAD and mounts (static files) left out."""
    out = []
    for context in iter_route_contexts(app.routes):
        methods = context.methods or set()
        dependant = getattr(context, "dependant", None)
        query = tuple(p.alias for p in dependant.query_params) if dependant else ()
        out += [Route(m, context.path, query) for m in sorted(methods - {"HEAD"})]
    return out


def console(api: Api, username: str, method: str, url: str, *,
            data: dict[str, Any] | None = None, files: Any = None,
            params: dict[str, Any] | None = None) -> httpx.Response:
    """One console request with `username`'s session cookie (the API token, as after a
    login) and a CSRF token that matches its cookie, in English; redirects are not
    followed."""
    api.client.cookies.clear()
    api.client.cookies.set(SESSION_COOKIE,
                           api.headers(username)["Authorization"].removeprefix("Bearer "))
    api.client.cookies.set(CSRF_COOKIE, CSRF)
    form = {CSRF_FIELD: CSRF, **(data or {})} if method == "POST" else None
    try:
        # The console's checks read its English pages: the language is asked for, as a
        # browser does (the FR officers' authority would otherwise give them French).
        english = None if "accept-language" in api.client.headers else {
            "Accept-Language": "en"}
        return api.client.request(method, url, data=form, files=files, params=params,
                                  headers=english, follow_redirects=False)
    finally:
        api.client.cookies.clear()
