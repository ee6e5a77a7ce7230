"""24/7: who is on call, rotations, escalation and the directory."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, Response

from api.deps import SessionDep
from api.web.pages.common import local, user_tz
from api.web.session import PREFIX, CheckedForm, ConsoleRoute, ConsoleUser, flash, page, redirect
from mla.clock import utcnow
from mla.i18n import N_, _
from mla.oncall import calendar, paging
from mla.oncall import service as oncall

router = APIRouter(prefix=PREFIX, include_in_schema=False, route_class=ConsoleRoute)


# Whom a `role:` step pages, in the plural (mla.models.ROLES).
ROLE_PLURALS = {"officer": N_("officers"), "supervisor": N_("supervisors"),
                "liaison": N_("liaison officers"), "validator": N_("validating authorities"),
                "contact_point": N_("contact points"), "admin": N_("administrators")}


def _step_text(step: dict[str, Any], names: dict[int, str]) -> str:
    """An escalation step as a person reads it: whom, and after how long."""
    notify = str(step.get("notify", ""))
    if notify == "on_call":
        whom = _("the person on call")
    elif notify.startswith("contact:"):
        whom = names.get(int(notify.split(":", 1)[1]), notify)
    else:
        role = notify.split(":", 1)[-1]
        whom = (_(ROLE_PLURALS[role]) if role in ROLE_PLURALS
                else role.replace("_", " ") + "s")
    minutes = int(step.get("delay_minutes", 0))
    return (_("{whom}, after {n} min", whom=whom, n=minutes) if minutes
            else _("{whom}, at once", whom=whom))


@router.get("/oncall", response_class=HTMLResponse)
def oncall_page(request: Request, session: SessionDep, user: ConsoleUser) -> Response:
    """Who answers for my authority now on each 24/7 network, its rotations and escalation
    policies (my authority's only), and the shared directory of every authority's contact
    points (never webhook addresses or secrets)."""
    tz, now = user_tz(user), utcnow()
    everyone = oncall.contacts(session)
    mine = [c for c in everyone if c.authority_id == user.authority_id]
    others = [c for c in everyone if c.authority_id != user.authority_id and c.active]
    names = {c.id: c.name for c in mine}
    rotations = []
    for rotation in oncall.rotations(session, user.authority_id):
        who = oncall.resolve(session, rotation, now)
        rotations.append({"r": rotation, "who": who, "until": local(who.ends_at, tz) if who
                          else None, "members": [names.get(m, f"#{m}") for m in rotation.members]})
    policies = [{"p": p, "steps": [_step_text(s, names) for s in p.steps]}
                for p in paging.policies(session, user.authority_id)]
    return page(request, "oncall.html", {
        "rotations": rotations, "policies": policies, "mine": mine, "others": others,
        "tz": tz, "nav": "oncall", "calendars": {c.id: calendar.url(c) for c in mine},
        "can_link": user.role in calendar.ROTATE_ROLES})


@router.post("/oncall/contacts/{contact_id}/calendar", response_class=HTMLResponse)
def new_calendar_link(request: Request, contact_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
                      form: CheckedForm, session: SessionDep, user: ConsoleUser) -> Response:
    """A new secret link to the contact point's shift calendar (the old one stops working).
    Authorization: admin or supervisor of the contact point's authority."""
    contact = calendar.rotate_token(session, contact_id, user)
    session.commit()
    flash(request, _("New shift calendar link for {name}; subscriptions to the previous "
                     "link stop.", name=contact.name))
    return redirect(f"{PREFIX}/oncall#mine")
