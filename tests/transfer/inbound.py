"""An in-process receiving instance on the test database (SQLite and PostgreSQL): the `api`
app hosting KE-ODPP, with FR-MJ registered as its peer under a signing key this helper
holds, so a test can seal whatever FR's instance could send (or anyone could: our encryption
key is public) and post it to /transfer/inbox, without two servers."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from jose import jwe, jwk, jws

from mla import templates
from mla.models import Peer
from mla.transfer import canonical, envelope, keys
from tests.api_helpers import Api

FR_SIG_KID = "sig-test-fr"


@dataclass
class Inbound:
    api: Api
    signing: ec.EllipticCurvePrivateKey

    def payload(self, **body: Any) -> dict[str, Any]:
        """A request message from FR-MJ with `body` over a valid one."""
        message_id = str(uuid.uuid4())
        return {"v": 1, "message_id": message_id, "type": "request", "sender": "FR-MJ",
                "receiver": "KE-ODPP", "thread": message_id, "hash": "sha256-jcs",
                "sent_at": canonical.iso(datetime.now(UTC)),
                "body": {"reference": f"FR-MJ-IN-{message_id[:8]}", "kind": "mla.evidence",
                         "legal_basis": "untoc",
                         "template_version": templates.latest_version("mla.evidence"),
                         "title": "Inbound", "language": "en",
                         "data": templates.example("mla.evidence"), "texts": {},
                         "attachments": []} | body}

    def seal(self, payload: dict[str, Any] | None = None, *, signed: str | None = None,
             enc_kid: str | None = None, headers: dict[str, Any] | None = None) -> str:
        """The envelope of `payload` signed by FR (or of the JWS text `signed`), encrypted
        to KE's current key (its `kid` replaced by `enc_kid` if given)."""
        if signed is None:
            signed = jws.sign(canonical.canonical(payload or self.payload()).encode(),
                              self.signing, algorithm="ES256",
                              headers={"kid": FR_SIG_KID, "typ": envelope.ENVELOPE_TYPE})
        enc = keys.current_key(self.api.session, "enc")
        self.api.session.commit()
        target = keys.public_key(enc.public_jwk, keys.ENC_ALG)
        sealed = jwe.encrypt(signed.encode(), target, algorithm="RSA-OAEP-256",
                             encryption="A256GCM", kid=enc.kid if enc_kid is None else enc_kid)
        return sealed.decode()

    def post(self, sealed: str, *, as_json: bool = False) -> httpx.Response:
        if as_json:
            return self.api.client.post("/transfer/inbox", json={"envelope": sealed})
        return self.api.client.post("/transfer/inbox", content=sealed,
                                    headers={"Content-Type": "application/jose"})


def enable(api: Api, monkeypatch: pytest.MonkeyPatch) -> Inbound:
    """Makes the test instance KE-ODPP's, with transfer keys, and FR-MJ its peer."""
    monkeypatch.setenv("MLA_INSTANCE_AUTHORITY", "KE-ODPP")
    session = api.session
    keys.current_key(session, "sig")
    keys.current_key(session, "enc")
    signing = ec.generate_private_key(ec.SECP256R1())
    public = jwk.construct(signing.public_key(), "ES256").to_dict()
    public.update(kid=FR_SIG_KID, use="sig", alg="ES256", purpose=keys.PURPOSE)
    session.add(Peer(authority_id=api.world.fr.id, base_url="http://127.0.0.1:9",
                     signing_jwks=[public], encryption_jwks=[]))
    session.commit()
    return Inbound(api, signing)
