"""The workflow diagram as an SVG drawn on the server, from the compiled machine (like the
Mermaid text of `mla workflows diagram`), so the console needs no diagram library.

States are placed in columns by distance from the initial state; events reachable from many
states (withdraw, refuse) are written on their destination instead of drawn as a fan of
arrows, which keeps the picture readable."""

from __future__ import annotations

import textwrap
from collections import defaultdict, deque
from dataclasses import dataclass, field

from workflows.base import Workflow
from workflows.diagram import mermaid

NODE_W, NODE_H = 176, 50
COL_GAP, ROW_GAP = 40, 56
MARGIN = 24
FAN_OUT = 4  # an event from this many states or more is folded into a note


@dataclass
class Node:
    name: str
    lines: list[str]
    x: float = 0
    y: float = 0
    final: bool = False
    initial: bool = False
    notes: list[str] = field(default_factory=list)


@dataclass
class Edge:
    path: str
    label: str
    lx: float
    ly: float
    title: str
    back: bool
    anchor: str = "middle"


@dataclass
class Diagram:
    width: float
    height: float
    nodes: list[Node]
    edges: list[Edge]
    folded: list[tuple[str, str, list[str]]]  # event, destination, sources


def mermaid_text(workflow: Workflow) -> str:
    return mermaid(workflow)


def layout(workflow: Workflow) -> Diagram:
    definition = workflow.definition
    sources_of: dict[tuple[str, str], list[str]] = defaultdict(list)
    for step in workflow.steps:
        sources_of[(step.event, step.dest)].append(step.source)
    folded = {key for key, sources in sources_of.items() if len(set(sources)) >= FAN_OUT}
    pairs: dict[tuple[str, str], list[str]] = defaultdict(list)
    for step in workflow.steps:
        if (step.event, step.dest) not in folded and step.event not in pairs[
                (step.source, step.dest)]:
            pairs[(step.source, step.dest)].append(step.event)

    rank = _ranks(definition.initial, [name for name in workflow.states], pairs)
    columns: dict[int, list[str]] = defaultdict(list)
    for state in definition.states:
        columns[rank[state.name]].append(state.name)
    nodes = {s.name: Node(s.name, textwrap.wrap(s.label, 24)[:2] or [s.name],
                          final=s.final, initial=s.name == definition.initial)
             for s in definition.states}
    for event, dest in sorted(folded):
        nodes[dest].notes.append(f"{event} (from {len(set(sources_of[(event, dest)]))} states)")

    # Top to bottom, one row per distance from the initial state: a laptop screen scrolls
    # down, not sideways. One pass of barycentre ordering keeps a state under its sources.
    placed_x: dict[str, float] = {}
    widest = max(len(names) for names in columns.values())
    width = MARGIN * 2 + widest * (NODE_W + COL_GAP) - COL_GAP + 90
    for row in sorted(columns):
        names = columns[row]
        if row > 0:
            def weight(name: str) -> float:
                xs = [placed_x[s] for (s, d) in pairs if d == name and s in placed_x]
                return sum(xs) / len(xs) if xs else 1e9
            names.sort(key=weight)
        span = len(names) * (NODE_W + COL_GAP) - COL_GAP
        left = MARGIN + (width - 90 - 2 * MARGIN - span) / 2
        for i, name in enumerate(names):
            node = nodes[name]
            node.x = left + i * (NODE_W + COL_GAP)
            node.y = MARGIN + row * (NODE_H + ROW_GAP)
            placed_x[name] = node.x
    height = max(n.y + NODE_H + 14 * len(n.notes) for n in nodes.values())

    edges = []
    for (source, dest), events in pairs.items():
        a, b = nodes[source], nodes[dest]
        label = ", ".join(events)
        title = f"{source} → {dest}: {label}"
        if source == dest:
            x, y = a.x + NODE_W, a.y + NODE_H / 2
            path = f"M{x},{y - 10} C{x + 34},{y - 24} {x + 34},{y + 24} {x + 2},{y + 10}"
            edges.append(Edge(path, label, x + 36, y + 4, title, back=True, anchor="start"))
            continue
        back = rank[dest] <= rank[source]
        if not back:
            x1, y1 = a.x + NODE_W / 2, a.y + NODE_H
            x2, y2 = b.x + NODE_W / 2, b.y
            my = (y1 + y2) / 2
            path = f"M{x1},{y1} C{x1},{my} {x2},{my} {x2},{y2 - 2}"
            edges.append(Edge(path, label, (x1 + x2) / 2 + 6, my + 4, title, back=False,
                              anchor="start"))
        else:
            # Backward arrows bow out to the right, clear of the forward ones.
            x1, y1 = a.x + NODE_W, a.y + NODE_H / 2 - 8
            x2, y2 = b.x + NODE_W, b.y + NODE_H / 2 + 8
            out = max(x1, x2) + 30 + 14 * abs(rank[source] - rank[dest])
            path = f"M{x1},{y1} C{out},{y1} {out},{y2} {x2 + 2},{y2}"
            edges.append(Edge(path, label, out - 8, (y1 + y2) / 2 + 4, title, back=True,
                              anchor="start"))
    return Diagram(width=width + 60, height=height + MARGIN, nodes=list(nodes.values()),
                   edges=edges,
                   folded=[(e, d, sorted(set(sources_of[(e, d)]))) for e, d in sorted(folded)])


def _ranks(initial: str, states: list[str],
           pairs: dict[tuple[str, str], list[str]]) -> dict[str, int]:
    rank = {initial: 0}
    queue = deque([initial])
    while queue:
        current = queue.popleft()
        for (source, dest) in pairs:
            if source == current and dest not in rank:
                rank[dest] = rank[current] + 1
                queue.append(dest)
    last = max(rank.values(), default=0)
    for name in states:
        rank.setdefault(name, last + 1)  # reached only through folded events: the end
    return rank
