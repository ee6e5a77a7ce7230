"""Audit anchoring: signed checkpoints of the audit chain, witnessed by peer instances.

The chain (mla/audit.py) shows any row changed after the fact, unless whoever owns the
database rewrites every hash from that row on and the head with them. A checkpoint states
"the chain of AUTHORITY had LENGTH rows ending in HEAD_HASH at MADE_AT", signed (JWS, ES256)
with the instance's transfer signing key (mla/transfer/keys.py). The worker makes one every
MLA_CHECKPOINT_EVERY_SECONDS when the chain grew (`mla audit checkpoint` on demand), publishes
it at `GET /audit/checkpoints` and sends it to every peer, which keeps it
(`POST /audit/checkpoints/witness`) and hands it back on request
(`GET /audit/checkpoints/witnessed/{code}`). `mla audit verify --checkpoints DIR|peer` then
checks the chain against checkpoints held outside the database: a rewritten row before a
witnessed length no longer ends in the witnessed hash.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from jose import jws
from jose.exceptions import JOSEError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mla import audit, inputs, settings
from mla.errors import Conflict, FieldProblem, InvalidInput, Unauthorized
from mla.models import AuditCheckpoint, AuditEvent, AuditHead, Peer, TransferKey
from mla.transfer.canonical import canonical, parse_instant
from mla.transfer.keys import SIG_ALG, current_key, private_key, public_key
from mla.transfer.peers import find_key, peer_by_code

log = logging.getLogger("mla.ops.anchor")
TYPE = "mla-audit-checkpoint+jws"
# The name an instance without MLA_INSTANCE_AUTHORITY signs its checkpoints under.
LOCAL = "local"
TIMEOUT_SECONDS = 10.0


def own_code() -> str:
    return settings.get().instance_authority or LOCAL


def _statement(code: str, length: int, head_hash: str, made_at: datetime) -> dict[str, Any]:
    return {"type": "audit-checkpoint", "authority": code, "chain_length": length,
            "head_hash": head_hash, "made_at": made_at.isoformat(timespec="microseconds")}


def make(session: Session, now: datetime, *, force: bool = False) -> AuditCheckpoint | None:
    """Signs the chain's head as it is now; None when the newest checkpoint already covers
    it (unless `force`). The caller commits."""
    length, head_hash = session.execute(select(AuditHead.last_id, AuditHead.last_hash)
                                        .where(AuditHead.id == 1)).one()
    code = own_code()
    last = latest_own(session)
    if last is not None and last.chain_length == length and not force:
        return None
    if last is not None and last.chain_length == length:
        return last
    key = current_key(session, "sig")
    signed = jws.sign(canonical(_statement(code, length, head_hash, now)).encode(),
                      private_key(key), headers={"kid": key.kid, "typ": TYPE},
                      algorithm=SIG_ALG)
    checkpoint = AuditCheckpoint(authority_code=code, chain_length=length, head_hash=head_hash,
                                 made_at=now, jws=signed)
    session.add(checkpoint)
    session.flush()
    return checkpoint


def latest_own(session: Session) -> AuditCheckpoint | None:
    return session.scalar(select(AuditCheckpoint).where(AuditCheckpoint.received_at.is_(None))
                          .order_by(AuditCheckpoint.chain_length.desc()).limit(1))


def own(session: Session, limit: int = 100) -> list[AuditCheckpoint]:
    return list(session.scalars(select(AuditCheckpoint)
                                .where(AuditCheckpoint.received_at.is_(None))
                                .order_by(AuditCheckpoint.chain_length.desc()).limit(limit)))


def witnessed(session: Session, code: str, limit: int = 1000) -> list[AuditCheckpoint]:
    """The checkpoints of peer `code` that it sent us to keep, newest first."""
    return list(session.scalars(select(AuditCheckpoint).where(
        AuditCheckpoint.authority_code == code, AuditCheckpoint.received_at.is_not(None))
        .order_by(AuditCheckpoint.chain_length.desc()).limit(limit)))


def _claims(signed: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    if not isinstance(signed, str) or signed.count(".") != 2:
        raise InvalidInput("not a checkpoint", [FieldProblem("jws", "a JWS compact string")])
    try:
        header = jws.get_unverified_header(signed)
        claims = inputs.load_json(jws.get_unverified_claims(signed))
    except (JOSEError, ValueError):
        raise InvalidInput("not a checkpoint", [FieldProblem("jws", "a JWS compact string")]
                           ) from None
    ok = (isinstance(claims, dict) and claims.get("type") == "audit-checkpoint"
          and isinstance(claims.get("authority"), str)
          and isinstance(claims.get("chain_length"), int) and claims["chain_length"] >= 0
          and isinstance(claims.get("head_hash"), str) and len(claims["head_hash"]) == 64
          and isinstance(claims.get("made_at"), str))
    if not ok or header.get("alg") != SIG_ALG:
        raise InvalidInput("not a checkpoint", [FieldProblem(
            "jws", "an ES256 JWS of {type: audit-checkpoint, authority, chain_length, "
            "head_hash, made_at}")])
    return header, claims


def receive(session: Session, signed: Any, now: datetime) -> AuditCheckpoint:
    """Keeps a peer's checkpoint once its signature verifies under that peer's published
    key. The same length with another hash is a rewritten chain: Conflict, and logged."""
    header, claims = _claims(signed)
    peer = peer_by_code(session, claims["authority"])
    if peer is None:
        raise Unauthorized(f"{claims['authority'][:40]!r} is not a registered peer")
    key = find_key(peer.signing_jwks, header.get("kid"))
    try:
        if key is None:
            raise JOSEError("unknown key")
        jws.verify(signed, public_key(key, SIG_ALG), algorithms=[SIG_ALG])
    except JOSEError:
        raise Unauthorized(f"the signature is not {peer.authority.code}'s") from None
    existing = session.scalar(select(AuditCheckpoint).where(
        AuditCheckpoint.authority_code == claims["authority"],
        AuditCheckpoint.chain_length == claims["chain_length"]))
    if existing is not None:
        if existing.head_hash != claims["head_hash"]:
            log.error("%s sent a checkpoint of length %d ending in %s; it signed %s before: "
                      "its audit chain was rewritten", claims["authority"],
                      claims["chain_length"], claims["head_hash"], existing.head_hash)
            raise Conflict(f"a checkpoint of length {claims['chain_length']} with another "
                           "head hash is kept here already: the chain was rewritten")
        return existing
    checkpoint = AuditCheckpoint(
        authority_code=claims["authority"], chain_length=claims["chain_length"],
        head_hash=claims["head_hash"], made_at=parse_instant(claims["made_at"]) or now,
        jws=signed, received_at=now)
    try:
        with session.begin_nested():
            session.add(checkpoint)
    except IntegrityError:  # the same one, sent twice at once
        raise Conflict("this checkpoint arrived twice at once; send it again") from None
    audit.record(session, "audit.checkpoint_witnessed", object_type="audit_checkpoint",
                 object_id=str(claims["chain_length"]), authority_id=peer.authority_id,
                 detail={"authority": claims["authority"], "head_hash": claims["head_hash"]})
    return checkpoint


def send_to_peers(session: Session, checkpoint: AuditCheckpoint,
                  client: httpx.Client | None = None) -> dict[str, str]:
    """Sends the checkpoint to every peer; {peer code: "ok" or why not}. Best effort: the
    next checkpoint goes out anyway, and covers this one."""
    outcome = {}
    own_client = client is None
    client = client or httpx.Client(timeout=TIMEOUT_SECONDS, follow_redirects=False)
    try:
        for peer in session.scalars(select(Peer)):
            url = f"{peer.base_url.rstrip('/')}/audit/checkpoints/witness"
            try:
                answer = client.post(url, json={"jws": checkpoint.jws})
                outcome[peer.authority.code] = ("ok" if answer.status_code < 300
                                                else f"answered {answer.status_code}")
            except httpx.HTTPError as exc:
                outcome[peer.authority.code] = f"{type(exc).__name__}: {exc}"
            if outcome[peer.authority.code] != "ok":
                log.warning("checkpoint %d not witnessed by %s: %s", checkpoint.chain_length,
                            peer.authority.code, outcome[peer.authority.code])
    finally:
        if own_client:
            client.close()
    return outcome


@dataclass(frozen=True)
class AnchorResult:
    ok: bool
    checked: int  # checkpoints compared
    problems: list[str]


def verify_against(session: Session, statements: list[str]) -> AnchorResult:
    """Compares the chain in the database with checkpoints held elsewhere (files, peers).
    Each must be signed by one of this instance's transfer keys, retired ones included, and
    the chain's row at its length must end in its hash."""
    code = own_code()
    keys = {k.kid: k for k in session.scalars(select(TransferKey)
                                              .where(TransferKey.use == "sig"))}
    length = session.scalar(select(AuditHead.last_id).where(AuditHead.id == 1)) or 0
    problems: list[str] = []
    checked = 0
    for signed in statements:
        try:
            header, claims = _claims(signed)
        except InvalidInput:
            problems.append("a file or answer that is not a checkpoint")
            continue
        if claims["authority"] != code:
            continue  # another instance's, kept here as a witness
        checked += 1
        n = claims["chain_length"]
        key = keys.get(header.get("kid"))
        try:
            if key is None:
                raise JOSEError("unknown key")
            jws.verify(signed, public_key(key.public_jwk, SIG_ALG), algorithms=[SIG_ALG])
        except JOSEError:
            problems.append(f"checkpoint at row {n} ({claims['made_at']}): not signed by a key "
                            "of this instance (were the keys replaced?)")
            continue
        if n > length:
            problems.append(f"checkpoint at row {n} ({claims['made_at']}): the chain has only "
                            f"{length} rows (rows were removed)")
            continue
        found = (audit.GENESIS if n == 0 else
                 session.scalar(select(AuditEvent.hash).where(AuditEvent.id == n)))
        if found != claims["head_hash"]:
            problems.append(f"checkpoint at row {n} ({claims['made_at']}): the chain ends in "
                            f"{str(found)[:12]}... there, the witnessed hash is "
                            f"{claims['head_hash'][:12]}... (rows up to {n} were rewritten)")
    return AnchorResult(not problems, checked, problems)


