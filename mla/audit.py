"""The audit trail: an append-only table written in the same transaction as the change (or
content read) it records, linked into a hash chain shortly after, in order, by a sealer.

Writing an entry takes no shared lock: `record()` queues it on the session and the commit
inserts it with an id from a sequence (PostgreSQL; on SQLite, whose writers queue for one
lock anyway, the next id under that lock) and the SHA-256 of its own canonical text
(`entry_hash`). On PostgreSQL the entries and the COMMIT go to the server in one pipeline.

`seal()` (the worker, every MLA_AUDIT_SEAL_EVERY_SECONDS; `mla audit seal`) then links the
entries after the chain's head in id order: each row's `hash` covers the previous row's hash
and the row's own content, exactly as when the chain was written at commit. An id can be
taken by a transaction that has not committed yet, or never will (a rollback), so the sealer
only goes up to an id it has proved final (`_final_id`), and writes each id that will never
be used as an `audit.gap` row of the chain. The database refuses UPDATE and DELETE on the
table except the sealer's one write, a hash where there was none (triggers of migrations
0002 and 0020).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
from sqlalchemy import (
    JSON,
    Connection,
    Engine,
    bindparam,
    event,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, SessionTransaction
from sqlalchemy.pool import Pool

from mla import db
from mla.clock import utcnow
from mla.models import AuditEvent, AuditHead, User, UTCDateTime

log = logging.getLogger("mla.audit")
GENESIS = "0" * 64
_QUEUE = "mla.audit.pending"
_MARKS = "mla.audit.savepoints"

# The same as migration 0020 creates; tests lift and restore them around a wipe. The one
# UPDATE let through is the sealer's: a hash where there was none, nothing else changed
# (PostgreSQL: the column triggers of migration 0020, the same rule).
SQLITE_TRIGGERS = (
    "CREATE TRIGGER IF NOT EXISTS audit_events_no_update BEFORE UPDATE ON audit_events "
    "WHEN NOT (OLD.hash IS NULL AND NEW.hash IS NOT NULL AND NEW.id IS OLD.id "
    "AND NEW.at IS OLD.at AND NEW.actor_id IS OLD.actor_id "
    "AND NEW.authority_id IS OLD.authority_id AND NEW.action IS OLD.action "
    "AND NEW.object_type IS OLD.object_type AND NEW.object_id IS OLD.object_id "
    "AND NEW.detail IS OLD.detail AND NEW.entry_hash IS OLD.entry_hash) "
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
    # SQLite has one writer at a time: under its write lock, taken before the largest id is
    # read, the next ids are free and stay so until this transaction ends.
    db.lock_for_write(session, AuditHead.__table__)
    last_id = session.scalar(select(func.max(AuditEvent.id))) or 0
    rows = []
    for entry in pending:
        last_id += 1
        row = {"id": last_id, **entry}
        row["entry_hash"] = entry_hash(row)
        rows.append(row)
    session.execute(insert(AuditEvent), rows)


# One statement, no lock but the row's own: the id comes from the sequence (CACHE 1, so ids
# are handed out in time order, which _final_id relies on) and the entry's hash is computed
# in SQL around it. The canonical text is built in Python, split around the id.
_APPEND_PG = text("""INSERT INTO audit_events (id, at, actor_id, authority_id, action,
        object_type, object_id, detail, entry_hash)
    SELECT n.id, :at, :actor_id, :authority_id, :action, :object_type, :object_id,
           CAST(:detail AS json),
           encode(sha256(convert_to(:before || CAST(n.id AS text) || :after, 'UTF8')), 'hex')
    FROM (SELECT nextval('audit_events_id_seq') AS id) AS n""").bindparams(
    bindparam("at", type_=UTCDateTime()), bindparam("detail", type_=JSON()))
_ID_MARKER = ',"id":0,"object_id":'
# The same statement for the driver itself, sent in _append_and_commit's pipeline.
_APPEND_PSYCOPG = re.sub(r":(\w+)", r"%(\1)s", str(_APPEND_PG.text))


@event.listens_for(Engine, "commit")
def _append_and_commit(connection: Connection) -> None:
    """Writes the queued entries and commits in one round trip (psycopg pipeline mode).

    SQLAlchemy's own COMMIT that follows finds the connection idle, and psycopg sends nothing
    for it. An error rolls the whole transaction back, entries included, as any failed commit
    does."""
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


# --- sealing --------------------------------------------------------------------------

# The action of a row the sealer writes for an id that no transaction will ever use (one
# that rolled back after taking it), so that the chain still numbers every id.
GAP = "audit.gap"
# The longest seal() waits for audited transactions in flight to end before it gives up
# for this round (they send their entries with the COMMIT, so they end within milliseconds).
IN_FLIGHT_WAIT_SECONDS = 2.0
_COLUMNS = tuple(AuditEvent.__table__.c)

# Transactions that have inserted into audit_events and not ended (RowExclusiveLock is taken
# when an INSERT starts, before its nextval() runs), other than the caller's.
_WRITERS = text("""SELECT DISTINCT virtualtransaction FROM pg_locks
    WHERE locktype = 'relation' AND mode = 'RowExclusiveLock'
      AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND relation = CAST('audit_events' AS regclass)
      AND pid IS DISTINCT FROM pg_backend_pid()""")
_STILL_RUNNING = text("""SELECT DISTINCT virtualtransaction FROM pg_locks
    WHERE virtualtransaction = ANY(:writers)
      AND locktype = 'relation' AND relation = CAST('audit_events' AS regclass)""")
_TAKEN = text("SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END "
              "FROM audit_events_id_seq")
_SET_HASHES = text("""UPDATE audit_events AS e SET hash = v.hash
    FROM (SELECT unnest(CAST(:ids AS bigint[])) AS id,
                 unnest(CAST(:hashes AS varchar[])) AS hash) AS v
    WHERE e.id = v.id""")


def entry_hash(row: Mapping[str, Any]) -> str:
    """An entry's own hash, written with it: SHA-256 of its canonical text."""
    return hashlib.sha256(canonical(row).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class SealResult:
    linked: int  # rows linked into the chain, gap rows included
    gaps: int  # of which ids no transaction will use
    length: int  # the chain's length after (the head's last id)
    busy: bool = False  # another sealer holds the chain's head; nothing done
    # An entry whose content no longer matches its own hash: the chain stops before it.
    refused_id: int | None = None


def seal(session: Session, *, limit: int = 5000, now: datetime | None = None,
         wait: float = IN_FLIGHT_WAIT_SECONDS) -> SealResult:
    """Links up to `limit` ids after the chain's head into the chain, in id order, as far as
    ids are final (`_final_id`). One batch is one transaction, and the caller commits: a
    sealer killed before the commit leaves the head where it was and the next does the batch
    again; two sealers never link the same ids (the head row, FOR UPDATE SKIP LOCKED)."""
    postgres = session.get_bind().dialect.name == "postgresql"
    if postgres:
        head = session.execute(text("SELECT last_id, last_hash FROM audit_head WHERE id = 1 "
                                    "FOR UPDATE SKIP LOCKED")).one_or_none()
        if head is None:
            return SealResult(0, 0, 0, busy=True)
        final = _final_id(session, wait)
    else:
        # SQLite: one writer at a time, so with its lock held every id up to the largest is
        # committed, and ids are handed out without holes.
        db.lock_for_write(session, AuditHead.__table__)
        head = session.execute(select(AuditHead.last_id, AuditHead.last_hash)
                               .where(AuditHead.id == 1)).one()
        final = session.scalar(select(func.max(AuditEvent.id))) or 0
    length, last_hash = head
    upto = min(final, length + limit)
    if upto <= length:
        return SealResult(0, 0, length)
    at = now or utcnow()
    linked: list[dict[str, Any]] = []
    gaps: list[dict[str, Any]] = []
    refused = None
    expected = length + 1

    def gap(gap_id: int) -> None:
        nonlocal last_hash
        row: dict[str, Any] = {"id": gap_id, "at": at, "actor_id": None, "authority_id": None,
                               "action": GAP, "object_type": "audit", "object_id": None,
                               "detail": None}
        row["entry_hash"] = entry_hash(row)
        row["hash"] = last_hash = chain_hash(last_hash, row)
        gaps.append(row)

    rows = session.execute(select(*_COLUMNS).where(AuditEvent.id > length, AuditEvent.id <= upto)
                           .order_by(AuditEvent.id))
    for row in rows:
        data = row._mapping
        for missing in range(expected, row.id):
            gap(missing)
        content = canonical(data).encode("utf-8")
        if row.hash is not None or row.entry_hash != hashlib.sha256(content).hexdigest():
            # Sealing it would vouch for whatever was written over it.
            refused = row.id
            log.error("audit row %d does not match its own hash: not sealed, and nothing "
                      "after it (run `mla audit verify`)", row.id)
            break
        last_hash = hashlib.sha256(last_hash.encode("ascii") + content).hexdigest()
        linked.append({"id": row.id, "hash": last_hash})
        expected = row.id + 1
    else:
        for missing in range(expected, upto + 1):
            gap(missing)
    rows.close()
    end = max([length] + [r["id"] for r in linked] + [g["id"] for g in gaps])
    if end == length:
        return SealResult(0, 0, length, refused_id=refused)
    if linked:
        if postgres:
            session.execute(_SET_HASHES, {"ids": [r["id"] for r in linked],
                                          "hashes": [r["hash"] for r in linked]})
        else:
            table = AuditEvent.__table__
            session.execute(update(table).where(table.c.id == bindparam("b_id"))
                            .values(hash=bindparam("b_hash")),
                            [{"b_id": r["id"], "b_hash": r["hash"]} for r in linked])
    if gaps:
        # A late INSERT of one of these ids would now fail on the primary key: if the proof
        # that they were free were ever wrong, a commit fails rather than the chain.
        session.execute(insert(AuditEvent), gaps)
    session.execute(update(AuditHead).where(AuditHead.id == 1)
                    .values(last_id=end, last_hash=last_hash))
    return SealResult(end - length, len(gaps), end, refused_id=refused)


def _final_id(session: Session, wait: float) -> int:
    """The largest id no transaction can still commit a row under (PostgreSQL).

    Ids come from a sequence, so a lower id can commit after a higher one, and an id taken by
    a transaction that rolls back is never used. Every id up to the sequence's last value
    read now was taken by an INSERT that had already locked audit_events (RowExclusiveLock,
    taken before the statement runs); once every transaction holding that lock now has ended,
    each such id is either committed, and visible to the next statement, or never will be.
    Transactions that start later take larger ids. Returns 0 (nothing provable this round)
    when one of them is still running after `wait` seconds."""
    taken = session.scalar(_TAKEN) or 0
    writers = list(session.scalars(_WRITERS))
    deadline = time.monotonic() + wait
    while writers:
        time.sleep(0.002)
        writers = list(session.scalars(_STILL_RUNNING, {"writers": writers}))
        if writers and time.monotonic() > deadline:
            log.warning("audit sealing waits for %d transactions writing audit entries for "
                        "more than %.1f s", len(writers), wait)
            return 0
    return taken


def seal_all(sessions: Callable[[], Session], *, limit: int = 5000) -> int:
    """Seals batch after batch, each committed, until the chain is as long as it can be now;
    returns the rows linked."""
    total = 0
    while True:
        with sessions() as session, session.begin():
            result = seal(session, limit=limit)
        total += result.linked
        if result.busy or result.linked < limit:
            return total


# --- verification -------------------------------------------------------------------------


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    checked: int  # rows checked, sealed or not
    first_broken_id: int | None = None
    reason: str | None = None
    sealed: int = 0  # rows in the chain, recomputed from the first (gap rows included)
    gaps: int = 0  # of which gap rows: ids of transactions that did not commit
    unsealed: int = 0  # entries after the chain's head, each matching its own hash
    # Ids after the head without a row yet (PostgreSQL): taken by a transaction still in
    # flight or rolled back; the sealer writes a gap row for each one that never commits.
    pending_ids: int = 0


def verify(session: Session) -> VerifyResult:
    """Recomputes the chain from the first row up to its head, then checks every entry after
    the head against its own hash; names the first row that does not fit.

    Safe to run while others write and the sealer seals: rows the sealer linked after the
    head was read are picked up by reading the head again."""
    postgres = session.get_bind().dialect.name == "postgresql"
    prev_hash = GENESIS
    sealed = gaps = 0
    for _ in range(100):
        head = session.execute(select(AuditHead.last_id, AuditHead.last_hash)
                               .where(AuditHead.id == 1)).one()
        # Plain rows, not ORM objects: the identity map could hand back what this session saw
        # before someone changed the table.
        rows = session.execute(select(*_COLUMNS).where(AuditEvent.id > sealed,
                                                       AuditEvent.id <= head.last_id)
                               .order_by(AuditEvent.id).execution_options(yield_per=2000))
        for row in rows:
            expected_id = sealed + 1
            problem = None
            if row.id != expected_id:
                rows.close()
                return _broken(expected_id, f"missing (next row is {row.id})", sealed)
            if row.hash is None:
                problem = "within the chain but never sealed"
            elif ((row.entry_hash is not None and row.entry_hash != entry_hash(row._mapping))
                  or chain_hash(prev_hash, row._mapping) != row.hash):
                problem = "hash does not match its content"
            if problem:
                rows.close()
                return _broken(row.id, problem, sealed)
            prev_hash = row.hash
            sealed += 1
            gaps += row.action == GAP
        if sealed < head.last_id:
            return _broken(sealed + 1, f"missing (the chain head records {head.last_id} rows)",
                           sealed)
        unsealed = pending = 0
        expected_id = sealed + 1
        beyond = None
        rows = session.execute(select(*_COLUMNS).where(AuditEvent.id > head.last_id)
                               .order_by(AuditEvent.id).execution_options(yield_per=2000))
        for row in rows:
            if row.hash is not None:
                beyond = row.id  # sealed since the head was read, or forged
                break
            if row.entry_hash is None or row.entry_hash != entry_hash(row._mapping):
                rows.close()
                return _broken(row.id, "content does not match its own hash (not sealed yet)",
                               sealed + unsealed)
            if row.id != expected_id:
                if not postgres:  # SQLite hands out ids without holes
                    rows.close()
                    return _broken(expected_id, f"missing (next row is {row.id})",
                                   sealed + unsealed)
                pending += row.id - expected_id
            unsealed += 1
            expected_id = row.id + 1
        rows.close()
        if beyond is not None:
            moved = session.scalar(select(AuditHead.last_id).where(AuditHead.id == 1)) or 0
            if moved >= beyond:
                continue  # the sealer went on; check what it linked
            return _broken(head.last_id + 1, "not recorded by the chain head", sealed)
        if head.last_hash != prev_hash:
            return _broken(sealed or None, "does not match the chain head", sealed)
        return VerifyResult(True, sealed + unsealed, sealed=sealed, gaps=gaps,
                            unsealed=unsealed, pending_ids=pending)
    return _broken(None, "the chain head kept moving; run verify again", sealed)


def _broken(row_id: int | None, reason: str, checked: int) -> VerifyResult:
    return VerifyResult(False, checked, row_id, f"row {row_id}: {reason}")


def events(session: Session, *, authority_id: int | None = None, after_id: int | None = None,
           limit: int = 100) -> list[AuditEvent]:
    """In id order (oldest first); page with `after_id`."""
    query = select(AuditEvent).order_by(AuditEvent.id).limit(limit)
    if authority_id is not None:
        query = query.where(AuditEvent.authority_id == authority_id)
    if after_id is not None:
        query = query.where(AuditEvent.id > after_id)
    return list(session.scalars(query))

