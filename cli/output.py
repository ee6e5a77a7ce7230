"""What every command shares: the `--database` option, one unit of work whose domain errors
become one line, the one line that every other mistake of a user becomes (`explain`), and
plain-text tables."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import click
from alembic.util import CommandError
from sqlalchemy import Engine, create_engine
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError
from sqlalchemy.orm import Session

from mla import db, settings
from mla.errors import DomainError, InvalidInput

# Where the `--database` option leaves its value for `explain` (click shares `meta` between a
# command's context and its group's).
DATABASE_KEY = "mla.database"
URL_EXAMPLES = "e.g. sqlite:///./mla.db or postgresql+psycopg://user@host/db"


def _database(ctx: click.Context, _param: click.Parameter, value: str) -> str:
    try:
        # Parses the URL and imports its driver, without connecting.
        create_engine(value).dispose()
    except (ArgumentError, NoSuchModuleError, ImportError) as exc:
        raise click.BadParameter(f"{db.shown(value)} is not a database URL this engine can "
                                 f"use ({_first_line(exc)}); {URL_EXAMPLES}") from None
    ctx.meta[DATABASE_KEY] = value
    return value


database_option = click.option(
    "--database", envvar="MLA_DATABASE_URL", default=settings.DEFAULT_DATABASE_URL,
    show_default=True, callback=_database, help="Database URL (or MLA_DATABASE_URL).")


@contextmanager
def engine(database: str) -> Iterator[Engine]:
    made = db.make_engine(database)
    try:
        yield made
    finally:
        made.dispose()


@contextmanager
def transaction(database: str) -> Iterator[Session]:
    """One unit of work; domain errors become a one-line message and exit status 1."""
    with engine(database) as made:
        try:
            with db.unit_of_work(made) as session:
                yield session
        except DomainError as exc:
            raise click.ClickException(message(exc)) from None


def message(exc: DomainError) -> str:
    if isinstance(exc, InvalidInput) and exc.problems:
        return exc.detail + "".join(f"\n  {p.path}: {p.message}" for p in exc.problems)
    return exc.detail


def explain(exc: Exception, database: str | None) -> str | None:
    """The one line a user gets instead of a traceback for a mistake of theirs (a database
    that is unreachable or not migrated, a file that is not there), or None for what is a bug
    and keeps its traceback."""
    url = db.shown(database or settings.get().database_url)
    if isinstance(exc, DomainError):
        return message(exc)
    if isinstance(exc, DBAPIError):
        reason = _first_line(exc.orig if exc.orig is not None else exc)
        if _missing_schema(exc):
            return f"database {url} is not migrated ({reason}): run `mla db upgrade`"
        if exc.statement is None:  # raised while connecting
            check = "that its directory exists" if url.startswith("sqlite") else \
                "that the database server is running"
            return (f"cannot connect to database {url}: {reason}; check --database or "
                    f"MLA_DATABASE_URL, and {check}")
        return f"database {url}: {reason}"
    if isinstance(exc, ArgumentError | NoSuchModuleError):  # from MLA_DATABASE_URL
        return f"{url} is not a database URL this engine can use; {URL_EXAMPLES}"
    if isinstance(exc, CommandError):  # Alembic: an unknown revision, say
        return f"database {url}: {_first_line(exc)}"
    if isinstance(exc, OSError) and exc.filename is not None:
        return f"{exc.filename}: {exc.strerror or _first_line(exc)}"
    return None


def _missing_schema(exc: DBAPIError) -> bool:
    # PostgreSQL: undefined_table, undefined_column; SQLite says it in words.
    if getattr(exc.orig, "sqlstate", None) in ("42P01", "42703"):
        return True
    text = str(exc.orig)
    return text.startswith(("no such table", "no such column")) or "has no column named" in text


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0].strip()


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in r]
                                           for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
             for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