def load_dir(folder: Path) -> list[str]:
    """Checkpoints kept as files: `*.jws` (the compact JWS) or `*.json` ({"jws": ...} or a
    list of those, as `GET /audit/checkpoints` answers)."""
    found: list[str] = []
    for path in sorted(folder.iterdir()):
        if path.suffix == ".jws":
            found.append(path.read_text("ascii").strip())
        elif path.suffix == ".json":
            data = json.loads(path.read_text("utf-8"))
            items = data if isinstance(data, list) else [data]
            found += [item["jws"] for item in items if isinstance(item, dict) and "jws" in item]
    return found


def fetch_from_peers(session: Session, client: httpx.Client | None = None
                     ) -> tuple[list[str], dict[str, str]]:
    """What every peer holds of ours; ({statements}, {peer code: error}) ."""
    code = own_code()
    statements: list[str] = []
    errors: dict[str, str] = {}
    own_client = client is None
    client = client or httpx.Client(timeout=TIMEOUT_SECONDS, follow_redirects=False)
    try:
        for peer in session.scalars(select(Peer)):
            url = f"{peer.base_url.rstrip('/')}/audit/checkpoints/witnessed/{code}"
            try:
                answer = client.get(url)
                answer.raise_for_status()
                statements += [item["jws"] for item in answer.json()
                               if isinstance(item, dict) and isinstance(item.get("jws"), str)]
            except (httpx.HTTPError, ValueError, TypeError) as exc:
                errors[peer.authority.code] = f"{type(exc).__name__}: {exc}"
    finally:
        if own_client:
            client.close()
    return statements, errors


def to_dict(checkpoint: AuditCheckpoint) -> dict[str, Any]:
    return {"authority": checkpoint.authority_code, "chain_length": checkpoint.chain_length,
            "head_hash": checkpoint.head_hash,
            "made_at": checkpoint.made_at.isoformat(timespec="microseconds"),
            "jws": checkpoint.jws}
