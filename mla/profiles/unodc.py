"""Our own authority's entry in the shape of the UNODC directory of competent national
authorities (SHERLOC), which UNSC res. 2322 (2016) para 13(g) asks States to keep current.

The directory lists, per authority designated under UNTOC (art. 16(5)/(6) extradition,
art. 18(13) MLA), UNCAC (art. 46(13)) and the 1988 Convention (art. 7(8)): its name and
function, postal address, telephone, fax, e-mail, website and office hours, the languages it
accepts requests in (UNTOC art. 18(14), UNCAC art. 46(14)), whether requests by e-mail or
through INTERPOL are accepted in urgent cases, the legal and procedural requirements to be
observed, whether the Convention is used as the legal basis, and contact persons. Everything
here comes from the authority's directory row, its effective profile and its 24/7 contact
points; what none of them holds is left out, never made up.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mla import kinds
from mla.clock import utcnow
from mla.models import Authority, ContactPoint
from mla.profiles import service
from mla.profiles.model import CHANNELS, TRANSMISSIONS

# The articles under which an authority is designated, by the legal basis it works under.
DESIGNATED_UNDER = {
    "untoc": ["UNTOC art. 18(13) (mutual legal assistance)", "UNTOC art. 16 (extradition)"],
    "uncac": ["UNCAC art. 46(13) (mutual legal assistance)"],
    "budapest": ["Budapest Convention art. 27(2) (central authority)",
                 "Budapest Convention art. 35 (24/7 network)"],
    "terrorist_financing": ["Terrorist Financing Convention art. 12"],
}
FORMAT = "unodc-cna/1"


def entry(session: Session, authority: Authority, *, today: date | None = None) -> dict[str, Any]:
    """The authority's directory entry, ready to send to UNODC (JSON)."""
    reqs = service.requirements(session, authority)
    body = reqs.body
    bases = list(body.get("legal_bases", []))
    channels = list(body.get("channels", []))
    contact = dict(body.get("contact", {}))
    people = session.scalars(select(ContactPoint).where(
        ContactPoint.authority_id == authority.id, ContactPoint.active.is_(True))
        .order_by(ContactPoint.network, ContactPoint.name))
    by_kind = body.get("languages") or {}
    languages = sorted({lang for langs in by_kind.values() for lang in langs})
    requirements: dict[str, Any] = {}
    if "dual_criminality" in body:
        rule = body["dual_criminality"]
        requirements["dual_criminality"] = {
            "required_for": rule.get("measures", []),
            "mandatory": rule.get("mandatory", True)}
    for key in ("certified_translation", "electronic_signature"):
        if key in body:
            requirements[key] = body[key]
    if "penalty_thresholds" in body:
        requirements["penalty_thresholds_months"] = body["penalty_thresholds"]
    if "execution_days" in body:
        requirements["typical_execution_days"] = body["execution_days"]
    if "transmission" in body:
        requirements["transmission"] = {k: TRANSMISSIONS[v]
                                        for k, v in body["transmission"].items()}
    return {
        "format": FORMAT,
        "prepared_under": "UN Security Council resolution 2322 (2016), para 13(g)",
        "as_of": (today or utcnow().date()).isoformat(),
        "state": authority.country,
        "authority": {
            "code": authority.code,
            "name": authority.name,
            "functions": _functions(bases),
            "designated_under": [d for b in bases for d in DESIGNATED_UNDER.get(b, [])],
            **{k: contact[k] for k in ("address", "telephone", "fax", "email", "website",
                                       "office_hours") if k in contact},
            "time_zone": authority.timezone,
            "languages_accepted": languages,
            "languages_by_request_kind": {k if k == "*" else kinds.get(k).label: v
                                          for k, v in by_kind.items()},
            "channels_accepted": [CHANNELS[c] for c in channels],
            "urgent_requests": {
                "by_email": "email_signed_pdf" in channels if channels else None,
                "through_interpol": "interpol" in channels if channels else None,
            },
            "legal_bases_used": bases,
            "untoc_as_legal_basis": "untoc" in bases if bases else None,
            "uncac_as_legal_basis": "uncac" in bases if bases else None,
            "legal_and_procedural_requirements": requirements,
            "contact_persons": [
                {"name": c.name, "network": c.network, "email": c.email, "telephone": c.phone,
                 "languages": c.languages, "time_zone": c.timezone} for c in people],
            "notes": list(body.get("notes", [])),
        },
    }


def _functions(bases: list[str]) -> list[str]:
    out = ["Central authority for mutual legal assistance in criminal matters",
           "Central authority for extradition"]
    if "budapest" in bases:
        out.append("24/7 point of contact (Budapest Convention art. 35)")
    return out
