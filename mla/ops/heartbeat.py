"""Worker heartbeats: each `mla worker` process writes when its loop last came round, so the
API can tell that deadlines are escalating and pages going out (mla/ops/deadman.py)."""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from mla.models import WorkerHeartbeat

# The worker loop beats at most this often; well under the stale limit (default 120 s).
BEAT_EVERY_SECONDS = 10.0


def new_worker_id() -> str:
    return f"{socket.gethostname()[:50]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def start(session: Session, worker_id: str, now: datetime) -> None:
    """Registers a worker process; the caller commits."""
    session.add(WorkerHeartbeat(worker_id=worker_id, host=socket.gethostname()[:255],
                                pid=os.getpid(), started_at=now, beat_at=now))
    session.flush()


def beat(session: Session, worker_id: str, now: datetime) -> None:
    session.execute(update(WorkerHeartbeat).where(WorkerHeartbeat.worker_id == worker_id)
                    .values(beat_at=now, stopped_at=None))


def stop(session: Session, worker_id: str, now: datetime) -> None:
    """A worker that stops on purpose says so; a killed one just stops beating."""
    session.execute(update(WorkerHeartbeat).where(WorkerHeartbeat.worker_id == worker_id)
                    .values(beat_at=now, stopped_at=now))


@dataclass(frozen=True)
class Liveness:
    youngest_beat: datetime | None  # None: no worker ever ran on this database
    running: int  # workers that beat within the stale limit

    def age_seconds(self, now: datetime) -> float | None:
        if self.youngest_beat is None:
            return None
        return max(0.0, (now - self.youngest_beat).total_seconds())

    def alive(self, now: datetime, stale_seconds: float) -> bool:
        age = self.age_seconds(now)
        return age is not None and age <= stale_seconds


def liveness(session: Session, now: datetime, stale_seconds: float) -> Liveness:
    # ORDER BY rather than max(): SQLite's max() hands back a string, not the column's type.
    youngest = session.scalar(select(WorkerHeartbeat.beat_at)
                              .order_by(WorkerHeartbeat.beat_at.desc()).limit(1))
    running = session.scalar(select(func.count()).select_from(WorkerHeartbeat).where(
        WorkerHeartbeat.stopped_at.is_(None),
        WorkerHeartbeat.beat_at >= _ago(now, stale_seconds))) or 0
    return Liveness(youngest, running)


def _ago(now: datetime, seconds: float) -> datetime:
    return now - timedelta(seconds=seconds)
