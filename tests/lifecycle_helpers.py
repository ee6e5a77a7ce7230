"""Creating requests and choosing who fires each step, shared by lifecycle tests."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from mla import kinds, legal, templates
from mla.models import Request, User
from mla.requests import filing, lifecycle
from tests.conftest import World
from workflows.base import Step

BASIS = {"mla": "untoc", "extradition": "untoc"}


def new_request(session: Session, world: World, kind: str, side: str = "requesting",
                data: dict[str, Any] | None = None, language: str = "en") -> Request:
    form = templates.example(kind) if data is None else data
    basis = BASIS[kinds.get(kind).family]
    if side == "requesting":
        request = filing.file_request(
            session, world["fr.officer"], kind=kind, requested_authority_id=world.ke.id,
            legal_basis=basis, title=f"Test {kind}", language=language, data=form)
    else:
        request = filing.register_incoming(
            session, world["ke.officer"], kind=kind, requesting_authority_id=world.fr.id,
            counterpart_reference="FR-2026-0001", legal_basis=basis, title=f"Test {kind}",
            language=language, data=form)
    session.commit()
    return request


def actor_for(world: World, step: Step) -> User:
    prefix = "fr" if step.definition.party == "requesting" else "ke"
    return world[f"{prefix}.{step.definition.roles[0]}"]


def data_for(request: Request, step: Step) -> dict[str, Any]:
    data: dict[str, Any] = {}
    if "reason_required" in step.definition.guards:
        data["reason"] = f"reason for {step.event}"
    if "agreed_date" in step.definition.guards:
        data["agreed_date"] = "2026-12-01"
    if "refusal_grounds" in step.definition.guards:
        data["grounds"] = [next(iter(legal.refusal_grounds(request.legal_basis, request.kind)))]
    return data


def fire(session: Session, world: World, request: Request, step: Step) -> None:
    lifecycle.transition(session, request, step.event, actor_for(world, step),
                         **data_for(request, step))
    session.commit()
