"""`mla worker`: the loop that escalates due deadlines (mla/deadlines/escalation.py), sends
pages (mla/oncall/delivery.py) and requests by e-mail (mla/mail/delivery.py), delivers to
peer instances (mla/transfer/) and seals each month's statistics once it is over
(mla/stats/seal.py) and links new audit entries into the hash chain (mla/audit.py, every
MLA_AUDIT_SEAL_EVERY_SECONDS), each on its own thread where one must not hold the others back. The
escalation loop beats (mla/ops/heartbeat.py) each time round, so a worker that stops or hangs
makes the API page the admin (mla/ops/deadman.py)."""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from mla import audit, db, hooks, settings, wakeup
from mla.clock import utcnow
from mla.deadlines import escalation
from mla.errors import DomainError
from mla.mail import delivery as mail_delivery
from mla.oncall import delivery as page_delivery
from mla.oncall import paging
from mla.ops import anchor, heartbeat, retention
from mla.stats import seal as stats_seal
from mla.transfer import delivery as transfer_delivery

log = logging.getLogger("mla.worker")
# How often the worker looks for a month of statistics to seal (mla/stats/seal.py).
SEAL_EVERY = 600.0


def run(engine: Engine, *, batch: int = 500, poll: float = 5.0,
        stop: threading.Event | None = None, once: bool = False,
        clock: Callable[[], datetime] = utcnow) -> int:
    """Loops until `stop` is set (SIGTERM/SIGINT set it). Returns the number of alerts."""
    hooks.install()
    stop = stop or threading.Event()
    # Delivery to peer instances runs beside, on its own thread.
    delivery = transfer_delivery.start_delivery(engine, stop, once=once)
    # And so does e-mail to authorities without an instance: a slow SMTP server must not
    # hold alerts back.
    mailer = mail_delivery.start_delivery(engine, stop, once=once)
    # So does the sealing of statistics: years of months on a first start must not hold
    # alerts back.
    sealer = threading.Thread(target=seal, name="mla-stats-seal", daemon=True,
                              kwargs={"engine": engine, "stop": stop, "once": once,
                                      "clock": clock})
    sealer.start()
    # The audit sealer likewise: the chain must not wait for a slow batch of alerts.
    audit_sealer = threading.Thread(target=seal_audit, name="mla-audit-seal", daemon=True,
                                    kwargs={"engine": engine, "stop": stop, "once": once})
    audit_sealer.start()
    # Audit checkpoints (and their round of HTTP to every peer) likewise; periodic work,
    # not part of `--once` (what is due now).
    jobs = threading.Thread(target=ops_jobs, name="mla-ops-jobs", daemon=True,
                            kwargs={"engine": engine, "stop": stop, "clock": clock})
    if not once:
        jobs.start()
    sessions = db.session_factory(engine)
    waker = wakeup.Waker(engine, paging.NOTIFY_CHANNEL)
    worker_id = heartbeat.new_worker_id()
    with sessions() as session, session.begin():
        heartbeat.start(session, worker_id, clock())
    beaten = time.monotonic()
    total = 0
    while not stop.is_set():
        try:
            if time.monotonic() - beaten >= heartbeat.BEAT_EVERY_SECONDS:
                with sessions() as session, session.begin():
                    heartbeat.beat(session, worker_id, clock())
                beaten = time.monotonic()
            with sessions() as session, session.begin():
                result = escalation.run_batch(session, now=clock(), limit=batch)
            with sessions() as session:
                pages = page_delivery.run_batch(session, now=clock(), limit=batch)
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
            upcoming = min((t for t in (escalation.next_due(session),
                                        page_delivery.next_due(session)) if t), default=None)
        wait = poll
        if upcoming is not None:
            wait = max(0.0, min(poll, (upcoming - clock()).total_seconds()))
        waker.wait(wait, stop)
    waker.close()
    try:
        with sessions() as session, session.begin():
            heartbeat.stop(session, worker_id, clock())
    except SQLAlchemyError:
        log.exception("could not record this worker's stop")
    if delivery is not None:
        delivery.join()
    mailer.join()
    sealer.join()
    audit_sealer.join()
    if jobs.is_alive():
        jobs.join()
    return total


def ops_jobs(engine: Engine, stop: threading.Event, *, once: bool = False,
             clock: Callable[[], datetime] = utcnow) -> None:
    """Every MLA_CHECKPOINT_EVERY_SECONDS: the erasures retention makes due
    (mla/ops/retention.py), then a signed audit checkpoint when the chain grew, sent to every
    peer to witness (mla/ops/anchor.py)."""
    sessions = db.session_factory(engine)
    while not stop.is_set():
        try:
            with sessions() as session:
                erased = retention.erase_due(session, clock())
            if erased:
                log.info("retention erased the content of %s", ", ".join(erased))
            with sessions() as session, session.begin():
                checkpoint = anchor.make(session, clock())
                if checkpoint is not None:
                    anchor.send_to_peers(session, checkpoint)
                    log.info("audit checkpoint at row %d", checkpoint.chain_length)
        except (SQLAlchemyError, DomainError):
            log.exception("retention or the audit checkpoint failed; trying again later")
            if once:
                return
        if once:
            return
        stop.wait(settings.get().checkpoint_every_seconds)


def seal_audit(engine: Engine, stop: threading.Event, *, once: bool = False) -> None:
    """Links the audit entries committed since into the hash chain, batch after batch, then
    waits MLA_AUDIT_SEAL_EVERY_SECONDS; `once`: until the chain is as long as it can be now.
    Any number of workers may run it: a batch the head is locked for is skipped."""
    sessions = db.session_factory(engine)
    every = settings.get().audit_seal_every_seconds
    while not stop.is_set():
        try:
            linked = audit.seal_all(sessions)
        except SQLAlchemyError:
            log.exception("sealing the audit chain failed; retrying in %.1f s", every)
            linked = 0
            if once:
                return
        if linked:
            log.debug("sealed %d audit rows", linked)
        if once:
            return
        stop.wait(every)


def seal(engine: Engine, stop: threading.Event, *, once: bool = False,
         clock: Callable[[], datetime] = utcnow) -> None:
    """Seals each month of statistics once it is over (mla/stats/seal.py): looks every
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
