"""Periods and instants as the statistics count them: UTC month labels ("2026-03"), and the
SQL that turns two instants into whole seconds or hundredths of a day on either dialect."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, Integer, cast, func, literal_column

PERIODS = ("month", "quarter")
DAY = 86400
CENTIDAY = DAY // 100


def month_label(instant: datetime) -> str:
    instant = instant.astimezone(UTC)
    return f"{instant.year:04d}-{instant.month:02d}"


def month_start(label: str) -> datetime:
    return datetime(int(label[:4]), int(label[5:7]), 1, tzinfo=UTC)


def next_month(label: str) -> str:
    year, month = int(label[:4]), int(label[5:7])
    return f"{year + month // 12:04d}-{month % 12 + 1:02d}"


def epoch_seconds(dialect: str, column: Any) -> ColumnElement[int]:
    """Seconds since the epoch, truncated (SQLite's own parsing rounds to milliseconds, so
    the fraction is cut off the text first)."""
    if dialect == "postgresql":
        return cast(func.floor(func.date_part(literal_column("'epoch'"), column)), BigInteger)
    return cast(func.strftime(literal_column("'%s'"),
                              func.substr(column, literal_column("1"), literal_column("19"))),
                BigInteger)


def floordiv(a: Any, b: int) -> ColumnElement[int]:
    """a // b rounded down below zero too (SQL's integer division truncates toward zero)."""
    n = literal_column(str(int(b)), Integer)
    return (a - ((a % n) + n) % n) // n


def centidays(dialect: str, start: Any, end: Any) -> ColumnElement[int]:
    """The whole seconds from `start` to `end` in hundredths of a day, rounded half up: the
    precision the figures are given in. Rounding keeps the order, so the nearest-rank
    percentile of rounded durations is the rounded percentile of the durations."""
    seconds = epoch_seconds(dialect, end) - epoch_seconds(dialect, start)
    return floordiv(seconds + CENTIDAY // 2, CENTIDAY)
