"""The legal time limits of data/deadlines.yaml, checked at load."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from fnmatch import fnmatch
from functools import cache
from pathlib import Path
from typing import Any

import yaml

import workflows
from mla import kinds, legal

PERIOD_UNITS = ("calendar_days", "working_days", "hours", "from_field")
ROLES_NOTIFIED = ("officer", "supervisor", "contact_point")


@dataclass(frozen=True)
class Rule:
    id: str
    timer: str
    kinds: tuple[str, ...]
    legal_bases: tuple[str, ...]
    acts: str
    period: dict[str, Any]
    urgent_period: dict[str, Any] | None
    suspends: bool
    extension_max_days: int
    extension_citation: str | None
    citation: str

    @property
    def fallback(self) -> bool:
        return self.legal_bases == ("*",)

    def applies(self, kind: str, legal_basis: str) -> bool:
        return any(fnmatch(kind, k) for k in self.kinds) and (
            self.fallback or legal_basis in self.legal_bases)


@dataclass(frozen=True)
class LadderStep:
    step: str
    at: float | None
    after_due: timedelta | None
    notify: tuple[str, ...]
    urgent_notify: tuple[str, ...]


@dataclass(frozen=True, eq=False)
class Rules:
    rules: dict[str, Rule]
    ladder: tuple[LadderStep, ...]

    def timers(self, kind: str, legal_basis: str) -> frozenset[str]:
        """Timers that mean a deadline for this kind under this basis."""
        return _timers_with_rules(self, kind, legal_basis)

    def for_timer(self, timer: str, kind: str, legal_basis: str) -> list[Rule]:
        """Rules of the legal basis; the fallback rules only when the basis has none."""
        matching = [r for r in self.rules.values() if r.timer == timer
                    and r.applies(kind, legal_basis)]
        specific = [r for r in matching if not r.fallback]
        return specific or matching


@cache
def _timers_with_rules(table: Rules, kind: str, legal_basis: str) -> frozenset[str]:
    return frozenset(r.timer for r in table.rules.values() if r.applies(kind, legal_basis))


def _timers() -> set[str]:
    names: set[str] = set()
    for name in workflows.names():
        definition = workflows.get(name).definition
        names.update(definition.initial_opens)
        for t in definition.transitions:
            names.update(t.opens)
            names.update(t.closes)
    return names


def _period(raw: Any, where: str) -> dict[str, Any]:
    if not isinstance(raw, dict) or len(raw) != 1 or next(iter(raw)) not in PERIOD_UNITS:
        raise ValueError(f"{where}: period needs exactly one of {PERIOD_UNITS}")
    unit, value = next(iter(raw.items()))
    if unit == "from_field" and not isinstance(value, str):
        raise ValueError(f"{where}: from_field names a date field of the form")
    if unit != "from_field" and (not isinstance(value, int) or value < 1):
        raise ValueError(f"{where}: {unit} must be a positive whole number")
    return dict(raw)


def load(path: Path | None = None) -> Rules:
    path = path or Path(__file__).parents[1] / "data" / "deadlines.yaml"
    raw = yaml.safe_load(path.read_text("utf-8"))
    timers = _timers()
    bases = set(legal.all_bases())
    known_kinds = list(kinds.all_kinds())
    rules: dict[str, Rule] = {}
    for spec in raw["rules"]:
        where = f"{path.name}: rule {spec.get('id')!r}"
        if spec["id"] in rules:
            raise ValueError(f"{where}: duplicate id")
        if spec["timer"] not in timers:
            raise ValueError(f"{where}: no workflow opens timer {spec['timer']!r}")
        rule_kinds = tuple(spec.get("kinds", ["*"]))
        if not all(any(fnmatch(k, pattern) for k in known_kinds) for pattern in rule_kinds):
            raise ValueError(f"{where}: kinds {rule_kinds} match no request kind")
        rule_bases = tuple(spec["legal_bases"])
        if rule_bases != ("*",) and not set(rule_bases) <= bases:
            raise ValueError(f"{where}: unknown legal bases {set(rule_bases) - bases}")
        if spec["acts"] not in ("requested", "requesting"):
            raise ValueError(f"{where}: acts is requested or requesting")
        extension = spec.get("extension") or {}
        rules[spec["id"]] = Rule(
            id=spec["id"], timer=spec["timer"], kinds=rule_kinds, legal_bases=rule_bases,
            acts=spec["acts"], period=_period(spec["period"], where),
            urgent_period=_period(spec["urgent_period"], where) if "urgent_period" in spec
            else None,
            suspends=bool(spec.get("suspends", False)),
            extension_max_days=int(extension.get("max_days", 0)),
            extension_citation=extension.get("citation"),
            citation=spec["citation"],
        )
    ladder = []
    for step in raw["escalation"]:
        after = step.get("after_due")
        for role in (*step.get("notify", []), *step.get("urgent_notify", [])):
            if role not in ROLES_NOTIFIED:
                raise ValueError(f"{path.name}: escalation {step['step']}: unknown role {role}")
        ladder.append(LadderStep(
            step=step["step"], at=step.get("at"),
            after_due=timedelta(**after) if after else None,
            notify=tuple(step.get("notify", [])),
            urgent_notify=tuple(step.get("urgent_notify", [])),
        ))
    return Rules(rules, tuple(ladder))


@cache
def rules() -> Rules:
    return load()
