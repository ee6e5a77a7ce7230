"""A sleeping worker wakes at the commit that gives it work (PostgreSQL LISTEN/NOTIFY),
and still wakes at its poll interval or on stop without it."""

from __future__ import annotations

import threading
import time

from sqlalchemy import Engine, create_engine, text

from mla import wakeup
from mla.oncall import paging
from mla.transfer import outbox as transfer_outbox

LONG = 30.0  # a poll interval the tests must never wait out


def _wait_in_thread(waker: wakeup.Waker, seconds: float, stop: threading.Event
                    ) -> tuple[threading.Thread, list[float]]:
    took: list[float] = []

    def run() -> None:
        start = time.monotonic()
        waker.wait(seconds, stop)
        took.append(time.monotonic() - start)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, took


def test_a_commit_with_notify_wakes_the_waiting_loop(pg_engine: Engine) -> None:
    for channel in (paging.NOTIFY_CHANNEL, transfer_outbox.NOTIFY_CHANNEL):
        waker = wakeup.Waker(pg_engine, channel)
        waker.listen()  # listening before the commit, as the worker is while it sleeps
        thread, took = _wait_in_thread(waker, LONG, threading.Event())
        with pg_engine.begin() as conn:
            conn.execute(text(f"NOTIFY {channel}"))
        thread.join(LONG + 5)
        waker.close()
        assert took and took[0] < LONG / 2, f"{channel}: slept through the notification"


def test_without_listen_it_sleeps_and_honours_stop() -> None:
    waker = wakeup.Waker(create_engine("sqlite://"), paging.NOTIFY_CHANNEL)
    stop = threading.Event()
    thread, took = _wait_in_thread(waker, LONG, stop)
    stop.set()
    thread.join(LONG + 5)
    assert took and took[0] < LONG / 2
