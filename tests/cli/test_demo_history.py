"""`mla demo --history`: a simulated year that gives the statistics something to show, made
by the engine's own lifecycle at the instants the steps happened."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import Engine, func, select

from cli import demo_history
from mla import db, kinds
from mla.clock import utcnow
from mla.models import Deadline, HistoryEvent, Page, Request
from mla.stats import report as stats


def test_a_simulated_year_fills_every_part_the_statistics_show(engine: Engine) -> None:
    said: list[str] = []
    counts = demo_history.populate(engine, said.append, requests=60, days=200)
    assert counts["requests"] == 60 and counts["steps"] > 200
    with db.session_factory(engine)() as s:
        requests = s.scalars(select(Request)).all()
        # Every kind, each authority filing and receiving, outgoing and registered incoming.
        assert {r.kind for r in requests} == set(kinds.all_kinds())
        pairs = Counter((r.requesting_authority.code, r.requested_authority.code)
                        for r in requests)
        for code in ("FR-MJ", "KE-ODPP", "BE-SPF"):
            assert any(a == code for a, _ in pairs) and any(b == code for _, b in pairs)
        assert {r.workflow for r in requests} == {"mla_requesting", "mla_requested",
                                                  "extradition"}
        # Spread over the period, in the past, each step at its own instant.
        first = min(r.created_at for r in requests)
        assert (utcnow() - first).days > 120
        assert s.scalar(select(func.max(HistoryEvent.at))) <= utcnow()
        # Some closed, some refused with grounds, some still open.
        refused = [e for e in s.scalars(select(HistoryEvent).where(
            HistoryEvent.event == "refuse"))]
        assert refused and all(e.data and e.data["grounds"] for e in refused)
        states = Counter(r.state for r in requests)
        assert states["closed"] + states["surrendered"] > 5
        assert sum(n for st, n in states.items()
                   if st not in ("closed", "surrendered", "refused")) > 5
        # Deadlines met and missed, extended by a supervisor, pages acknowledged.
        closed = s.scalars(select(Deadline).where(Deadline.closed_at.is_not(None))).all()
        assert any(d.closed_at <= d.due_at for d in closed)
        assert any(d.closed_at > d.due_at for d in closed)
        assert s.scalar(select(func.count()).select_from(HistoryEvent).where(
            HistoryEvent.event == "extend_deadline")) == counts["extended"] > 0
        assert s.scalar(select(func.count()).select_from(Deadline).where(
            Deadline.extended_days > 0)) > 0
        assert s.scalar(select(func.count()).select_from(Page).where(
            Page.status == "resolved")) == counts["alerts"] > 0
        report = stats.report(s, None, period="quarter")
    durations = report.tables["stage_durations"].rows
    assert any(row[1] for row in durations), durations
    assert len({row[0] for row in report.tables["volume"].rows}) >= 3
    assert report.tables["refusal_grounds"].rows

    # Once per database: a second run adds nothing and says so.
    again: list[str] = []
    assert demo_history.populate(engine, again.append, requests=60, days=200) == {}
    assert "already in this database" in again[0]
    with db.session_factory(engine)() as s:
        assert s.scalar(select(func.count()).select_from(Request)) == 60
