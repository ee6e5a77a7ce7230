"""Moving a request through its workflow: the one way state changes happen."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
from sqlalchemy import JSON, Connection, Uuid, bindparam, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

import workflows
from mla import audit
from mla.clock import utcnow
from mla.errors import Conflict, Forbidden, NotFound
from mla.models import MILESTONE_COLUMNS, HistoryEvent, Request, User, UTCDateTime
from workflows.base import Context, Step


@dataclass(frozen=True)
class TransitionResult:
    """What changed; `opens`/`closes` name the deadline timers the step starts and stops."""

    request_id: Any
    event: str
    from_state: str | None
    to_state: str
    version: int
    opens: tuple[str, ...]
    closes: tuple[str, ...]
    # What came with the event besides the reason (e.g. `occurred_at` of a legal trigger,
    # `agreed_date` of a new surrender date), already accepted by the step's guards.
    data: Mapping[str, Any] | None = None
    # Who fired it (None: the system), so that hooks need not read it back from the history.
    actor: User | None = None


# Called inside the transition's transaction, after the state change is flushed (e.g. the
# deadline engine opens and closes timers here, so they commit or roll back with it).
TransitionHook = Callable[[Session, Request, TransitionResult], None]
# None until an entry point wires them (mla.hooks.install): a transition without its
# deadlines, pages and outbox must fail, not commit silently without them.
_hooks: tuple[TransitionHook, ...] | None = None


def set_hooks(hooks: Sequence[TransitionHook]) -> None:
    global _hooks
    _hooks = tuple(hooks)


def installed_hooks() -> tuple[TransitionHook, ...] | None:
    return _hooks


def acting_party(request: Request, actor: User) -> str | None:
    if actor.authority_id == request.requesting_authority_id:
        return "requesting"
    if actor.authority_id == request.requested_authority_id:
        return "requested"
    return None


def allowed_events(request: Request, actor: User | None = None) -> list[str]:
    """Events possible now; with an actor, only those this actor's party and role may fire."""
    wf = workflows.get(request.workflow)
    events = wf.allowed_events(request.state)
    if actor is None:
        return events
    party = acting_party(request, actor)
    return [
        e for e in events
        if _permitted(wf.candidates(e, request.state)[0], party, actor.role)
    ]


def _permitted(step: Step, party: str | None, role: str | None) -> bool:
    return step.definition.party == party and role in step.definition.roles


def transition(
    session: Session,
    request: Request,
    event: str,
    actor: User | None,
    *,
    expected_version: int | None = None,
    **data: Any,
) -> TransitionResult:
    """Fires `event` on `request` inside the session's transaction.

    The state change, its history event and whatever hooks write are flushed together;
    the caller commits. `actor=None` is the system itself (e.g. a status message received
    from the other authority's instance), which party and role rules do not apply to.
    Raises IllegalTransition, GuardRejected, Forbidden, NotFound or Conflict, and leaves the
    request untouched when it does.
    """
    wf = workflows.get(request.workflow)
    if expected_version is not None and expected_version != request.version:
        raise Conflict(
            f"request {request.reference} is at version {request.version}, "
            f"not {expected_version}; reload it and try again",
            current_version=request.version,
        )
    from_state = request.state
    step = wf.candidates(event, from_state)[0]
    if actor is not None:
        party = acting_party(request, actor)
        if party is None:
            raise NotFound(f"no request {request.id}")
        if step.definition.party != party:
            raise Forbidden(f"'{event}' is for the {step.definition.party} authority to record")
        if actor.role not in step.definition.roles:
            raise Forbidden(
                f"'{event}' needs the role {' or '.join(step.definition.roles)}; "
                f"you are {actor.role}"
            )

    context = Context(request=request, actor_role=actor.role if actor else None, data=data,
                      session=session)
    fired = wf.fire(request, event, context)

    resume_state = request.resume_state
    if wf.states[fired.dest].resumable and fired.source != fired.dest:
        resume_state = fired.source
    elif wf.states[fired.source].resumable:
        resume_state = None
    now = utcnow()
    extra = {k: v for k, v in data.items() if k != "reason"}
    with session.no_autoflush:
        version = _write(session, request, now=now, state=fired.dest,
                         resume_state=resume_state,
                         history={"actor_id": actor.id if actor else None, "event": event,
                                  "from_state": from_state, "to_state": fired.dest,
                                  "reason": data.get("reason"), "data": extra or None})
    if version is None:
        session.rollback()
        current = session.scalar(select(Request.version).where(Request.id == request.id))
        raise Conflict(
            f"request {request.reference} was changed by someone else while you worked on it; "
            f"reload it (now at version {current}) and try again",
            current_version=current,
        )
    for key, value in (("state", fired.dest), ("resume_state", resume_state),
                       ("updated_at", now), ("version", version)):
        set_committed_value(request, key, value)

    audit.record(session, "request.transition", actor=actor, object_type="request",
                 object_id=str(request.id),
                 detail={"event": event, "from": from_state, "to": fired.dest, **extra}
                 | ({"reason": data["reason"]} if data.get("reason") else {}))
    result = TransitionResult(
        request_id=request.id,
        event=event,
        from_state=from_state,
        to_state=fired.dest,
        version=request.version,
        opens=fired.opens,
        closes=fired.closes,
        data=extra or None,
        actor=actor,
    )
    run_hooks(session, request, result)
    return result


