"""Requests moved through their lifecycles by the transition service, on a real database."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

import workflows
from mla import access, kinds
from mla.errors import Conflict, Forbidden, GuardRejected, IllegalTransition, NotFound
from mla.models import HistoryEvent, Request
from mla.requests import lifecycle, translations
from tests.conftest import World
from tests.lifecycle_helpers import fire, new_request, validating_form
from tests.paths import covering_paths, shortest_paths

CASES = [
    ("mla_requesting", "mla.evidence", "requesting"),
    ("mla_requesting", "mla.e_evidence.preservation", "requesting"),
    ("mla_requested", "mla.evidence", "requested"),
    ("extradition", "extradition.provisional_arrest", "requesting"),
    ("extradition", "extradition.request", "requesting"),
]


def history_count(session: Session, request: Request) -> int:
    return session.scalar(
        select(func.count()).select_from(HistoryEvent)
        .where(HistoryEvent.request_id == request.id)
    ) or 0


@pytest.mark.parametrize(("name", "kind", "side"), CASES)
def test_every_transition_is_taken_on_a_path_to_a_final_state(
    session: Session, world: World, name: str, kind: str, side: str
) -> None:
    wf = workflows.get(name)
    paths = covering_paths(wf, kind)
    taken = set()
    validating = validating_form(kind)
    for path in paths:
        if any(step.event == "validate" for step in path):
            if validating is None:
                continue  # no form of this kind is validated: the step cannot be taken
            request = new_request(session, world, kind, side, basis=validating[0],
                                  data=validating[1])
        else:
            request = new_request(session, world, kind, side)
        assert request.workflow == name
        for step in path:
            fire(session, world, request, step)
            taken.add(step)
            assert request.state == step.dest
        assert wf.is_final(request.state)
        events = lifecycle.history(session, request)
        assert [(e.event, e.from_state, e.to_state) for e in events] == [
            ("file", None, wf.definition.initial),
            *((s.event, s.source, s.dest) for s in path),
        ]
        assert request.version == 1 + len(path)
    reachable = {state for state, _ in shortest_paths(wf, (wf.definition.initial, None), kind)}
    every = {s for s in wf.steps if s.source in reachable
             and (not s.definition.kinds or kind in s.definition.kinds)
             and (s.event != "validate" or validating is not None)}
    assert taken == every


@pytest.mark.parametrize(("name", "kind", "side"),
                         [c for c in CASES if c[1] != "mla.e_evidence.preservation"])
def test_every_illegal_event_in_every_state_is_refused_and_changes_nothing(
    session: Session, world: World, name: str, kind: str, side: str
) -> None:
    wf = workflows.get(name)
    reach = shortest_paths(wf, (wf.definition.initial, None), kind)
    by_state = {}
    for (state, _), path in sorted(reach.items(), key=lambda cp: len(cp[1])):
        by_state.setdefault(state, path)
    validating = validating_form(kind)
    for state, path in by_state.items():
        if any(step.event == "validate" for step in path) and validating is not None:
            request = new_request(session, world, kind, side, basis=validating[0],
                                  data=validating[1])
        else:
            request = new_request(session, world, kind, side)
        for step in path:
            fire(session, world, request, step)
        version, events = request.version, history_count(session, request)
        allowed = wf.allowed_events(state)
        for event in [e for e in wf.events() if e not in allowed] + ["no_such_event"]:
            with pytest.raises(IllegalTransition) as err:
                lifecycle.transition(session, request, event, world["fr.supervisor"],
                                     reason="r", grounds=["x"])
            assert err.value.state == state and err.value.allowed == allowed
            assert f"'{event}' is not allowed in state '{state}'" in err.value.detail
        session.rollback()
        fresh = session.get_one(Request, request.id, populate_existing=True)
        assert (fresh.state, fresh.version) == (state, version)
        assert history_count(session, fresh) == events


@pytest.mark.parametrize("name", ["mla_requesting", "mla_requested", "extradition"])
def test_every_state_is_reachable_by_some_kind(name: str) -> None:
    wf = workflows.get(name)
    reached = {state for kind in kinds.all_kinds()
               for state, _ in shortest_paths(wf, (wf.definition.initial, None), kind)}
    assert reached == set(wf.states)


def test_only_a_supervisor_of_the_requesting_authority_approves(
    session: Session, world: World
) -> None:
    request = new_request(session, world, "mla.evidence")
    lifecycle.transition(session, request, "submit", world["fr.officer"])
    session.commit()
    with pytest.raises(Forbidden, match="supervisor"):
        lifecycle.transition(session, request, "approve", world["fr.officer"])
    with pytest.raises(Forbidden, match="requesting authority"):
        lifecycle.transition(session, request, "approve", world["ke.supervisor"])
    with pytest.raises(NotFound):
        lifecycle.transition(session, request, "approve", world["us.supervisor"])
    assert request.state == "in_review"
    lifecycle.transition(session, request, "approve", world["fr.supervisor"])
    session.commit()
    assert request.state == "approved"


def test_transmit_needs_a_complete_form(session: Session, world: World) -> None:
    request = new_request(session, world, "mla.evidence", data={})
    for event, user in (("submit", "fr.officer"), ("approve", "fr.supervisor")):
        lifecycle.transition(session, request, event, world[user])
    session.commit()
    with pytest.raises(GuardRejected) as err:
        lifecycle.transition(session, request, "transmit", world["fr.officer"])
    assert err.value.problems and all(p.path.startswith("data.") for p in err.value.problems)
    session.rollback()
    assert session.get_one(Request, request.id, populate_existing=True).state == "approved"


def test_transmit_needs_a_text_the_requested_authority_reads(
    session: Session, world: World
) -> None:
    request = new_request(session, world, "mla.evidence", language="fr")
    for event, user in (("submit", "fr.officer"), ("approve", "fr.supervisor")):
        lifecycle.transition(session, request, event, world[user])
    session.commit()
    with pytest.raises(GuardRejected, match="accepts only en, sw"):
        lifecycle.transition(session, request, "transmit", world["fr.officer"])
    session.rollback()
    from mla import templates

    english = {p: request.data[p] for p in templates.translatable_paths(
        request.kind, request.template_version) if p in request.data}
    translations.put_translation(session, request, world["fr.officer"], language="en",
                                 data=english)
    lifecycle.transition(session, request, "transmit", world["fr.officer"])
    session.commit()
    assert request.state == "transmitted"


def _to_state(session: Session, world: World, request: Request, events: list[str]) -> None:
    wf = workflows.get(request.workflow)
    for event in events:
        step = wf.candidates(event, request.state)[0]
        fire(session, world, request, step)


def test_refusal_needs_grounds_of_the_legal_basis(session: Session, world: World) -> None:
    request = new_request(session, world, "mla.evidence", side="requested")
    _to_state(session, world, request, ["acknowledge"])
    boss = world["ke.supervisor"]
    with pytest.raises(GuardRejected, match="must state its grounds"):
        lifecycle.transition(session, request, "refuse", boss)
    with pytest.raises(GuardRejected, match="not available under untoc: fiscal_offence"):
        lifecycle.transition(session, request, "refuse", boss, grounds=["fiscal_offence"])
    lifecycle.transition(session, request, "refuse", boss, grounds=["essential_interests"],
                         reason="national security")
    session.commit()
    last = lifecycle.history(session, request)[-1]
    assert (last.to_state, last.reason, last.data) == (
        "refused", "national security", {"grounds": ["essential_interests"]})


def test_info_request_returns_to_where_it_was_raised(session: Session, world: World) -> None:
    request = new_request(session, world, "mla.evidence", side="requested")
    _to_state(session, world, request, ["acknowledge", "accept", "start_execution",
                                        "request_info"])
    assert (request.state, request.resume_state) == ("info_requested", "in_execution")
    _to_state(session, world, request, ["info_received"])
    assert (request.state, request.resume_state) == ("in_execution", None)


def test_extradition_transmit_goes_where_the_kind_says(session: Session, world: World) -> None:
    for kind, expected in (("extradition.provisional_arrest", "provisional_arrest_requested"),
                           ("extradition.request", "formal_request_received")):
        request = new_request(session, world, kind)
        _to_state(session, world, request, ["submit", "approve", "transmit"])
        assert request.state == expected


def test_stale_version_is_a_conflict(session: Session, world: World) -> None:
    request = new_request(session, world, "mla.evidence")
    with pytest.raises(Conflict) as err:
        lifecycle.transition(session, request, "submit", world["fr.officer"],
                             expected_version=request.version + 1)
    assert err.value.current_version == 1
    assert request.state == "draft"


def test_allowed_events_depend_on_who_asks(session: Session, world: World) -> None:
    request = new_request(session, world, "mla.evidence")
    _to_state(session, world, request, ["submit"])
    assert lifecycle.allowed_events(request) == ["approve", "return_to_draft", "withdraw"]
    assert lifecycle.allowed_events(request, world["fr.officer"]) == ["withdraw"]
    assert lifecycle.allowed_events(request, world["ke.supervisor"]) == []


def test_third_authority_cannot_see_the_request(session: Session, world: World) -> None:
    request = new_request(session, world, "mla.evidence")
    assert access.get_request(session, request.id, world["ke.officer"]).id == request.id
    with pytest.raises(NotFound):
        access.get_request(session, request.id, world["us.officer"])


def test_references_count_up_per_authority(session: Session, world: World) -> None:
    first = new_request(session, world, "mla.evidence")
    second = new_request(session, world, "mla.service")
    incoming = new_request(session, world, "mla.evidence", side="requested")
    year = first.created_at.year
    assert first.reference == f"FR-MJ-{year}-00001"
    assert second.reference == f"FR-MJ-{year}-00002"
    assert incoming.reference == f"KE-ODPP-{year}-00001"
