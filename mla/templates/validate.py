"""Checks a filled form against its template version and reports every problem at once."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime
from functools import cache
from typing import Any
from zoneinfo import available_timezones

from mla.errors import FieldProblem
from mla.i18n import N_
from mla.templates.model import INTEGER_RANGE, Field, Rule, label

COUNTRY = re.compile(r"^[A-Z]{2}$")
LANGUAGE = re.compile(r"^[a-z]{2}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@cache
def _timezones() -> frozenset[str]:
    return frozenset(available_timezones())


def is_empty(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    return isinstance(value, list | dict) and not value


def _join(prefix: str, name: str | int) -> str:
    return f"{prefix}.{name}" if prefix else str(name)


class Validator:
    """`complete=False` is for drafts: types are checked, missing values are not."""

    def __init__(self, complete: bool) -> None:
        self.complete = complete
        self.problems: list[FieldProblem] = []

    def add(self, path: str, message: str, **params: Any) -> None:
        """`message` is marked with N_ and has `{placeholders}` for `params`: the API says it
        in English, the console in the officer's language (mla.i18n.problem)."""
        self.problems.append(FieldProblem.of(path, message, **params))

    def object(self, spec: Field, value: Any, path: str) -> None:
        if not isinstance(value, Mapping):
            self.add(path or "data", N_("must be an object"))
            return
        known = {f.name for f in spec.fields}
        for key in value:
            if key not in known:
                self.add(_join(path, key), N_("is not a field of this template"))
        for f in spec.fields:
            self.value(f, value.get(f.name), _join(path, f.name))
        if self.complete:
            for rule in spec.rules:
                self.rule(rule, value, path)

    def value(self, spec: Field, value: Any, path: str) -> None:
        # An empty object is still looked into, so the user learns which parts it needs.
        if is_empty(value) and not (spec.type == "object" and value == {}):
            if self.complete and spec.required:
                self.add(path, N_("is required ({label})"),
                         label=spec.label or {"en": spec.name})
            return
        check = getattr(self, f"_{spec.type}")
        check(spec, value, path)

    def rule(self, rule: Rule, form: Mapping[str, Any], path: str) -> None:
        if not _matches(rule, _get(form, rule.when_path)):
            return
        for target in rule.require:
            if is_empty(_get(form, target)):
                where = _join(path, ".".join(target))
                if rule.message:
                    # Six languages, as data in the template (templates/requests/FORMAT.md).
                    self.problems.append(FieldProblem(where, label(rule.message, "en"),
                                                      labels=rule.message))
                else:
                    self.add(where, N_("required when {condition}"),
                             condition=rule.describe())

    def _string(self, spec: Field, value: Any, path: str) -> None:
        if not isinstance(value, str):
            self.add(path, N_("must be text"))
        elif "\n" in value:
            self.add(path, N_("must be a single line"))
        elif spec.max_length and len(value) > spec.max_length:
            self.add(path, N_("is longer than {max} characters"), max=spec.max_length)

    def _text(self, spec: Field, value: Any, path: str) -> None:
        if not isinstance(value, str):
            self.add(path, N_("must be text"))
        elif spec.max_length and len(value) > spec.max_length:
            self.add(path, N_("is longer than {max} characters"), max=spec.max_length)

    def _integer(self, spec: Field, value: Any, path: str) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            self.add(path, N_("must be a whole number"))
        elif not INTEGER_RANGE[0] <= value <= INTEGER_RANGE[1]:
            self.add(path, N_("must be a whole number within 64 bits"))

    def _boolean(self, spec: Field, value: Any, path: str) -> None:
        if not isinstance(value, bool):
            self.add(path, N_("must be true or false"))

    def _date(self, spec: Field, value: Any, path: str) -> None:
        try:
            if not isinstance(value, str) or len(value) != 10:
                raise ValueError
            date.fromisoformat(value)
        except ValueError:
            self.add(path, N_("must be a date written YYYY-MM-DD"))

    def _datetime(self, spec: Field, value: Any, path: str) -> None:
        try:
            if not isinstance(value, str) or "T" not in value:
                raise ValueError
            parsed = datetime.fromisoformat(value)
        except ValueError:
            self.add(path, N_("must be a date and time in ISO 8601, e.g. "
                              "2026-03-01T14:05:00+01:00"))
            return
        if parsed.tzinfo is None:
            self.add(path, N_("must include the UTC offset (e.g. +01:00 or Z)"))

    def _enum(self, spec: Field, value: Any, path: str) -> None:
        assert spec.options is not None
        if value not in spec.options:
            self.add(path, N_("must be one of: {options}"), options=", ".join(spec.options))

    def _country(self, spec: Field, value: Any, path: str) -> None:
        if not isinstance(value, str) or not COUNTRY.match(value):
            self.add(path, N_("must be an ISO 3166-1 alpha-2 country code, e.g. FR"))

    def _language(self, spec: Field, value: Any, path: str) -> None:
        if not isinstance(value, str) or not LANGUAGE.match(value):
            self.add(path, N_("must be an ISO 639-1 language code, e.g. fr"))

    def _timezone(self, spec: Field, value: Any, path: str) -> None:
        if not isinstance(value, str) or value not in _timezones():
            self.add(path, N_("must be an IANA time zone, e.g. Europe/Paris"))

    def _email(self, spec: Field, value: Any, path: str) -> None:
        if not isinstance(value, str) or not EMAIL.match(value):
            self.add(path, N_("must be an e-mail address"))

    def _object(self, spec: Field, value: Any, path: str) -> None:
        self.object(spec, value, path)

    def _list(self, spec: Field, value: Any, path: str) -> None:
        if not isinstance(value, list):
            self.add(path, N_("must be a list"))
            return
        assert spec.item is not None
        if len(value) > spec.max_items:
            # Drafts too: a list past its limit is refused whole, its items unread.
            self.add(path, N_("has {count} items; at most {max} are allowed"),
                     count=len(value), max=spec.max_items)
            return
        if self.complete and len(value) < spec.min_items:
            self.add(path, N_("needs at least {min} item(s)"), min=spec.min_items)
        for i, item in enumerate(value):
            if is_empty(item):
                self.add(_join(path, i), N_("is empty"))
            else:
                self.value(spec.item, item, _join(path, i))


def _get(form: Any, path: tuple[str, ...]) -> Any:
    current = form
    for part in path:
        if not isinstance(current, Mapping):
            return None
        current = current.get(part)
    return current


def _matches(rule: Rule, value: Any) -> bool:
    if rule.op == "present":
        return bool(rule.value) != is_empty(value)
    if rule.op == "in":
        return value in rule.value
    if rule.op == "contains":
        return isinstance(value, list) and rule.value in value
    return bool(value == rule.value and type(value) is type(rule.value))


def check(root: Field, data: Any, *, complete: bool) -> list[FieldProblem]:
    validator = Validator(complete)
    validator.object(root, data, "")
    return validator.problems
