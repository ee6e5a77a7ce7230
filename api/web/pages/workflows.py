"""Workflows: the list, and one workflow with its diagram."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

import workflows
from api.web.session import PREFIX, ConsoleRoute, ConsoleUser, page

router = APIRouter(prefix=PREFIX, include_in_schema=False, route_class=ConsoleRoute)


@router.get("/workflows", response_class=HTMLResponse)
def workflow_list(request: Request, user: ConsoleUser) -> Response:
    return page(request, "workflows.html", {
        "items": [workflows.get(n) for n in workflows.names()], "nav": "workflows"})


@router.get("/workflows/{name}", response_class=HTMLResponse)
def workflow_page(request: Request, name: str, user: ConsoleUser,
                  state: str | None = None) -> Response:
    from api.web import diagram

    wf = workflows.get(name)
    return page(request, "workflow.html", {
        "wf": wf, "diagram": diagram.layout(wf), "current": state, "nav": "workflows",
        "mermaid": diagram.mermaid_text(wf)})
