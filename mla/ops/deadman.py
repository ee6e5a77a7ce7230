"""The dead-man switch: when no `mla worker` has beaten for MLA_WORKER_STALE_SECONDS, deadlines
stop escalating and pages stop going out, and nothing in the worker can say so. The API
processes watch the heartbeats instead (`Watch`) and page the instance's admin contact
(MLA_ADMIN_EMAIL, MLA_ADMIN_WEBHOOK_URL: the pager's own channels, mla/oncall/notify.py) once
per outage, then once more when a worker is back.

Once, across any number of API processes: an outage is named by the last beat before it
(unique), and the process that sends a page first claims it for `CLAIM_SECONDS`. A process that
dies between sending and recording lets another send again after the claim: the message
carries the same id (`worker-outage-<id>-down`), which receivers drop as a duplicate.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import insert, or_, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from mla import settings
from mla.clock import utcnow
from mla.models import WorkerOutage
from mla.oncall import notify
from mla.ops import heartbeat

log = logging.getLogger("mla.ops.deadman")
CLAIM_SECONDS = 60.0

State = Literal["unknown", "up", "down"]


def check(sessions: sessionmaker[Session], now: datetime) -> State:
    """Looks at the heartbeats once; pages the admin if an outage began or ended and nobody
    has paged it yet. `unknown`: no worker ever ran on this database (nothing to miss yet)."""
    stale = settings.get().worker_stale_seconds
    with sessions() as session:
        live = heartbeat.liveness(session, now, stale)
    if live.youngest_beat is None:
        return "unknown"
    if live.alive(now, stale):
        _recovered(sessions, now)
        return "up"
    _down(sessions, live.youngest_beat, now)
    return "down"


def _down(sessions: sessionmaker[Session], last_beat: datetime, now: datetime) -> None:
    try:
        with sessions() as session, session.begin():
            session.execute(insert(WorkerOutage).values(last_beat_at=last_beat,
                                                        detected_at=now))
        log.error("no worker has beaten since %s: deadlines are not escalating and pages "
                  "are not going out", last_beat.isoformat())
    except IntegrityError:
        pass  # another process (or an earlier check) noticed it first
    with sessions() as session, session.begin():
        outage = session.scalar(select(WorkerOutage).where(
            WorkerOutage.last_beat_at == last_beat))
        if outage is None or outage.paged_at is not None:
            return
        if not _claim(session, outage.id, now, WorkerOutage.paged_at):
            return
        outage_id = outage.id
    minutes = (now - last_beat).total_seconds() / 60
    sent = _send(outage_id, "down", f"MLA worker down since {last_beat:%Y-%m-%d %H:%M} UTC",
                 f"No `mla worker` of {notify.public_url()} has beaten for {minutes:.0f} "
                 f"minutes (last at {last_beat.isoformat()}). Deadlines are not escalating "
                 "and 24/7 pages are not going out until a worker runs again.",
                 {"last_beat_at": last_beat.isoformat()})
    _settle(sessions, outage_id, sent, WorkerOutage.paged_at, now)


def _recovered(sessions: sessionmaker[Session], now: datetime) -> None:
    with sessions() as session, session.begin():
        open_ids = list(session.scalars(select(WorkerOutage.id).where(
            WorkerOutage.recovered_at.is_(None))))
        if open_ids:
            session.execute(update(WorkerOutage).where(WorkerOutage.id.in_(open_ids))
                            .values(recovered_at=now, claimed_until=None))
            log.warning("a worker is beating again")
        # Only an outage the admin heard of gets its "back" message.
        todo = list(session.scalars(select(WorkerOutage).where(
            WorkerOutage.paged_at.is_not(None), WorkerOutage.recovery_paged_at.is_(None))))
        claimed = [o for o in todo if _claim(session, o.id, now,
                                             WorkerOutage.recovery_paged_at)]
        items = [(o.id, o.last_beat_at, o.recovered_at or now) for o in claimed]
    for outage_id, last_beat, back in items:
        sent = _send(outage_id, "up", "MLA worker running again",
                     f"A `mla worker` of {notify.public_url()} is beating again (since "
                     f"{back.isoformat()}); it was silent from {last_beat.isoformat()}.",
                     {"last_beat_at": last_beat.isoformat(), "back_at": back.isoformat()})
        _settle(sessions, outage_id, sent, WorkerOutage.recovery_paged_at, now)


def _claim(session: Session, outage_id: int, now: datetime, done_column: object) -> bool:
    result = session.execute(
        update(WorkerOutage).where(
            WorkerOutage.id == outage_id, done_column.is_(None),  # type: ignore[attr-defined]
            or_(WorkerOutage.claimed_until.is_(None), WorkerOutage.claimed_until < now))
        .values(claimed_until=now + timedelta(seconds=CLAIM_SECONDS)))
    return bool(result.rowcount)  # type: ignore[attr-defined]


def _settle(sessions: sessionmaker[Session], outage_id: int, sent: bool, done_column: object,
            now: datetime) -> None:
    with sessions() as session, session.begin():
        # The outage row is the record (no audit entry: nobody's action, and the watcher
        # must not write into the chain from every API process).
        values: dict[str, datetime | None] = {"claimed_until": None}
        if sent:
            values[done_column.key] = now  # type: ignore[attr-defined]
        session.execute(update(WorkerOutage).where(WorkerOutage.id == outage_id)
                        .values(**values))


def _send(outage_id: int, what: str, subject: str, text: str, extra: dict[str, str]) -> bool:
    """Sends over every configured admin channel; False if none was configured or one failed
    (all are tried again at the next check, under the same message id)."""
    config = settings.get()
    key = f"worker-outage-{outage_id}-{what}"
    payload = {"notification_id": key, "event": f"worker.{what}",
               "instance": notify.public_url(), **extra}
    messages = []
    if config.admin_email:
        messages.append(notify.Message(0, 0, "email", config.admin_email, None, subject, text,
                                       payload, key=key))
    if config.admin_webhook_url:
        messages.append(notify.Message(0, 0, "webhook", config.admin_webhook_url,
                                       config.admin_webhook_secret, subject, text, payload,
                                       key=key))
    if not messages:
        log.error("%s: no admin contact to page (set MLA_ADMIN_EMAIL or "
                  "MLA_ADMIN_WEBHOOK_URL)", subject)
        return False
    ok = True
    for message in messages:
        try:
            notify.deliver(message)
        except notify.DeliveryError as exc:
            log.error("paging the admin (%s) failed: %s", message.channel, exc)
            ok = False
    return ok


class Watch:
    """The API process's watcher thread: `check` every `every` seconds until stopped."""

    def __init__(self, sessions: sessionmaker[Session], every: float | None = None,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.sessions = sessions
        self.every = every or min(30.0, settings.get().worker_stale_seconds / 4)
        self.clock = clock
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="mla-deadman", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=10)

    def _run(self) -> None:
        while not self.stop.wait(self.every):
            try:
                check(self.sessions, self.clock())
            except SQLAlchemyError as exc:  # the database is down: /ready says so
                log.warning("dead-man check failed: %s", str(exc).splitlines()[0])
