"""What every statistics statement needs: the tables it yields, whose requests it covers
(`Scope`), the window and period asked for (`Query`), which months are read from sealed
summaries (mla/stats/seal.py), and the rows it fetches."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Integer,
    String,
    cast,
    func,
    literal_column,
    or_,
    select,
    union_all,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql.selectable import Subquery

from mla.clock import utcnow
from mla.errors import FieldProblem, InvalidInput
from mla.models import Request, StatsMonth, User
from mla.stats.periods import PERIODS, month_label, month_start, next_month

INSTANCE_ROLE = "admin"


@dataclass(frozen=True)
class Table:
    """One statistics table: what the API returns as JSON and exports as CSV."""

    name: str
    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]

    def records(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]

    def to_csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(self.columns)
        writer.writerows(["" if c is None else c for c in row] for row in self.rows)
        return out.getvalue()


@dataclass(frozen=True)
class Scope:
    """Whose requests the figures cover: one authority's, or (authority_id None) all."""

    authority_id: int | None
    label: str

    @property
    def instance_wide(self) -> bool:
        return self.authority_id is None


@dataclass(frozen=True)
class Report:
    scope: Scope
    since: datetime | None
    until: datetime | None
    period: str
    generated_at: datetime
    tables: dict[str, Table] = field(default_factory=dict)
    # The first and last month (inclusive) whose figures were read from sealed summaries.
    sealed: tuple[str, str] | None = None


def scope_for(user: User | None, own: bool = False) -> Scope:
    """None is the operator at the console, who holds the database anyway. An admin sees the
    whole instance unless `own` asks for the figures of the admin's own authority."""
    if user is None or (user.role == INSTANCE_ROLE and not own):
        return Scope(None, "all authorities on this instance")
    return Scope(user.authority_id, user.authority.code)


def as_instant(value: datetime | date | None) -> datetime | None:
    """Dates mean midnight UTC; naive datetimes are taken as UTC."""
    if value is None:
        return None
    if not isinstance(value, datetime):
        return datetime.combine(value, time(), UTC)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@dataclass(frozen=True)
