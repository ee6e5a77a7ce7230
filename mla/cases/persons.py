"""Persons inside a case: one record however many of the case's requests name them, with
suggestions of the same person in the authority's other cases (same date of birth, a close
name in any script: mla/search/names.py)."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from mla import audit
from mla.cases import service
from mla.errors import FieldProblem, InvalidInput, NotFound
from mla.models import Case, CaseRequest, Person, User
from mla.search import names
from mla.search.query import trgm_schema

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
    audit.record(session, "person.create", actor=user, object_type="case",
                 object_id=str(case.id), detail={"person": str(person.id)})
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
    audit.record(session, "person.update", actor=user, object_type="case",
                 object_id=str(case.id), detail={"person": str(person.id)})
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


def _key(person: Person) -> str:
    return f"{names.key(person.name)} {names.key(person.name_latin)}"


def duplicates(session: Session, person: Person) -> list[Duplicate]:
    """Persons of the same authority, other than this one, born the same day, whose name is
    close in any script; best first. None without a date of birth: a name alone is too weak
    a reason to suggest merging two people's records."""
    if person.date_of_birth is None:
        return []
    candidates = {p.id: p for p in session.scalars(select(Person).where(
        Person.authority_id == person.authority_id,
        Person.date_of_birth == person.date_of_birth, Person.id != person.id))}
    if not candidates:
        return []
    key = _key(person)
    if session.get_bind().dialect.name == "postgresql":
        # pg_trgm over the persons' indexed names (mla/search/documents.py).
        schema = trgm_schema(session)
        rows = session.execute(text(
            f'SELECT object_id, "{schema}".similarity(names, :key) FROM search_documents '
            "WHERE object_type = 'person' AND object_id = ANY(:ids)"),
            {"key": key, "ids": [str(i) for i in candidates]}).all()
        scores = {uuid.UUID(oid): s for oid, s in rows}
    else:
        scores = {i: names.similarity(key, _key(p)) for i, p in candidates.items()}
    cases = {c.id: c for c in session.scalars(select(Case).where(
        Case.id.in_({p.case_id for p in candidates.values()})))}
    found = [Duplicate(candidates[i], cases[candidates[i].case_id], round(float(s), 3))
             for i, s in scores.items() if s >= DUPLICATE_THRESHOLD]
    return sorted(found, key=lambda d: -d.score)
