"""The audit trail: an append-only, hash-chained table written in the same transaction as the
change (or content read) it records.

`record()` queues an entry on the session; when the session commits, the queue is written
under a lock on the chain's head row, so entries from concurrent transactions form one chain.
On PostgreSQL the entries and the COMMIT go to the server in one pipeline, so the head stays
locked only while the server appends and commits, not while this process is scheduled.
Each row's hash covers the previous row's hash and the row's own content; the database
refuses UPDATE and DELETE on the table (triggers of migration 0002).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC
from typing import Any

import psycopg
from sqlalchemy import JSON, Connection, Engine, bindparam, event, insert, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, SessionTransaction
from sqlalchemy.pool import Pool

from mla import db
from mla.clock import utcnow
from mla.models import AuditEvent, AuditHead, User, UTCDateTime

GENESIS = "0" * 64
_QUEUE = "mla.audit.pending"
_MARKS = "mla.audit.savepoints"

# The same as migration 0002 creates; tests lift and restore them around a wipe.
SQLITE_TRIGGERS = (
    "CREATE TRIGGER IF NOT EXISTS audit_events_no_update BEFORE UPDATE ON audit_events "
    "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END",
    "CREATE TRIGGER IF NOT EXISTS audit_events_no_delete BEFORE DELETE ON audit_events "
    "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END",
)


def record(session: Session, action: str, *, actor: User | None = None, object_type: str,
           object_id: str | None = None, detail: dict[str, Any] | None = None,
           authority_id: int | None = None) -> None:
    """Queues the entry; it is written when the session's transaction commits, and dropped if
    that transaction (or a savepoint begun after the call) rolls back. `authority_id` files
    an entry without actor (the system) under an authority, e.g. a message received for it."""
    # Ties the entry to a transaction that exists now: a rollback() before any SQL ran would
    # otherwise be a no-op that fires no event, and the entry would leak into the next one.
    session.connection()
    session.info.setdefault(_QUEUE, []).append({
        "at": utcnow(),
        "actor_id": actor.id if actor else None,
        "authority_id": actor.authority_id if actor else authority_id,
        "action": action,
        "object_type": object_type,
        "object_id": object_id,
        "detail": json.loads(json.dumps(detail, default=str)) if detail is not None else None,
    })


def canonical(row: dict[str, Any]) -> str:
    fields = {
        "id": row["id"],
        "at": row["at"].astimezone(UTC).isoformat(timespec="microseconds"),
        "actor_id": row["actor_id"],
        "authority_id": row["authority_id"],
        "action": row["action"],
        "object_type": row["object_type"],
        "object_id": row["object_id"],
        "detail": row["detail"],
    }
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def chain_hash(prev_hash: str, row: dict[str, Any]) -> str:
    return hashlib.sha256((prev_hash + canonical(row)).encode("utf-8")).hexdigest()


@event.listens_for(Session, "before_commit")
def _write_pending(session: Session) -> None:
    # Releasing a savepoint commits nothing yet; the queue waits for the real commit, so the
    # savepoints' marks into it stay valid.
    if session.in_nested_transaction():
        return
    pending = session.info.pop(_QUEUE, None)
    if not pending:
        return
    session.flush()
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        if connection.dialect.driver == "psycopg":
            # Appended by _append_and_commit below, at the connection's COMMIT: anything the
            # session still flushes after this hook lands before the entries, in the same
            # transaction.
            connection.info.setdefault(_QUEUE, []).extend(pending)
            return
        for entry in pending:
            session.execute(_APPEND_PG, _append_params(entry))
        return
    # SQLite serializes writers: with its write lock taken before the head is read, no other
    # append can move the head in between.
    db.lock_for_write(session, AuditHead.__table__)
    last_id, last_hash = session.execute(
        select(AuditHead.last_id, AuditHead.last_hash).where(AuditHead.id == 1)).one()
    rows = []
    for entry in pending:
        last_id += 1
        row = {"id": last_id, **entry}
        row["hash"] = last_hash = chain_hash(last_hash, row)
        rows.append(row)
    session.execute(insert(AuditEvent), rows)
    session.execute(update(AuditHead).where(AuditHead.id == 1)
                    .values(last_id=last_id, last_hash=last_hash))


# One round trip on PostgreSQL: the head row's UPDATE takes the chain's lock, hands out the id
# and computes the hash in SQL from the previous hash it holds; the row is inserted from what
# the UPDATE returns. The canonical text is built in Python, split around the id.
_APPEND_PG = text("""WITH head AS (
    UPDATE audit_head SET last_id = last_id + 1,
        last_hash = encode(sha256(convert_to(
            last_hash || :before || CAST(last_id + 1 AS text) || :after, 'UTF8')), 'hex')
    WHERE id = 1 RETURNING last_id, last_hash)
    INSERT INTO audit_events (id, at, actor_id, authority_id, action, object_type, object_id,
                              detail, hash)
    SELECT last_id, :at, :actor_id, :authority_id, :action, :object_type, :object_id,
           CAST(:detail AS json), last_hash FROM head""").bindparams(
    bindparam("at", type_=UTCDateTime()), bindparam("detail", type_=JSON()))
_ID_MARKER = ',"id":0,"object_id":'
# The same statement for the driver itself, sent in _append_and_commit's pipeline.
_APPEND_PSYCOPG = re.sub(r":(\w+)", r"%(\1)s", str(_APPEND_PG.text))


@event.listens_for(Engine, "commit")
def _append_and_commit(connection: Connection) -> None:
    """Writes the queued entries and commits in one round trip (psycopg pipeline mode).

    The head row's lock is taken by the first append and held until the transaction ends;
    sending the COMMIT with it means no other transaction waits on a round trip, or on this
    process getting the CPU and the GIL back. SQLAlchemy's own COMMIT that follows finds the
    connection idle, and psycopg sends nothing for it. An error rolls the whole transaction
    back, entries included, as any failed commit does."""
    pending = connection.info.pop(_QUEUE, None)
    if not pending:
        return
    raw = connection.connection.driver_connection
    try:
        with raw.pipeline(), raw.cursor() as cursor:
            for entry in pending:
                cursor.execute(_APPEND_PSYCOPG, _driver_params(entry))
            raw.commit()
    except psycopg.Error as exc:
        raise DBAPIError.instance(_APPEND_PSYCOPG, None, exc, psycopg.Error,
                                  dialect=connection.dialect) from exc


@event.listens_for(Engine, "rollback")
def _drop_unwritten(connection: Connection) -> None:
    connection.info.pop(_QUEUE, None)


@event.listens_for(Pool, "checkin")
def _drop_on_checkin(_dbapi_connection: Any, record: Any) -> None:
    # A connection closed without commit or rollback event must not carry entries into the
    # next transaction on it.
    if record is not None:
        record.info.pop(_QUEUE, None)


def _driver_params(entry: dict[str, Any]) -> dict[str, Any]:
    params = _append_params(entry)
    # What the UTCDateTime and JSON types do to these on the SQLAlchemy path.
    params["at"] = entry["at"].astimezone(UTC)
    params["detail"] = json.dumps(entry["detail"])
    return params


def _append_params(entry: dict[str, Any]) -> dict[str, Any]:
    text_with_id = canonical({"id": 0, **entry})
    cut = text_with_id.rindex(_ID_MARKER)
    return {**entry, "before": text_with_id[:cut] + ',"id":',
            "after": text_with_id[cut + len(',"id":0'):]}


# after_rollback is no use here: it also fires for a savepoint, and would drop entries of
# the enclosing transaction that will still commit. Savepoints remember the queue's length.
@event.listens_for(Session, "after_transaction_create")
def _mark_savepoint(session: Session, transaction: SessionTransaction) -> None:
    if transaction.nested:
        session.info.setdefault(_MARKS, {})[transaction] = len(session.info.get(_QUEUE, ()))


@event.listens_for(Session, "after_soft_rollback")
def _forget_rolled_back(session: Session, previous_transaction: SessionTransaction) -> None:
    mark = session.info.get(_MARKS, {}).pop(previous_transaction, None)
    if mark is not None:
        del session.info.get(_QUEUE, [])[mark:]


@event.listens_for(Session, "after_transaction_end")
def _forget_pending(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None and not transaction.nested:
        # Commit has written the queue already; anything left belongs to a transaction that
        # rolled back or was closed without commit (Session.close() fires no rollback event).
        session.info.pop(_QUEUE, None)
        session.info.pop(_MARKS, None)


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    checked: int
    first_broken_id: int | None = None
    reason: str | None = None


def verify(session: Session) -> VerifyResult:
    """Recomputes the chain from the first row; names the first row that does not fit.

    Safe to run while others write: rows committed during the walk are picked up before the
    head is compared, so a live system does not look broken.
    """
    prev_hash = GENESIS
    checked = 0
    # Rows and head move in one commit, so every row up to a head read before a pass of
    # reading rows must appear in that pass.
    vouched = 0
    while True:
        # Plain rows, not ORM objects: the identity map could hand back what this session saw
        # before someone changed the table.
        rows = session.execute(select(*AuditEvent.__table__.c).where(AuditEvent.id > checked)
                               .order_by(AuditEvent.id).execution_options(yield_per=2000))
        for row in rows:
            expected_id = checked + 1
            if row.id != expected_id:
                rows.close()
                return VerifyResult(False, checked, expected_id,
                                    f"row {expected_id}: missing (next row is {row.id})")
            if chain_hash(prev_hash, row._mapping) != row.hash:
                rows.close()
                return VerifyResult(False, checked, row.id,
                                    f"row {row.id}: hash does not match its content")
            prev_hash = row.hash
            checked += 1
        if checked < vouched:
            break
        head = session.execute(select(AuditHead.last_id, AuditHead.last_hash)
                               .where(AuditHead.id == 1)).one()
        if head.last_id <= checked:
            break
        # Others committed while the rows were read; one more pass picks them up.
        vouched = head.last_id
    if head.last_id > checked:
        missing = checked + 1
        return VerifyResult(False, checked, missing,
                            f"row {missing}: missing (the chain head records "
                            f"{head.last_id} rows)")
    if head.last_id < checked:
        extra = head.last_id + 1
        return VerifyResult(False, checked, extra,
                            f"row {extra}: not recorded by the chain head")
    if head.last_hash != prev_hash:
        return VerifyResult(False, checked, checked or None,
                            f"row {checked}: does not match the chain head")
    return VerifyResult(True, checked)


def events(session: Session, *, authority_id: int | None = None, after_id: int | None = None,
           limit: int = 100) -> list[AuditEvent]:
    """In id order (oldest first); page with `after_id`."""
    query = select(AuditEvent).order_by(AuditEvent.id).limit(limit)
    if authority_id is not None:
        query = query.where(AuditEvent.authority_id == authority_id)
    if after_id is not None:
        query = query.where(AuditEvent.id > after_id)
    return list(session.scalars(query))

