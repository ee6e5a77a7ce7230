"""Alerts (pages of the 24/7 point): the inbox, acknowledge and resolve."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, Response

from api import projections
from api.deps import SessionDep
from api.web.pages.common import local, user_tz
from api.web.session import PREFIX, CheckedForm, ConsoleRoute, ConsoleUser, flash, page, redirect
from mla.errors import Conflict
from mla.i18n import _
from mla.oncall import paging

router = APIRouter(prefix=PREFIX, include_in_schema=False, route_class=ConsoleRoute)


@router.get("/alerts", response_class=HTMLResponse)
def alert_inbox(request: Request, session: SessionDep, user: ConsoleUser,
                status: Annotated[str, Query(pattern="^(open|acknowledged|resolved|all)$")]
                = "all") -> Response:
    items = paging.for_authority(session, user, status=None if status == "all" else status)
    tz = user_tz(user)
    notes = projections.alert_notes_visible(user)
    rows = [{"p": p, "note": p.note if notes else None, "opened": local(p.opened_at, tz),
             "acknowledged": local(p.acknowledged_at, tz),
             "resolved": local(p.resolved_at, tz)} for p in items]
    return page(request, "alerts.html", {
        "rows": rows, "status": status, "tz": tz, "nav": "alerts",
        "can_act": user.role in paging.ACK_ROLES, "statuses": ("all", *paging.STATUSES)})


@router.post("/alerts/{alert_id}/{action}", response_class=HTMLResponse)
def alert_action(request: Request, alert_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
                 action: Annotated[str, Path(pattern="^(acknowledge|resolve)$")],
                 form: CheckedForm, session: SessionDep, user: ConsoleUser) -> Response:
    note = str(form.get("note") or "").strip()[:2000] or None
    try:
        if action == "acknowledge":
            paging.acknowledge(session, alert_id, user, note=note, via="console")
        else:
            paging.resolve(session, alert_id, user, note=note)
        session.commit()
        flash(request, _("Alert {id} acknowledged.", id=alert_id) if action == "acknowledge"
              else _("Alert {id} resolved.", id=alert_id))
    except Conflict as exc:
        session.rollback()
        flash(request, exc.detail)
    return redirect(f"{PREFIX}/alerts#alert-{alert_id}")
