"""Moving a request through its workflow: the one way state changes happen."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

import workflows
from mla import audit
from mla.clock import utcnow
from mla.errors import Conflict, Forbidden, NotFound
from mla.models import HistoryEvent, Request, User
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


# Called inside the transition's transaction, after the state change is flushed (e.g. the
# deadline engine opens and closes timers here, so they commit or roll back with it).
TransitionHook = Callable[[Session, Request, TransitionResult], None]
_hooks: list[TransitionHook] = []


def register_hook(hook: TransitionHook) -> None:
    if hook not in _hooks:
        _hooks.append(hook)


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

    if wf.states[fired.dest].resumable and fired.source != fired.dest:
        request.resume_state = fired.source
    elif wf.states[fired.source].resumable:
        request.resume_state = None
    now = utcnow()
    request.updated_at = now
    extra = {k: v for k, v in data.items() if k != "reason"}
    session.add(
        HistoryEvent(
            request_id=request.id,
            at=now,
            actor_id=actor.id if actor else None,
            event=event,
            from_state=from_state,
            to_state=fired.dest,
            reason=data.get("reason"),
            data=extra or None,
        )
    )
    try:
        session.flush()
    except StaleDataError:
        session.rollback()
        current = session.scalar(select(Request.version).where(Request.id == request.id))
        raise Conflict(
            f"request {request.reference} was changed by someone else while you worked on it; "
            f"reload it (now at version {current}) and try again",
            current_version=current,
        ) from None

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
    )
    run_hooks(session, request, result)
    return result


def run_hooks(session: Session, request: Request, result: TransitionResult) -> None:
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


# Deadlines open and close inside every transition; importing the module registers its hook.
from mla import deadlines as _deadlines  # noqa: E402, F401
