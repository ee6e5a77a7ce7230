"""The conformance vectors of docs/transfer-vectors/ hold for this implementation: canonical
forms and hashes, which JWK Set entries are transfer keys, the committed envelopes received
as the vectors say (receipts, refusals), and envelopes and receipts built by our own code
from the vectors' keys and payloads opened and verified by the vectors' rules."""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

import pytest
from jose import jwe, jws
from sqlalchemy import func, select

from mla.models import InboxMessage, OutboxMessage, Peer, Request, RequestText
from mla.transfer import canonical, delivery, envelope, keys, peers, schemas
from mla.transfer.errors import DeliveryError
from tests.api_helpers import Api
from tests.transfer import vector_instance, vectors

KEYS = vectors.load("keys")
FR_SIG = KEYS[vectors.SENDER]["sig"]
KE = KEYS[vectors.RECEIVER]


@pytest.mark.parametrize("case", vectors.load("canonical")["cases"], ids=lambda c: c["name"])
def test_canonical_forms(case: dict[str, Any]) -> None:
    value = json.loads(case["json"])
    assert canonical.canonical(value) == case["canonical"]
    assert hashlib.sha256(case["canonical"].encode()).hexdigest() == case["sha256"]
    assert canonical.content_sha256(value, canonical.HASH_LEGACY) == case["legacy_sha256"]


def test_the_first_releases_rule_differs_where_the_issue_says() -> None:
    # 1e-7 and 0.00001 are written differently, and keys outside the BMP sort differently.
    numbers, order = vectors.load("canonical")["cases"][:2]
    for case in (numbers, order):
        value = json.loads(case["json"])
        assert canonical.content_sha256(value) == case["sha256"] != case["legacy_sha256"]
    assert '"tiny":1e-7' in numbers["canonical"] and '"small":0.00001' in numbers["canonical"]
    assert order["canonical"].index("\U0001F600") < order["canonical"].index("\uffff")


@pytest.mark.parametrize("case", vectors.load("jwks")["cases"], ids=lambda c: c["name"])
def test_jwks_entries(case: dict[str, Any]) -> None:
    assert keys.transfer_use(case["jwk"]) == case["transfer_use"]


def test_a_jwks_without_alg_and_use_gives_usable_keys() -> None:
    cases = {c["name"]: c["jwk"] for c in vectors.load("jwks")["cases"]}
    document = {"keys": [cases["symmetric"], cases["enc-without-alg-and-use"],
                         cases["sig-without-alg-and-use"], cases["complete-enc"]]}
    signing, encryption = peers.split_jwks(document)
    assert [(k["kid"], k["alg"], k["use"]) for k in signing] == [
        (FR_SIG["kid"], "ES256", "sig")]
    # Several encryption keys: the first is the one to seal to.
    assert [k["kid"] for k in encryption] == [KE["enc"]["kid"], KE["enc"]["kid"]]
    sealed = jwe.encrypt(b"x", keys.public_key(encryption[0], keys.ENC_ALG),
                         algorithm="RSA-OAEP-256", encryption="A256GCM")
    assert jwe.decrypt(sealed, vectors.key_object(KE["enc"])) == b"x"
    # The first release's shared JWKS: only members marked `purpose: transfer` count.
    assert peers.split_jwks(document, shared=True) == ([], [])


# --- receiving the committed envelopes -------------------------------------------------------


def _check_receipt(receipt: str, expected: dict[str, Any]) -> dict[str, Any]:
    header = jws.get_unverified_header(receipt)
    assert (header["alg"], header["typ"], header["kid"]) == ("ES256", "mla-receipt+jws",
                                                            KE["sig"]["kid"])
    claims = json.loads(jws.verify(receipt, vectors.key_object(KE["sig"], public=True),
                                   algorithms=["ES256"]))
    assert not schemas.problems("receipt", claims)
    reference = claims.pop("request_reference")
    assert isinstance(reference, str) and reference.startswith("KE-ODPP")
    assert claims == expected
    return claims


def _receive_messages(api: Api, messages: list[dict[str, Any]]) -> dict[str, str]:
    receipts: dict[str, str] = {}
    for message in messages:
        answer = vector_instance.deliver(api, message["envelope"], message["now"])
        assert answer.status_code == message["expect"]["status"], (message["name"], answer.text)
        assert not schemas.problems("inbox-response", answer.json())
        receipt = answer.json()["receipt"]
        if "same_receipt_as" in message["expect"]:
            assert receipt == receipts[message["expect"]["same_receipt_as"]]
        else:
            _check_receipt(receipt, message["expect"]["receipt"])
        receipts[message["name"]] = receipt
    return receipts


