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


def validating_form(kind: str) -> tuple[str, dict[str, Any]] | None:
    """A legal basis and a filled official form of `kind` that a judicial authority must
    validate before it leaves (issued by the police), or None when no form of the kind asks
    for validation."""
    for basis in ("eio_2014_41", "e_evidence_2023_1543"):
        version = templates.latest_version(kind, basis)
        spec = templates.get(kind, version)
        if not spec.form or templates.form(spec.form).validation is None:
            continue
        path, values, _ = templates.form(spec.form).validation  # type: ignore[misc]
        data = templates.example(kind, version)
        node = data
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = values[0]
        # Issued by the police: the form then names the judicial authority that validates.
        data["validating_authority"] = {
            "kind": "prosecutor", "name": "Parquet de Paris", "representative": "J. Martin",
            "post": "Procureur de la République adjoint",
            "address": "Parvis du Tribunal de Paris, 75017 Paris"}
        return basis, data
    return None


def new_request(session: Session, world: World, kind: str, side: str = "requesting",
                data: dict[str, Any] | None = None, language: str = "en",
                basis: str | None = None) -> Request:
    form = templates.example(kind) if data is None else data
    basis = basis or BASIS[kinds.get(kind).family]
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
