"""SMS paging (Kannel's callbacks: replies and delivery reports), contact preferences and
test pages."""

from __future__ import annotations

import hmac
import ipaddress
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, status
from fastapi.responses import PlainTextResponse

from api import projections
from api.deps import SessionDep, UserDep
from api.problems import PROBLEM_RESPONSES
from api.schemas.sms import PreferencesIn, PreferencesOut, PreferenceStep, TestPageOut
from mla import settings
from mla.errors import NotFound
from mla.models import ContactPoint, Page, User
from mla.oncall import paging, preferences, sms, testpage

router = APIRouter(tags=["24/7 routing"], responses=PROBLEM_RESPONSES)

ContactId = Annotated[int, Path(ge=1, le=2**31 - 1, description="Contact point id")]
PageId = Annotated[int, Path(ge=1, le=2**63 - 1, description="Test page id")]


def _gateway(request: Request, secret: str | None) -> None:
    """Kannel's calls carry the shared secret and come from the gateway's addresses; any
    other caller is answered as if the route did not exist."""
    config = settings.get()
    expected = config.sms_callback_secret
    if not expected or not secret or not hmac.compare_digest(secret.encode(),
                                                             expected.encode()):
        raise NotFound("no such route")
    host = request.client.host if request.client else ""
    try:
        address = ipaddress.ip_address(host)
        allowed = any(address in ipaddress.ip_network(item.strip(), strict=False)
                      for item in config.sms_gateway_ips.split(",") if item.strip())
    except ValueError:
        allowed = False
    if not allowed:
        raise NotFound("no such route")


# GET: how Kannel's sms-service `get-url` and `dlr-url` call.
@router.get("/sms/inbound", response_class=PlainTextResponse)
def inbound(request: Request, session: SessionDep,
            secret: Annotated[str | None, Query(max_length=200)] = None,
            sender: Annotated[str, Query(alias="from", max_length=64,
                                         description="Kannel %p")] = "",
            text: Annotated[str, Query(max_length=1000, description="Kannel %a")] = "",
            ) -> PlainTextResponse:
    """An SMS received by the gateway (Kannel `sms-service` `get-url`): "ACK <code>" or
    "RES <code>" acts on the page as the contact point the code was sent to; the plain-text
    answer is the reply SMS. Authorization: the gateway (shared secret, gateway address);
    the act itself is checked as the contact point's linked account."""
    _gateway(request, secret)
    reply = sms.handle_reply(session, sender, text)
    session.commit()
    return PlainTextResponse(reply)


@router.get("/sms/dlr", response_class=PlainTextResponse)
def delivery_report(request: Request, session: SessionDep,
                    secret: Annotated[str | None, Query(max_length=200)] = None,
                    notification: Annotated[int, Query(ge=1, le=2**63 - 1)] = 1,
                    type_: Annotated[int, Query(alias="type", ge=0, le=2**31 - 1,
                                                description="Kannel %d")] = 0,
                    ) -> PlainTextResponse:
    """A delivery report for an SMS page (Kannel `dlr-url`), recorded on its notification.
    Authorization: the gateway (shared secret, gateway address)."""
    _gateway(request, secret)
    if sms.record_report(session, notification, type_) is None:
        raise NotFound(f"no SMS notification {notification} or report type {type_}")
    session.commit()
    return PlainTextResponse("recorded")


def _preferences(session: SessionDep, contact: ContactPoint) -> PreferencesOut:
    account = session.get(User, contact.user_id) if contact.user_id else None
    return PreferencesOut(
        contact_point=contact.id, name=contact.name, network=contact.network,
        channels=contact.channels, account=account.username if account else None,
        steps=None if contact.preferences is None else [
            PreferenceStep(**s) for s in contact.preferences],
        effective=[PreferenceStep(channel=c, after_minutes=m)
                   for c, _, m in preferences.plan(contact)])


@router.get("/contact-points/{contact_point_id}/preferences", response_model=PreferencesOut)
def get_preferences(contact_point_id: ContactId, session: SessionDep,
                    user: UserDep) -> PreferencesOut:
    """Which channels page the contact point, in which order, after how many minutes.
    Authorization: the account linked to it, or an admin of its authority."""
    return _preferences(session, preferences.manageable(session, contact_point_id, user))


@router.put("/contact-points/{contact_point_id}/preferences", response_model=PreferencesOut)
def set_preferences(contact_point_id: ContactId, body: PreferencesIn, session: SessionDep,
                    user: UserDep) -> PreferencesOut:
    """Replace the contact point's preferences (`steps`: null goes back to every channel at
    once). Authorization: the account linked to it, or an admin of its authority."""
    contact = preferences.manageable(session, contact_point_id, user)
    steps = None if body.steps is None else [s.model_dump() for s in body.steps]
    preferences.set_preferences(session, contact, steps, user)
    session.commit()
    return _preferences(session, contact)


def _test_page(session: SessionDep, contact: ContactPoint, page: Page) -> TestPageOut:
    return TestPageOut(
        id=page.id, contact_point=contact.id, reason=page.reason, status=page.status,
        opened_at=page.opened_at, acknowledged_at=page.acknowledged_at,
        acknowledged_via=page.acknowledged_via,
        notifications=projections.alert_notifications(paging.notifications(session, page)))


@router.post("/contact-points/{contact_point_id}/test-pages",
             status_code=status.HTTP_202_ACCEPTED, response_model=TestPageOut)
def send_test_page(contact_point_id: ContactId, session: SessionDep,
                   user: UserDep) -> TestPageOut:
    """Send me a test page: every channel of the contact point at once, marked as a test,
    never escalated, not in the inbox; the worker sends it (read the outcome with GET).
    Authorization: the account linked to it, or an admin of its authority."""
    contact = preferences.manageable(session, contact_point_id, user)
    page = testpage.send_test_page(session, contact, user)
    session.commit()
    return _test_page(session, contact, page)


@router.get("/contact-points/{contact_point_id}/test-pages/{test_page_id}",
            response_model=TestPageOut)
def test_page(contact_point_id: ContactId, test_page_id: PageId, session: SessionDep,
              user: UserDep) -> TestPageOut:
    """A test page's outcome per channel: sent or not, the error, the SMS delivery report.
    Authorization: the account linked to the contact point, or an admin of its authority."""
    contact = preferences.manageable(session, contact_point_id, user)
    return _test_page(session, contact, testpage.test_page(session, contact, test_page_id))
