"""Pooled PostgreSQL connections: one the server closed while it sat idle is replaced before
use (no error for the next request); one handed back moments ago is used without a ping."""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy import Engine, make_url, text

from mla import db


def _backend(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())


def test_a_connection_closed_while_idle_is_replaced(pg_engine: Engine,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    engine = db.make_engine(pg_engine.url.render_as_string(hide_password=False), pool_size=1)
    try:
        pid = _backend(engine)
        dsn = pg_engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        with psycopg.connect(dsn, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 0.0)
        assert _backend(engine) != pid
    finally:
        engine.dispose()


def test_a_connection_just_handed_back_is_not_pinged(pg_engine: Engine) -> None:
    engine = db.make_engine(make_url(pg_engine.url).render_as_string(hide_password=False),
                            pool_size=1)
    pings: list[object] = []
    try:
        _backend(engine)
        real = engine.dialect.do_ping
        engine.dialect.do_ping = lambda c: pings.append(c) or real(c)  # type: ignore[method-assign]
        for _ in range(5):
            _backend(engine)
        assert pings == []
    finally:
        engine.dispose()
