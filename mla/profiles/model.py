"""The shape of a profile: what a requested State or authority requires, checked field by
field, and the effective requirements of an authority (its country's, overridden by its own).

A profile body (JSON; every key optional, an absent key means "not known", never "no"):

    {"languages": {"*": ["en"], "extradition.request": ["en", "fr"]},
     "channels": ["email_signed_pdf", "diplomatic"],
     "electronic_signature": true,
     "certified_translation": true,
     "dual_criminality": {"measures": ["coercive", "mla.e_evidence.production"],
                          "mandatory": true},
     "penalty_thresholds": {"eaw_2002_584": {"maximum_months": 12, "imposed_months": 4}},
     "legal_bases": ["untoc", "uncac", "budapest"],
     "transmission": {"*": "central", "mla.e_evidence.preservation": "direct"},
     "execution_days": {"mla.evidence": 90},
     "notes": [{"text": "...", "source": "PC-OC country information", "date": "2025-06-30"}],
     "contact": {"address": "...", "telephone": "...", "fax": "...", "email": "...",
                 "website": "...", "office_hours": "Mon-Fri 09:00-17:00"}}

Keys by kind ("languages", "transmission", "execution_days") take a request kind or "*".
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from mla import kinds, legal
from mla.errors import FieldProblem

# How a request may reach the requested authority.
CHANNELS = {
    "peer_transfer": "Electronic transfer between instances of this engine (signed, encrypted)",
    "email_signed_pdf": "E-mail with a signed PDF (PAdES)",
    "diplomatic": "Diplomatic channel",
    "paper": "Paper original by post or courier",
    "interpol": "INTERPOL (urgent requests, followed by the original)",
}
TRANSMISSIONS = {
    "central": "through the central authority",
    "direct": "directly to the executing authority",
}
# Why a request came back (`return_reason` on request_info and refuse; mla/stats/returns.py).
RETURN_REASONS = {
    "incomplete": "Incomplete for the requested State's law",
    "wrong_authority": "Sent to an authority that is not competent",
    "language": "Not in a language the requested authority accepts",
}
KEYS = ("languages", "channels", "electronic_signature", "certified_translation",
        "dual_criminality", "penalty_thresholds", "legal_bases", "transmission",
        "execution_days", "notes", "contact")
CONTACT_KEYS = ("address", "telephone", "fax", "email", "website", "office_hours")
COUNTRY = re.compile(r"[A-Z]{2}")
CODE = re.compile(r"[A-Z0-9][A-Z0-9-]{1,31}")
LANGUAGE = re.compile(r"[a-z]{2}")
MAX_NOTES = 50


@cache
def _measures() -> dict[str, dict[str, Any]]:
    return yaml.safe_load((Path(__file__).parent / "data" / "measures.yaml").read_text("utf-8"))


def measures() -> dict[str, str]:
    """Every measure code a finder row or a dual criminality rule may name, with its label."""
    raw = _measures()
    labels = {k: kinds.get(k).label for k in raw["kinds"]}
    return labels | {code: spec["label"] for code, spec in raw["eio_section_c"].items()}


def is_coercive(measure: str) -> bool:
    raw = _measures()
    spec = raw["kinds"].get(measure) or raw["eio_section_c"].get(measure) or {}
    return bool(spec.get("coercive"))


def _one_of(value: Any, allowed: Collection[str]) -> bool:
    """`value in allowed` for whatever JSON gave (a list or an object is in no set)."""
    return isinstance(value, str) and value in allowed


def _kind_or_any(value: Any) -> bool:
    return value == "*" or value in kinds.all_kinds()


def _by_kind(body: Mapping[str, Any], key: str, check: Any, hint: str,
             problems: list[FieldProblem]) -> None:
    value = body[key]
    if not isinstance(value, dict) or not value:
        problems.append(FieldProblem(key, f"an object by request kind (or \"*\"): {hint}"))
        return
    for kind, item in value.items():
        if not _kind_or_any(kind):
            problems.append(FieldProblem(f"{key}.{kind}", "not a request kind; use a kind "
                                         "(GET /templates) or \"*\""))
        elif not check(item):
            problems.append(FieldProblem(f"{key}.{kind}", hint))


def _languages(item: Any) -> bool:
    return isinstance(item, list) and bool(item) and all(
        isinstance(x, str) and LANGUAGE.fullmatch(x) for x in item)


def _months(item: Any) -> bool:
    return isinstance(item, int) and not isinstance(item, bool) and 0 <= item <= 1200


def validate_body(body: Any) -> list[FieldProblem]:
    """Every problem of a profile body, each at its field (empty: the body is good)."""
    if not isinstance(body, dict):
        return [FieldProblem("body", "an object with the keys " + ", ".join(KEYS))]
    problems: list[FieldProblem] = []
    for key in body:
        if key not in KEYS:
            problems.append(FieldProblem(key, "unknown field; expected one of " + ", ".join(KEYS)))
    if "languages" in body:
        _by_kind(body, "languages", _languages, "a list of ISO 639-1 codes, e.g. [\"en\"]",
                 problems)
    if "transmission" in body:
        _by_kind(body, "transmission", lambda v: _one_of(v, TRANSMISSIONS),
                 "central or direct", problems)
    if "execution_days" in body:
        _by_kind(body, "execution_days",
                 lambda v: isinstance(v, int) and not isinstance(v, bool) and 0 < v <= 3650,
                 "a number of days, 1 to 3650", problems)
    channels = body.get("channels", [])
    if not isinstance(channels, list) or not all(_one_of(c, CHANNELS) for c in channels):
        problems.append(FieldProblem("channels", "a list of: " + ", ".join(CHANNELS)))
    for key in ("electronic_signature", "certified_translation"):
        if key in body and not isinstance(body[key], bool):
            problems.append(FieldProblem(key, "true or false"))
    _dual_criminality(body.get("dual_criminality"), problems)
    _thresholds(body.get("penalty_thresholds"), problems)
    bases = body.get("legal_bases", [])
    known = legal.all_bases()
    if not isinstance(bases, list) or not all(_one_of(b, known) for b in bases):
        problems.append(FieldProblem("legal_bases", "a list of legal basis codes: "
                                     + ", ".join(known)))
    _notes(body.get("notes"), problems)
    contact = body.get("contact", {})
    if not isinstance(contact, dict) or any(
            k not in CONTACT_KEYS or not isinstance(v, str) or len(v) > 500
            for k, v in contact.items()):
        problems.append(FieldProblem("contact", "an object with texts (at most 500 "
                                     "characters) among " + ", ".join(CONTACT_KEYS)))
    return problems


def _dual_criminality(value: Any, problems: list[FieldProblem]) -> None:
    if value is None:
        return
    if not isinstance(value, dict) or set(value) - {"measures", "mandatory"}:
        problems.append(FieldProblem("dual_criminality",
                                     "an object {\"measures\": [...], \"mandatory\": true}"))
        return
    allowed = {"coercive", *measures()}
    listed = value.get("measures", [])
    if not isinstance(listed, list) or not listed:
        problems.append(FieldProblem("dual_criminality.measures",
                                     "a list of measures, or [\"coercive\"]"))
    else:
        for i, m in enumerate(listed):
            if not _one_of(m, allowed):
                problems.append(FieldProblem(f"dual_criminality.measures.{i}",
                                             f"{m!r} is not \"coercive\", a request kind or "
                                             "an EIO section C measure (eio.c.*)"))
    if not isinstance(value.get("mandatory", True), bool):
        problems.append(FieldProblem("dual_criminality.mandatory", "true or false"))


def _thresholds(value: Any, problems: list[FieldProblem]) -> None:
    if value is None:
        return
    if not isinstance(value, dict):
        problems.append(FieldProblem("penalty_thresholds", "an object by legal basis code"))
        return
    for basis, limits in value.items():
        where = f"penalty_thresholds.{basis}"
        if basis not in legal.all_bases():
            problems.append(FieldProblem(where, "not a legal basis code"))
        elif (not isinstance(limits, dict) or not limits
              or set(limits) - {"maximum_months", "imposed_months"}
              or not all(_months(v) for v in limits.values())):
            problems.append(FieldProblem(where, "{\"maximum_months\": 12, "
                                         "\"imposed_months\": 4} (whole months)"))


def _notes(value: Any, problems: list[FieldProblem]) -> None:
    if value is None:
        return
    if not isinstance(value, list) or len(value) > MAX_NOTES:
        problems.append(FieldProblem("notes", f"a list of at most {MAX_NOTES} notes"))
        return
    for i, note in enumerate(value):
        where = f"notes.{i}"
        if not isinstance(note, dict) or set(note) - {"text", "source", "date"}:
            problems.append(FieldProblem(where, "{\"text\", \"source\", \"date\"}"))
            continue
        for key in ("text", "source"):
            if not isinstance(note.get(key), str) or not note[key].strip():
                problems.append(FieldProblem(f"{where}.{key}", "required text; a note says "
                                             "where it comes from"))
        try:
            date.fromisoformat(str(note.get("date")))
        except ValueError:
            problems.append(FieldProblem(f"{where}.date", "a date, YYYY-MM-DD"))


@dataclass(frozen=True)
class Requirements:
    """The effective profile of one requested authority (its country's, overridden key by key
    by its own); `sources` names the profiles it was made of."""

    body: Mapping[str, Any]
    sources: tuple[str, ...]

    def by_kind(self, key: str, kind: str) -> Any:
        value = self.body.get(key) or {}
        return value.get(kind, value.get("*"))

    def languages(self, kind: str) -> list[str] | None:
        found = self.by_kind("languages", kind)
        return list(found) if found else None

    def dual_criminality_required(self, kind: str, data: Mapping[str, Any]) -> bool | None:
        """None: not required; else whether the requirement is mandatory."""
        rule = self.body.get("dual_criminality")
        if not rule:
            return None
        listed = set(rule.get("measures", []))
        coercive = is_coercive(kind) or data.get("coercive_measures") is True
        if kind in listed or ("coercive" in listed and coercive):
            return bool(rule.get("mandatory", True))
        return None

    def threshold(self, legal_basis: str) -> Mapping[str, int] | None:
        return (self.body.get("penalty_thresholds") or {}).get(legal_basis)


def merge(*bodies: Mapping[str, Any]) -> dict[str, Any]:
    """Later bodies override earlier ones key by key; maps by kind merge kind by kind."""
    out: dict[str, Any] = {}
    for body in bodies:
        for key, value in body.items():
            if key in ("languages", "transmission", "execution_days", "penalty_thresholds") \
                    and isinstance(out.get(key), dict):
                out[key] = {**out[key], **value}
            else:
                out[key] = value
    return out
