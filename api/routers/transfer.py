"""Electronic transfer between instances: who this instance is, and its inbox for envelopes
from peers (mla/transfer/). No bearer token here: a message is authenticated by its
signature, made with a key the sending peer published."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from api import projections
from api.deps import SessionDep, UserDep
from api.problems import PROBLEM_RESPONSES, described, problem
from api.schemas.transfer import IdentityOut, ReceiptOut, TransferMessageOut
from mla import access, inputs, settings
from mla.errors import NotFound
from mla.transfer import inbox as transfer_inbox
from mla.transfer import keys as transfer_keys
from mla.transfer import log as transfer_log
from mla.transfer import peers as transfer_peers
from mla.transfer import schemas as transfer_schemas
from mla.transfer.errors import TransferRejected

router = APIRouter(prefix="/transfer", tags=["transfer"])
# Per request, for the officers and liaison officers following it.
requests_router = APIRouter(prefix="/requests", tags=["transfer"],
                            responses=PROBLEM_RESPONSES)


@requests_router.get("/{request_id}/transfers", response_model=list[TransferMessageOut])
def request_transfers(request_id: uuid.UUID, session: SessionDep,
                      user: UserDep) -> list[TransferMessageOut]:
    """Whether the request and its steps reached the other party's instance, and what came
    back; why an attempt failed for content roles only. Authorization: any role of either
    party (status information, no case content)."""
    request = access.get_request(session, request_id, user)
    return [projections.transfer_message(m, user)
            for m in transfer_log.for_request(session, request)]


@router.get("/identity", response_model=IdentityOut,
            responses={404: PROBLEM_RESPONSES[404]})
def identity(session: SessionDep) -> IdentityOut:
    """The authority this instance hosts, for peers registering it (`mla peers add`).
    Authorization: public."""
    return IdentityOut(**transfer_peers.identity(session))


@router.get("/jwks.json", responses={404: PROBLEM_RESPONSES[404]})
def jwks(session: SessionDep) -> JSONResponse:
    """This instance's transfer keys (RFC 7517 JWK Set): every unretired signing key
    (`use: sig`, ES256), newest first, and the one encryption key peers seal to (`use: enc`,
    RSA-OAEP-256). Authorization: public."""
    transfer_peers.require_home(session)
    keys = transfer_keys.public_jwks(session)
    session.commit()
    return JSONResponse({"keys": keys}, media_type="application/jwk-set+json",
                        headers={"Cache-Control": "max-age=300"})


@router.get("/schemas/v1/{name}.json", responses={404: PROBLEM_RESPONSES[404]})
def schema(name: str) -> JSONResponse:
    """The JSON Schema `name` of protocol version 1: message, receipt, inbox-response,
    problem, identity (docs/transfer-protocol.md). Authorization: public."""
    if name not in transfer_schemas.NAMES:
        raise NotFound(f"no schema {name[:40]!r}; there are "
                       f"{', '.join(transfer_schemas.NAMES)}")
    return JSONResponse(transfer_schemas.document(name), media_type="application/schema+json")


_BODY = {
    "required": True,
    "description": "The envelope: a JWE in compact serialization, as the whole body "
                   "(application/jose or text/plain) or as {\"envelope\": \"...\"}.",
    "content": {
        "text/plain": {"schema": {"type": "string"}},
        "application/json": {"schema": {
            "type": "object", "required": ["envelope"],
            "properties": {"envelope": {"type": "string"}}}},
    },
}


async def _read(request: Request, limit: int) -> bytes | None:
    """The body, or None once it passes `limit` (the rest is not read into memory)."""
    parts: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        parts.append(chunk)
    return b"".join(parts)


def _envelope(raw: bytes, content_type: str) -> Any:
    try:
        body = raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        return None
    if content_type.startswith("application/json"):
        try:
            parsed = inputs.load_json(body)
        except ValueError:  # not JSON, or nested past what anyone sends: malformed
            return None
        return parsed.get("envelope") if isinstance(parsed, dict) else None
    return body


@router.post("/inbox", response_model=ReceiptOut, openapi_extra={"requestBody": _BODY},
             responses={400: described("Malformed, undecryptable, expired or misdirected "
                                       "envelope (`reason` says which)"),
                        401: described("Unknown sender or signature not valid"),
                        404: described("This instance takes no part in transfer"),
                        409: described("Message id reused with other content, or unknown "
                                       "exchange"),
                        413: described("Envelope too large"),
                        422: described("The message's content cannot be recorded"),
                        503: described("Busy with the same request; send again")})
async def inbox(request: Request) -> Any:
    """Deliver one signed and encrypted message from a peer instance. A new message is
    stored and answered with a signed receipt; the same message again gets the same receipt.
    Every rejection is recorded in the audit trail and changes nothing else.
    Authorization: public; the message must be signed with a transfer key its sender (a
    registered peer) published, and encrypted to one of ours."""
    limit = settings.get().transfer_envelope_limit
    # A declared length over the limit is refused before reading (api/limits.py leaves
    # this route's body to it, so that the refusal is audited like any other).
    declared = inputs.parse_int(request.headers.get("content-length", "").strip())
    raw = None if declared is not None and declared > limit else await _read(request, limit)
    sessions = request.app.state.sessions

    def work() -> tuple[str, str | None]:
        with sessions() as session:
            if raw is None:
                rejected = TransferRejected(
                    413, "too_large", f"envelopes are limited to {limit} bytes")
                transfer_inbox.record_rejection(session, rejected, size=limit + 1)
                session.commit()
                raise rejected
            envelope = _envelope(raw, request.headers.get("content-type", "").lower())
            receipt = transfer_inbox.handle_inbound(session, envelope)
            claims = transfer_inbox.receipt_claims(receipt)
            return receipt, claims.get("message_id")

    try:
        receipt, message_id = await run_in_threadpool(work)
    except TransferRejected as exc:
        extra: dict[str, Any] = {"reason": exc.reason, "instance": request.url.path}
        if exc.message_id:
            extra["message_id"] = exc.message_id
        if exc.problems:
            extra["errors"] = [{"field": p.path, "message": p.message} for p in exc.problems]
        return problem(exc.status, exc.title, exc.detail, **extra)
    return JSONResponse({"message_id": message_id, "receipt": receipt})
