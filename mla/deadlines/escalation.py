"""Escalation of legal time limits: turns due deadline steps into alerts.

Each batch is one transaction: claim due steps (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so
any number of workers share the work), write their alerts, mark them done, commit. A worker
killed at any line loses its uncommitted batch as a whole and the steps are claimed again;
alerts are unique per (step, role), so nothing is produced twice either. The loop that calls
`run_batch` is `mla worker` (cli/worker.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import any_, bindparam, func, insert, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from mla import db
from mla.clock import utcnow
from mla.deadlines.rules import rules
from mla.models import Alert, Deadline, DeadlineStep, Request, UTCDateTime

# Called in the batch's transaction for each alert written (e.g. the pager for urgent
# steps); wired by mla.hooks.install, like the transition hooks. The alert is the row as
# written (`WRITTEN` columns, read by attribute), not an ORM object: a batch of a thousand
# steps must not build two thousand of them for hooks that look at a few.
AlertHook = Callable[[Session, Any], None]
_alert_hooks: tuple[AlertHook, ...] | None = None
WRITTEN = (Alert.id, Alert.request_id, Alert.authority_id, Alert.role, Alert.step,
           Alert.message, Alert.created_at)


def set_alert_hooks(hooks: Sequence[AlertHook]) -> None:
    global _alert_hooks
    _alert_hooks = tuple(hooks)


def installed_alert_hooks() -> tuple[AlertHook, ...] | None:
    return _alert_hooks

@dataclass
class BatchResult:
    steps: int
    alerts: int


def _message(step: str, deadline: Any, request: Any) -> str:
    rule = rules().rules[deadline.rule_id]
    due = deadline.due_at.strftime("%Y-%m-%d %H:%M UTC")
    what = {"reminder_50": "half of the time has passed", "reminder_80": "80% of the time has "
            "passed", "due": "due now", "overdue": "OVERDUE"}.get(step, step)
    expiry = f" At expiry, {rule.on_expiry}." if rule.on_expiry and step in (
        "due", "overdue") else ""
    return (f"{request.reference} [{rule.id}] {rule.title_in('en')}: {what}; due {due}. "
            f"{rule.citation}.{expiry}")


# A batch is a handful of statements whatever its size, each reading only the columns the
# alerts need (no ORM objects, no request's form). On PostgreSQL the lists travel as one
# array parameter each: an IN list or a multi-row VALUES of a thousand placeholders is a new
# statement text every batch, which the driver parses in Python every time.
_CLAIM = (select(DeadlineStep.id, DeadlineStep.deadline_id, DeadlineStep.step)
          .where(DeadlineStep.done_at.is_(None), DeadlineStep.due_at <= bindparam("now"))
          .order_by(DeadlineStep.due_at).limit(bindparam("limit"))
          .with_for_update(skip_locked=True))
_DEADLINES = select(Deadline.id, Deadline.request_id, Deadline.rule_id, Deadline.due_at,
                    Deadline.acting_authority_id)
_REQUESTS = select(Request.id, Request.reference, Request.urgent)
_ALERTS_PG = text("""INSERT INTO alerts (request_id, authority_id, role, source,
        deadline_step_id, step, message, created_at)
    SELECT r, a, role, 'deadline', s, st, m, :now
    FROM unnest(CAST(:request_id AS uuid[]), CAST(:authority_id AS integer[]),
                CAST(:role AS text[]), CAST(:deadline_step_id AS bigint[]),
                CAST(:step AS text[]), CAST(:message AS text[])) AS t(r, a, role, s, st, m)
    RETURNING id, request_id, authority_id, role, step, message, created_at"""
).bindparams(bindparam("now", type_=UTCDateTime())).columns(
    *(Alert.__table__.c[c.key] for c in WRITTEN))
_DONE_PG = text("UPDATE deadline_steps SET done_at = :now WHERE id = ANY(:ids)").bindparams(
    bindparam("now", type_=UTCDateTime()))


def _among(column: Any, values: Any, postgresql: bool) -> Any:
    return column == any_(bindparam(None, list(values), type_=ARRAY(column.type))) \
        if postgresql else column.in_(values)


def run_batch(session: Session, *, now: datetime | None = None, limit: int = 500) -> BatchResult:
    """Claims up to `limit` due steps and writes their alerts, in the session's transaction.
    The caller commits."""
    now = now or utcnow()
    db.lock_for_write(session, DeadlineStep.__table__)
    claimed = session.execute(_CLAIM, {"now": now, "limit": limit}).all()
    if not claimed:
        return BatchResult(0, 0)
    postgresql = session.get_bind().dialect.name == "postgresql"
    deadlines = {d.id: d for d in session.execute(_DEADLINES.where(
        _among(Deadline.id, {s.deadline_id for s in claimed}, postgresql)))}
    requests = {r.id: r for r in session.execute(_REQUESTS.where(
        _among(Request.id, {d.request_id for d in deadlines.values()}, postgresql)))}
    ladder = {step.step: step for step in rules().ladder}
    rows = []
    for step in claimed:
        deadline = deadlines[step.deadline_id]
        request = requests[deadline.request_id]
        spec = ladder[step.step]
        roles = spec.notify + (spec.urgent_notify if request.urgent else ())
        message = _message(step.step, deadline, request)
        rows.extend({"request_id": request.id, "authority_id": deadline.acting_authority_id,
                     "role": role, "source": "deadline", "deadline_step_id": step.id,
                     "step": step.step, "message": message, "created_at": now}
                    for role in dict.fromkeys(roles))
    step_ids = [s.id for s in claimed]
    written: list[Any] = []
    if postgresql:
        if rows:
            written = session.execute(_ALERTS_PG, {"now": now, **{
                key: [row[key] for row in rows] for key in
                ("request_id", "authority_id", "role", "deadline_step_id", "step", "message")
            }}).all()
        session.execute(_DONE_PG, {"now": now, "ids": step_ids})
    else:
        if rows:
            written = session.execute(insert(Alert).returning(*WRITTEN), rows).all()
        session.execute(update(DeadlineStep).where(DeadlineStep.id.in_(step_ids))
                        .values(done_at=now).execution_options(synchronize_session=False))
    if _alert_hooks is None:
        raise RuntimeError("alert hooks are not installed: the entry point must call "
                           "mla.hooks.install() first")
    for alert in written:
        for hook in _alert_hooks:
            hook(session, alert)
    session.flush()
    return BatchResult(len(claimed), len(written))


def next_due(session: Session) -> datetime | None:
    return session.scalar(select(func.min(DeadlineStep.due_at))
                          .where(DeadlineStep.done_at.is_(None)))
