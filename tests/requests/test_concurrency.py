"""Two officers acting on the same request at the same moment (PostgreSQL row locks)."""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import Engine, func, select

from mla import db
from mla.errors import Conflict
from mla.models import HistoryEvent, Request, User
from mla.requests import lifecycle
from tests.conftest import build_world
from tests.lifecycle_helpers import new_request


def test_concurrent_transitions_one_wins_other_conflicts(pg_engine: Engine) -> None:
    sessions = db.session_factory(pg_engine)
    with sessions() as s:
        world = build_world(s)
        request = new_request(s, world, "mla.evidence")
        lifecycle.transition(s, request, "submit", world["fr.officer"])
        s.commit()
        request_id = request.id
        actors = {"approve": world["fr.supervisor"].id, "return_to_draft":
                  world["fr.supervisor"].id}

    # Both read version 2, then race: one approves, the other returns it to the drafter.
    barrier = threading.Barrier(2)
    outcome: dict[str, Any] = {}

    def act(event: str) -> None:
        with sessions() as s:
            req = s.get_one(Request, request_id)
            actor = s.get_one(User, actors[event])
            barrier.wait()
            try:
                lifecycle.transition(s, req, event, actor, reason="needs work")
                s.commit()
                outcome[event] = "won"
            except Conflict as exc:
                outcome[event] = exc

    threads = [threading.Thread(target=act, args=(e,)) for e in actors]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)

    winners = [e for e, r in outcome.items() if r == "won"]
    losers = [r for r in outcome.values() if isinstance(r, Conflict)]
    assert len(winners) == 1 and len(losers) == 1, outcome
    assert losers[0].current_version == 3
    with sessions() as s:
        final = s.get_one(Request, request_id)
        expected = {"approve": "approved", "return_to_draft": "draft"}[winners[0]]
        assert (final.state, final.version) == (expected, 3)
        events = s.scalars(select(HistoryEvent.event).where(
            HistoryEvent.request_id == request_id).order_by(HistoryEvent.id)).all()
        assert events == ["file", "submit", winners[0]]
        assert s.scalar(select(func.count()).select_from(HistoryEvent)) == 3
