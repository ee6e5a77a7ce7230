"""The test page ("send me a test page"): a contact point's channels tried at once, marked
as a test, never escalated, not in the inbox. A reply "ACK <code>" to its SMS is
acknowledged like a real page's, so the person sees that replies work too."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from mla import audit
from mla.clock import utcnow
from mla.errors import FieldProblem, InvalidInput, NotFound
from mla.i18n import N_
from mla.models import ContactPoint, Notification, Page, User
from mla.oncall import paging, preferences


def send_test_page(session: Session, contact: ContactPoint, actor: User, *,
                   now: datetime | None = None) -> Page:
    """A test page to the contact point over each of its channels, at once; the caller
    commits (the worker sends it)."""
    targets = preferences.plan(contact)
    if not targets:
        raise InvalidInput("nothing to test", [FieldProblem.of(
            "channels", N_("the contact point has no channel the pager sends on (email, "
                           "webhook, sms...) with an address"))])
    now = now or utcnow()
    page = Page(request_id=None, authority_id=contact.authority_id, policy_id=None,
                network=contact.network, source="test", test=True,
                reason=f"Test page for {contact.name}, asked by {actor.username}",
                status="open", step_index=0, repeat_round=0, next_escalation_at=None,
                opened_at=now)
    session.add(page)
    session.flush()
    session.add_all([Notification(page_id=page.id, step_index=0, round=0,
                                  recipient=f"contact:{contact.id}", channel=channel,
                                  address=where, status="pending", attempts=0,
                                  next_attempt_at=now, created_at=now)
                     for channel, where, _ in targets])
    session.flush()
    audit.record(session, "page.test", actor=actor, object_type="page",
                 object_id=str(page.id), detail={"contact_point": contact.id,
                                                 "channels": [c for c, _, _ in targets]})
    paging.wake_workers(session)
    return page


def test_page(session: Session, contact: ContactPoint, page_id: int) -> Page:
    page = session.scalar(select(Page).where(Page.id == page_id, Page.test.is_(True),
                                             Page.authority_id == contact.authority_id))
    if page is None or not session.scalar(select(Notification.id).where(
            Notification.page_id == page.id,
            Notification.recipient == f"contact:{contact.id}").limit(1)):
        raise NotFound(f"no test page {page_id} of contact point {contact.id}")
    return page


def recent_test_pages(session: Session, contact: ContactPoint, limit: int = 5) -> list[Page]:
    return list(session.scalars(
        select(Page).join(Notification, Notification.page_id == Page.id)
        .where(Page.test.is_(True), Page.authority_id == contact.authority_id,
               Notification.recipient == f"contact:{contact.id}")
        .distinct().order_by(Page.id.desc()).limit(limit)))
