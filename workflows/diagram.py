"""Mermaid state diagrams read off the compiled machines, so docs cannot drift from code."""

from __future__ import annotations

from workflows.base import Workflow


def mermaid(workflow: Workflow) -> str:
    machine = workflow.machine
    lines = ["stateDiagram-v2", f"    %% {workflow.definition.title}"]
    for state in workflow.definition.states:
        lines.append(f"    {state.name} : {state.label}")
    lines.append(f"    [*] --> {machine.initial}")
    steps = {step_key(s): s for s in workflow.steps}
    for event_name, event in machine.events.items():
        for source, transitions in event.transitions.items():
            for t in transitions:
                step = steps[(event_name, source, t.dest)]
                notes = []
                if step.definition.roles != ("officer", "supervisor"):
                    notes.append("/".join(step.definition.roles))
                notes.extend(step.definition.guards)
                if step.definition.kinds:
                    notes.append(" or ".join(step.definition.kinds))
                suffix = f" [{', '.join(notes)}]" if notes else ""
                lines.append(f"    {source} --> {t.dest} : {event_name}{suffix}")
    for name in workflow.final_states():
        lines.append(f"    {name} --> [*]")
    return "\n".join(lines) + "\n"


def step_key(step) -> tuple[str, str, str]:  # type: ignore[no-untyped-def]
    return (step.event, step.source, step.dest)
