"""Templates and workflows: public reference data, so other systems can check a form or a
state before they send anything."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import PlainTextResponse

import workflows
from api.problems import PROBLEM_RESPONSES
from mla import templates
from mla.errors import NotFound
from workflows.diagram import mermaid

Version = Annotated[int | None, Query(ge=1, le=2**31 - 1)]

router = APIRouter(tags=["reference"], responses={404: PROBLEM_RESPONSES[404],
                                                  422: PROBLEM_RESPONSES[422]})


@router.get("/templates")
def template_list() -> list[dict[str, Any]]:
    """Kinds with their template versions, titles, and the fields of the latest version a
    translation may give (`PUT /requests/{id}/translations/{language}`); `latest` is the
    universal template's, `official_forms` the versions that follow an EU annex and the legal
    bases that take them. Authorization: public."""
    return [{"kind": kind, "versions": templates.versions(kind),
             "latest": templates.latest_version(kind), "title": templates.get(kind).title,
             "translatable": templates.translatable_paths(kind),
             "official_forms": [
                 {"version": v, "form": spec.form, "legal_bases": list(spec.legal_bases)}
                 for v in templates.versions(kind)
                 if (spec := templates.get(kind, v)).form is not None]}
            for kind in templates.kinds()]


@router.get("/templates/{kind}/schema")
def template_schema(kind: str,
                    version: Version = None) -> dict[str, Any]:
    """JSON Schema (2020-12) of the kind's template. Authorization: public."""
    return templates.json_schema(_kind(kind), version)


@router.get("/templates/{kind}/example")
def template_example(kind: str,
                     version: Version = None) -> dict[str, Any]:
    """A complete example form. Authorization: public."""
    return templates.example(_kind(kind), version)


@router.get("/workflows")
def workflow_list() -> list[dict[str, Any]]:
    """Workflows with their states and events. Authorization: public."""
    out = []
    for name in workflows.names():
        wf = workflows.get(name)
        out.append({"name": name, "title": wf.definition.title,
                    "initial": wf.definition.initial,
                    "states": [{"name": s.name, "label": s.label, "final": s.final}
                               for s in wf.definition.states],
                    "events": sorted({t.event for t in wf.definition.transitions})})
    return out


@router.get("/workflows/{name}/diagram", response_class=PlainTextResponse)
def workflow_diagram(name: str) -> str:
    """Mermaid state diagram generated from the definition. Authorization: public."""
    return mermaid(workflows.get(name))


def _kind(kind: str) -> str:
    if kind not in templates.kinds():
        raise NotFound(f"no template for kind '{kind}'")
    return kind
