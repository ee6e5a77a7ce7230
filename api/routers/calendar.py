"""Shift calendars: a contact point's on-call shifts as an iCalendar feed at a secret URL,
and the making of that URL."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import Response
from pydantic import BaseModel, Field

from api.deps import SessionDep, UserDep
from api.problems import PROBLEM_RESPONSES
from mla.oncall import calendar

router = APIRouter(tags=["24/7 routing"], responses=PROBLEM_RESPONSES)


class CalendarLinkOut(BaseModel):
    contact_point: int
    url: str = Field(description="Subscribe to it in a calendar application; keep it secret")


@router.get("/calendar/{token}.ics", response_class=Response,
            responses={200: {"content": {"text/calendar": {}},
                             "description": "iCalendar (RFC 5545), times in UTC"}})
def shift_calendar(token: Annotated[str, Path(max_length=100)],
                   session: SessionDep) -> Response:
    """The contact point's shifts, a month back to six months ahead: rotation shifts and
    overrides, in UTC. Authorization: public; the secret token in the URL is the credential
    (any other token: 404)."""
    contact = calendar.by_token(session, token)
    return Response(calendar.feed(session, contact), media_type="text/calendar; charset=utf-8",
                    headers={"Cache-Control": "private, max-age=300",
                             "Content-Disposition": 'inline; filename="shifts.ics"'})


@router.post("/contact-points/{contact_id}/calendar-link", response_model=CalendarLinkOut)
def new_calendar_link(contact_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
                      session: SessionDep, user: UserDep) -> CalendarLinkOut:
    """A new secret URL of the contact point's shift calendar; the previous one stops
    working. Authorization: admin or supervisor of the contact point's authority."""
    contact = calendar.rotate_token(session, contact_id, user)
    session.commit()
    return CalendarLinkOut(contact_point=contact.id, url=calendar.url(contact) or "")
