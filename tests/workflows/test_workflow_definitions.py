"""Properties of the workflow definitions themselves (no database)."""

from __future__ import annotations

import pytest

import workflows
from mla import kinds
from tests.paths import shortest_paths, to_final
from workflows.base import RESUME, StateDef, TransitionDef, Workflow, WorkflowDef
from workflows.diagram import mermaid
from workflows.guards import GUARDS

KINDS_BY_WORKFLOW = {
    "mla_requesting": [k for k, v in kinds.all_kinds().items() if v.family == "mla"],
    "mla_requested": [k for k, v in kinds.all_kinds().items() if v.family == "mla"],
    "extradition": [k for k, v in kinds.all_kinds().items() if v.family == "extradition"],
}


@pytest.mark.parametrize("name", workflows.names())
def test_every_state_is_reachable_and_can_finish(name: str) -> None:
    wf = workflows.get(name)
    reached: set[str] = set()
    for kind in KINDS_BY_WORKFLOW[name]:
        paths = shortest_paths(wf, (wf.definition.initial, None), kind)
        reached |= {state for state, _ in paths}
        for config in paths:
            assert wf.is_final(to_final(wf, config, kind)[-1].dest) if config[0] not in \
                wf.final_states() else True
    assert reached == set(wf.states), f"unreachable: {set(wf.states) - reached}"


@pytest.mark.parametrize("name", workflows.names())
def test_machine_is_built_once_per_workflow(name: str) -> None:
    assert workflows.get(name) is workflows.get(name)
    assert workflows.get(name).machine.models == []


def test_final_states_allow_no_event() -> None:
    for name in workflows.names():
        wf = workflows.get(name)
        for state in wf.final_states():
            assert wf.allowed_events(state) == []


def test_resume_returns_only_to_states_that_lead_in() -> None:
    wf = workflows.get("mla_requested")
    back = {s.dest for s in wf.steps if s.event == "info_received"}
    assert back == {"assessing", "in_execution"}


def test_definition_errors_are_caught_when_the_workflow_is_built() -> None:
    states = (StateDef("a", "A"), StateDef("b", "B", final=True))
    with pytest.raises(ValueError, match="unknown states"):
        Workflow(WorkflowDef("x", "X", "a", states,
                             (TransitionDef("go", ("a",), "nowhere", "requesting"),)), GUARDS)
    with pytest.raises(ValueError, match="unknown guards"):
        Workflow(WorkflowDef("x", "X", "a", states,
                             (TransitionDef("go", ("a",), "b", "requesting",
                                            guards=("no_such_guard",)),)), GUARDS)
    with pytest.raises(ValueError, match="resumable"):
        Workflow(WorkflowDef("x", "X", "a", states,
                             (TransitionDef("go", ("a",), RESUME, "requesting"),)), GUARDS)


@pytest.mark.parametrize("name", workflows.names())
def test_diagram_shows_every_transition_and_final_state(name: str) -> None:
    wf = workflows.get(name)
    text = mermaid(wf)
    assert text.startswith("stateDiagram-v2")
    assert f"[*] --> {wf.definition.initial}" in text
    for step in wf.steps:
        assert f"{step.source} --> {step.dest} : {step.event}" in text
    for state in wf.final_states():
        assert f"{state} --> [*]" in text
