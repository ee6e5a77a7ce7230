"""Declarative workflow definitions and the one shared `transitions.Machine` each drives.

A definition is plain data (states, transitions with roles, the party that acts, guards and
the deadline timers each transition opens or closes). `Workflow` compiles it once into a
`transitions.Machine` with no bound model: a request row is passed to the machine per call,
so the machine is never rebuilt per request.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal

from transitions import EventData, Machine

from mla.errors import GuardRejected, IllegalTransition

Party = Literal["requesting", "requested"]

# A transition whose destination is RESUME returns to the state the request was in before it
# entered the (resumable) source state, e.g. back to execution after an info request.
RESUME = "<resume>"

ANY_OFFICER = ("officer", "supervisor")


@dataclass(frozen=True)
class StateDef:
    name: str
    label: str
    final: bool = False
    # Entering this state remembers where the request came from, so RESUME can go back.
    resumable: bool = False
    # Deadlines pause while the request sits here, where the legal rule allows it.
    suspends_clocks: bool = False


@dataclass(frozen=True)
class TransitionDef:
    event: str
    sources: tuple[str, ...]
    dest: str
    party: Party
    roles: tuple[str, ...] = ANY_OFFICER
    guards: tuple[str, ...] = ()
    # Only take this transition for these request kinds (routes one event to several states).
    kinds: tuple[str, ...] = ()
    opens: tuple[str, ...] = ()
    closes: tuple[str, ...] = ()
    label: str = ""


@dataclass(frozen=True)
class WorkflowDef:
    name: str
    title: str
    initial: str
    states: tuple[StateDef, ...]
    transitions: tuple[TransitionDef, ...]
    # Timers that start when a request is born in the initial state.
    initial_opens: tuple[str, ...] = ()
    # Where a request registered by the requested authority starts, by kind ("*": any), for
    # workflows shared by both sides; the requesting side's drafting is behind it already.
    received: tuple[tuple[str, str], ...] = ()

    def received_state(self, kind: str) -> str:
        found = dict(self.received)
        return found.get(kind) or found.get("*") or self.initial


@dataclass(frozen=True)
class Step:
    """A concrete edge of the compiled machine (RESUME expanded to real states)."""

    event: str
    source: str
    dest: str
    definition: TransitionDef

    @property
    def opens(self) -> tuple[str, ...]:
        return self.definition.opens

    @property
    def closes(self) -> tuple[str, ...]:
        return self.definition.closes


@dataclass
class Context:
    """What guards may look at while one event is being processed."""

    request: Any
    actor_role: str | None
    data: Mapping[str, Any]
    session: Any = None
    fired: Step | None = field(default=None)


Guard = Callable[[Context], None]


class Workflow:
    def __init__(self, definition: WorkflowDef, guards: Mapping[str, Guard]) -> None:
        self.definition = definition
        self.name = definition.name
        self.states = {s.name: s for s in definition.states}
        self.steps = self._expand(definition)
        self._by_event_source: dict[tuple[str, str], list[Step]] = {}
        for step in self.steps:
            self._by_event_source.setdefault((step.event, step.source), []).append(step)
        self._check(definition, guards)
        self.machine = self._compile(guards)
        self._allowed = {
            s: sorted(self.machine.get_triggers(s)) for s in self.states
        }

    # -- building ---------------------------------------------------------------------------

    def _expand(self, definition: WorkflowDef) -> list[Step]:
        entries: dict[str, list[str]] = {}
        for t in definition.transitions:
            for src in t.sources:
                entries.setdefault(t.dest, []).append(src)
        steps = []
        for t in definition.transitions:
            for src in t.sources:
                if t.dest == RESUME:
                    # Every state that can enter `src` is a place to come back to.
                    for back in dict.fromkeys(entries.get(src, [])):
                        if back != src:
                            steps.append(Step(t.event, src, back, t))
                else:
                    steps.append(Step(t.event, src, t.dest, t))
        return steps

    def _check(self, definition: WorkflowDef, guards: Mapping[str, Guard]) -> None:
        names = set(self.states)
        if definition.initial not in names:
            raise ValueError(f"{self.name}: initial state {definition.initial!r} is not defined")
        unknown_received = [s for _, s in definition.received if s not in names]
        if unknown_received:
            raise ValueError(f"{self.name}: received states {unknown_received} are not defined")
        for t in definition.transitions:
            unknown = [s for s in (*t.sources, t.dest) if s not in names and s != RESUME]
            if unknown:
                raise ValueError(f"{self.name}.{t.event}: unknown states {unknown}")
            missing = [g for g in t.guards if g not in guards]
            if missing:
                raise ValueError(f"{self.name}.{t.event}: unknown guards {missing}")
            if t.dest == RESUME and not all(self.states[s].resumable for s in t.sources):
                raise ValueError(f"{self.name}.{t.event}: RESUME needs resumable sources")
        for (event, source), steps in self._by_event_source.items():
            shapes = {(s.definition.party, s.definition.roles) for s in steps}
            if len(shapes) > 1:
                raise ValueError(f"{self.name}.{event} from {source}: one party and role set")
        for s in definition.states:
            if s.final and any(step.source == s.name for step in self.steps):
                raise ValueError(f"{self.name}: final state {s.name} has outgoing transitions")

    def _compile(self, guards: Mapping[str, Guard]) -> Machine:
        transitions = []
        for step in self.steps:
            conditions: list[Callable[[EventData], bool]] = []
            if step.definition.kinds:
                conditions.append(partial(_kind_is, step.definition.kinds))
            if step.definition.dest == RESUME:
                conditions.append(partial(_resumes_to, step.dest))
            conditions.extend(partial(_run_guard, guards[g]) for g in step.definition.guards)
            transitions.append(
                {
                    "trigger": step.event,
                    "source": step.source,
                    "dest": step.dest,
                    "conditions": conditions,
                    "after": partial(_remember, step),
                }
            )
        return Machine(
            model=None,
            states=[{"name": s.name, "final": s.final} for s in self.definition.states],
            initial=self.definition.initial,
            transitions=transitions,
            auto_transitions=False,
            send_event=True,
            model_attribute="state",
        )

    # -- running ----------------------------------------------------------------------------

    def allowed_events(self, state: str) -> list[str]:
        return self._allowed[state]

    def candidates(self, event: str, state: str) -> list[Step]:
        steps = self._by_event_source.get((event, state))
        if not steps:
            raise IllegalTransition(state, event, self.allowed_events(state))
        return steps

    def fire(self, request: Any, event: str, context: Context) -> Step:
        """The step `event` takes from the request's state, its guards passed; raises
        otherwise. The request itself is not changed: storing the move is the caller's."""
        state = request.state
        if state not in self.states:
            raise IllegalTransition(state, event, [])
        self.candidates(event, state)
        # The shared machine moves a stand-in, so that the ORM object is not dirtied.
        if not self.machine.events[event].trigger(_Position(state), context=context):
            raise IllegalTransition(state, event, self.allowed_events(state))
        assert context.fired is not None
        return context.fired

    def is_final(self, state: str) -> bool:
        return self.states[state].final

    def final_states(self) -> list[str]:
        return [s.name for s in self.definition.states if s.final]

    def events(self) -> Iterable[str]:
        return dict.fromkeys(s.event for s in self.steps)


@dataclass
class _Position:
    state: str


def _context(event_data: EventData) -> Context:
    ctx: Context = event_data.kwargs["context"]
    return ctx


def _kind_is(kinds: tuple[str, ...], event_data: EventData) -> bool:
    return _context(event_data).request.kind in kinds


def _resumes_to(dest: str, event_data: EventData) -> bool:
    return _context(event_data).request.resume_state == dest


def _run_guard(guard: Guard, event_data: EventData) -> bool:
    guard(_context(event_data))  # raises GuardRejected with the reason
    return True


def _remember(step: Step, event_data: EventData) -> None:
    _context(event_data).fired = step


__all__ = [
    "ANY_OFFICER",
    "RESUME",
    "Context",
    "GuardRejected",
    "StateDef",
    "Step",
    "TransitionDef",
    "Workflow",
    "WorkflowDef",
]
