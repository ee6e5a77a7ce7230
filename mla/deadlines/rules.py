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
# The six official languages of the United Nations: every rule's title exists in each.
LANGUAGES = ("ar", "en", "es", "fr", "ru", "zh")
# How a period ends (see `computation:` in data/deadlines.yaml and mla.deadlines.calendar).
CONVENTIONS = ("end_of_last_day", "reg_1182_71_art3")
# Largest single extension of a rule whose article fixes no maximum (EIO art. 12(6)).
NO_MAXIMUM_STEP_DAYS = 365


@dataclass(frozen=True)
class FollowUp:
    kind: str
    link: str


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
    # 0: cannot be extended; None: no fixed maximum (agreed case by case, reasons given).
    extension_max_days: int | None
    extension_citation: str | None
    citation: str
    title: dict[str, str]
    trigger: str
    starts_from: str | None = None
    on_expiry: str | None = None
    retired: bool = False
    # What the side whose clock it is files to meet it, when the step that closes it is the
    # other side's (the formal extradition request after a provisional arrest): the kind of
    # request, and the link (mla/cases/links.yaml) that ties it to this one.
    follow_up: FollowUp | None = None

    def extension_left(self, extended_days: int) -> int:
        """Days a supervisor may still add (one extension of at most a year where the law
        fixes no maximum)."""
        if self.extension_max_days is None:
            return NO_MAXIMUM_STEP_DAYS
        return max(self.extension_max_days - extended_days, 0)

    def title_in(self, lang: str) -> str:
        """The title in `lang` (an ISO 639-1 code, e.g. "fr" or "fr-CA"), English when the
        rule has none in that language."""
        return self.title.get(lang.split("-")[0].lower(), self.title["en"])

    @property
    def fallback(self) -> bool:
        return self.legal_bases == ("*",)

    def applies(self, kind: str, legal_basis: str) -> bool:
        return not self.retired and any(fnmatch(kind, k) for k in self.kinds) and (
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
    computation: dict[str, str]

    def convention(self, legal_basis: str) -> str:
        """How periods end under `legal_basis` (one of CONVENTIONS)."""
        return self.computation.get(legal_basis) or self.computation["*"]

    def timers(self, kind: str, legal_basis: str) -> frozenset[str]:
        """Timers that mean a deadline for this kind under this basis."""
        return _timers_with_rules(self, kind, legal_basis)

    def for_timer(self, timer: str, kind: str, legal_basis: str) -> list[Rule]:
        """The rules of `timer` for this kind under this basis."""
        return [r for r in _applicable(self, kind, legal_basis) if r.timer == timer]


@cache
def _applicable(table: Rules, kind: str, legal_basis: str) -> tuple[Rule, ...]:
    """The basis's own rules for the kind; the fallback rules only when it has none (e.g. no
    UN Model 40 days under the EAW, whose arts. 17 and 23 govern the case)."""
    matching = [r for r in table.rules.values() if r.applies(kind, legal_basis)]
    specific = tuple(r for r in matching if not r.fallback)
    return specific or tuple(matching)


@cache
def _timers_with_rules(table: Rules, kind: str, legal_basis: str) -> frozenset[str]:
    return frozenset(r.timer for r in _applicable(table, kind, legal_basis))


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


def _follow_up(raw: Any, known_kinds: list[str], where: str) -> FollowUp | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or set(raw) != {"kind", "link"}:
        raise ValueError(f"{where}: follow_up is {{kind: <request kind>, link: <link kind>}}")
    if raw["kind"] not in known_kinds:
        raise ValueError(f"{where}: follow_up kind {raw['kind']!r} is no request kind")
    return FollowUp(str(raw["kind"]), str(raw["link"]))


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
        if extension and extension.get("max_days", 0) is not None and (
                not isinstance(extension.get("max_days"), int)
                or extension["max_days"] < 1):
            raise ValueError(f"{where}: extension max_days is a positive whole number or null")
        title = spec.get("title") or {}
        missing = [lang for lang in LANGUAGES
                   if not isinstance(title.get(lang), str) or not title[lang].strip()]
        if missing:
            raise ValueError(f"{where}: title needs the languages {missing}")
        if not isinstance(spec.get("trigger"), str) or not spec["trigger"].strip():
            raise ValueError(f"{where}: trigger names the article's triggering event")
        rules[spec["id"]] = Rule(
            id=spec["id"], timer=spec["timer"], kinds=rule_kinds, legal_bases=rule_bases,
            acts=spec["acts"], period=_period(spec["period"], where),
            urgent_period=_period(spec["urgent_period"], where) if "urgent_period" in spec
            else None,
            suspends=bool(spec.get("suspends", False)),
            extension_max_days=extension["max_days"] if extension else 0,
            extension_citation=extension.get("citation"),
            citation=spec["citation"],
            title={lang: title[lang] for lang in LANGUAGES},
            trigger=spec["trigger"],
            starts_from=spec.get("starts_from"),
            on_expiry=spec.get("on_expiry"),
            retired=bool(spec.get("retired", False)),
            follow_up=_follow_up(spec.get("follow_up"), known_kinds, where),
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
    computation = dict(raw.get("computation") or {})
    if "*" not in computation:
        raise ValueError(f"{path.name}: computation needs a \"*\" entry")
    for basis, convention in computation.items():
        if basis != "*" and basis not in bases:
            raise ValueError(f"{path.name}: computation: unknown legal basis {basis!r}")
        if convention not in CONVENTIONS:
            raise ValueError(f"{path.name}: computation: {basis}: one of {CONVENTIONS}")
    return Rules(rules, tuple(ladder), computation)


@cache
def rules() -> Rules:
    return load()


def urgent_periods(kind: str) -> list[str]:
    """What urgency changes for `kind`, in words, one entry per rule that has an urgent
    period (for the filing form)."""
    out = []
    for rule in rules().rules.values():
        if rule.urgent_period and not rule.retired and any(fnmatch(kind, k)
                                                           for k in rule.kinds):
            unit, value = next(iter(rule.urgent_period.items()))
            shorter = ("the date you give as desired time limit" if unit == "from_field"
                       else f"{value} {unit.replace('_', ' ')}")
            out.append(f"{rule.title_in('en')} ({', '.join(rule.legal_bases)}): {shorter}")
    return out
