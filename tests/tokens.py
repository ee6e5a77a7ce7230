"""Forged and tampered tokens, made by hand, to show the API refuses each one."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jose import jwt


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def claims(user_id: int, role: str, authority: str, **over: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"sub": str(user_id), "iss": "urn:mla:instance", "aud": "urn:mla:api",
            "iat": now, "nbf": now, "exp": now + 600, "role": role, "authority": authority,
            "jti": "t"} | over


def fresh_ec_pem() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def signed(payload: dict[str, Any], pem: str, kid: str) -> str:
    return jwt.encode(payload, pem, algorithm="ES256", headers={"kid": kid})


def alg_none(payload: dict[str, Any], kid: str) -> str:
    header = {"alg": "none", "typ": "JWT", "kid": kid}
    return (f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}.")


def hs256_with_public_key(payload: dict[str, Any], public_jwk: dict[str, Any],
                          kid: str) -> str:
    """The classic confusion attack: HMAC keyed with the server's public key."""
    from jose import jwk as jose_jwk

    public_pem = jose_jwk.construct(public_jwk, "ES256").to_pem()
    header = {"alg": "HS256", "typ": "JWT", "kid": kid}
    import hashlib
    import hmac

    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(mac)}"


def forge(payload: dict[str, Any], *, key: str | bytes | None = None, alg: str = "ES256",
          kid: str | None = None, headers: dict[str, Any] | None = None) -> str:
    """Any token an attacker could make. `none` and HS256 are built by hand because
    python-jose refuses both (no key; a PEM as HMAC secret), which is not what we test."""
    header: dict[str, Any] = {"alg": alg, "typ": "JWT"}
    if kid is not None:
        header["kid"] = kid
    header |= headers or {}
    if alg.lower() == "none" or alg.startswith("HS"):
        import hashlib
        import hmac

        signing_input = (f"{b64(json.dumps(header).encode())}."
                         f"{b64(json.dumps(payload).encode())}")
        if alg.lower() == "none":
            return f"{signing_input}."
        secret = key.encode() if isinstance(key, str) else key or b""
        digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384,
                  "HS512": hashlib.sha512}[alg]
        return f"{signing_input}.{b64(hmac.new(secret, signing_input.encode(), digest).digest())}"
    extra = {k: v for k, v in header.items() if k not in ("alg", "typ")}
    return jwt.encode(payload, key, algorithm=alg, headers=extra)