def test_committed_envelopes_are_received_and_refused_as_the_vectors_say(
        vector_receiver: Api) -> None:
    api = vector_receiver
    messages = vectors.load("messages")["messages"]
    _receive_messages(api, messages)
    session = api.session
    session.expire_all()
    # Four requests... three of them (one came twice), the first withdrawn by the status.
    copies = list(session.scalars(select(Request).where(
        Request.requesting_authority_id == api.world.fr.id,
        Request.counterpart_reference.like("FR-MJ-VECTOR-%"))
        .order_by(Request.counterpart_reference)))
    assert [(c.counterpart_reference, c.state) for c in copies] == [
        ("FR-MJ-VECTOR-1", "withdrawn"), ("FR-MJ-VECTOR-2", "received"),
        ("FR-MJ-VECTOR-3", "received")]
    # The translation came with the request; the text in the request's language is its data.
    assert [(t.language, t.data) for t in session.scalars(
        select(RequestText).where(RequestText.request_id == copies[0].id))] == [
        ("fr", {"case_subject": "Escroquerie au faux président"})]
    stored = {m.message_id: m.payload_sha256 for m in session.scalars(select(InboxMessage))}
    for message in messages:
        if "payload" in message:
            rule = message["expect"]["receipt"]["hash"]
            assert stored[uuid.UUID(message["payload"]["message_id"])] == message[
                "payload_sha256_jcs" if rule == canonical.HASH_JCS else "payload_sha256_legacy"]

    before = (session.scalar(select(func.count()).select_from(Request)),
              session.scalar(select(func.count()).select_from(InboxMessage)))
    for refusal in vectors.load("refusals")["refusals"]:
        answer = vector_instance.deliver(api, refusal["envelope"], refusal["now"])
        assert (answer.status_code, answer.json().get("reason")) == (
            refusal["status"], refusal["reason"]), (refusal["name"], answer.text)
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert not schemas.problems("problem", answer.json())
        named = {e["field"] for e in answer.json().get("errors", [])}
        assert set(refusal["fields"]) <= named, (refusal["name"], named)
    session.expire_all()
    assert (session.scalar(select(func.count()).select_from(Request)),
            session.scalar(select(func.count()).select_from(InboxMessage))) == before

    # Another peer cannot speak in FR's exchange, even with a valid signature of its own.
    impostor = KEYS["impostor"]["sig"] | {"kid": "us-sig-1"}
    vector_instance.install_peer(session, api.world.us, [vectors.public_jwk(impostor)])
    first = messages[0]["payload"]
    status = {**next(m["payload"] for m in messages if m["name"] == "status"),
              "sender": "US-OIA", "message_id": str(uuid.uuid4())}
    signed = jws.sign(canonical.canonical(status).encode(), vectors.key_object(impostor),
                      algorithm="ES256", headers={"kid": "us-sig-1", "typ": "mla-transfer+jws"})
    sealed = jwe.encrypt(signed.encode(), vectors.key_object(KE["enc"], public=True),
                         algorithm="RSA-OAEP-256", encryption="A256GCM",
                         kid=KE["enc"]["kid"]).decode()
    answer = vector_instance.deliver(api, sealed, status["sent_at"])
    assert (answer.status_code, answer.json()["reason"]) == (409, "unknown_exchange")
    assert first["thread"] in answer.json()["detail"]


@pytest.mark.parametrize("message", [m for m in vectors.load("messages")["messages"]
                                     if "payload" in m], ids=lambda m: m["name"])
def test_message_vectors_are_consistent(message: dict[str, Any]) -> None:
    """What an implementation checks without a database: the JWS verifies with FR's key and
    holds the payload, the envelope opens with KE's key, the hashes and the receipt."""
    payload = message["payload"]
    assert not schemas.problems("message", payload)
    inner = jwe.decrypt(message["envelope"], vectors.key_object(KE["enc"])).decode()
    assert inner == message["jws"]
    header = jwe.get_unverified_header(message["envelope"])
    assert (header["alg"], header["enc"], header["kid"]) == ("RSA-OAEP-256", "A256GCM",
                                                            KE["enc"]["kid"])
    signed = jws.verify(inner, vectors.key_object(FR_SIG, public=True), algorithms=["ES256"])
    assert json.loads(signed) == payload
    content = {k: v for k, v in payload.items() if k != "sent_at"}
    assert canonical.canonical(content) == message["canonical_content"]
    assert canonical.content_sha256(payload) == message["payload_sha256_jcs"] == \
        hashlib.sha256(message["canonical_content"].encode()).hexdigest()
    assert canonical.content_sha256(payload, canonical.HASH_LEGACY) == \
        message["payload_sha256_legacy"]
    claims = json.loads(jws.verify(message["receipt_jws"],
                                   vectors.key_object(KE["sig"], public=True),
                                   algorithms=["ES256"]))
    assert {k: v for k, v in claims.items() if k != "request_reference"} == \
        message["expect"]["receipt"]


# --- building envelopes and receipts from the vectors ----------------------------------------


