"""Requests entering a case bring the persons their forms name: filing a request in a case,
or changing the form of a request already in one, creates or completes the case's person
records (mla/cases/persons.py from_request) in the same transaction as the change."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from mla.cases import persons, service
from mla.models import Case, Person, Request, User


def file_in_case(session: Session, case: Case, user: User, request_id: Any
                 ) -> tuple[Request, list[Person]]:
    """service.add_request, then the persons of the request's form. The caller commits."""
    request = service.add_request(session, case, user, request_id)
    return request, persons.from_request(session, case, request, user)


def form_changed(session: Session, request: Request, user: User) -> list[Person]:
    """After a draft's form changed: its persons in the user's authority's case holding it
    (none when no case does)."""
    case = service.case_of(session, request, user)
    return persons.from_request(session, case, request, user) if case else []
