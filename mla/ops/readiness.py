"""What `GET /ready` (also `/health/ready`) reports beyond the schema: whether a worker is
beating and how much the outbox holds. Cheap: two indexed reads."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mla import settings
from mla.models import OutboxMessage
from mla.ops import heartbeat


def outbox_backlog(session: Session, now: datetime) -> dict[str, Any]:
    count, oldest = session.execute(
        select(func.count(), func.min(OutboxMessage.created_at))
        .where(OutboxMessage.status == "pending")).one()
    if oldest is not None and not isinstance(oldest, datetime):  # SQLite's min() is text
        oldest = datetime.fromisoformat(str(oldest))
    if oldest is not None and oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=now.tzinfo)
    age = round((now - oldest).total_seconds(), 1) if oldest is not None else None
    return {"pending": int(count), "oldest_age_seconds": age}


def worker_report(session: Session, now: datetime) -> tuple[bool, dict[str, Any]]:
    """(not failing readiness, report). A database on which no worker ever ran (a first
    start) does not fail it: there is no outage to report, only `never seen`."""
    stale = settings.get().worker_stale_seconds
    live = heartbeat.liveness(session, now, stale)
    age = live.age_seconds(now)
    status = ("never seen" if age is None
              else "beating" if live.alive(now, stale) else "silent")
    return status != "silent", {
        "status": status, "running": live.running,
        "youngest_heartbeat_age_seconds": round(age, 1) if age is not None else None,
        "stale_after_seconds": stale}
