"""Deadlines: opened, closed, suspended and resumed by transitions, in the transition's own
transaction (a lifecycle hook), with the escalation ladder written as pending steps that the
worker turns into alerts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

import workflows
from mla import access, audit
from mla.clock import utcnow
from mla.deadlines import calendar
from mla.deadlines.rules import Rule, rules
from mla.errors import FieldProblem, Forbidden, InvalidInput, NotFound
from mla.models import Authority, Deadline, DeadlineStep, HistoryEvent, Request, User
from mla.requests import lifecycle
from workflows.guards import event_instant


def _acting(request: Request, rule: Rule) -> Authority:
    return request.requested_authority if rule.acts == "requested" else \
        request.requesting_authority


def _form_date(request: Request, field: str) -> date | None:
    value = (request.data or {}).get(field)
    try:
        return date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _period_due(period: Mapping[str, Any], request: Request, authority: Authority,
                start: datetime, start_day: date | None, convention: str) -> datetime | None:
    tz, country = authority.timezone, authority.country
    if "from_field" in period:
        # A date the requesting authority chose is not a period: it ends as written.
        day = _form_date(request, period["from_field"])
        return calendar.end_of_day(day, tz) if day else None
    if start_day is not None:
        return calendar.due_from_day(start_day, dict(period), tz, country, convention)
    return calendar.due(start, dict(period), tz, country, convention)


def _due(rule: Rule, request: Request, start: datetime,
         data: Mapping[str, Any] | None = None) -> datetime | None:
    """When the rule's period ends for this request, counted from `start` (the legal
    trigger's instant) or from the date the rule's `starts_from` names in the step's data."""
    authority = _acting(request, rule)
    convention = rules().convention(request.legal_basis)
    start_day = None
    if rule.starts_from:
        try:
            start_day = date.fromisoformat(str((data or {}).get(rule.starts_from)))
        except ValueError:
            start_day = None
    ordinary = _period_due(rule.period, request, authority, start, start_day, convention)
    if not (request.urgent and rule.urgent_period):
        return ordinary
    urgent = _period_due(rule.urgent_period, request, authority, start, start_day, convention)
    if "from_field" in rule.urgent_period:
        # EIO art. 12(2): the shorter deadline the issuing authority indicated, when it did.
        return min((d for d in (ordinary, urgent) if d is not None), default=None)
    return urgent


def _write_steps(session: Session, deadline: Deadline, done: set[str]) -> None:
    span = deadline.due_at - deadline.period_start
    for step in rules().ladder:
        if step.step in done:
            continue
        if step.after_due is not None:
            at = deadline.due_at + step.after_due
        else:
            assert step.at is not None
            at = deadline.period_start + span * step.at
        session.add(DeadlineStep(deadline_id=deadline.id, step=step.step, due_at=at))


def _done_steps(session: Session, deadline: Deadline) -> set[str]:
    return set(session.scalars(select(DeadlineStep.step).where(
        DeadlineStep.deadline_id == deadline.id, DeadlineStep.done_at.is_not(None))))


def _drop_pending(session: Session, deadline_ids: Sequence[int]) -> None:
    if deadline_ids:
        session.execute(delete(DeadlineStep).where(DeadlineStep.deadline_id.in_(deadline_ids),
                                                   DeadlineStep.done_at.is_(None)))


def open_deadlines(session: Session, request: Request, timers: Sequence[str],
                   now: datetime, *, data: Mapping[str, Any] | None = None,
                   first: bool = False) -> list[Deadline]:
    """Opens the rules of `timers` at `now`, the instant of their legal trigger. A rule
    already running on the request is not opened twice (e.g. the recognition decision
    recorded again after an information request); `first` (a request just filed) skips
    that query."""
    candidates = [(timer, rule) for timer in timers
                  for rule in rules().for_timer(timer, request.kind, request.legal_basis)]
    if not candidates:
        return []
    running: set[str] = set() if first else set(session.scalars(select(Deadline.rule_id).where(
        Deadline.request_id == request.id, Deadline.closed_at.is_(None))))
    opened = []
    for timer, rule in candidates:
        if rule.id in running:
            continue
        due = _due(rule, request, now, data)
        if due is None:
            continue
        deadline = Deadline(request_id=request.id, rule_id=rule.id, timer=timer,
                            acting_authority_id=_acting(request, rule).id,
                            requesting_authority_id=request.requesting_authority_id,
                            requested_authority_id=request.requested_authority_id,
                            opened_at=now, period_start=now, due_at=due)
        session.add(deadline)
        opened.append(deadline)
    if opened:
        session.flush()
        for deadline in opened:
            _write_steps(session, deadline, set())
    return opened


def _open(session: Session, request: Request) -> list[Deadline]:
    return list(session.scalars(select(Deadline).where(Deadline.request_id == request.id,
                                                       Deadline.closed_at.is_(None))))


