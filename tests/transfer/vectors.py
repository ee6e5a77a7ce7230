"""Conformance test vectors of the transfer protocol (docs/transfer-vectors/, described in
docs/transfer-protocol.md §14): keys, canonical forms, JWK Set entries, messages with their
envelopes, hashes and receipts, and envelopes a receiver must refuse.

`python -m tests.transfer.vectors` writes them again (the keys in keys.json are kept, every
signature and envelope is new: ECDSA and RSA-OAEP are randomized). tests/transfer/
test_vectors.py checks the committed files against this implementation; another
implementation runs the same files against its own."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jose import jwe, jwk, jws

from mla.transfer.canonical import (
    HASH_JCS,
    HASH_LEGACY,
    canonical,
    content_sha256,
    iso,
    legacy_canonical,
)

FOLDER = Path(__file__).resolve().parents[2] / "docs" / "transfer-vectors"
NOW = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
SENDER, RECEIVER = "FR-MJ", "KE-ODPP"
ENVELOPE_TYPE, RECEIPT_TYPE = "mla-transfer+jws", "mla-receipt+jws"


def load(name: str) -> Any:
    return json.loads((FOLDER / f"{name}.json").read_text("utf-8"))


# --- keys ------------------------------------------------------------------------------------


def _private_jwk(key: Any, alg: str, kid: str, use: str) -> dict[str, Any]:
    found = jwk.construct(key, alg).to_dict()
    return {**{k: (v.decode() if isinstance(v, bytes) else v) for k, v in found.items()},
            "kid": kid, "use": use, "alg": alg}


def public_jwk(private: dict[str, Any]) -> dict[str, Any]:
    members = ("kty", "crv", "x", "y") if private["kty"] == "EC" else ("kty", "n", "e")
    return {k: private[k] for k in (*members, "kid", "use", "alg")}


def key_object(private: dict[str, Any], public: bool = False) -> Any:
    """The `cryptography` key of a vector JWK (private, or its public half)."""
    return jwk.construct(public_jwk(private) if public else private,
                         private["alg"]).prepared_key


def _keys() -> dict[str, Any]:
    if (FOLDER / "keys.json").exists():
        return dict(load("keys"))
    fr_sig = ec.generate_private_key(ec.SECP256R1())
    ke_sig = ec.generate_private_key(ec.SECP256R1())
    ke_enc = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    other = ec.generate_private_key(ec.SECP256R1())
    return {
        "description": "TEST KEYS, published: never use them for anything else. Private JWKs "
                       "(RFC 7517/7518) of the two vector instances; `impostor` is a key "
                       "nobody published.",
        SENDER: {"sig": _private_jwk(fr_sig, "ES256", "fr-sig-vector-1", "sig")},
        RECEIVER: {"sig": _private_jwk(ke_sig, "ES256", "ke-sig-vector-1", "sig"),
                   "enc": _private_jwk(ke_enc, "RSA-OAEP-256", "ke-enc-vector-1", "enc")},
        "impostor": {"sig": _private_jwk(other, "ES256", "fr-sig-vector-1", "sig")},
    }


# --- messages ---------------------------------------------------------------------------------


def _request_payload(number: int, **extra_body: Any) -> dict[str, Any]:
    from mla import templates

    message_id = str(uuid.UUID(int=0x5EC0_0000_0000_4000_8000_0000_0000_0000 + number))
    document = "<!doctype html><title>Request</title><p>Kestrel bank records</p>"
    scan = b"%PDF-1.4 vector court order"
    return {
        "v": 1, "message_id": message_id, "type": "request", "sender": SENDER,
        "receiver": RECEIVER, "sent_at": iso(NOW), "thread": message_id, "hash": HASH_JCS,
        "body": {
            "request_id": str(uuid.UUID(int=number)), "reference": f"FR-MJ-VECTOR-{number}",
            "kind": "mla.evidence", "workflow": "mla_requesting", "state": "transmitted",
            "legal_basis": "untoc", "template_version": templates.latest_version("mla.evidence"),
            "title": "Kestrel bank records", "language": "en", "urgent": False,
            "data": templates.example("mla.evidence"),
            "texts": {"fr": {"case_subject": "Escroquerie au faux président"}},
            "transmitted_at": iso(NOW),
            "document": {"format": "html", "language": "en", "content": document,
                         "sha256": hashlib.sha256(document.encode()).hexdigest()},
            "attachments": [{"filename": "court-order.pdf", "content_type": "application/pdf",
                             "size": len(scan), "sha256": hashlib.sha256(scan).hexdigest(),
                             "content": base64.b64encode(scan).decode()}],
            **extra_body,
        },
    }


# Members no receiver of version 1 knows (ignored, but hashed): numbers and keys on which the
# first release's rule and RFC 8785 differ.
EXTENSION = {"x-vector": {"ratio": 1e-7, "small": 0.00001, "whole": 1.0, "big": 1e21,
                          "\U0001F600": "outside the BMP", "\uffff": "last of the BMP"}}


def _sign(payload: Any, key: dict[str, Any], *, typ: str = ENVELOPE_TYPE,
          text: str | None = None, kid: str | None = None) -> str:
    signed: str = jws.sign((text if text is not None else canonical(payload)).encode(),
                           key_object(key), algorithm=key["alg"],
                           headers={"kid": kid or key["kid"], "typ": typ})
    return signed


def _seal(signed: str, enc: dict[str, Any], **kw: Any) -> str:
    options = {"algorithm": "RSA-OAEP-256", "encryption": "A256GCM", "kid": enc["kid"]} | kw
    sealed: bytes = jwe.encrypt(signed.encode(), key_object(enc, public=True), **options)
    return sealed.decode()


def _receipt(keys: dict[str, Any], payload: dict[str, Any], outcome: str) -> dict[str, Any]:
    rule = HASH_JCS if payload.get("hash") == HASH_JCS else HASH_LEGACY
    return {"message_id": payload["message_id"], "sender": payload["sender"],
            "receiver": payload["receiver"], "payload_sha256": content_sha256(payload, rule),
            "hash": rule, "received_at": iso(NOW), "outcome": outcome}


def _messages(keys: dict[str, Any]) -> dict[str, Any]:
    fr, ke = keys[SENDER]["sig"], keys[RECEIVER]
    first = _request_payload(1)
    extended = _request_payload(2, **EXTENSION)
    legacy = _request_payload(3, **EXTENSION)
    del legacy["hash"]
    status = {"v": 1, "message_id": str(uuid.UUID(int=0x5EC0_0000_0000_4000_8000_0000_0000_0104)),
              "type": "status", "sender": SENDER, "receiver": RECEIVER,
              "sent_at": iso(NOW + timedelta(seconds=1)), "thread": first["message_id"],
              "hash": HASH_JCS,
              "body": {"workflow": "mla_requesting", "event": "withdraw",
                       "from_state": "transmitted", "state": "withdrawn",
                       "reference": "FR-MJ-VECTOR-1", "at": iso(NOW),
                       "reason": "The investigation was closed."}}
    items = []
    for name, payload, outcome, note in (
            ("request", first, "accepted", "a request with a document and an attachment"),
            ("request-with-extensions", extended, "accepted",
             "unknown members are ignored but hashed; RFC 8785 and the first release's rule "
             "differ on them"),
            ("request-first-release", legacy, "accepted",
             "a sender of the first release (no `hash` member): the receipt hashes by "
             "sha256-python-json (§7.3), which differs from the JCS hash here"),
            ("status", status, "applied",
             "the requesting side withdraws the first request: the receiver applies it")):
        # A sender of the first release signed its own form (1.0 stays 1.0, which the
        # receiver's old rule then hashes as such).
        signed = _sign(payload, fr, text=None if "hash" in payload else
                       legacy_canonical(payload))
        receipt = _receipt(keys, payload, outcome)
        items.append({
            "name": name, "description": note, "now": iso(NOW), "payload": payload,
            "canonical_content": canonical({k: v for k, v in payload.items()
                                            if k != "sent_at"}),
            "payload_sha256_jcs": content_sha256(payload),
            "payload_sha256_legacy": content_sha256(payload, HASH_LEGACY),
            "jws": signed, "envelope": _seal(signed, ke["enc"]),
            "expect": {"status": 200, "receipt": receipt},
            "receipt_jws": _sign(receipt | {"request_reference": "KE-ODPP-VECTOR-1"},
                                 ke["sig"], typ=RECEIPT_TYPE),
        })
    items.insert(1, {"name": "request-again", "description": "the first envelope once more: "
                     "the same receipt, byte for byte, and no second request",
                     "now": iso(NOW), "envelope": items[0]["envelope"],
                     "expect": {"status": 200, "same_receipt_as": "request"}})
    return {"description": "Messages from FR-MJ to KE-ODPP, to be delivered in this order to "
                           "a receiver holding keys.json's KE-ODPP keys, with FR-MJ a peer "
                           "publishing its `sig` key, and its clock at `now`. `jws` is the "
                           "signed payload and `envelope` the JWE of it; `receipt_jws` is a "
                           "receipt the receiver's key signed (for verifiers). A receipt's "
                           "`request_reference` is the receiver's own and is not compared.",
            "messages": items}


def _refusals(keys: dict[str, Any]) -> dict[str, Any]:
    fr, ke, impostor = keys[SENDER]["sig"], keys[RECEIVER], keys["impostor"]["sig"]
    other_rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    stranger_enc = {**_private_jwk(other_rsa, "RSA-OAEP-256", "enc-nobody", "enc")}
    base = _request_payload(9)

    def variant(number: int, **changes: Any) -> dict[str, Any]:
        payload = _request_payload(number)
        for path, value in changes.items():
            target = payload
            *parents, last = path.split("__")
            for part in parents:
                target = target[part]
            if value is None:
                del target[last]
            else:
                target[last] = value
        return payload

    good_signed = _sign(base, fr)
    head, key, iv, ciphertext, tag = _seal(good_signed, ke["enc"]).split(".")
    tampered = ".".join([head, key, iv, ciphertext[:10] + ("A" if ciphertext[10] != "A"
                                                           else "B") + ciphertext[11:], tag])
    reused = copy.deepcopy(_request_payload(1))
    reused["body"]["title"] = "Other content under the first request's id"
    cases = [
        ("not-a-jwe", "not an envelope", 400, "malformed", None),
        ("compressed", _seal(good_signed, ke["enc"], zip="DEF"), 400, "unsupported", None),
        ("rsa-oaep-sha1", _seal(good_signed, ke["enc"], algorithm="RSA-OAEP"), 400,
         "unsupported", None),
        ("unknown-encryption-key", _seal(good_signed, stranger_enc), 400, "unknown_key", None),
        ("tampered", tampered, 400, "undecryptable", None),
        ("wrong-jws-typ", _seal(_sign(variant(10), fr, typ="JWT"), ke["enc"]), 400,
         "unsupported", None),
        ("jws-key-from-a-url", _seal(jws.sign(canonical(variant(22)).encode(),
                                              key_object(fr), algorithm="ES256",
                                              headers={"kid": fr["kid"], "typ": ENVELOPE_TYPE,
                                                       "jku": "https://attacker.example/k"}),
                                     ke["enc"]), 400, "unsupported", None),
        ("wrong-receiver", _seal(_sign(variant(11, receiver="US-OIA"), fr), ke["enc"]), 400,
         "wrong_receiver", None),
        ("expired", _seal(_sign(variant(12, sent_at=iso(NOW - timedelta(seconds=301))), fr),
                          ke["enc"]), 400, "expired", None),
        ("from-the-future", _seal(_sign(variant(13, sent_at=iso(NOW + timedelta(seconds=301))),
                                        fr), ke["enc"]), 400, "expired", None),
        ("unknown-sender", _seal(_sign(variant(14, sender="US-OIA"), fr), ke["enc"]), 401,
         "unknown_sender", None),
        ("unknown-signing-key", _seal(_sign(variant(15), fr, kid="fr-sig-unpublished"),
                                      ke["enc"]), 401, "unknown_signing_key", None),
        ("forged-signature", _seal(_sign(variant(16), impostor), ke["enc"]), 401,
         "bad_signature", None),
        ("version-2", _seal(_sign(variant(17, v=2), fr), ke["enc"]), 422,
         "unsupported_version", None),
        ("missing-title", _seal(_sign(variant(18, body__title=None), fr), ke["enc"]), 422,
         "invalid_content", ["body.title"]),
        ("upper-case-message-id", _seal(_sign(
            variant(19, message_id=base["message_id"].upper()), fr), ke["enc"]), 422,
         "invalid_content", ["message_id"]),
        ("integer-beyond-ijson", _seal(_sign(None, fr, text=canonical(variant(20)).replace(
            '"attachments":', '"x-count":9007199254740993,"attachments":')), ke["enc"]), 422,
         "invalid_content", ["payload"]),
        ("status-of-unknown-exchange", _seal(_sign(
            variant(21, type="status", thread=str(uuid.UUID(int=7)),
                    body={"workflow": "mla_requesting", "event": "withdraw",
                          "reason": "closed"}), fr), ke["enc"]), 409, "unknown_exchange", None),
        ("message-id-reused", _seal(_sign(reused, fr), ke["enc"]), 409, "message_id_reused",
         None),
    ]
    return {"description": "Envelopes a receiver set up as for messages.json MUST refuse, "
                           "after those messages were delivered, with the HTTP status and "
                           "the problem's `reason`; `fields`: members the problem's `errors` "
                           "name. Nothing may be stored for any of them.",
            "refusals": [{"name": name, "now": iso(NOW), "envelope": envelope,
                          "status": status, "reason": reason, "fields": fields or []}
                         for name, envelope, status, reason, fields in cases]}


def _canonical_cases() -> dict[str, Any]:
    cases = [
        ("numbers", '{"small":0.00001,"tiny":1e-7,"whole":1.0,"big":1e21,"neg":-0.0,'
                    '"int":9007199254740991,"exp":1E+2}'),
        ("key-order-utf16", '{"\\ud83d\\ude00":1,"\\uffff":2,"a":3,"\\u00e9":4,"B":5}'),
        ("strings", '{"s":"line\\nbreak \\u2028 \\u0007 \\"quoted\\" / \\\\ é 中文"}'),
        ("nesting", '{"b":[3,{"z":null,"a":true}],"a":{"c":false,"b":[]}}'),
    ]
    out = []
    for name, text in cases:
        value = json.loads(text)
        form = canonical(value)
        out.append({"name": name, "json": text, "canonical": form,
                    "sha256": hashlib.sha256(form.encode()).hexdigest(),
                    "legacy_sha256": content_sha256(value, HASH_LEGACY)})
    return {"description": "RFC 8785 (JCS) forms: parse `json`, canonicalize, compare with "
                           "`canonical` and the SHA-256 of its UTF-8 bytes. `legacy_sha256` is "
                           "the first release's rule (§7.3), for receivers still serving it.",
            "cases": out}


def _jwks_cases(keys: dict[str, Any]) -> dict[str, Any]:
    sig = public_jwk(keys[SENDER]["sig"])
    enc = public_jwk(keys[RECEIVER]["enc"])
    bare_sig = {k: sig[k] for k in ("kty", "crv", "x", "y", "kid")}
    bare_enc = {k: enc[k] for k in ("kty", "n", "e", "kid")}
    cases = [
        ("complete-sig", sig, "sig"), ("complete-enc", enc, "enc"),
        ("sig-without-alg-and-use", bare_sig, "sig"),
        ("enc-without-alg-and-use", bare_enc, "enc"),
        ("enc-with-key-ops", {**bare_enc, "key_ops": ["wrapKey", "encrypt"]}, "enc"),
        ("without-kid", {k: v for k, v in sig.items() if k != "kid"}, None),
        ("es384-curve", {**bare_sig, "crv": "P-384"}, None),
        ("rsa-for-signing", {**bare_enc, "use": "sig"}, None),
        ("rsa1_5", {**bare_enc, "alg": "RSA1_5"}, None),
        ("ec-for-encryption", {**bare_sig, "use": "enc"}, None),
        ("private-member", {**keys[SENDER]["sig"]}, None),
        ("symmetric", {"kty": "oct", "k": "c2VjcmV0", "kid": "oct-1"}, None),
    ]
    return {"description": "JWK Set entries: the transfer use a receiver of the JWKS gives "
                           "each (null: not a transfer key, ignored). `alg` and `use` are "
                           "optional (RFC 7517); kty/crv decide them when absent.",
            "cases": [{"name": n, "jwk": k, "transfer_use": u} for n, k, u in cases]}


@cache
def _loaded_templates() -> None:
    from mla import templates

    templates.load_all()


def write() -> None:
    _loaded_templates()
    FOLDER.mkdir(parents=True, exist_ok=True)
    keys = _keys()
    documents = {"keys": keys, "canonical": _canonical_cases(), "jwks": _jwks_cases(keys),
                 "messages": _messages(keys), "refusals": _refusals(keys)}
    for name, document in documents.items():
        (FOLDER / f"{name}.json").write_text(
            json.dumps(document, indent=1, ensure_ascii=False) + "\n", "utf-8")


if __name__ == "__main__":
    write()
    print(f"wrote {FOLDER}")
