"""`mla worker`: turns due escalation steps into alerts (and seals each month's statistics
once it is over, mla/stats_seal.py).

Each batch is one transaction: claim due steps (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so
any number of workers share the work), write their alerts, mark them done, commit. A worker
killed at any line loses its uncommitted batch as a whole and the steps are claimed again;
alerts are unique per (step, role), so nothing is produced twice either.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, func, insert, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from mla import db, stats_seal, wakeup
from mla.clock import utcnow
from mla.deadline_rules import rules
from mla.models import Alert, Deadline, DeadlineStep, Request

log = logging.getLogger("mla.worker")
# How often the worker looks for a month of statistics to seal (mla/stats_seal.py).
SEAL_EVERY = 600.0

# Called in the batch's transaction for each alert (e.g. the pager for urgent steps).
AlertHook = Callable[[Session, Alert], None]
alert_hooks: list[AlertHook] = []


@dataclass
class BatchResult:
    steps: int
    alerts: int


def _message(step: str, deadline: Deadline, request: Request) -> str:
    rule = rules().rules[deadline.rule_id]
    due = deadline.due_at.strftime("%Y-%m-%d %H:%M UTC")
    what = {"reminder_50": "half of the time has passed", "reminder_80": "80% of the time has "
            "passed", "due": "due now", "overdue": "OVERDUE"}.get(step, step)
    return f"{request.reference} [{rule.id}] {what}; due {due}. {rule.citation}"


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
    for alert in written:
        for hook in alert_hooks:
            hook(session, alert)
    session.flush()
    alerts = len(written)
    return BatchResult(len(claimed), alerts)


def next_due(session: Session) -> datetime | None:
    return session.scalar(select(func.min(DeadlineStep.due_at))
                          .where(DeadlineStep.done_at.is_(None)))


def run(engine: Engine, *, batch: int = 500, poll: float = 5.0,
        stop: threading.Event | None = None, once: bool = False,
        clock: Callable[[], datetime] = utcnow) -> int:
    """Loops until `stop` is set (SIGTERM/SIGINT set it). Returns the number of alerts."""
    from mla import paging  # imported here: paging registers itself in alert_hooks

    stop = stop or threading.Event()
    # Delivery to peer instances runs beside, on its own thread.
    from mla import transfer

    delivery = transfer.start_delivery(engine, stop, once=once)
    # So does the sealing of statistics: years of months on a first start must not hold
    # alerts back.
    sealer = threading.Thread(target=seal, name="mla-stats-seal", daemon=True,
                              kwargs={"engine": engine, "stop": stop, "once": once,
                                      "clock": clock})
    sealer.start()
    sessions = db.session_factory(engine)
    waker = wakeup.Waker(engine, paging.NOTIFY_CHANNEL)
    total = 0
    while not stop.is_set():
        try:
            with sessions() as session, session.begin():
                result = run_batch(session, now=clock(), limit=batch)
            with sessions() as session:
                pages = paging.run_batch(session, now=clock(), limit=batch)
        except SQLAlchemyError:
            # The batch rolled back and its steps stay due: a lost connection or a lock
            # timeout must not stop every alert of the authority, so wait and claim again.
            log.exception("batch failed; retrying in %.1f s", poll)
            if once:
                raise
            stop.wait(poll)
            continue
        total += result.alerts
        if result.steps:
            log.info("escalated %d steps, %d alerts", result.steps, result.alerts)
        if result.steps == batch or pages.busy:
            continue  # more are due right now
        if once:
            break
        with sessions() as session:
            upcoming = min((t for t in (next_due(session), paging.next_due(session)) if t),
                           default=None)
        wait = poll
        if upcoming is not None:
            wait = max(0.0, min(poll, (upcoming - clock()).total_seconds()))
        waker.wait(wait, stop)
    waker.close()
    if delivery is not None:
        delivery.join()
    sealer.join()
    return total


def seal(engine: Engine, stop: threading.Event, *, once: bool = False,
         clock: Callable[[], datetime] = utcnow) -> None:
    """Seals each month of statistics once it is over (mla/stats_seal.py): looks every
    `SEAL_EVERY` seconds, a month falling due once a month; `once`: what is due now."""
    sessions = db.session_factory(engine)
    while not stop.is_set():
        try:
            sealed = stats_seal.seal_due(sessions, clock(), stop)
        except SQLAlchemyError:
            log.exception("sealing the statistics failed; retrying in %.0f s", SEAL_EVERY)
            sealed = []
            if once:
                return
        if sealed:
            log.info("sealed the statistics of %s", ", ".join(sealed))
        if once:
            return
        stop.wait(SEAL_EVERY)


def install_signal_handlers(stop: threading.Event) -> None:
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
