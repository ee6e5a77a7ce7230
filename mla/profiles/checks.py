"""Filing checks driven by the requested authority's profile.

Each check gives findings at a field of the request. A *mandatory* finding is a requirement
the requested State states as a condition of execution: the `profile_requirements` guard
(workflows/guards.py) refuses to transmit while one is open. The others are warnings shown
while drafting (the State says so, but a request may still go, e.g. under another basis).

- language: neither the text nor a translation is in a language the authority accepts for
  the kind (mandatory);
- dual criminality: the measure is one the State keeps dual criminality for (the profile's
  measures, "coercive" meaning any coercive measure or a form that says coercive measures
  are needed) and the form has no dual criminality statement (mandatory when the profile
  says so);
- penalty threshold: the instrument's threshold (e.g. EAW art. 2(1): a maximum of at least
  12 months, or a sentence of at least 4 months) is not reached (mandatory); a penalty that
  cannot be read as a duration is a warning;
- legal basis not in force with the State, certified translation required, channel and
  electronic signature, and an addressee other than the one the finder names (warnings).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mla import templates
from mla.models import Authority, Request, RequestText
from mla.profiles import finder, service
from mla.profiles.model import CHANNELS, Requirements

# Legal bases that are no treaty: never "not in force".
NO_TREATY = ("reciprocity", "domestic_law")


@dataclass(frozen=True)
class Finding:
    code: str
    path: str
    message: str
    mandatory: bool


# --- penalties ---------------------------------------------------------------------------

_WORDS = {  # numbers written out (en, fr, es), as penalties often are
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "fifteen": 15, "twenty": 20,
    "thirty": 30, "un": 1, "deux": 2, "trois": 3, "quatre": 4, "cinq": 5, "sept": 7,
    "huit": 8, "neuf": 9, "dix": 10, "douze": 12, "quinze": 15, "vingt": 20, "uno": 1,
    "dos": 2, "tres": 3, "cuatro": 4, "cinco": 5, "seis": 6, "siete": 7, "ocho": 8,
    "nueve": 9, "diez": 10, "doce": 12, "quince": 15, "veinte": 20}
_UNITS = (  # unit words (en, fr, es) -> months per unit
    (r"years?|yrs?|ans?|années?|años?|anos?", 12.0),
    (r"months?|mois|mes(?:es)?", 1.0),
    (r"weeks?|semaines?|semanas?", 12 / 52),
    (r"days?|jours?|días?|dias?", 12 / 365),
)
_AMOUNT = re.compile(r"\b(\d+(?:[.,]\d+)?|" + "|".join(_WORDS) + r")\s*(?:\(\d+\)\s*)?"
                     r"(" + "|".join(u for u, _ in _UNITS) + r")\b", re.IGNORECASE)
_LIFE = re.compile(r"\blife\b|perp[ée]tuit|perpetua|cadena perpetua", re.IGNORECASE)


def months(text: Any) -> float | None:
    """The duration a penalty text states, in months ("3 years and 6 months" -> 42); a life
    sentence counts as 1200; None when no duration can be read."""
    if not isinstance(text, str) or not text.strip():
        return None
    if _LIFE.search(text):
        return 1200.0
    total, found = 0.0, False
    for amount, unit in _AMOUNT.findall(text):
        value = float(_WORDS.get(amount.lower(), 0) or amount.replace(",", "."))
        per = next(m for pattern, m in _UNITS if re.fullmatch(pattern, unit, re.IGNORECASE))
        total += value * per
        found = True
    return total if found else None


def _penalty(reqs: Requirements, legal_basis: str, data: Mapping[str, Any]) -> list[Finding]:
    limits = reqs.threshold(legal_basis)
    if not limits:
        return []
    penalty = data.get("penalty") if isinstance(data.get("penalty"), dict) else {}
    imposed = penalty.get("imposed")
    if imposed and "imposed_months" in limits:
        field, text, floor = "imposed", imposed, limits["imposed_months"]
        what = "the sentence imposed"
    elif "maximum_months" in limits:
        field, floor, what = "maximum", limits["maximum_months"], "the maximum penalty"
        text = penalty.get("maximum")
        if not text:
            offences = data.get("offences") if isinstance(data.get("offences"), list) else []
            text = next((o.get("max_penalty") for o in offences
                         if isinstance(o, dict) and o.get("max_penalty")), None)
    else:
        return []
    path = f"data.penalty.{field}"
    if not text:
        return []  # the template itself requires it; nothing to measure yet
    found = months(text)
    if found is None:
        return [Finding("penalty_threshold", path,
                        f"cannot read a duration in {text!r}; write it like \"18 months\" or "
                        f"\"3 years\" so the threshold of {floor} months can be checked",
                        mandatory=False)]
    if found < floor:
        return [Finding("penalty_threshold", path,
                        f"{what} ({text}) is below the {floor} months {legal_basis} requires "
                        f"for surrender", mandatory=True)]
    return []


# --- the checks ----------------------------------------------------------------------------

def _has_field(kind: str, version: int | None, name: str) -> bool:
    return templates.get(kind, version).root.child(name) is not None


def check_draft(reqs: Requirements, authority: Authority, *, kind: str, legal_basis: str,
                language: str, data: Mapping[str, Any], translations: Collection[str] = (),
                version: int | None = None,
                finder_hint: finder.Match | None = None) -> list[Finding]:
    """Every finding for a request as drafted (pure: `reqs` and `finder_hint` are read by
    the caller)."""
    found: list[Finding] = []
    accepted = reqs.languages(kind)
    if accepted and language not in accepted and not set(translations) & set(accepted):
        found.append(Finding(
            "language", "language",
            f"{authority.code} accepts {kind} requests in {', '.join(accepted)} only; write "
            f"the request in one of them or add a translation", mandatory=True))
    elif accepted and language not in accepted and reqs.body.get("certified_translation"):
        found.append(Finding(
            "certified_translation", "translations",
            f"{authority.country} requires certified translations: have the translation into "
            f"{', '.join(sorted(set(translations) & set(accepted)))} certified and attach the "
            f"certificate", mandatory=False))
    mandatory = reqs.dual_criminality_required(kind, data)
    if mandatory is not None:
        statement = data.get("dual_criminality_statement")
        if not (isinstance(statement, str) and statement.strip()):
            if _has_field(kind, version, "dual_criminality_statement"):
                found.append(Finding(
                    "dual_criminality", "data.dual_criminality_statement",
                    f"{authority.country} requires dual criminality for this measure: state "
                    f"why the conduct is also an offence there", mandatory=mandatory))
            else:
                found.append(Finding(
                    "dual_criminality", "data.facts_summary",
                    f"{authority.country} requires dual criminality for this measure: show in "
                    f"the facts why the conduct is also an offence there", mandatory=False))
    found.extend(_penalty(reqs, legal_basis, data))
    bases = reqs.body.get("legal_bases")
    if bases and legal_basis not in bases and legal_basis not in NO_TREATY:
        found.append(Finding(
            "legal_basis", "legal_basis",
            f"{legal_basis} is not among the legal bases in force with {authority.country} "
            f"({', '.join(bases)})", mandatory=False))
    channels = reqs.body.get("channels")
    if channels and "peer_transfer" not in channels:
        ways = "; ".join(CHANNELS[c] for c in channels)
        found.append(Finding(
            "channel", "requested_authority",
            f"{authority.code} does not receive electronic transfers; it accepts: {ways}",
            mandatory=False))
    if reqs.body.get("electronic_signature") is False:
        found.append(Finding(
            "electronic_signature", "requested_authority",
            f"{authority.country} does not accept electronic signatures: send the original "
            f"signed by hand", mandatory=False))
    if finder_hint is not None and finder_hint.send_to and finder_hint.send_to != authority.code:
        found.append(Finding(
            "competent_authority", "requested_authority",
            f"for {kind} the finder names {finder_hint.send_to_name} ({finder_hint.send_to}, "
            f"{finder_hint.transmission} transmission), not {authority.code}", mandatory=False))
    return found


def _hint(session: Session, authority: Authority, kind: str) -> finder.Match | None:
    """The country-wide competent authority for the kind, where the profile knows one."""
    found = finder.candidates(session, authority.country, kind)
    return found[0] if found else None


def check_request(session: Session, request: Request) -> list[Finding]:
    """Every finding for a stored request, against its requested authority's profile."""
    authority = request.requested_authority
    reqs = service.requirements(session, authority)
    if not reqs.sources:
        return []  # the directory's languages alone: text_in_accepted_language checks them
    translations = session.scalars(select(RequestText.language).where(
        RequestText.request_id == request.id)).all()
    return check_draft(reqs, authority, kind=request.kind, legal_basis=request.legal_basis,
                       language=request.language, data=request.data or {},
                       translations=translations, version=request.template_version,
                       finder_hint=_hint(session, authority, request.kind))
