"""Optimistic locking on both databases: a change made on a request read before someone else
changed it is refused (Conflict, 409), and nothing of it is stored. No threads: the two
writers take turns, so the outcome does not depend on timing."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from mla import access, db
from mla.errors import Conflict
from mla.models import AuditEvent, HistoryEvent, Request, User
from mla.requests import lifecycle
from tests.api_helpers import Api
from tests.conftest import build_world
from tests.lifecycle_helpers import new_request


def _stored(session: Session, request_id: Any) -> tuple[str, int, list[str], list[str]]:
    """State, version, history events and audited transitions, as committed."""
    session.expire_all()
    request_id = uuid.UUID(str(request_id))
    row = session.get_one(Request, request_id)
    history = session.scalars(select(HistoryEvent.event).where(
        HistoryEvent.request_id == request_id).order_by(HistoryEvent.id)).all()
    audited = session.scalars(select(AuditEvent.detail).where(
        AuditEvent.action == "request.transition",
        AuditEvent.object_id == str(request_id)).order_by(AuditEvent.id)).all()
    return row.state, row.version, list(history), [d["event"] for d in audited]


def test_transition_on_a_stale_read_conflicts_and_stores_nothing(engine: Engine) -> None:
    sessions = db.session_factory(engine)
    with sessions() as s:
        world = build_world(s)
        request = new_request(s, world, "mla.evidence")
        lifecycle.transition(s, request, "submit", world["fr.officer"])
        s.commit()
        request_id, supervisor_id = request.id, world["fr.supervisor"].id

    with sessions() as first, sessions() as second:
        # Both supervisors open the request in review, at version 2.
        mine = first.get_one(Request, request_id)
        theirs = second.get_one(Request, request_id)
        assert mine.version == theirs.version == 2
        lifecycle.transition(first, mine, "approve", first.get_one(User, supervisor_id))
        first.commit()
        with pytest.raises(Conflict) as refused:
            lifecycle.transition(second, theirs, "return_to_draft",
                                 second.get_one(User, supervisor_id), reason="needs work")
        assert refused.value.current_version == 3
        assert "reload it" in refused.value.detail
        second.rollback()

    with sessions() as s:
        assert _stored(s, request_id) == (
            "approved", 3, ["file", "submit", "approve"], ["submit", "approve"])


def test_api_answers_409_to_a_stale_if_match_and_stores_nothing(api: Api) -> None:
    created = api.file()
    rid = created["id"]
    submitted = api.call("fr.officer", "POST", f"/requests/{rid}/transitions",
                         json={"event": "submit"})
    etag = submitted.headers["etag"]
    # Two supervisors read the same version; the first approves it.
    for who in ("fr.supervisor", "fr.officer"):
        assert api.call(who, "GET", f"/requests/{rid}").headers["etag"] == etag
    won = api.call("fr.supervisor", "POST", f"/requests/{rid}/transitions",
                   json={"event": "approve"}, headers={"If-Match": etag})
    assert won.status_code == 200, won.text
    lost = api.call("fr.supervisor", "POST", f"/requests/{rid}/transitions",
                    json={"event": "return_to_draft", "reason": "needs work"},
                    headers={"If-Match": etag})
    assert lost.status_code == 409, lost.text
    assert lost.json()["current_version"] == won.json()["version"] == 3
    assert _stored(api.session, rid) == (
        "approved", 3, ["file", "submit", "approve"], ["submit", "approve"])


def test_api_change_racing_another_between_read_and_write_is_409(
        api: Api, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """The If-Match the client sends is the version the API reads, so only the version check
    of the UPDATE itself can see that someone else committed in between."""
    rid = api.file()["id"]
    submitted = api.call("fr.officer", "POST", f"/requests/{rid}/transitions",
                         json={"event": "submit"})
    read = access.get_request
    raced: list[str] = []

    def read_then_someone_else_commits(session: Session, request_id: Any, user: User
                                       ) -> Request:
        row = read(session, request_id, user)
        if not raced:
            raced.append(row.reference)
            with db.session_factory(engine)() as other:
                lifecycle.transition(
                    other, other.get_one(Request, row.id), "return_to_draft",
                    other.get_one(User, api.world["fr.supervisor"].id), reason="incomplete")
                other.commit()
        return row

    monkeypatch.setattr(access, "get_request", read_then_someone_else_commits)
    response = api.call("fr.supervisor", "POST", f"/requests/{rid}/transitions",
                        json={"event": "approve"}, headers={"If-Match": submitted.headers["etag"]})
    assert raced, "the race did not happen"
    assert response.status_code == 409, response.text
    assert response.json()["current_version"] == 3
    assert _stored(api.session, rid) == (
        "draft", 3, ["file", "submit", "return_to_draft"], ["submit", "return_to_draft"])
