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

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from mla import db
from mla.clock import utcnow
from mla.deadlines.rules import rules
from mla.models import Alert, Deadline, DeadlineStep, Request

# Called in the batch's transaction for each alert (e.g. the pager for urgent steps); wired
# by mla.hooks.install, like the transition hooks.
AlertHook = Callable[[Session, Alert], None]
_alert_hooks: tuple[AlertHook, ...] | None = None


def set_alert_hooks(hooks: Sequence[AlertHook]) -> None:
    global _alert_hooks
    _alert_hooks = tuple(hooks)


def installed_alert_hooks() -> tuple[AlertHook, ...] | None:
    return _alert_hooks

@dataclass
class BatchResult:
    steps: int
    alerts: int


def _message(step: str, deadline: Deadline, request: Request) -> str:
    rule = rules().rules[deadline.rule_id]
    due = deadline.due_at.strftime("%Y-%m-%d %H:%M UTC")
    what = {"reminder_50": "half of the time has passed", "reminder_80": "80% of the time has "
            "passed", "due": "due now", "overdue": "OVERDUE"}.get(step, step)
    expiry = f" At expiry, {rule.on_expiry}." if rule.on_expiry and step in (
        "due", "overdue") else ""
    return (f"{request.reference} [{rule.id}] {rule.title_in('en')}: {what}; due {due}. "
            f"{rule.citation}.{expiry}")


def run_batch(session: Session, *, now: datetime | None = None, limit: int = 500) -> BatchResult:
    """Claims up to `limit` due steps and writes their alerts, in the session's transaction.
    The caller commits."""
    now = now or utcnow()
    db.lock_for_write(session, DeadlineStep.__table__)
    claimed = list(session.scalars(
        select(DeadlineStep)
        .where(DeadlineStep.done_at.is_(None), DeadlineStep.due_at <= now)
        .order_by(DeadlineStep.due_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ))
    if not claimed:
        return BatchResult(0, 0)
    deadlines = {d.id: d for d in session.scalars(
        select(Deadline).where(Deadline.id.in_({s.deadline_id for s in claimed})))}
    requests = {r.id: r for r in session.scalars(
        select(Request).where(Request.id.in_({d.request_id for d in deadlines.values()})))}
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
    # Set-based writes: a batch is a few statements, whatever its size.
    written = list(session.scalars(insert(Alert).returning(Alert), rows)) if rows else []
    session.execute(update(DeadlineStep).where(DeadlineStep.id.in_([s.id for s in claimed]))
                    .values(done_at=now).execution_options(synchronize_session=False))
    if _alert_hooks is None:
        raise RuntimeError("alert hooks are not installed: the entry point must call "
                           "mla.hooks.install() first")
    for alert in written:
        for hook in _alert_hooks:
            hook(session, alert)
    session.flush()
    alerts = len(written)
    return BatchResult(len(claimed), alerts)


def next_due(session: Session) -> datetime | None:
    return session.scalar(select(func.min(DeadlineStep.due_at))
                          .where(DeadlineStep.done_at.is_(None)))
