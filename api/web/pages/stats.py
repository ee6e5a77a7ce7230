"""Statistics in the console: the charts and every table of `mla.stats` with CSV links,
for a period and a window; the user's own authority by default (an admin may ask for the
whole instance)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup

from api.deps import SessionDep
from api.web.session import PREFIX, ConsoleRoute, ConsoleUser, page
from mla.stats import charts
from mla.stats import report as stats
from mla.stats.query import INSTANCE_ROLE

router = APIRouter(prefix=PREFIX, include_in_schema=False, route_class=ConsoleRoute)

Period = Annotated[Literal["month", "quarter"], Query()]
Scope = Annotated[Literal["own", "instance"], Query()]


def _query(since: date | None, until: date | None, period: str, scope: str) -> str:
    """The page's choices as a query string, defaults left out."""
    return urlencode({k: v for k, v in (("since", since), ("until", until),
                                        ("period", period if period != "month" else None),
                                        ("scope", scope if scope != "own" else None))
                      if v is not None})


@router.get("/stats", response_class=HTMLResponse)
def statistics(request: Request, session: SessionDep, user: ConsoleUser,
               since: date | None = None, until: date | None = None,
               period: Period = "month", scope: Scope = "own") -> Response:
    own = scope == "own" or user.role != INSTANCE_ROLE
    report = stats.report(session, user, since=since, until=until, period=period, own=own)
    query = _query(since, until, period, "own" if own else "instance")
    return page(request, "stats.html", {
        "nav": "stats", "report": report, "since": since or "", "until": until or "",
        "period": period, "scope": "own" if own else "instance",
        "may_see_instance": user.role == INSTANCE_ROLE,
        # Built by mla.stats.charts with every text escaped; no script, no style attribute.
        "charts": [Markup(charts.render(name, report)) for name in charts.CHARTS],
        "csv_suffix": f"?{query}" if query else "",
        "tables": report.tables,
    })


@router.get("/stats/{table}.csv")
def table_csv(table: str, session: SessionDep, user: ConsoleUser, since: date | None = None,
              until: date | None = None, period: Period = "month",
              scope: Scope = "own") -> Response:
    own = scope == "own" or user.role != INSTANCE_ROLE
    result = stats.table(session, user, table, since=since, until=until, period=period,
                         own=own)
    return Response(result.to_csv(), media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="{result.name}.csv"',
        "Cache-Control": "no-store"})
