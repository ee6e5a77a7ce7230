"""Caseload and timeliness statistics of my authority (admins: the whole instance), as JSON,
CSV per table and SVG charts (the console's statistics page shows them)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response

from api.deps import SessionDep, UserDep
from api.problems import PROBLEM_RESPONSES
from api.schemas.stats import SealedMonths, StatsOut, TableOut
from mla.stats import charts
from mla.stats import report as stats
from mla.stats.query import Report

router = APIRouter(prefix="/stats", tags=["statistics"], responses=PROBLEM_RESPONSES)

Since = Annotated[datetime | None, Query(
    description="From this instant (or date, midnight UTC), inclusive; applies to the instant "
                "each figure measures (filing, end of a stage, closing of a deadline, refusal)")]
Until = Annotated[datetime | None, Query(description="Up to this instant or date, exclusive")]
Period = Annotated[Literal["month", "quarter"], Query(description="UTC months or quarters")]


def _out(report: Report) -> StatsOut:
    return StatsOut(
        scope=report.scope.label, instance_wide=report.scope.instance_wide,
        since=report.since, until=report.until, period=report.period,
        generated_at=report.generated_at,
        sealed_months=SealedMonths(first=report.sealed[0], last=report.sealed[1])
        if report.sealed else None,
        tables={name: TableOut(title=t.title, columns=list(t.columns),
                               rows=[list(r) for r in t.rows])
                for name, t in report.tables.items()})


@router.get("", response_model=StatsOut)
def all_tables(session: SessionDep, user: UserDep, since: Since = None, until: Until = None,
               period: Period = "month") -> StatsOut:
    """Every statistics table: counts by kind, state, counterpart country and legal basis,
    volume per period, median and p90 time per stage, deadlines met and overdue, refusal
    grounds ranked. Figures cover requests my authority is a party to.
    Authorization: any role; the admin role sees every authority on this instance."""
    return _out(stats.report(session, user, since=since, until=until, period=period))


@router.get("/charts/{name}.svg", response_class=Response, responses={
    200: {"content": {"image/svg+xml": {}}, "description": "An SVG bar chart"}})
def chart(name: str, session: SessionDep, user: UserDep, since: Since = None,
          until: Until = None, period: Period = "month") -> Response:
    """A chart: `stage_durations`, `volume` (per period, by kind) or `overdue_by_counterpart`.
    Authorization: any role; the admin role sees every authority on this instance."""
    section = charts.section(name)
    report = stats.report(session, user, since=since, until=until, period=period,
                          sections=(section,))
    return Response(charts.render(name, report), media_type="image/svg+xml")


@router.get("/{table}.csv", response_class=Response, responses={
    200: {"content": {"text/csv": {}}, "description": "The table as CSV, header row first"}})
def table_csv(table: str, session: SessionDep, user: UserDep, since: Since = None,
              until: Until = None, period: Period = "month") -> Response:
    """One table as CSV (names as in `GET /stats`, e.g. `stage_durations`).
    Authorization: any role; the admin role sees every authority on this instance."""
    result = stats.table(session, user, table, since=since, until=until, period=period)
    return Response(result.to_csv(), media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="{result.name}.csv"'})

