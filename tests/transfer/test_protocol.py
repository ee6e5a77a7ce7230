"""What docs/transfer-protocol.md promises a counterpart, in-process: the transfer JWK Set
(one encryption key, every unretired signing key), the schemas at their stable URLs, the
identity's protocol block, and registering a peer of the first release (shared JWKS with
`purpose`, no `protocol`) or one that speaks no common version."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jose import jwe, jwk

from mla.errors import InvalidInput
from mla.transfer import keys, peers, schemas
from tests.api_helpers import Api
from tests.transfer.inbound import enable


def test_transfer_jwks_has_every_signing_key_and_one_encryption_key(
        api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    inbound = enable(api, monkeypatch)
    session = api.session
    old_enc = keys.current_key(session, "enc")
    old_sig = keys.current_key(session, "sig")
    new_sig = keys.rotate_key(session, "sig")
    new_enc = keys.rotate_key(session, "enc")
    session.commit()
    answer = api.client.get("/transfer/jwks.json")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/jwk-set+json")
    published = answer.json()["keys"]
    assert [(k["kid"], k["use"], k["alg"]) for k in published] == [
        (new_sig.kid, "sig", "ES256"), (old_sig.kid, "sig", "ES256"),
        (new_enc.kid, "enc", "RSA-OAEP-256")]
    assert all(set(k) <= {"kty", "crv", "x", "y", "n", "e", "kid", "use", "alg"}
               for k in published)
    # A peer reading it seals to the one encryption key; the older one, unpublished but not
    # retired, still opens what was sealed to it before the rotation.
    signing, encryption = peers.split_jwks(answer.json())
    assert [k["kid"] for k in encryption] == [new_enc.kid] and len(signing) == 2
    before_rotation = jwe.encrypt(
        b"x", keys.public_key(old_enc.public_jwk, keys.ENC_ALG), algorithm="RSA-OAEP-256",
        encryption="A256GCM", kid=old_enc.kid).decode()
    assert jwe.decrypt(before_rotation, keys.private_key(old_enc)) == b"x"
    sealed = inbound.seal(inbound.payload())
    assert jwe.get_unverified_header(sealed)["kid"] == new_enc.kid
    assert inbound.post(sealed).status_code == 200
    # The shared JWKS lists the same keys, marked for peers of the first release.
    shared = api.client.get("/.well-known/jwks.json").json()["keys"]
    assert [k["kid"] for k in shared if k.get("purpose") == "transfer"] == \
        [k["kid"] for k in published]


def test_schemas_are_served_at_stable_urls(api: Api) -> None:
    for name in schemas.NAMES:
        answer = api.client.get(f"/transfer/schemas/v1/{name}.json")
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("application/schema+json")
        assert answer.json() == schemas.document(name)
        assert answer.json()["$id"] == f"urn:mla-transfer:v1:{name}.json"
    missing = api.client.get("/transfer/schemas/v1/nothing.json")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")


def test_without_transfer_there_is_no_transfer_jwks(api: Api,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLA_INSTANCE_AUTHORITY", raising=False)
    answer = api.client.get("/transfer/jwks.json")
    assert answer.status_code == 404


def test_identity_names_the_protocol(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    enable(api, monkeypatch)
    identity = api.client.get("/transfer/identity").json()
    assert not schemas.problems("identity", identity)
    assert identity["protocol"]["versions"] == [1]
    assert identity["protocol"]["hash"] == ["sha256-jcs"]
    assert api.client.get(identity["protocol"]["jwks"]).status_code == 200
    assert api.client.get(identity["protocol"]["schemas"] + "message.json").status_code == 200


# --- registering peers of other releases, over real HTTP --------------------------------------


class _Peer(BaseHTTPRequestHandler):
    documents: dict[str, Any] = {}

    def do_GET(self) -> None:
        found = self.documents.get(self.path)
        body = json.dumps(found).encode()
        self.send_response(404 if found is None else 200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def other_instance() -> Iterator[tuple[str, dict[str, Any]]]:
    """An instance on loopback serving whatever documents the test puts in the dict."""
    documents: dict[str, Any] = {}
    handler = type("Handler", (_Peer,), {"documents": documents})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", documents
    finally:
        server.shutdown()
        server.server_close()


def _public(private: Any, algorithm: str, **members: Any) -> dict[str, Any]:
    return jwk.construct(private.public_key(), algorithm).to_dict() | members


def test_a_peer_of_the_first_release_is_registered_from_its_shared_jwks(
        api: Api, monkeypatch: pytest.MonkeyPatch,
        other_instance: tuple[str, dict[str, Any]]) -> None:
    enable(api, monkeypatch)
    url, documents = other_instance
    sig = _public(ec.generate_private_key(ec.SECP256R1()), "ES256", kid="sig-old",
                  use="sig", alg="ES256", purpose="transfer")
    enc_new = _public(rsa.generate_private_key(public_exponent=65537, key_size=2048),
                      "RSA-OAEP-256", kid="enc-new", use="enc", alg="RSA-OAEP-256",
                      purpose="transfer")
    enc_old = enc_new | {"kid": "enc-old"}
    token_key = _public(rsa.generate_private_key(public_exponent=65537, key_size=2048),
                        "RS256", kid="token-1", use="sig", alg="RS256")
    documents["/transfer/identity"] = {"code": "US-OIA", "country": "US", "name": "OIA",
                                       "timezone": "America/New_York", "languages": ["en"]}
    # No /transfer/jwks.json (404): the shared one, token keys beside the marked ones.
    documents["/.well-known/jwks.json"] = {"keys": [token_key, sig, enc_new, enc_old]}
    peer = peers.add_peer(api.session, "US-OIA", url)
    api.session.commit()
    assert [k["kid"] for k in peer.signing_jwks] == ["sig-old"]
    assert [k["kid"] for k in peer.encryption_jwks] == ["enc-new", "enc-old"]
    assert all("purpose" not in k for k in peer.signing_jwks + peer.encryption_jwks)

    # A later instance: its own JWKS, keys without `alg` and `use`, versions it speaks.
    documents["/transfer/jwks.json"] = {"keys": [
        {k: v for k, v in key.items() if k not in ("alg", "use", "purpose")}
        for key in (sig, enc_new)]}
    documents["/transfer/identity"]["protocol"] = {"versions": [1, 2]}
    assert peers.refresh_peer(api.session, peer)
    assert [(k["kid"], k["alg"]) for k in peer.encryption_jwks] == [("enc-new", "RSA-OAEP-256")]
    documents["/transfer/identity"]["protocol"] = {"versions": [2]}
    with pytest.raises(InvalidInput, match="no protocol version"):
        peers.add_peer(api.session, "US-OIA", url)
