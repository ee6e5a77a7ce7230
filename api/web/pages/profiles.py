"""Country profiles: what each requested State requires, who executes what where (the
finder), and the requirements a draft does not meet yet (shown on the draft's form)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.deps import SessionDep
from api.web import forms
from api.web.session import PREFIX, ConsoleRoute, ConsoleUser, error_page, page, redirect
from mla import kinds, legal
from mla.errors import DomainError
from mla.i18n import _
from mla.models import Authority, CompetentAuthority, Profile
from mla.models import Request as MlaRequest
from mla.profiles import checks, finder, model, service

router = APIRouter(prefix=PREFIX, include_in_schema=False, route_class=ConsoleRoute)


def _measure_label(code: str) -> str:
    return "any measure" if code == "*" else model.measures().get(code, code)


@router.get("/profiles", response_class=HTMLResponse)
def profile_list(request: Request, session: SessionDep, user: ConsoleUser,
                 measure: str | None = None) -> Response:
    """Every country with a profile or a competent authority, and the finder."""
    countries = sorted(set(session.scalars(select(Profile.country)))
                       | set(session.scalars(select(CompetentAuthority.country))))
    return page(request, "profiles.html", {
        "countries": countries, "profiles": service.listing(session),
        "measures": model.measures(), "measure": measure, "nav": "profiles"})


@router.get("/profiles/find", response_class=HTMLResponse)
def find(request: Request, user: ConsoleUser, country: str = "", measure: str = "",
         place: str = "") -> Response:
    """The finder form of the list page: the country's page with the answer."""
    if not model.COUNTRY.fullmatch(country):
        return error_page(request, 422, _("Choose a country"),
                          _("The finder needs a country code such as KE."))
    query = urlencode({"measure": measure, "place": place})
    return redirect(f"{PREFIX}/profiles/{country}?{query}#finder-result")


@router.get("/profiles/{code}", response_class=HTMLResponse)
def country_page(request: Request, code: str, session: SessionDep, user: ConsoleUser,
                 measure: str | None = None, place: str | None = None) -> Response:
    """A country's profile (`code` a country, or one of its authorities), its authorities'
    own profiles, its competent authorities, and the finder's answer when a measure (and a
    place) is asked for."""
    country = code
    if not model.COUNTRY.fullmatch(code):
        authority = session.scalar(select(Authority).where(Authority.code == code))
        country = authority.country if authority is not None else code
    profiles = service.listing(session, country)
    rows = list(session.scalars(select(CompetentAuthority).where(
        CompetentAuthority.country == country).order_by(CompetentAuthority.measure,
                                                        CompetentAuthority.area)))
    if not profiles and not rows:
        return error_page(request, 404, _("No profile"),
                          _("No profile and no competent authority is known for {country}.",
                            country=country))
    found: finder.Match | None = None
    problem = None
    if measure:
        try:
            found = finder.find(session, country, measure, place)
        except DomainError as exc:
            problem = exc.detail
    directory = {a.code: a for a in session.scalars(select(Authority).where(
        Authority.country == country))}
    return page(request, "profile.html", {
        "country": country, "profiles": [(p, _readable(p.body)) for p in profiles],
        "rows": rows, "measures": model.measures(), "measure": measure, "place": place or "",
        "found": found, "problem": problem, "label": _measure_label, "directory": directory,
        "editable": {p.code for p in profiles if service.can_edit(user, p.code)},
        "can_file": user.role in ("officer", "supervisor"),
        "is_kind": lambda m: m in kinds.all_kinds(), "nav": "profiles"})


def _readable(body: dict[str, Any]) -> list[tuple[str, Any]]:
    """The profile as an officer reads it: (heading, text or list of texts)."""
    out: list[tuple[str, Any]] = []

    def kind(k: str) -> str:
        return "any request" if k == "*" else kinds.get(k).label

    if "languages" in body:
        out.append(("Languages accepted", [f"{kind(k)}: {', '.join(v)}"
                                           for k, v in body["languages"].items()]))
    if "channels" in body:
        out.append(("Channels accepted", [model.CHANNELS[c] for c in body["channels"]]))
    for key, heading in (("electronic_signature", "Electronic signatures"),
                         ("certified_translation", "Certified translation")):
        if key in body:
            value = body[key]
            text = ("accepted" if value else "not accepted: sign the original by hand") \
                if key == "electronic_signature" else ("required" if value else "not required")
            out.append((heading, text))
    if "dual_criminality" in body:
        rule = body["dual_criminality"]
        listed = ", ".join("any coercive measure" if m == "coercive" else _measure_label(m)
                           for m in rule.get("measures", []))
        how = "required (transmission refused without the statement)" \
            if rule.get("mandatory", True) else "expected"
        out.append(("Dual criminality", f"{how} for: {listed}"))
    if "penalty_thresholds" in body:
        out.append(("Penalty thresholds", [
            f"{legal.title(b)}: "
            + "; ".join(filter(None, (
                f"maximum penalty at least {t['maximum_months']} months"
                if "maximum_months" in t else "",
                f"sentence imposed at least {t['imposed_months']} months"
                if "imposed_months" in t else "")))
            for b, t in body["penalty_thresholds"].items()]))
    if "legal_bases" in body:
        out.append(("Legal bases in force", [legal.title(b)
                                             for b in body["legal_bases"]]))
    if "transmission" in body:
        out.append(("Transmission", [f"{kind(k)}: {model.TRANSMISSIONS[v]}"
                                     for k, v in body["transmission"].items()]))
    if "execution_days" in body:
        out.append(("Typical execution time", [f"{kind(k)}: about {v} days"
                                               for k, v in body["execution_days"].items()]))
    if "contact" in body:
        out.append(("Contact", [f"{k.replace('_', ' ')}: {v}"
                                for k, v in body["contact"].items()]))
    return out


def draft_findings(session: Session, row: MlaRequest) -> list[dict[str, Any]]:
    """The requested authority's requirements the draft does not meet, each with the id of
    the form field it is about (the draft form shows them beside its fields)."""
    out = []
    for f in checks.check_request(session, row):
        anchor = forms.html_id(f.path) if f.path.startswith(forms.ROOT + ".") \
            else f"h-{f.path}"
        out.append({"anchor": anchor, "path": f.path, "message": f.message,
                    "mandatory": f.mandatory})
    return out
