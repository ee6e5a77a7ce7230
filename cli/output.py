"""What every command shares: the `--database` option, one unit of work whose domain errors
become one line, and plain-text tables."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import click
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from mla import db, settings
from mla.errors import DomainError, InvalidInput

database_option = click.option(
    "--database", envvar="MLA_DATABASE_URL", default=settings.DEFAULT_DATABASE_URL,
    show_default=True, help="Database URL (or MLA_DATABASE_URL).")


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


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in r]
                                           for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
             for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