def test_envelopes_and_receipts_built_from_the_vectors(api: Api,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Our sealing code, holding FR's vector key, seals each vector payload to KE's vector
    encryption key; the envelope opens with KE's private JWK and its JWS verifies with FR's
    public one. Then our inbox, holding KE's vector keys, receives them and signs receipts
    that verify with KE's public JWK and say what the vectors say."""
    session = api.session
    # Our sender always names the JCS rule; the first release's message is its own kind.
    messages = [m for m in vectors.load("messages")["messages"]
                if "hash" in m.get("payload", {})]
    monkeypatch.setenv("MLA_INSTANCE_AUTHORITY", vectors.SENDER)
    vector_instance.install(session, api.world.ke, [vectors.public_jwk(KE["sig"]),
                                     vectors.public_jwk(KE["enc"])], FR_SIG)
    ke_peer = peers.peer_by_code(session, vectors.RECEIVER)
    assert ke_peer is not None
    built = []
    for message in messages:
        sealed = envelope.seal(session, message["payload"], ke_peer)
        header = jwe.get_unverified_header(sealed)
        assert (header["alg"], header["enc"], header["kid"]) == (
            "RSA-OAEP-256", "A256GCM", KE["enc"]["kid"])
        inner = jwe.decrypt(sealed, vectors.key_object(KE["enc"])).decode()
        assert jws.get_unverified_header(inner) == {"alg": "ES256", "typ": "mla-transfer+jws",
                                                    "kid": FR_SIG["kid"]}
        signed = jws.verify(inner, vectors.key_object(FR_SIG, public=True),
                            algorithms=["ES256"]).decode()
        # What we sign is the payload's RFC 8785 form, byte for byte.
        assert signed == canonical.canonical(message["payload"])
        built.append({**message, "envelope": sealed})

    monkeypatch.setenv("MLA_INSTANCE_AUTHORITY", vectors.RECEIVER)
    vector_instance.install(session, api.world.fr, [vectors.public_jwk(FR_SIG)], KE["sig"],
                            KE["enc"])
    receipts = _receive_messages(api, built)
    # And the sender's check of those receipts (delivery.verify_receipt) passes.
    monkeypatch.setenv("MLA_INSTANCE_AUTHORITY", vectors.SENDER)
    ke_as_peer = Peer(authority_id=api.world.ke.id, authority=api.world.ke,
                      base_url="http://127.0.0.1:9",
                      signing_jwks=[vectors.public_jwk(KE["sig"])], encryption_jwks=[])
    for message in built:
        sent = _outbox_row(message["payload"])
        claims = delivery.verify_receipt(session, ke_as_peer, receipts[message["name"]], sent)
        assert claims["payload_sha256"] == message["expect"]["receipt"]["payload_sha256"]
    session.rollback()


def _outbox_row(payload: dict[str, Any]) -> OutboxMessage:
    """The outbox row our sender keeps for `payload` (not stored)."""
    return OutboxMessage(message_id=uuid.UUID(payload["message_id"]),
                         payload=canonical.canonical(payload),
                         payload_sha256=canonical.content_sha256(payload))


def _signed_receipt(claims: dict[str, Any]) -> str:
    signed: str = jws.sign(canonical.canonical(claims).encode(), vectors.key_object(KE["sig"]),
                           algorithm="ES256",
                           headers={"kid": KE["sig"]["kid"], "typ": "mla-receipt+jws"})
    return signed


def test_receipts_of_a_first_release_receiver_are_accepted_during_the_migration(
        api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """A receiver of the first release ignores our `hash` member and hashes the old way; for
    a payload on which the rules differ its receipt is still accepted, and a receipt that
    claims the JCS rule must hold the JCS hash."""
    monkeypatch.setenv("MLA_INSTANCE_AUTHORITY", vectors.SENDER)
    extended = next(m for m in vectors.load("messages")["messages"]
                    if m["name"] == "request-with-extensions")
    payload, ke = extended["payload"], api.world.ke
    peer = Peer(authority_id=ke.id, authority=ke, base_url="http://127.0.0.1:9",
                signing_jwks=[vectors.public_jwk(KE["sig"])], encryption_jwks=[])
    sent = _outbox_row(payload)
    # What such a receiver hashes: our signed text (RFC 8785: 1.0 became 1) parsed, then
    # written its way (1e-7 becomes 1e-07).
    legacy = canonical.content_sha256(json.loads(sent.payload), canonical.HASH_LEGACY)
    assert legacy != sent.payload_sha256
    old = {"message_id": payload["message_id"], "sender": vectors.SENDER,
           "receiver": vectors.RECEIVER, "payload_sha256": legacy,
           "received_at": extended["now"], "request_reference": "KE-1", "outcome": "accepted"}
    assert delivery.verify_receipt(api.session, peer, _signed_receipt(old), sent)
    for wrong in ({**old, "hash": canonical.HASH_JCS},
                  {**old, "payload_sha256": "0" * 64}):
        with pytest.raises(DeliveryError, match="payload_sha256"):
            delivery.verify_receipt(api.session, peer, _signed_receipt(wrong), sent)
