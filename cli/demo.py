"""`mla demo`: two central authorities with their users and 24/7 service (contact points, a
rotation and an escalation policy each), one MLA request and one provisional arrest driven a
few steps each, so a newcomer sees the engine work end to end on an embedded database, then
logs in to the console.

The demo runs once per database: a second run files nothing and shows what the first one
made (`populate` says so), so that `mla demo` can be typed again to see the logins."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, make_url, select
from sqlalchemy.orm import Session

from cli import profiles
from cli.output import table
from mla import audit, db, security, settings, templates
from mla.clock import utcnow
from mla.db import unit_of_work
from mla.deadlines import rules as deadline_rules
from mla.deadlines import service as deadlines
from mla.directory import io as directory_io
from mla.directory import service as directory
from mla.errors import DomainError
from mla.models import ROLES, Authority, Request, User
from mla.oncall import paging
from mla.oncall import service as oncall
from mla.requests import filing, lifecycle, translations

AUTHORITIES = [
    dict(code="FR-MJ", country="FR", timezone="Europe/Paris", languages=["fr", "en"],
         name="Ministère de la Justice - Bureau de l'entraide pénale internationale"),
    dict(code="KE-ODPP", country="KE", timezone="Africa/Nairobi", languages=["en", "sw"],
         name="Office of the Director of Public Prosecutions - Central Authority"),
]
USERS = [
    ("FR-MJ", "fr.officer", "Camille Martin", "officer"),
    ("FR-MJ", "fr.supervisor", "Luc Bernard", "supervisor"),
    ("FR-MJ", "fr.liaison", "Nadia Haddad", "liaison"),
    ("KE-ODPP", "ke.officer", "Wanjiru Kamau", "officer"),
    ("KE-ODPP", "ke.supervisor", "Otieno Odhiambo", "supervisor"),
    ("KE-ODPP", "ke.contact", "Achieng Njoroge", "contact_point"),
    ("FR-MJ", "fr.admin", "Paul Lefèvre", "admin"),
]
# Every demo user logs in with this (e.g. to `mla serve`); never used outside the demo.
DEMO_PASSWORD = "mla-demo-password"
MLA_TITLE = "Relevés bancaires - affaire Kestrel"
ARREST_TITLE = "Provisional arrest - J. Doe"

# Each authority's national 24/7 service, in the shape `mla directory import` reads (members
# and steps name contact points): two people taking weekly turns, handing off on Monday at
# 09:00 local time; a page goes to the one on call, then to the office's duty desk, then to
# the supervisors.
NETWORK = "national"
_PEOPLE = {
    "FR-MJ": ("Europe/Paris", ["fr", "en"], "justice.example", "+33 1 44 77 60 ",
              [("Claire Dubois", "claire.dubois"), ("Marc Rousseau", "marc.rousseau"),
               ("Permanence BEPI", "permanence.bepi")]),
    "KE-ODPP": ("Africa/Nairobi", ["en", "sw"], "odpp.example", "+254 20 273 00",
                [("Achieng Njoroge", "achieng.njoroge"), ("Brian Mwangi", "brian.mwangi"),
                 ("ODPP Duty Desk", "duty.desk")]),
}
ONCALL: dict[str, list[dict[str, Any]]] = {
    "contact_points": [
        dict(authority=code, network=NETWORK, name=name, email=f"{mailbox}@{domain}",
             phone=f"{phone}{i:02d}", languages=languages, channels=["email"], timezone=zone)
        for code, (zone, languages, domain, phone, people) in _PEOPLE.items()
        for i, (name, mailbox) in enumerate(people)
    ],
    "rotations": [
        dict(authority=code, network=NETWORK, timezone=zone, handoff_time="09:00",
             shift_hours=168, starts_on="2025-01-06", members=[people[0][0], people[1][0]])
        for code, (zone, _, _, _, people) in _PEOPLE.items()
    ],
    "escalation_policies": [
        dict(authority=code, network=NETWORK, repeat=1, steps=[
            {"notify": "on_call", "delay_minutes": 0},
            {"notify": f"contact:{people[2][0]}", "delay_minutes": 15},
            {"notify": "role:supervisor", "delay_minutes": 30}])
        for code, (_, _, _, _, people) in _PEOPLE.items()
    ],
}


def seed(session: Session) -> None:
    """Creates the demo authorities and users unless they exist (the demo can run again)."""
    for spec in AUTHORITIES:
        if session.scalar(select(Authority).where(Authority.code == spec["code"])) is None:
            directory.add_authority(session, **spec)
    for code, username, full_name, role in USERS:
        if session.scalar(select(User).where(User.username == username)) is None:
            user = directory.add_user(session, directory.authority_by_code(session, code),
                                      username=username, full_name=full_name, role=role)
            security.set_password(session, user, DEMO_PASSWORD)


def seed_oncall(session: Session) -> None:
    """The 24/7 desks of `ONCALL`, imported as `mla directory import` does, for each demo
    authority that has no contact point yet (what a user changed since stays as it is)."""
    codes = {code for code in _PEOPLE
             if not oncall.contacts(session,
                                    authority_id=directory.authority_by_code(session, code).id)}
    rows = [directory_io.Row(section, line, data)
            for line, (section, data) in enumerate(
                ((section, data) for section in directory_io.SECTIONS
                 for data in ONCALL.get(section, []) if data["authority"] in codes), start=1)]
    if not rows:
        return
    report = directory_io.import_rows(session, rows)
    if report.errors:
        raise RuntimeError("demo 24/7 directory: " + "; ".join(map(str, report.errors)))
    audit.record(session, "directory.import", object_type="directory",
                 detail={"file": "demo", "created": report.created,
                         "updated": report.updated, "rejected": 0})


def demo_requests(session: Session) -> list[Request]:
    """The requests an earlier run filed (FR-MJ's, by their titles), oldest first."""
    return list(session.scalars(
        select(Request).join(Authority, Request.requesting_authority_id == Authority.id)
        .where(Authority.code == "FR-MJ", Request.title.in_([MLA_TITLE, ARREST_TITLE]))
        .order_by(Request.created_at, Request.reference)))


def populate(engine: Engine, echo: Callable[[str], None]) -> None:
    """Seeds the directory and the 24/7 desks, then files and drives the two requests unless
    an earlier run did (then it says so and leaves them as they are)."""
    with unit_of_work(engine) as s:
        seed(s)
        seed_oncall(s)
        profiles.seed_demo(s)
        done = bool(demo_requests(s))
    if done:
        echo(f"The demo data is already in this database: showing it again, as it is now. "
             f"To start over, {_start_over(engine)}.")
        return
    echo("Driving two requests from FR-MJ to KE-ODPP:")
    run(engine, echo)


def _start_over(engine: Engine) -> str:
    url = make_url(str(engine.url))
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        return f"delete {url.database} and run `mla demo` again"
    return "run `mla demo --database` on an empty database"


Step = tuple[str, str, dict[str, Any]]


def run(engine: Engine, echo: Callable[[str], None]) -> list[Any]:
    with unit_of_work(engine) as s:
        seed(s)
    ids = []
    with unit_of_work(engine) as s:
        officer = directory.user_by_username(s, "fr.officer")
        ke = directory.authority_by_code(s, "KE-ODPP")
        mla_request = filing.file_request(
            s, officer, kind="mla.evidence", requested_authority_id=ke.id,
            legal_basis="untoc", language="fr", title=MLA_TITLE,
            data=templates.example("mla.evidence") | {
                # The date the requesting side suggests (UNTOC art. 18(24)), weeks ahead.
                "desired_deadline": (utcnow() + timedelta(days=45)).date().isoformat()},
        )
        arrest = filing.file_request(
            s, officer, kind="extradition.provisional_arrest", requested_authority_id=ke.id,
            legal_basis="untoc", language="en", title=ARREST_TITLE,
            data=templates.example("extradition.provisional_arrest"),
        )
        ids = [mla_request.id, arrest.id]

    mla_steps: list[Step] = [
        ("fr.officer", "submit", {}),
        ("fr.supervisor", "approve", {}),
        # Refused on purpose: KE does not read French yet; the guard says why.
        ("fr.officer", "transmit", {}),
        ("fr.officer", "send_to_translation", {}),
        ("fr.officer", "@translate:en", {}),
        ("fr.officer", "transmit", {}),
        # KE-ODPP runs no instance of its own here: its answers come by e-mail and phone.
        ("fr.officer", "acknowledge", {"channel": "email"}),
        ("fr.officer", "start_execution", {"channel": "phone"}),
    ]
    arrest_steps: list[Step] = [
        ("fr.officer", "submit", {}),
        ("fr.supervisor", "approve", {}),
        ("fr.officer", "transmit", {}),
        ("ke.officer", "arrest", {}),
        ("ke.officer", "notify_arrest", {}),
    ]
    for request_id, steps in zip(ids, (mla_steps, arrest_steps), strict=True):
        for username, event, data in steps:
            _step(engine, request_id, username, event, data, echo)
    return ids


def _step(engine: Engine, request_id: Any, username: str, event: str, data: dict[str, Any],
          echo: Callable[[str], None]) -> None:
    try:
        with unit_of_work(engine) as s:
            actor = directory.user_by_username(s, username)
            request = s.get_one(Request, request_id)
            if event.startswith("@translate:"):
                language = event.split(":", 1)[1]
                translations.put_translation(
                    s, request, actor, language=language,
                    data={p: request.data[p] for p in templates.translatable_paths(
                        request.kind, request.template_version) if p in request.data},
                )
                echo(f"  {request.reference}: {username} added the {language} translation")
                return
            result = lifecycle.transition(s, request, event, actor, **data)
            echo(f"  {request.reference}: {username} {event}: "
                 f"{result.from_state} -> {result.to_state}")
    except DomainError as exc:
        echo(f"  refused: {username} {event}: {exc.detail}")


def show(engine: Engine, echo: Callable[[str], None]) -> None:
    """The demo requests with their history and running deadlines, who is on call, and where
    to log in next."""
    with db.session_factory(engine)() as session:
        requests = demo_requests(session)
        echo("\nRequests")
        echo(table(
            ["reference", "kind", "from", "to", "state", "version", "allowed next"],
            [(r.reference, r.kind, r.requesting_authority.code, r.requested_authority.code,
              r.state, r.version, ", ".join(lifecycle.allowed_events(r))) for r in requests],
        ))
        for r in requests:
            echo(f"\nHistory of {r.reference} ({r.title})")
            echo(table(
                ["at (UTC)", "actor", "event", "from", "to"],
                [(e.at.strftime("%Y-%m-%d %H:%M:%S"), e.actor.username if e.actor else "system",
                  e.event, e.from_state or "", e.to_state)
                 for e in lifecycle.history(session, r)],
            ))
        echo("\nDeadlines (legal time limits now running)")
        echo(table(
            ["request", "rule", "due (UTC)", "citation"],
            [(d.request.reference, d.rule_id, d.due_at.strftime("%Y-%m-%d %H:%M"),
              deadline_rules.rules().rules[d.rule_id].citation[:70])
             for r in requests for d in deadlines.for_request(session, r)
             if d.closed_at is None],
        ))
        echo("\n24/7 desks (an urgent request pages the person on call, then escalates)")
        echo(table(["authority", "network", "on call now", "until", "escalation"],
                   _on_call_rows(session)))
    echo("\n" + "\n".join(next_steps()))


def _on_call_rows(session: Session) -> list[tuple[str, ...]]:
    rows = []
    for spec in AUTHORITIES:
        authority = directory.authority_by_code(session, spec["code"])
        for rotation in oncall.rotations(session, authority.id):
            who = oncall.resolve(session, rotation, utcnow())
            policy = next((p for p in paging.policies(session, authority.id)
                           if p.network == rotation.network), None)
            rows.append((authority.code, rotation.network,
                         who.member.name if who else "nobody",
                         f"{who.ends_at.astimezone(ZoneInfo(rotation.timezone)):%a %d %b %H:%M} "
                         f"{rotation.timezone}"
                         if who else "",
                         _escalation(session, policy.steps) if policy else "none"))
    return rows


def _escalation(session: Session, steps: list[dict[str, Any]]) -> str:
    names = {f"contact:{c.id}": c.name for c in oncall.contacts(session)}
    parts = []
    for step in steps:
        target = str(step["notify"])
        who = "on call" if target == "on_call" else names.get(target) or \
            target.removeprefix("role:") + "s"
        parts.append(f"{who} +{step['delay_minutes']} min" if step["delay_minutes"] else who)
    return " > ".join(parts)


def next_steps() -> list[str]:
    """The demo's last lines: where the console is and who to log in as."""
    base = settings.get().public_url.rstrip("/")
    by_role = {role: [u for _, u, _, r in USERS if r == role] for role in ROLES}
    width = max(len(role) for role in by_role)
    return [
        "Next: run `mla serve` in this directory, then open",
        f"  the console        {base}/console/",
        f"  the API reference  {base}/docs",
        f"and log in as one of these demo users, all with the password {DEMO_PASSWORD}:",
        *(f"  {role.ljust(width)}  {', '.join(users)}"
          for role, users in by_role.items() if users),
        "Supervisors and admins set up a second factor (an authenticator app) at their first "
        "login;",
        "to try the demo without one, start the server with MLA_SECOND_FACTOR_ROLES=none.",
    ]
