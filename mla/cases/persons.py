"""Persons inside a case: one record however many of the case's requests name them, with
suggestions of the same person in the authority's other cases (same date of birth, a close
name in any script: mla/search/names.py)."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from mla import audit
from mla.cases import service
from mla.errors import FieldProblem, InvalidInput, NotFound
from mla.models import Case, CaseRequest, Person, Request, User
from mla.search import names

# Name similarity (pg_trgm's, on the names' Latin words and skeletons) from which two persons
# with the same date of birth are suggested as one.
DUPLICATE_THRESHOLD = 0.5
_COUNTRY = re.compile(r"^[A-Z]{2}$")


@dataclass(frozen=True)
class Duplicate:
    person: Person
    case: Case
    score: float


def _validate(session: Session, case: Case, *, name: str, name_latin: str | None,
              date_of_birth: date | None, nationality: str | None,
              identifiers: list[dict[str, str]] | None,
              request_ids: list[str] | None) -> dict[str, Any]:
    problems: list[FieldProblem] = []
    name = (name or "").strip()
    if not name:
        problems.append(FieldProblem("name", "required"))
    elif len(name) > 300:
        problems.append(FieldProblem("name", "at most 300 characters"))
    latin = (name_latin or "").strip() or names.latin(name)
    if len(latin) > 300:
        problems.append(FieldProblem("name_latin", "at most 300 characters"))
    if nationality is not None and not _COUNTRY.match(nationality):
        problems.append(FieldProblem("nationality", "ISO 3166 alpha-2 code, e.g. KE"))
    cleaned = []
    for i, item in enumerate(identifiers or []):
        kind, value = str(item.get("type", "")).strip(), str(item.get("value", "")).strip()
        if not value or len(value) > 200 or len(kind) > 60:
            problems.append(FieldProblem(f"identifiers.{i}", "type (60) and value (200) "
                                         "characters at most; value required"))
        cleaned.append({"type": kind, "value": value})
    in_case = {str(i) for i in session.scalars(
        select(CaseRequest.request_id).where(CaseRequest.case_id == case.id))}
    wanted = list(dict.fromkeys(str(r) for r in request_ids or []))
    for i, request_id in enumerate(wanted):
        if request_id not in in_case:
            problems.append(FieldProblem(f"request_ids.{i}", "not a request of this case"))
    if problems:
        raise InvalidInput("the person cannot be recorded as given", problems)
    return dict(name=name, name_latin=latin, date_of_birth=date_of_birth,
                nationality=nationality, identifiers=cleaned, request_ids=wanted)


def add_person(session: Session, case: Case, user: User, *, name: str,
               name_latin: str | None = None, date_of_birth: date | None = None,
               nationality: str | None = None, identifiers: list[dict[str, str]] | None = None,
               request_ids: list[str] | None = None) -> Person:
    """`name_latin` defaults to the transliteration of `name`. The caller commits."""
    fields = _validate(session, case, name=name, name_latin=name_latin,
                       date_of_birth=date_of_birth, nationality=nationality,
                       identifiers=identifiers, request_ids=request_ids)
    person = Person(authority_id=case.authority_id, case_id=case.id, created_by_id=user.id,
                    **fields)
    session.add(person)
    session.flush()
    audit.record(session, "person.create", actor=user, object_type="person",
                 object_id=str(person.id), detail={"case": str(case.id)})
    return person


def update_person(session: Session, person: Person, user: User, **changes: Any) -> Person:
    case = session.get(Case, person.case_id)
    assert case is not None
    current = dict(name=person.name, name_latin=person.name_latin,
                   date_of_birth=person.date_of_birth, nationality=person.nationality,
                   identifiers=person.identifiers, request_ids=person.request_ids)
    current.update({k: v for k, v in changes.items() if k in current})
    if "name" in changes and "name_latin" not in changes:
        current["name_latin"] = None
    for key, value in _validate(session, case, **current).items():
        setattr(person, key, value)
    audit.record(session, "person.update", actor=user, object_type="person",
                 object_id=str(person.id), detail={"case": str(case.id)})
    return person


def get_person(session: Session, person_id: Any, user: User) -> Person:
    person = session.get(Person, person_id)
    if person is None or person.authority_id != user.authority_id:
        raise NotFound(f"no person {person_id}")
    service.get_case(session, person.case_id, user)
    return person


def persons_of(session: Session, case: Case) -> list[Person]:
    return list(session.scalars(select(Person).where(Person.case_id == case.id)
                                .order_by(Person.created_at, Person.id)))


def _variants(person: Person) -> list[tuple[str, str]]:
    return list(dict.fromkeys(names.query_keys(n) for n in (person.name, person.name_latin)))


def name_score(a: Person, b: Person) -> float:
    """pg_trgm similarity of the closest spellings of the two, on the Latin words or on the
    consonant skeletons (where one side was written without vowels)."""
    return max((max(names.similarity(wa, wb), names.similarity(sa, sb))
                for wa, sa in _variants(a) for wb, sb in _variants(b)), default=0.0)


def duplicates(session: Session, person: Person) -> list[Duplicate]:
    """Persons of the same authority, other than this one, born the same day, whose name is
    close in any script; best first. None without a date of birth: a name alone is too weak
    a reason to suggest two records are one person. The candidates (same authority, same
    date of birth: an index) are few, so they are scored here, identically on both
    backends."""
    if person.date_of_birth is None:
        return []
    candidates = list(session.scalars(select(Person).where(
        Person.authority_id == person.authority_id,
        Person.date_of_birth == person.date_of_birth, Person.id != person.id)))
    scored = [(p, name_score(person, p)) for p in candidates]
    scored = [(p, s) for p, s in scored if s >= DUPLICATE_THRESHOLD]
    cases = {c.id: c for c in session.scalars(select(Case).where(
        Case.id.in_({p.case_id for p, _ in scored})))} if scored else {}
    return sorted((Duplicate(p, cases[p.case_id], round(s, 3)) for p, s in scored),
                  key=lambda d: -d.score)


@functools.cache
def _form_rules() -> list[dict[str, Any]]:
    loaded: list[dict[str, Any]] = yaml.safe_load(
        (Path(__file__).parent / "form_persons.yaml").read_text(encoding="utf-8"))
    return loaded


@dataclass(frozen=True)
class Named:
    """A person as a request's form names them."""
    name: str
    date_of_birth: date | None
    nationality: str | None
    identifiers: list[dict[str, str]]