# The hottest path of the engine, as plain SQL compiled once: building ORM or Core statement
# objects per transition costs more than the round trips themselves. One variant per
# milestone column (MILESTONE_COLUMNS): the event that reaches a milestone also keeps its
# first instant on the request (the earliest, should the clock ever have gone back).
_BUMP = """UPDATE requests SET state = :state, resume_state = :resume_state,
    updated_at = :now, version = version + 1{milestone}
    WHERE id = :id AND version = :version RETURNING version"""
_MILESTONE = ", {0} = CASE WHEN {0} IS NULL OR {0} > :now THEN :now ELSE {0} END"
_BINDS = (bindparam("id", type_=Uuid()), bindparam("now", type_=UTCDateTime()),
          bindparam("data", type_=JSON()))
_VARIANTS = (None, *sorted(set(MILESTONE_COLUMNS.values())))


def _bump(column: str | None) -> str:
    return _BUMP.format(milestone=_MILESTONE.format(column) if column else "")


# PostgreSQL: the state change and its history event in one statement; no row changed (a
# concurrent writer won) means nothing inserted and no version returned.
_WRITE_PG = {column: text(f"""WITH changed AS ({_bump(column)})
    INSERT INTO history_events (request_id, at, actor_id, event, from_state, to_state,
                                reason, data)
    SELECT :id, :now, :actor_id, :event, :from_state, :to_state, :reason, CAST(:data AS json)
    FROM changed RETURNING (SELECT version FROM changed)""").bindparams(*_BINDS)
             for column in _VARIANTS}
_BUMP_SQLITE = {column: text(_bump(column)).bindparams(*_BINDS[:2]) for column in _VARIANTS}
_HISTORY_SQLITE = text("""INSERT INTO history_events (request_id, at, actor_id, event,
    from_state, to_state, reason, data) VALUES (:id, :now, :actor_id, :event, :from_state,
    :to_state, :reason, :data)""").bindparams(*_BINDS)


def _write(session: Session, request: Request, *, now: datetime, state: str,
           resume_state: str | None, history: dict[str, Any]) -> int | None:
    """The state change and its history event, guarded by the version the request was read
    at; the new version, or None when someone else changed the request first."""
    params = {"id": request.id, "version": request.version, "state": state,
              "resume_state": resume_state, "now": now, **history}
    milestone = MILESTONE_COLUMNS.get(history["event"])
    # On the session's connection, not through Session.execute: these are plain SQL with no
    # ORM entity, and the ORM's execution path costs more CPU than the round trip.
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        if connection.dialect.driver == "psycopg":
            version = _write_psycopg(connection, milestone, params)
        else:
            version = connection.execute(_WRITE_PG[milestone], params).scalar()
    else:
        version = connection.execute(_BUMP_SQLITE[milestone], params).scalar()
        if version is not None:
            connection.execute(_HISTORY_SQLITE, params)
    if version is not None and milestone is not None:
        reached = getattr(request, milestone)
        if reached is None or reached > now:
            set_committed_value(request, milestone, now)
    return version


# The same statements for the driver itself: the one statement every transition sends goes
# straight to psycopg, without SQLAlchemy's per-execution work (as the audit append does).
_WRITE_PSYCOPG = {column: re.sub(r":(\w+)", r"%(\1)s", str(statement.text))
                  for column, statement in _WRITE_PG.items()}


def _write_psycopg(connection: Connection, milestone: str | None,
                   params: dict[str, Any]) -> int | None:
    # What the Uuid, UTCDateTime and JSON types do to these on the SQLAlchemy path.
    driver_params = {**params, "now": params["now"].astimezone(UTC),
                     "data": json.dumps(params["data"]) if params["data"] is not None else None}
    raw = connection.connection.driver_connection
    try:
        row = raw.execute(_WRITE_PSYCOPG[milestone], driver_params).fetchone()
    except psycopg.Error as exc:
        raise DBAPIError.instance(_WRITE_PSYCOPG[milestone], None, exc, psycopg.Error,
                                  dialect=connection.dialect) from exc
    return None if row is None else int(row[0])


def run_hooks(session: Session, request: Request, result: TransitionResult) -> None:
    if _hooks is None:
        raise RuntimeError("transition hooks are not installed: the entry point must call "
                           "mla.hooks.install() first")
    for hook in _hooks:
        hook(session, request, result)


def history(session: Session, request: Request) -> list[HistoryEvent]:
    return list(
        session.scalars(
            select(HistoryEvent)
            .where(HistoryEvent.request_id == request.id)
            .order_by(HistoryEvent.id)
        )
    )

