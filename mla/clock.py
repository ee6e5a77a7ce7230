"""The current instant, always timezone-aware UTC. Tests and simulations may set the clock
(`frozen`), which every module sees because they all call `utcnow()` from here."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

_fixed: list[datetime] = []


def utcnow() -> datetime:
    return _fixed[-1] if _fixed else datetime.now(UTC)


@contextmanager
def frozen(instant: datetime) -> Iterator[None]:
    if instant.tzinfo is None:
        raise ValueError("instants must be timezone-aware")
    _fixed.append(instant.astimezone(UTC))
    try:
        yield
    finally:
        _fixed.pop()
