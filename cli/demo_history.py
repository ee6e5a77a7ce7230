"""`mla demo --history`: a year of work between the two demo authorities, so that the
statistics, the lists and the deadlines have something to show.

Requests of every kind go both ways, filed at random days of the past year and driven
through their real lifecycle by the engine itself, each step at its own instant (the clock
is set to it, `mla.clock.frozen`): deadlines open and close as they would have, some late,
some extended by a supervisor; some requests are refused with grounds; urgent ones page the
24/7 desk, which acknowledges after a few minutes or, sometimes, much later; the requests
filed in the last weeks are still open. Everything happens in time order, one transaction a
step, so the history, the audit chain and the statistics' instants are those of a real year.
The same seed gives the same year."""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, select

import workflows
from cli.demo import DEMO_PASSWORD, USERS, seed, seed_oncall
from mla import audit, kinds, legal, security, templates
from mla.clock import frozen, utcnow
from mla.db import unit_of_work
from mla.deadlines import rules as deadline_rules
from mla.deadlines import service as deadlines
from mla.directory import service as directory
from mla.errors import DomainError, GuardRejected
from mla.models import AuditEvent, Authority, Request, User
from mla.oncall import paging
from mla.requests import filing, lifecycle

MARK = "demo.history"
SEED = 2322
# How long after the step before it each step comes, in days (low, high): drafting is quick,
# an acknowledgement takes days (sometimes more than the week a rule gives), execution months.
DELAYS: dict[str, tuple[float, float]] = {
    "submit": (0.05, 1.5), "approve": (0.1, 3), "transmit": (0.05, 2),
    "acknowledge": (0.5, 11), "accept": (2, 35), "start_execution": (1, 30),
    "execute": (15, 150), "send_results": (15, 150), "complete": (10, 140),
    "execute_partially": (10, 60), "close": (1, 20), "request_info": (3, 30),
    "provide_info": (2, 25), "info_received": (2, 25),
    "arrest": (0.2, 6), "notify_arrest": (0.05, 1), "receive_formal_request": (8, 48),
    "refer_to_court": (1, 10), "grant": (20, 80), "schedule_surrender": (1, 8),
    "surrender": (2, 12), "refuse": (5, 60),
}
DEFAULT_DELAY = (1.0, 10.0)
# Side roads taken now and then, where the workflow offers them; everything else follows the
# workflow's own order of steps (the ordinary road).
DETOURS = {"refuse": 0.03, "request_info": 0.1, "execute_partially": 0.2}
NEVER = {"withdraw", "withdrawn_by_requester", "return_to_draft", "release", "postpone",
         "reschedule_surrender", "send_to_translation"}
# Roads out of a state where only a detour's return leads on.
RETURNS = ("provide_info", "info_received", "resume")
EXTEND_CHANCE = 0.12
CHANNELS = ("email", "email", "email", "phone", "post", "diplomatic")
SUBJECTS = ("bank records", "telecommunications data", "company register extracts",
            "witness statement", "vehicle registration", "land registry records",
            "e-mail account contents", "cryptocurrency exchange records",
            "hotel registration", "customs declarations", "money transfer receipts",
            "mobile phone seizure")
OPERATIONS = ("Kestrel", "Baobab", "Mistral", "Acacia", "Sirocco", "Tana", "Lavande",
              "Simba", "Garrigue", "Kilima", "Mascaret", "Rift")
# A third central authority, in the EU like FR-MJ, so that the year holds European
# Investigation Orders and arrest warrants with their own clocks (and their extensions).
EU_PARTNER = dict(code="BE-SPF", country="BE", timezone="Europe/Brussels",
                  languages=["fr", "nl", "en"],
                  name="SPF Justice - Service de la coopération internationale pénale")
EU_USERS = [("BE-SPF", "be.officer", "Elise Peeters", "officer"),
            ("BE-SPF", "be.supervisor", "Tom Janssens", "supervisor")]
EU = {"FR-MJ", "BE-SPF"}
# Legal bases by family: between the two EU authorities, the EU instruments mostly.
BASES = {
    "world": {"mla": (("untoc", 0.65), ("uncac", 0.2), ("reciprocity", 0.15)),
              "extradition": (("untoc", 0.7), ("uncac", 0.15), ("reciprocity", 0.15))},
    "eu": {"mla": (("eio_2014_41", 0.85), ("untoc", 0.15)),
           "extradition": (("eaw_2002_584", 1.0),)},
    "eu_e_evidence": {"mla": (("e_evidence_2023_1543", 0.7), ("eio_2014_41", 0.3))},
}


Step = Callable[[], None]


@dataclass(order=True)
class _Action:
    at: datetime
    seq: int
    run: Step = field(compare=False)


@dataclass
class _Plan:
    """One request to be: who files it, how, and when."""

    kind: str
    requester: str
    requested: str
    incoming: bool  # registered by the requested side from paper or e-mail
    basis: str
    title: str
    filed_at: datetime


def already(engine: Engine) -> bool:
    with unit_of_work(engine) as s:
        return s.scalar(select(AuditEvent.id).where(AuditEvent.action == MARK).limit(1)) \
            is not None