def _day(value: Any) -> date | None:
    try:
        return date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def named_in(data: dict[str, Any] | None) -> list[Named]:
    """Every person the form names, where form_persons.yaml says forms name them."""
    found: list[Named] = []
    for rule in _form_rules():
        value = (data or {}).get(rule["field"])
        for entry in value if isinstance(value, list) else [value]:
            if not isinstance(entry, dict):
                continue
            name = " ".join(str(entry[k]).strip() for k in rule["name"]
                            if isinstance(entry.get(k), str) and entry[k].strip())
            if not name:
                continue
            identifiers = [{"type": label, "value": str(entry[key]).strip()[:200]}
                           for key, label in (rule.get("identifiers") or {}).items()
                           if isinstance(entry.get(key), str) and entry[key].strip()]
            aliases = entry.get(rule.get("aliases") or "")
            if isinstance(aliases, str):
                identifiers.extend({"type": "alias", "value": a.strip()[:200]}
                                   for a in aliases.split(";") if a.strip())
            nationality = entry.get(rule.get("nationality") or "")
            found.append(Named(
                name=name[:300], date_of_birth=_day(entry.get(rule.get("date_of_birth") or "")),
                nationality=nationality if isinstance(nationality, str)
                and _COUNTRY.match(nationality) else None,
                identifiers=identifiers))
    return found


def _same(person: Person, named: Named) -> bool:
    """The record of the case that a name in a form is: the same words in Latin letters (in
    any order and script) and no conflicting date of birth. Anything less certain becomes a
    record of its own, with the other in its duplicate suggestions."""
    if person.date_of_birth and named.date_of_birth and person.date_of_birth != \
            named.date_of_birth:
        return False
    return sorted(names.words(named.name)) in (sorted(names.words(person.name)),
                                               sorted(names.words(person.name_latin)))


def from_request(session: Session, case: Case, request: Request, user: User) -> list[Person]:
    """The persons the request's form names, as records of the case: each joins the
    record that is the same person (the request added to its requests, a missing date of
    birth, nationality or identifier filled in) or becomes a new one. In the caller's
    transaction, like the filing that causes it."""
    records = persons_of(session, case)
    touched: list[Person] = []
    for named in named_in(request.data):
        person = next((p for p in records if _same(p, named)), None)
        if person is None:
            person = add_person(session, case, user, name=named.name,
                                date_of_birth=named.date_of_birth,
                                nationality=named.nationality,
                                identifiers=named.identifiers, request_ids=[str(request.id)])
            records.append(person)
        else:
            known = {(i.get("type"), i.get("value")) for i in person.identifiers or []}
            extra = [i for i in named.identifiers if (i["type"], i["value"]) not in known]
            changes: dict[str, Any] = {}
            if str(request.id) not in person.request_ids:
                changes["request_ids"] = [*person.request_ids, str(request.id)]
            if extra:
                changes["identifiers"] = [*(person.identifiers or []), *extra]
            if person.date_of_birth is None and named.date_of_birth:
                changes["date_of_birth"] = named.date_of_birth
            if person.nationality is None and named.nationality:
                changes["nationality"] = named.nationality
            if changes:
                update_person(session, person, user, **changes)
        if person not in touched:
            touched.append(person)
    return touched
