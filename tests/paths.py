"""Plans event sequences through a workflow from its definition, so tests cover every
transition (including returns from suspending states) without hand-written paths."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator

from workflows.base import RESUME, Step, Workflow

Config = tuple[str, str | None]  # (state, resume_state)


def enabled(wf: Workflow, config: Config, kind: str) -> Iterator[tuple[Step, Config]]:
    state, resume = config
    for step in wf.steps:
        if step.source != state:
            continue
        if step.definition.kinds and kind not in step.definition.kinds:
            continue
        if step.definition.dest == RESUME and resume != step.dest:
            continue
        yield step, (step.dest, _next_resume(wf, step, resume))


def _next_resume(wf: Workflow, step: Step, resume: str | None) -> str | None:
    if wf.states[step.dest].resumable and step.source != step.dest:
        return step.source
    if wf.states[step.source].resumable:
        return None
    return resume


def shortest_paths(wf: Workflow, start: Config, kind: str) -> dict[Config, list[Step]]:
    paths: dict[Config, list[Step]] = {start: []}
    queue = deque([start])
    while queue:
        config = queue.popleft()
        for step, nxt in enabled(wf, config, kind):
            if nxt not in paths:
                paths[nxt] = [*paths[config], step]
                queue.append(nxt)
    return paths


def to_final(wf: Workflow, start: Config, kind: str) -> list[Step]:
    paths = shortest_paths(wf, start, kind)
    finals = [(c, p) for c, p in paths.items() if wf.is_final(c[0])]
    assert finals, f"{wf.name}: no final state reachable from {start}"
    return min(finals, key=lambda cp: len(cp[1]))[1]


def covering_paths(wf: Workflow, kind: str) -> list[list[Step]]:
    """Complete paths (initial to a final state) that together take every transition this
    kind can take at least once."""
    start: Config = (wf.definition.initial, None)
    reach = shortest_paths(wf, start, kind)
    uncovered = {
        step for config in reach for step, _ in enabled(wf, config, kind)
    }
    result = []
    while uncovered:
        best = None
        for config, prefix in sorted(reach.items(), key=lambda cp: len(cp[1])):
            for step, nxt in enabled(wf, config, kind):
                if step in uncovered:
                    best = [*prefix, step, *to_final(wf, nxt, kind)]
                    break
            if best:
                break
        assert best is not None
        result.append(best)
        uncovered -= set(best)
    return result