def populate(engine: Engine, echo: Callable[[str], None], *, requests: int = 300,
             days: int = 365, seed_value: int = SEED) -> dict[str, int]:
    """Files and drives `requests` requests over the last `days` days (once per database)."""
    if already(engine):
        echo("The demo year is already in this database: nothing added.")
        return {}
    rng = random.Random(seed_value)
    now = utcnow()
    start = now - timedelta(days=days)
    with unit_of_work(engine) as s:
        seed(s)
        seed_oncall(s)
        if s.scalar(select(Authority).where(Authority.code == EU_PARTNER["code"])) is None:
            partner = directory.add_authority(s, **EU_PARTNER)  # type: ignore[arg-type]
            for _, username, full_name, role in EU_USERS:
                user = directory.add_user(s, partner, username=username,
                                          full_name=full_name, role=role)
                security.set_password(s, user, DEMO_PASSWORD)
    codes = sorted({code for code, *_ in (*USERS, *EU_USERS)})
    plans = _plans(rng, codes, requests, start, now)
    counts = {"requests": 0, "steps": 0, "refused": 0, "extended": 0, "alerts": 0,
              "refused_steps": 0}
    queue: list[_Action] = []
    seq = iter(range(10**9))

    def schedule(at: datetime, run: Step) -> None:
        if at < now:
            heapq.heappush(queue, _Action(at, next(seq), run))

    for plan in plans:
        schedule(plan.filed_at, _filer(engine, rng, plan, counts, schedule))
    echo(f"Simulating {days} days: {len(plans)} requests between "
         f"{', '.join(codes)}, each way (BE-SPF logs in as be.officer or be.supervisor)…")
    while queue:
        action = heapq.heappop(queue)
        with frozen(action.at):
            action.run()
    with unit_of_work(engine) as s:
        audit.record(s, MARK, object_type="demo", detail={
            k: v for k, v in counts.items() if k != "refused_steps"} | {"days": days,
                                                                          "seed": seed_value})
    echo(f"  {counts['requests']} requests, {counts['steps']} steps, {counts['refused']} "
         f"refusals, {counts['extended']} deadline extensions, {counts['alerts']} pages "
         "acknowledged; the newest are still open.")
    return counts


def _plans(rng: random.Random, codes: list[str], count: int, start: datetime,
           end: datetime) -> list[_Plan]:
    """Which requests the year holds: every kind, each authority filing and receiving."""
    all_kinds = list(kinds.all_kinds())
    plans = []
    span = (end - start - timedelta(days=2)).total_seconds()
    for i in range(count):
        kind = all_kinds[i % len(all_kinds)] if i < len(all_kinds) * 2 else \
            rng.choice(all_kinds)
        requester, requested = rng.sample(codes, 2)
        # A kind that exists only as an EU form (EIO Annex C) goes between EU authorities.
        only = templates.get(kind, templates.latest_version(kind)).legal_bases
        if only or rng.random() < 0.35:
            requester, requested = rng.sample(sorted(EU), 2)
        family = kinds.get(kind).family
        table = "world" if {requester, requested} - EU else \
            "eu_e_evidence" if kind.startswith("mla.e_evidence") else "eu"
        bases = [(b, w) for b, w in BASES[table][family] if not only or b in only] or \
            [(b, 1.0) for b in only]
        basis = rng.choices([b for b, _ in bases], [w for _, w in bases])[0]
        subject = rng.choice(SUBJECTS) if family == "mla" else "extradition"
        title = f"{subject.capitalize()} - operation {rng.choice(OPERATIONS)} " \
                f"({rng.randint(100, 999)})"
        filed = start + timedelta(seconds=rng.uniform(0, span))
        # Office hours in the filer's week, roughly.
        filed = filed.replace(hour=rng.randint(7, 15), minute=rng.randint(0, 59))
        plans.append(_Plan(kind, requester, requested, rng.random() < 0.3, basis, title,
                           filed))
    return plans


def _user(session: Any, code: str, roles: tuple[str, ...]) -> User | None:
    for authority_code, username, _, role in (*USERS, *EU_USERS):
        if authority_code == code and role in roles:
            return directory.user_by_username(session, username)
    return None


def _filer(engine: Engine, rng: random.Random, plan: _Plan, counts: dict[str, int],
           schedule: Callable[[datetime, Step], None]
           ) -> Step:
    def run() -> None:
        with unit_of_work(engine) as s:
            data = templates.example(plan.kind, templates.latest_version(plan.kind, plan.basis))
            if plan.incoming:
                officer = _user(s, plan.requested, ("officer",))
                assert officer is not None
                request = filing.register_incoming(
                    s, officer, kind=plan.kind,
                    requesting_authority_id=directory.authority_by_code(s, plan.requester).id,
                    counterpart_reference=f"{plan.requester[:2]}-{utcnow():%Y}-"
                                          f"{rng.randint(1000, 9999)}",
                    legal_basis=plan.basis, title=plan.title, language="en", data=data)
            else:
                officer = _user(s, plan.requester, ("officer",))
                assert officer is not None
                request = filing.file_request(
                    s, officer, kind=plan.kind,
                    requested_authority_id=directory.authority_by_code(s, plan.requested).id,
                    legal_basis=plan.basis, title=plan.title, language="en", data=data)
            request_id = request.id
            counts["requests"] += 1
        _after(engine, rng, request_id, counts, schedule)
    return run


