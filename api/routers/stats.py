"""Caseload and timeliness statistics of my authority (admins: the whole instance), as JSON,
CSV per table, SVG charts and a plain HTML page."""

from __future__ import annotations

import html
from datetime import datetime
from typing import Annotated, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Response
from fastapi.responses import HTMLResponse

from api.deps import SessionDep, UserDep
from api.headers import csp_for
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


@router.get("/page", response_class=HTMLResponse, include_in_schema=False)
def page(session: SessionDep, user: UserDep, since: Since = None, until: Until = None,
         period: Period = "month") -> HTMLResponse:
    """The charts and every table with its CSV link, readable without JavaScript.
    Authorization: any role; the admin role sees every authority on this instance."""
    report = stats.report(session, user, since=since, until=until, period=period)
    query = urlencode({k: v for k, v in (("since", since), ("until", until),
                                         ("period", period)) if v is not None})
    text = _page(report, query)
    # Its one inline <style> is allowed by hash; it runs no script; the form GETs this page.
    return HTMLResponse(text, headers={"Content-Security-Policy": csp_for(
        text, images=("'self'", "data:"), forms=("'self'",))})


@router.get("/{table}.csv", response_class=Response, responses={
    200: {"content": {"text/csv": {}}, "description": "The table as CSV, header row first"}})
def table_csv(table: str, session: SessionDep, user: UserDep, since: Since = None,
              until: Until = None, period: Period = "month") -> Response:
    """One table as CSV (names as in `GET /stats`, e.g. `stage_durations`).
    Authorization: any role; the admin role sees every authority on this instance."""
    result = stats.table(session, user, table, since=since, until=until, period=period)
    return Response(result.to_csv(), media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="{result.name}.csv"'})


def _page(report: Report, query: str) -> str:
    e = html.escape
    window = " to ".join(x.date().isoformat() if x else "…" for x in (report.since,
                                                                       report.until))
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>Statistics: {e(report.scope.label)}</title>",
        "<style>body{font-family:sans-serif;margin:2em;max-width:60em}"
        "table{border-collapse:collapse;margin-bottom:1em}"
        "td,th{border:1px solid #ccc;padding:.2em .5em;text-align:left}"
        "td.n{text-align:right}</style></head><body>",
        f"<h1>Statistics: {e(report.scope.label)}</h1>",
        f"<p>Per {e(report.period)}, {e(window)}; generated "
        f"{e(report.generated_at.strftime('%Y-%m-%d %H:%M UTC'))}"
        + (f"; {e(report.sealed[0])} to {e(report.sealed[1])} from the sealed months"
           if report.sealed else "") + ".</p>",
        "<form method='get'><label>Since <input type='date' name='since'></label> "
        "<label>Until <input type='date' name='until'></label> "
        "<label>Per <select name='period'><option>month</option><option>quarter</option>"
        "</select></label> <button>Show</button></form>",
    ]
    for name in charts.CHARTS:
        parts.append(f"<figure>{charts.render(name, report)}</figure>")
    suffix = f"?{query}" if query else ""
    for name, t in report.tables.items():
        parts.append(f"<h2 id='{e(name)}'>{e(t.title)}</h2>")
        parts.append(f"<p><a href='/stats/{e(name)}.csv{e(suffix)}'>CSV</a></p>")
        parts.append("<table><thead><tr>" + "".join(f"<th>{e(c)}</th>" for c in t.columns)
                     + "</tr></thead><tbody>")
        for row in t.rows:
            parts.append("<tr>" + "".join(
                f"<td class='n'>{e(str(c))}</td>" if isinstance(c, int | float)
                else f"<td>{e('' if c is None else str(c))}</td>" for c in row) + "</tr>")
        if not t.rows:
            parts.append(f"<tr><td colspan='{len(t.columns)}'>nothing</td></tr>")
        parts.append("</tbody></table>")
    parts.append("</body></html>")
    return "\n".join(parts)
