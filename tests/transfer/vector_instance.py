"""A receiving instance holding the conformance vectors' keys (docs/transfer-vectors/):
the test database's app as KE-ODPP with the vectors' KE keys, FR-MJ its peer publishing the
vectors' FR key. Used by test_vectors.py and test_node_jose.py."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from sqlalchemy import select

from mla import clock
from mla.models import Peer, TransferKey
from mla.transfer import canonical, peers
from tests.api_helpers import Api
from tests.transfer import vectors

FR_SIG = vectors.load("keys")[vectors.SENDER]["sig"]
KE = vectors.load("keys")[vectors.RECEIVER]


def pem(private: dict[str, Any]) -> str:
    return vectors.key_object(private).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()).decode()


def install(session: Any, authority: Any, jwks: list[dict[str, Any]],
            *own: dict[str, Any]) -> None:
    """This instance holds the private keys `own` (and no other transfer key); `authority`
    is its peer, publishing `jwks`."""
    for key in session.scalars(select(TransferKey)):
        session.delete(key)
    session.flush()
    for i, private in enumerate(own):
        session.add(TransferKey(kid=private["kid"], use=private["use"],
                                algorithm=private["alg"], private_pem=pem(private),
                                public_jwk={**vectors.public_jwk(private), "purpose": "transfer"},
                                created_at=clock.utcnow() + timedelta(microseconds=i)))
    install_peer(session, authority, jwks)


def install_peer(session: Any, authority: Any, jwks: list[dict[str, Any]]) -> None:
    """`authority` is a peer of this instance, publishing `jwks`."""
    peer = session.scalar(select(Peer).where(Peer.authority_id == authority.id))
    if peer is None:
        peer = Peer(authority_id=authority.id, base_url="http://127.0.0.1:9")
        session.add(peer)
    signing, encryption = peers.split_jwks({"keys": jwks})
    peer.signing_jwks, peer.encryption_jwks = signing, encryption
    session.commit()


def receiver(api: Api, monkeypatch: pytest.MonkeyPatch) -> Api:
    """KE-ODPP's instance with the vectors' KE keys; FR-MJ its peer with the vectors' key."""
    monkeypatch.setenv("MLA_INSTANCE_AUTHORITY", vectors.RECEIVER)
    # FR publishes its key without `alg` and `use`: RFC 7517 makes them optional.
    bare = {k: v for k, v in vectors.public_jwk(FR_SIG).items() if k not in ("alg", "use")}
    install(api.session, api.world.fr, [bare], KE["sig"], KE["enc"])
    return api


def deliver(api: Api, envelope_text: str, now: str) -> Any:
    with clock.frozen(canonical.parse_instant(now)):
        return api.client.post("/transfer/inbox", content=envelope_text,
                               headers={"Content-Type": "application/jose"})
