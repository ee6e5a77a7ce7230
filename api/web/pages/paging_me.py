"""My paging: the contact points linked to my account, their contact preferences (which
channels, in which order, after how many minutes) and "send me a test page"."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, Response

from api.deps import SessionDep
from api.web.pages.common import local, user_tz
from api.web.session import PREFIX, CheckedForm, ConsoleRoute, ConsoleUser, flash, page, redirect
from mla.errors import FieldProblem, InvalidInput
from mla.i18n import N_, _
from mla.oncall import paging, preferences, testpage

router = APIRouter(prefix=PREFIX, include_in_schema=False, route_class=ConsoleRoute)

ContactId = Annotated[int, Path(ge=1, le=2**31 - 1)]
HOME = f"{PREFIX}/oncall/me"


@router.get("/oncall/me", response_class=HTMLResponse)
def my_paging(request: Request, session: SessionDep, user: ConsoleUser) -> Response:
    tz = user_tz(user)
    rows: list[dict[str, Any]] = []
    for contact in preferences.mine(session, user):
        planned = {c: m for c, _address, m in preferences.plan(contact)}
        order = [c for c, _address, _after in preferences.plan(contact)]
        channels = [{"name": c, "address": preferences.address(contact, c),
                     "position": order.index(c) + 1 if c in order else None,
                     "after": planned.get(c, 0)}
                    for c in preferences.ADDRESS_FIELDS if preferences.address(contact, c)]
        tests = [{"p": p, "opened": local(p.opened_at, tz),
                  "notifications": paging.notifications(session, p)}
                 for p in testpage.recent_test_pages(session, contact)]
        rows.append({"c": contact, "channels": channels, "tests": tests})
    return page(request, "paging_me.html", {"rows": rows, "tz": tz, "nav": "oncall"})


@router.post("/oncall/me/{contact_point_id}/preferences", response_class=HTMLResponse)
def save_preferences(request: Request, contact_point_id: ContactId, form: CheckedForm,
                     session: SessionDep, user: ConsoleUser) -> Response:
    """Each channel's position ("off" leaves it out) and minutes after the step fires."""
    contact = preferences.manageable(session, contact_point_id, user)
    chosen: list[tuple[int, str, Any]] = []
    for channel in preferences.ADDRESS_FIELDS:
        position = str(form.get(f"position.{channel}") or "off")
        if position == "off":
            continue
        after = str(form.get(f"after.{channel}") or "0").strip()
        if not after.isdigit() or not position.isdigit():
            raise InvalidInput("the preferences are not valid", [FieldProblem.of(
                f"after.{channel}", N_("whole minutes from 0 to 1440"))])
        chosen.append((int(position), channel, int(after)))
    steps = [{"channel": c, "after_minutes": m} for _position, c, m in sorted(chosen)]
    preferences.set_preferences(session, contact, steps, user)
    session.commit()
    flash(request, _("Preferences of {name} saved.", name=contact.name))
    return redirect(f"{HOME}#contact-{contact.id}")


@router.post("/oncall/me/{contact_point_id}/test-page", response_class=HTMLResponse)
def send_test_page(request: Request, contact_point_id: ContactId, form: CheckedForm,
                   session: SessionDep, user: ConsoleUser) -> Response:
    contact = preferences.manageable(session, contact_point_id, user)
    test = testpage.send_test_page(session, contact, user)
    session.commit()
    flash(request, _("Test page {id} is on its way to {name}; reload to see what each "
                     "channel did.", id=test.id, name=contact.name))
    return redirect(f"{HOME}#contact-{contact.id}")
