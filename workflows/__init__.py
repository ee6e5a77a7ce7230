"""Request lifecycles. Each module holds one declarative definition; this registry compiles
each into one shared `transitions.Machine`, once per process."""

from __future__ import annotations

from functools import cache

from mla.errors import NotFound
from workflows import extradition, mla_requested, mla_requesting
from workflows.base import Workflow, WorkflowDef
from workflows.guards import GUARDS

DEFINITIONS: dict[str, WorkflowDef] = {
    d.name: d
    for d in (mla_requesting.DEFINITION, mla_requested.DEFINITION, extradition.DEFINITION)
}


@cache
def get(name: str) -> Workflow:
    try:
        definition = DEFINITIONS[name]
    except KeyError:
        raise NotFound(f"no workflow named '{name}'; known: {', '.join(DEFINITIONS)}") from None
    return Workflow(definition, GUARDS)


def names() -> list[str]:
    return list(DEFINITIONS)
