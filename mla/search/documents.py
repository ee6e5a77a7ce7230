"""The search index: one `SearchDocument` per request, case and person, rewritten in the
flush that changes the object, so the index commits (or rolls back) with the change itself.
`install()` (called by mla.hooks.install) listens to every session's flushes; nothing else
writes documents. PostgreSQL's tsvector and SQLite's FTS5 tables follow the rows through
triggers (migration 0014)."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import delete, event, insert, inspect, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, UOWTransaction

from mla.models import Case, Person, Request, RequestText, SearchDocument
from mla.search import names

# Request columns whose change rewrites its document (a transition changes none of them).
REQUEST_CONTENT = ("reference", "counterpart_reference", "title", "data", "language")
CASE_CONTENT = ("reference", "title", "description")
PERSON_CONTENT = ("name", "name_latin", "date_of_birth", "nationality", "identifiers")
# Template fields holding a person's names (mla.evidence persons, extradition person_sought).
NAME_KEYS = ("full_name", "aliases")


@functools.cache
def languages() -> dict[str, dict[str, str]]:
    loaded: dict[str, dict[str, str]] = yaml.safe_load(
        (Path(__file__).parent / "languages.yaml").read_text(encoding="utf-8"))
    return loaded


def config_for(language: str | None) -> str:
    entry = languages().get((language or "").split("-")[0].lower())
    return entry["config"] if entry else "simple"


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _person_names(value: Any) -> Iterator[str]:
    """Every name under a `full_name` or `aliases` key anywhere in a form."""
    if isinstance(value, dict):
        for k, item in value.items():
            if k in NAME_KEYS and isinstance(item, str):
                yield from (part for part in item.split(";") if part.strip())
            else:
                yield from _person_names(item)
    elif isinstance(value, list):
        for item in value:
            yield from _person_names(item)


def _words(keys: str) -> list[str]:
    return sorted(set(keys.split()))


def request_row(request: Request, translations: Iterable[dict[str, Any]] = ()) -> dict[str, Any]:
    forms = [request.data or {}, *translations]
    found = [name for form in forms for name in _person_names(form)]
    body = [request.counterpart_reference or ""]
    body.extend(text for form in forms for text in _strings(form))
    keys = " ".join(names.key(n) for n in dict.fromkeys(found))
    return dict(object_type="request", object_id=str(request.id),
                owner_authority_id=request.requesting_authority_id,
                other_authority_id=request.requested_authority_id,
                readers=[request.requesting_authority_id, request.requested_authority_id],
                reference=request.reference, title=request.title or "",
                body="\n".join(t for t in body if t), names=keys,
                name_words=_words(keys), config=config_for(request.language))


def case_row(case: Case) -> dict[str, Any]:
    return dict(object_type="case", object_id=str(case.id),
                owner_authority_id=case.authority_id, other_authority_id=None,
                readers=[case.authority_id], reference=case.reference, title=case.title,
                body=case.description or "", names="", name_words=[], config="simple")


def person_row(person: Person) -> dict[str, Any]:
    facts = [person.nationality or "",
             person.date_of_birth.isoformat() if person.date_of_birth else ""]
    facts.extend(str(i.get("value", "")) for i in person.identifiers or [])
    keys = f"{names.key(person.name)} {names.key(person.name_latin)}".strip()
    return dict(object_type="person", object_id=str(person.id),
                owner_authority_id=person.authority_id, other_authority_id=None,
                readers=[person.authority_id], reference="",
                title=f"{person.name} ({person.name_latin})"
                if person.name != person.name_latin else person.name,
                body=" ".join(f for f in facts if f), names=keys, name_words=_words(keys),
                config="simple")


def _changed(obj: Any, columns: tuple[str, ...]) -> bool:
    state = inspect(obj)
    return any(state.attrs[c].history.has_changes() for c in columns)


def _write(session: Session, rows: list[dict[str, Any]], gone: list[tuple[str, str]]) -> None:
    """One upsert for the rows (a round trip fewer than delete + insert), one delete per
    object type gone."""
    connection = session.connection()
    for object_type in {k[0] for k in gone}:
        connection.execute(delete(SearchDocument).where(
            SearchDocument.object_type == object_type,
            SearchDocument.object_id.in_([k[1] for k in gone if k[0] == object_type])))
    if rows:
        upsert = (postgresql.insert if connection.dialect.name == "postgresql"
                  else sqlite.insert)(SearchDocument)
        connection.execute(upsert.on_conflict_do_update(
            index_elements=["object_type", "object_id"],
            set_={c: upsert.excluded[c] for c in rows[0]
                  if c not in ("object_type", "object_id")}), rows)
        _add_words(connection, rows)


def _add_words(connection: Any, rows: list[dict[str, Any]]) -> None:
    """New name words into the dictionary the name search starts from (PostgreSQL; one
    statement, none when no row has a name)."""
    found = sorted({w for r in rows for w in r["name_words"]})
    if found and connection.dialect.name == "postgresql":
        connection.execute(text(
            "INSERT INTO search_name_words (word) SELECT unnest(CAST(:w AS text[])) "
            "ON CONFLICT DO NOTHING"), {"w": found})


def _after_flush(session: Session, _context: UOWTransaction) -> None:
    rows: list[dict[str, Any]] = []
    gone: list[tuple[str, str]] = []
    requests: dict[Any, Request] = {}
    new_requests: set[Any] = set()
    text_of: set[Any] = set()
    for obj in session.new:
        if isinstance(obj, Request):
            requests[obj.id] = obj
            new_requests.add(obj.id)
        elif isinstance(obj, RequestText):
            text_of.add(obj.request_id)
        elif isinstance(obj, Case):
            rows.append(case_row(obj))
        elif isinstance(obj, Person):
            rows.append(person_row(obj))
    for obj in session.dirty:
        if isinstance(obj, Request) and _changed(obj, REQUEST_CONTENT):
            requests[obj.id] = obj
        elif isinstance(obj, RequestText) and _changed(obj, ("data",)):
            text_of.add(obj.request_id)
        elif isinstance(obj, Case) and _changed(obj, CASE_CONTENT):
            rows.append(case_row(obj))
        elif isinstance(obj, Person) and _changed(obj, PERSON_CONTENT):
            rows.append(person_row(obj))
    for obj in session.deleted:
        kind = {Request: "request", Case: "case", Person: "person"}.get(type(obj))
        if kind:
            gone.append((kind, str(obj.id)))
    for request_id in text_of - set(requests):
        request = session.get(Request, request_id)
        if request is not None:
            requests[request_id] = request
    if requests:
        translations: dict[Any, list[dict[str, Any]]] = {}
        existing = [i for i in requests if i not in new_requests or i in text_of]
        if existing:
            for request_id, data in session.connection().execute(
                    select(RequestText.request_id, RequestText.data)
                    .where(RequestText.request_id.in_(existing))):
                translations.setdefault(request_id, []).append(data)
        rows.extend(request_row(r, translations.get(i, ())) for i, r in requests.items())
    if rows or gone:
        _write(session, rows, gone)


def install() -> None:
    """Idempotent: every session's flush keeps the index (wired by mla.hooks.install)."""
    if not event.contains(Session, "after_flush", _after_flush):
        event.listen(Session, "after_flush", _after_flush)


def reindex(session: Session) -> int:
    """Rewrite every document (after a restore, or on a database migrated from before
    0014). The caller commits."""
    session.execute(delete(SearchDocument))
    count = 0
    texts: dict[Any, list[dict[str, Any]]] = {}
    for request_id, data in session.execute(select(RequestText.request_id, RequestText.data)):
        texts.setdefault(request_id, []).append(data)
    batch: list[dict[str, Any]] = []
    for source in (session.scalars(select(Request)), session.scalars(select(Case)),
                   session.scalars(select(Person))):
        for obj in source:
            if isinstance(obj, Request):
                batch.append(request_row(obj, texts.get(obj.id, ())))
            elif isinstance(obj, Case):
                batch.append(case_row(obj))
            else:
                batch.append(person_row(obj))
            if len(batch) >= 1000:
                session.execute(insert(SearchDocument), batch)
                _add_words(session.connection(), batch)
                count, batch = count + len(batch), []
    if batch:
        session.execute(insert(SearchDocument), batch)
        _add_words(session.connection(), batch)
        count += len(batch)
    return count