def _after(engine: Engine, rng: random.Random, request_id: Any, counts: dict[str, int],
           schedule: Callable[[datetime, Step], None]) -> None:
    """Pages to acknowledge, a deadline to extend, and the request's next step, scheduled."""
    with unit_of_work(engine) as s:
        request = s.get_one(Request, request_id)
        for code in {request.requesting_authority.code, request.requested_authority.code}:
            desk = _user(s, code, ("contact_point",)) or _user(s, code, ("supervisor",))
            if desk is None:
                continue
            for page in paging.for_authority(s, desk, status="open"):
                if page.request_id == request_id:
                    # Mostly within the first step's quarter of an hour; now and then late.
                    minutes = rng.uniform(2, 14) if rng.random() < 0.8 else rng.uniform(20, 240)
                    schedule(utcnow() + timedelta(minutes=minutes),
                             _acknowledger(engine, page.id, desk.username, counts))
        if rng.random() < EXTEND_CHANCE:
            _extend_one(s, rng, request, counts)
        event = _choose(rng, request)
        if event is None:
            return
    low, high = DELAYS.get(event, DEFAULT_DELAY)
    schedule(utcnow() + timedelta(days=rng.uniform(low, high)),
             _stepper(engine, rng, request_id, event, counts, schedule))


def _choose(rng: random.Random, request: Request) -> str | None:
    wf = workflows.get(request.workflow)
    if wf.is_final(request.state):
        return None
    allowed = [e for e in lifecycle.allowed_events(request) if e not in NEVER]
    for event, chance in DETOURS.items():
        if event in allowed and rng.random() < chance:
            return event
    ordinary = [e for e in allowed if e not in DETOURS and e not in RETURNS]
    if ordinary:
        return ordinary[0]
    back = [e for e in allowed if e in RETURNS]
    return back[0] if back else (allowed[0] if allowed else None)


def _stepper(engine: Engine, rng: random.Random, request_id: Any, event: str,
             counts: dict[str, int],
             schedule: Callable[[datetime, Step], None]
             ) -> Step:
    def run() -> None:
        with unit_of_work(engine) as s:
            request = s.get_one(Request, request_id)
            step = workflows.get(request.workflow).candidates(event, request.state)[0]
            party = request.requesting_authority if step.definition.party == "requesting" \
                else request.requested_authority
            actor = _user(s, party.code, step.definition.roles)
            if actor is None:
                return
            try:
                lifecycle.transition(s, request, event, actor,
                                     **_data(rng, request, step.definition.guards))
            except (GuardRejected, DomainError):
                # A rule of the engine said no (e.g. a guard this demo does not feed): the
                # request stays where it is, as a real one would until someone acts.
                counts["refused_steps"] += 1
                s.rollback()
                return
            counts["steps"] += 1
            counts["refused"] += int(event == "refuse")
        _after(engine, rng, request_id, counts, schedule)
    return run


def _data(rng: random.Random, request: Request, guards: tuple[str, ...]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    if "reason_required" in guards:
        data["reason"] = rng.choice(("Bank has not yet answered the production order.",
                                     "Awaiting the court's decision.",
                                     "The person named could not be found at the address.",
                                     "Letter of the requested authority, see file."))
    if "refusal_grounds" in guards:
        grounds = list(legal.refusal_grounds(request.legal_basis, request.kind))
        data["grounds"] = rng.sample(grounds, min(len(grounds), rng.choice((1, 1, 2))))
    if "counterpart_report" in guards:
        tz = ZoneInfo(request.requesting_authority.timezone)
        data["received_on"] = utcnow().astimezone(tz).date().isoformat()
        data["channel"] = rng.choice(CHANNELS)
    return data


def _extend_one(session: Any, rng: random.Random, request: Request,
                counts: dict[str, int]) -> None:
    for deadline in deadlines.for_request(session, request):
        rule = deadline_rules.rules().rules[deadline.rule_id]
        left = rule.extension_left(deadline.extended_days)
        if deadline.closed_at is not None or left <= 0:
            continue
        acting = session.get_one(Authority, deadline.acting_authority_id)
        supervisor = _user(session, acting.code, ("supervisor",))
        if supervisor is None:
            continue
        deadlines.extend(session, deadline, supervisor, days=rng.randint(1, min(left, 30)),
                         reason="More time needed to gather the records (demo)")
        counts["extended"] += 1
        return


def _acknowledger(engine: Engine, page_id: int, username: str,
                  counts: dict[str, int]) -> Step:
    def run() -> None:
        with unit_of_work(engine) as s:
            user = directory.user_by_username(s, username)
            try:
                paging.acknowledge(s, page_id, user, note="On it (demo)", via="console")
                paging.resolve(s, page_id, user, note="Handled (demo)")
            except DomainError:
                return
            counts["alerts"] += 1
    return run