def on_transition(session: Session, request: Request, result: lifecycle.TransitionResult) -> None:
    wf = workflows.get(request.workflow)
    was = wf.states[result.from_state].suspends_clocks if result.from_state else False
    now_suspended = wf.states[result.to_state].suspends_clocks
    timers = rules().timers(request.kind, request.legal_basis)
    if not ((timers & set(result.opens)) or (timers & set(result.closes))
            or was != now_suspended):
        return  # most steps touch no clock of this kind and basis: no query
    now = utcnow()
    # A legal trigger recorded after it happened (`occurred_at`, checked by the step's
    # guard) opens and closes its clocks at that instant.
    data = result.data or {}
    at = min(event_instant(data.get("occurred_at")) or now, now)
    closes = timers & set(result.closes)
    if result.from_state and closes:
        # One UPDATE (which keeps loaded deadlines in step) and the pending steps dropped,
        # without loading the request's deadlines first.
        closed = session.scalars(
            update(Deadline).where(Deadline.request_id == request.id,
                                   Deadline.closed_at.is_(None), Deadline.timer.in_(closes))
            .values(closed_at=at).returning(Deadline.id),
            execution_options={"synchronize_session": "fetch"}).all()
        _drop_pending(session, closed)
    # Only a change of suspension needs every deadline still running.
    still_open = _open(session, request) if result.from_state and was != now_suspended \
        else []
    if now_suspended and not was:
        suspending = [d for d in still_open if d.suspended_at is None
                      and rules().rules[d.rule_id].suspends]
        for d in suspending:
            d.suspended_at = now
        _drop_pending(session, [d.id for d in suspending])
    elif was and not now_suspended:
        for d in still_open:
            if d.suspended_at is not None:
                shift = now - d.suspended_at
                d.period_start += shift
                d.due_at += shift
                d.suspended_at = None
                _write_steps(session, d, _done_steps(session, d))
    if result.opens:
        open_deadlines(session, request, result.opens, at, data=data,
                       first=result.from_state is None)
    session.flush()



def for_request(session: Session, request: Request) -> list[Deadline]:
    return list(session.scalars(select(Deadline).where(Deadline.request_id == request.id)
                                .order_by(Deadline.due_at, Deadline.id)))


def for_authority(session: Session, user: User, *, overdue: bool = False, limit: int = 200,
                  now: datetime | None = None) -> list[Deadline]:
    """Open deadlines on requests the user's authority is a party to, soonest first."""
    now = now or utcnow()
    query = (select(Deadline).join(Request, Request.id == Deadline.request_id)
             .where(access.is_party(user), Deadline.closed_at.is_(None)))
    if overdue:
        query = query.where(Deadline.due_at < now, Deadline.suspended_at.is_(None))
    return list(session.scalars(query.order_by(Deadline.due_at, Deadline.id).limit(limit)))


def get(session: Session, deadline_id: int, user: User) -> Deadline:
    deadline = session.scalar(
        select(Deadline).join(Request, Request.id == Deadline.request_id)
        .where(Deadline.id == deadline_id, access.is_party(user)))
    if deadline is None:
        raise NotFound(f"no deadline {deadline_id}")
    return deadline


def extend(session: Session, deadline: Deadline, actor: User, *, days: int,
           reason: str) -> Deadline:
    """Moves the due date by `days` calendar days, as far as the rule allows, reason kept."""
    rule = rules().rules[deadline.rule_id]
    if actor.role != "supervisor" or actor.authority_id != deadline.acting_authority_id:
        raise Forbidden("only a supervisor of the authority whose clock it is extends it")
    problems = []
    if deadline.closed_at is not None:
        problems.append(FieldProblem("deadline", "is closed"))
    left = rule.extension_left(deadline.extended_days)
    if rule.extension_max_days == 0:
        problems.append(FieldProblem("days", f"{rule.id} cannot be extended"))
    elif not 1 <= days <= left:
        problems.append(FieldProblem("days", f"between 1 and {left} ({rule.extension_citation})"))
    if not reason or not reason.strip():
        problems.append(FieldProblem("reason", "the reason is recorded and notified"))
    if problems:
        raise InvalidInput(f"deadline {deadline.id} cannot be extended", problems)
    request = deadline.request
    acting = _acting(request, rule)
    tz = acting.timezone
    old_due = deadline.due_at
    last_day = calendar.local_date(old_due - timedelta(microseconds=1), tz)
    # The further days are a period of their own, ending as the basis's periods end.
    deadline.due_at = calendar.end_of_day(calendar.last_day_of(
        last_day, days, acting.country, rules().convention(request.legal_basis)), tz)
    deadline.extended_days += days
    deadline.extension_reason = reason.strip()
    _drop_pending(session, [deadline.id])
    session.flush()
    if deadline.suspended_at is None:
        _write_steps(session, deadline, _done_steps(session, deadline))
    now = utcnow()
    session.add(HistoryEvent(request_id=request.id, at=now, actor_id=actor.id,
                             event="extend_deadline", from_state=request.state,
                             to_state=request.state, reason=reason.strip(),
                             data={"rule": rule.id, "days": days,
                                   "due_at": deadline.due_at.isoformat(),
                                   "previous_due_at": old_due.isoformat()}))
    audit.record(session, "deadline.extend", actor=actor, object_type="deadline",
                 object_id=str(deadline.id), detail={"request": str(request.id), "days": days})
    session.flush()
    return deadline

