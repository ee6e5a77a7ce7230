"""Bodies of the statistics (api/routers/stats.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel


class TableOut(BaseModel):
    title: str
    columns: list[str]
    rows: list[list[Any]]


class SealedMonths(BaseModel):
    """The months whose figures come from their sealed summaries (the instance-wide view)."""

    first: str
    last: str


class StatsOut(BaseModel):
    scope: str
    instance_wide: bool
    since: datetime | None
    until: datetime | None
    period: str
    generated_at: datetime
    sealed_months: SealedMonths | None
    tables: dict[str, TableOut]
