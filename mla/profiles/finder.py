"""The competent-authority finder: for a requested country, a measure and a place, who
executes it and where the request goes (EJN Atlas-like).

Rows (`CompetentAuthority`) name a measure (a request kind, an EIO section C measure or "*")
and an area (empty: the whole country), which covers its own name and the cities,
districts or regions listed as its places. The best row for a
question is, in this order: one naming the measure itself before one for any measure ("*"),
then one whose area covers the place before the country-wide one. Places are compared folded
(case, accents, spaces and hyphens ignored), so "Mombasa", "MOMBASA" and "mombasa " match.

Where the request goes: a "direct" row sends it to the executing authority itself; a
"central" row through the country's central authority, which is the authority of the
country-wide row for any measure ("*", no area), or else the one authority of that country in
the directory.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from mla.errors import FieldProblem, InvalidInput, NotFound
from mla.models import Authority, CompetentAuthority
from mla.profiles.model import COUNTRY, measures


def fold(place: str) -> str:
    """A place name as matched: lower case, no accents, single spaces."""
    decomposed = unicodedata.normalize("NFKD", place)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return re.sub(r"[\s\-_'\u2019]+", " ", bare).strip().casefold()


@dataclass(frozen=True)
class Match:
    row: CompetentAuthority
    # Whether the row names the measure itself, and whether its area covers the place.
    exact_measure: bool
    local: bool
    # The directory code the request is addressed to (None: not in this directory).
    send_to: str | None
    send_to_name: str

    @property
    def transmission(self) -> str:
        return self.row.transmission


def _check(country: str, measure: str) -> None:
    problems = []
    if not COUNTRY.fullmatch(country or ""):
        problems.append(FieldProblem("country", "ISO 3166 alpha-2 code in capitals, e.g. KE"))
    if measure not in measures():
        problems.append(FieldProblem("measure", "a request kind or an EIO section C measure "
                                     "(GET /profiles/measures lists them)"))
    if problems:
        raise InvalidInput("the finder needs a country and a measure", problems)


def candidates(session: Session, country: str, measure: str,
               place: str | None = None) -> list[Match]:
    """Every row that applies, best first."""
    _check(country, measure)
    rows = session.scalars(select(CompetentAuthority).where(
        CompetentAuthority.country == country,
        CompetentAuthority.measure.in_((measure, "*"))).order_by(CompetentAuthority.id))
    wanted = fold(place) if place and place.strip() else None
    scored = []
    for row in rows:
        # An area covers its own name and the places listed under it.
        local = bool(row.area) and wanted is not None and wanted in {
            fold(p) for p in (row.area, *row.places)}
        if row.area and not local:
            continue
        scored.append((row.measure == measure, local, row))
    scored.sort(key=lambda s: (not s[0], not s[1], s[2].id))
    central = central_authority(session, country)
    out = []
    for exact, local, row in scored:
        if row.transmission == "direct":
            send_to, name = row.authority_code, row.name
        elif central is not None:
            send_to, name = central.code, central.name
        else:
            send_to, name = None, f"the central authority of {country}"
        out.append(Match(row, exact, local, send_to, name))
    return out


def find(session: Session, country: str, measure: str, place: str | None = None) -> Match:
    found = candidates(session, country, measure, place)
    if not found:
        where = f" in {place}" if place else ""
        raise NotFound(f"no competent authority known for {measure} in {country}{where}; "
                       f"send it to {country}'s central authority, or import the country's "
                       f"profile (mla profiles import)")
    return found[0]


def central_authority(session: Session, country: str) -> Authority | None:
    code = session.scalar(select(CompetentAuthority.authority_code).where(
        CompetentAuthority.country == country, CompetentAuthority.measure == "*",
        CompetentAuthority.area == ""))
    if code:
        found = session.scalar(select(Authority).where(Authority.code == code))
        if found is not None:
            return found
    same = list(session.scalars(select(Authority).where(Authority.country == country)
                                .limit(2)))
    return same[0] if len(same) == 1 else None
