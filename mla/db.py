"""Engines, sessions and schema migration (the schema is only ever built by Alembic)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache, partial
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, Table, create_engine, event, false, inspect, make_url, update
from sqlalchemy.exc import ArgumentError, DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

import migrations
from mla import settings
from mla.errors import DomainError


def make_engine(url: str | None = None, **kwargs: Any) -> Engine:
    url = url or settings.get().database_url
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"timeout": 30, **kwargs.get("connect_args", {})}
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    engine = create_engine(url, **kwargs)
    event.listen(engine, "checkin", _idle_from)
    event.listen(engine, "checkout", partial(_ping_if_idle, engine))
    return engine


# A connection handed back moments ago is alive: pinging it at every checkout (pool_pre_ping)
# costs a round trip per transaction on the hottest paths. One that sat idle longer (where a
# server restart or an idle timeout closes connections) is pinged before use, and replaced if
# it is dead, as pool_pre_ping would.
PING_AFTER_IDLE_SECONDS = 1.0
_IDLE_SINCE = "mla.idle_since"


def _idle_from(_dbapi_connection: Any, record: Any) -> None:
    if record is not None:
        record.info[_IDLE_SINCE] = time.monotonic()


def _ping_if_idle(engine: Engine, dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    since = record.info.pop(_IDLE_SINCE, None)
    if since is None or time.monotonic() - since < PING_AFTER_IDLE_SECONDS:
        return  # just connected, or just used
    dialect = engine.dialect
    try:
        dialect.do_ping(dbapi_connection)
    except dialect.loaded_dbapi.Error as exc:
        if dialect.is_disconnect(exc, dbapi_connection, None):
            # The pool drops this connection and checks out a new one.
            raise DisconnectionError(str(exc)) from exc
        raise


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


# --- is the schema where this code expects it? ----------------------------------------------

class NotMigrated(DomainError):
    """The database is not at the head of this engine's migrations; `detail` says where it is
    and what to run."""

    title = "Database not migrated"


@dataclass(frozen=True)
class SchemaState:
    current: str | None  # the database's Alembic revision; None: it has none
    head: str  # the head of this engine's migrations
    known: bool  # `current` is one of this engine's revisions (or None)
    empty: bool  # the database has no tables at all

    @property
    def at_head(self) -> bool:
        return self.current == self.head

    def problem(self, url: str | None = None) -> str | None:
        """One line saying what is wrong and what to do; None at head. `url` names the
        database (left out where a stranger reads it)."""
        where = f"database {shown(url)}" if url else "the database"
        if self.at_head:
            return None
        if self.current is None:
            what = "has no tables" if self.empty else \
                "has tables but no migration revision (not made by `mla db upgrade`)"
            return f"{where} {what}: run `mla db upgrade`"
        if not self.known:
            return (f"{where} is at revision {self.current}, which this version of the engine "
                    f"does not know (its head is {self.head}): run the engine it was migrated "
                    "with, or a newer one")
        return (f"{where} is at revision {self.current}, not at the migrations' head "
                f"{self.head}: run `mla db upgrade`")


def shown(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def is_embedded_default(url: str) -> bool:
    """The SQLite file a first run gets when MLA_DATABASE_URL is unset."""
    return url == settings.DEFAULT_DATABASE_URL


@cache
def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head is not None, "migrations/versions has no revision"
    return head


@cache
def _revisions() -> frozenset[str]:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    return frozenset(r.revision for r in script.walk_revisions())


def schema_state(engine: Engine) -> SchemaState:
    """Where the database's schema is (raises SQLAlchemy's errors when it is unreachable)."""
    with engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
        empty = current is None and not inspect(conn).get_table_names()
    return SchemaState(current=current, head=head_revision(),
                       known=current is None or current in _revisions(), empty=empty)


def prepare(url: str, log: Callable[[str], None]) -> SchemaState:
    """Before a long-running process (`mla serve`, `mla worker`) starts on `url`: raises
    NotMigrated unless the schema is at the head, so that nothing comes up to fail at its
    first request. The embedded default database is migrated here instead (a first run has
    nobody to run `mla db upgrade` for it), which `log` reports in one line."""
    engine = make_engine(url)
    try:
        state = schema_state(engine)
    finally:
        engine.dispose()
    problem = state.problem(url)
    if problem is None:
        return state
    if not (is_embedded_default(url) and state.known):
        raise NotMigrated(problem)
    # The absolute path: started in another directory than `mla demo`, this is a new file.
    where = Path(make_url(url).database or "").resolve()
    start = state.current or "nothing (a new database, without users: see `mla demo`)"
    log(f"migrating the embedded database {where} from {start} to {state.head} "
        "(MLA_DATABASE_URL is unset)")
    upgrade(url)
    return SchemaState(current=state.head, head=state.head, known=True, empty=False)


# What the database holds beside the models: SQLite's FTS5 index of the search documents and
# its shadow tables (migration 0014), which no SQLAlchemy table describes.
_UNMODELLED_TABLES = ("search_fts", "search_names")


def modelled(name: str | None, type_: str, parent_names: Any) -> bool:
    """Alembic `include_name`: compare everything but the tables above."""
    return not (type_ == "table" and name is not None and name.startswith(_UNMODELLED_TABLES))
