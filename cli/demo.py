"""`mla demo`: two central authorities, one MLA request and one provisional arrest, driven a
few steps each, so a newcomer sees the engine work end to end on an embedded database."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from mla import security, templates
from mla.clock import utcnow
from mla.db import unit_of_work
from mla.directory import service as directory
from mla.errors import DomainError
from mla.models import Authority, Request, User
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
            legal_basis="untoc", language="fr", title="Relevés bancaires - affaire Kestrel",
            data=templates.example("mla.evidence") | {
                # The date the requesting side suggests (UNTOC art. 18(24)), weeks ahead.
                "desired_deadline": (utcnow() + timedelta(days=45)).date().isoformat()},
        )
        arrest = filing.file_request(
            s, officer, kind="extradition.provisional_arrest", requested_authority_id=ke.id,
            legal_basis="untoc", language="en", title="Provisional arrest - J. Doe",
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
        ("fr.officer", "acknowledge", {}),
        ("fr.officer", "start_execution", {}),
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