class Query:
    """What every statement needs: scope, window, period and the SQL dialect."""

    user: User | None
    scope: Scope
    since: datetime | None
    until: datetime | None
    period: str
    dialect: str
    now: datetime
    # The months [first, last) whose figures come from their sealed summaries
    # (mla/stats/seal.py): sealed, wholly inside the window, instance-wide view only.
    sealed: tuple[str, str] | None = None

    def live(self, column: Any) -> list[ColumnElement[bool]]:
        """The instant is not in a sealed month: its figure is computed from the rows."""
        if self.sealed is None:
            return []
        first, last = (month_start(m) for m in self.sealed)
        return [or_(column < first, column >= last)]

    def sealed_months(self, column: Any) -> list[ColumnElement[bool]]:
        """Summary rows (`month` column) that stand in for the rows outside `live`."""
        assert self.sealed is not None
        return [column >= self.sealed[0], column < self.sealed[1]]

    def month_period(self, month: Any) -> ColumnElement[str]:
        """The period label of a month label ("2026-03" -> itself, or "2026-Q1")."""
        if self.period == "month":
            return cast(month, String)
        quarter = (cast(func.substr(month, 6, 2), Integer) + 2) // 3
        return func.substr(month, 1, 5) + literal_column("'Q'", String) + cast(quarter, String)

    def in_window(self, column: Any) -> list[ColumnElement[bool]]:
        conditions = []
        if self.since is not None:
            conditions.append(column >= self.since)
        if self.until is not None:
            conditions.append(column < self.until)
        return conditions

    def visible(self, *columns: Any, where: Sequence[ColumnElement[bool]] = ()) -> Subquery:
        """`columns` of the requests in scope (those `access.is_party` admits for a user).

        A party's requests are read as two disjoint ranges, those it asked and those it was
        asked but did not ask itself: each range is an index-only scan of its covering index
        (models.Request), where one OR of both needs a bitmap scan that visits the table."""
        if self.scope.instance_wide:
            return select(*columns).where(*where).subquery("visible")
        me = literal_column(str(int(self.scope.authority_id or 0)), Integer)
        return union_all(
            select(*columns).where(Request.requesting_authority_id == me, *where),
            select(*columns).where(Request.requested_authority_id == me,
                                   Request.requesting_authority_id != me, *where),
        ).subquery("visible")

    def period_key(self, column: Any) -> ColumnElement[Any]:
        """What to group an instant by for its UTC month or quarter: cheap per row on
        PostgreSQL (a truncated instant, formatted once per group by `period_label`)."""
        if self.dialect == "postgresql":
            return func.date_trunc(literal_column(f"'{self.period}'"), column)
        if self.period == "month":
            return func.strftime(literal_column("'%Y-%m'"), column, type_=String)
        month = cast(func.strftime(literal_column("'%m'"), column), Integer)
        return (func.strftime(literal_column("'%Y'"), column, type_=String)
                + literal_column("'-Q'", String)
                + cast((month + 2) // 3, String))

    def period_label(self, key: Any) -> ColumnElement[str]:
        """The text of a period key: "2026-03" or "2026-Q1"."""
        if self.dialect == "postgresql":
            pattern = "'YYYY-MM'" if self.period == "month" else "'YYYY-\"Q\"Q'"
            return func.to_char(key, literal_column(pattern), type_=String)
        return cast(key, String)


def prepare(session: Session, user: User | None, since: datetime | date | None,
            until: datetime | date | None, period: str, now: datetime | None,
            own: bool = False) -> Query:
    problems = []
    if period not in PERIODS:
        problems.append(FieldProblem("period", f"one of: {', '.join(PERIODS)}"))
    instants: dict[str, datetime | None] = {}
    for name, value in (("since", since), ("until", until)):
        try:
            instants[name] = as_instant(value)
        except OverflowError:  # e.g. 0001-01-01T00:00+01:00, before the first UTC instant
            problems.append(FieldProblem(name, "out of range"))
            instants[name] = None
    start, end = instants["since"], instants["until"]
    if start is not None and end is not None and start >= end:
        problems.append(FieldProblem("until", "must be after since"))
    if problems:
        raise InvalidInput("the statistics cannot be computed as asked", problems)
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        apply_settings(session)
    scope = scope_for(user, own)
    sealed = _sealed_range(session, start, end) if scope.instance_wide else None
    return Query(user, scope, start, end, period, dialect, now or utcnow(), sealed)


def sealed_span(session: Session) -> tuple[str, str] | None:
    """The first and the last sealed month (mla/stats/seal.py; they are contiguous)."""
    first, last = session.execute(select(func.min(StatsMonth.month),
                                         func.max(StatsMonth.month))).one()
    return None if first is None else (first, last)


def _sealed_range(session: Session, since: datetime | None,
                  until: datetime | None) -> tuple[str, str] | None:
    """The sealed months wholly inside [since, until), as [first, last)."""
    span = sealed_span(session)
    if span is None:
        return None
    low, high = span[0], next_month(span[1])
    if since is not None:
        month = month_label(since)
        low = max(low, month if month_start(month) == since else next_month(month))
    if until is not None:
        high = min(high, month_label(until))
    return (low, high) if low < high else None


def apply_settings(runner: Session | Connection) -> None:
    """For this transaction (PostgreSQL): one report sorts up to a few million durations: in
    memory, and without JIT compilation, which costs more than it saves on statements run
    once. Periods are UTC months and quarters: truncate instants in UTC."""
    for name, value in (("work_mem", "256MB"), ("jit", "off"), ("TimeZone", "UTC")):
        runner.execute(select(func.set_config(name, value, True)))


def fetch_rows(session: Session, stmt: Any) -> tuple[tuple[Any, ...], ...]:
    return tuple(tuple(_plain(c) for c in row) for row in session.execute(stmt).all())


def _plain(value: Any) -> Any:
    """PostgreSQL sums integers as numeric; tables hold plain ints."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value
