"""Prometheus metrics of the instance (`GET /metrics`, api/observe.py).

Two kinds. Counters and histograms of what this process did (HTTP latency per route
template, transitions per workflow and event) live in prometheus_client's registry; under
`mla serve --workers N` each process writes them to PROMETHEUS_MULTIPROC_DIR and a scrape sums
the files of all (api/server.py sets the directory). Gauges of the database's state
(deadlines, pages, outbox, worker heartbeats, sealing lag, audit chain) are read from the
database at scrape time by `DatabaseCollector`, so every process answers the same and a
worker that is not an HTTP server needs no endpoint of its own.

Labels carry only names from the code and the data files (route templates, workflow and
event names, HTTP methods and status codes): never a request id, a reference, a user or any
case content.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
    values,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session, sessionmaker

from mla import settings
from mla.clock import utcnow
from mla.models import AuditCheckpoint, AuditEvent, AuditHead, Deadline, Page
from mla.ops import heartbeat, readiness
from mla.requests.lifecycle import TransitionResult

CONTENT_TYPE = CONTENT_TYPE_LATEST

HTTP_LATENCY = Histogram(
    "mla_http_request_duration_seconds", "Time to answer an HTTP request, by route template",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0))
TRANSITIONS = Counter("mla_transitions_total", "Committed request transitions",
                      ["workflow", "event"])

_PENDING = "mla.ops.metrics.transitions"


def on_transition(session: Session, request: object, result: TransitionResult) -> None:
    """Transition hook (mla/hooks.py): counted when the transaction commits, not before."""
    session.info.setdefault(_PENDING, []).append(
        (getattr(request, "workflow", ""), result.event))


def _count_committed(session: Session) -> None:
    for workflow, name in session.info.pop(_PENDING, ()):
        TRANSITIONS.labels(workflow, name).inc()


def _drop_rolled_back(session: Session) -> None:
    session.info.pop(_PENDING, None)


def install() -> None:
    """Wired by mla.hooks.install(); idempotent."""
    if not event.contains(Session, "after_commit", _count_committed):
        event.listen(Session, "after_commit", _count_committed)
        event.listen(Session, "after_rollback", _drop_rolled_back)


def _age(now: datetime, then: datetime | None) -> float:
    if then is None:
        return 0.0
    if isinstance(then, str):  # SQLite's min() of a timestamp column
        then = datetime.fromisoformat(then)
    if then.tzinfo is None:
        then = then.replace(tzinfo=now.tzinfo)
    return max(0.0, (now - then).total_seconds())


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


class DatabaseCollector(Collector):
    """The database's state at scrape time, a handful of indexed aggregates."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def collect(self) -> Iterator[Metric]:
        from mla.stats import seal

        now = utcnow()
        with self.sessions() as session:
            running, overdue = session.execute(select(
                func.count(), func.count().filter(Deadline.due_at < now))
                .where(Deadline.closed_at.is_(None))).one()
            yield _gauge("mla_deadlines_running", "Legal time limits running", running)
            yield _gauge("mla_deadlines_overdue", "Running time limits past their due time",
                         overdue)
            pages, oldest_page = session.execute(
                select(func.count(), func.min(Page.opened_at))
                .where(Page.status == "open", Page.test.is_(False))).one()
            yield _gauge("mla_pages_open", "24/7 pages not acknowledged yet", pages)
            yield _gauge("mla_page_oldest_unacknowledged_age_seconds",
                         "Age of the oldest unacknowledged page (0: none)",
                         _age(now, oldest_page))
            backlog = readiness.outbox_backlog(session, now)
            yield _gauge("mla_outbox_pending", "Messages to peer instances not delivered yet",
                         backlog["pending"])
            yield _gauge("mla_outbox_oldest_age_seconds",
                         "Age of the oldest undelivered message (0: none)",
                         backlog["oldest_age_seconds"] or 0.0)
            stale = settings.get().worker_stale_seconds
            live = heartbeat.liveness(session, now, stale)
            age = live.age_seconds(now)
            yield _gauge("mla_worker_heartbeat_age_seconds",
                         "Seconds since the youngest worker heartbeat (-1: no worker ever ran)",
                         -1.0 if age is None else age)
            yield _gauge("mla_workers_running", "Workers that beat within the stale limit",
                         live.running)
            yield _gauge("mla_stats_sealing_lag_months",
                         "Months over but not sealed yet (statistics)",
                         len(seal.due(session, now)))
            length = session.scalar(select(AuditHead.last_id).where(AuditHead.id == 1)) or 0
            yield _gauge("mla_audit_chain_length", "Rows in the audit chain (sealed)", length)
            unsealed, oldest = session.execute(select(func.count(), func.min(AuditEvent.at))
                                               .where(AuditEvent.id > length)).one()
            yield _gauge("mla_audit_unsealed", "Audit entries not linked into the chain yet",
                         unsealed)
            yield _gauge("mla_audit_oldest_unsealed_age_seconds",
                         "Age of the oldest audit entry not sealed yet (0: none)",
                         _age(now, oldest))
            last = session.scalar(select(func.max(AuditCheckpoint.chain_length)).where(
                AuditCheckpoint.received_at.is_(None))) or 0
            yield _gauge("mla_audit_rows_since_checkpoint",
                         "Audit rows not covered by a signed checkpoint yet", length - last)


def multiprocess_mode() -> bool:
    """Whether prometheus_client writes this process's metrics to PROMETHEUS_MULTIPROC_DIR: it
    decided when it was imported, and says so by the class its values have."""
    return values.ValueClass.__name__ == "MmapedValue"


def exposition(sessions: sessionmaker[Session]) -> bytes:
    """The text a scrape gets: this process's (or all processes') counters, then the
    database gauges."""
    if multiprocess_mode():
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        own = generate_latest(registry)
    else:
        from prometheus_client import REGISTRY

        own = generate_latest(REGISTRY)
    database = CollectorRegistry(auto_describe=False)
    database.register(DatabaseCollector(sessions))
    return own + generate_latest(database)
