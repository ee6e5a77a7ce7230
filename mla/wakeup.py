"""Sleeping until work is due, or until a commit says new work exists.

On PostgreSQL a writer sends `NOTIFY channel` in its transaction, which is delivered at
commit; a loop waiting here on `LISTEN channel` wakes at once instead of at its next poll.
On SQLite, or when LISTEN is impossible, it simply sleeps."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from sqlalchemy import Engine

log = logging.getLogger(__name__)

# After a failed LISTEN, poll for this long before trying again, rather than every wait.
RETRY_LISTEN_SECONDS = 60.0


class Waker:
    def __init__(self, engine: Engine, channel: str) -> None:
        self.engine = engine
        self.channel = channel
        self.conn: Any = None
        self.retry_at = 0.0

    def listen(self) -> Any:
        if (self.conn is None and self.engine.dialect.name == "postgresql"
                and time.monotonic() >= self.retry_at):
            import psycopg

            url = self.engine.url.set(drivername="postgresql")
            try:
                self.conn = psycopg.connect(url.render_as_string(hide_password=False),
                                            autocommit=True)
                self.conn.execute(f"LISTEN {self.channel}")
            except psycopg.Error as exc:
                log.warning("cannot LISTEN %s (%s); polling instead", self.channel, exc)
                self.close()
                self.retry_at = time.monotonic() + RETRY_LISTEN_SECONDS
        return self.conn

    def wait(self, seconds: float, stop: threading.Event) -> None:
        """Returns after `seconds`, at a notification, or when `stop` is set."""
        conn = self.listen()
        if conn is None:
            stop.wait(seconds)
            return
        import psycopg

        deadline = time.monotonic() + seconds
        try:
            while not stop.is_set():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                # Short slices, so a stop request is seen promptly.
                for _ in conn.notifies(timeout=min(remaining, 0.5), stop_after=1):
                    return
        except psycopg.Error as exc:
            log.warning("LISTEN %s connection lost (%s)", self.channel, exc)
            self.close()

    def close(self) -> None:
        if self.conn is not None:
            try:
                self.conn.close()
            except Exception:  # closing a broken connection may fail: it is gone either way
                pass
            finally:
                self.conn = None
