"""Engines, sessions and schema migration (the schema is only ever built by Alembic)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, Table, create_engine, event, false, update
from sqlalchemy.orm import Session, sessionmaker

import migrations
from mla import settings


def make_engine(url: str | None = None, **kwargs: Any) -> Engine:
    url = url or settings.get().database_url
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"timeout": 30, **kwargs.get("connect_args", {})}
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers (API) and a writer (worker) share the embedded database.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def lock_for_write(session: Session, table: Table) -> None:
    """On SQLite, takes the database's single write lock now, before reads that a later write
    in the same transaction depends on (a worker's claim, the audit chain's head).

    pysqlite runs a SELECT outside any transaction, so what it read can change before the
    write: a claimed row deleted by a transition, a head another writer moved on. A write
    that touches no row opens the transaction and takes the lock. On PostgreSQL row locks
    (`FOR UPDATE SKIP LOCKED`, the head row's UPDATE) do this instead: a no-op there."""
    if session.get_bind().dialect.name == "sqlite":
        session.execute(update(table).where(false()).values({table.primary_key.columns[0]:
                                                              table.primary_key.columns[0]}))


@cache
def engine_for(url: str) -> Engine:
    return make_engine(url)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def unit_of_work(engine: Engine) -> Iterator[Session]:
    """One transaction: commits if the block ends normally, rolls back if it raises."""
    with session_factory(engine)() as session, session.begin():
        yield session


def alembic_config(url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(migrations.__file__).parent))
    cfg.attributes["database_url"] = url or settings.get().database_url
    return cfg


def upgrade(url: str | None = None, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)
