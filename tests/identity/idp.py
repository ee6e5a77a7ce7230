"""The loopback OpenID provider of tests/identity/: tests/idp/provider.mjs (oidc-provider,
installed by `.ci/run` with `npm ci`) run by the machine's Node.js, with keys made here so the
tests can also sign tokens with the provider's own key (expired, for another audience)."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jose import jwk as jose_jwk
from jose import jwt

IDP_DIR = Path(__file__).resolve().parents[1] / "idp"
AUDIENCE = "urn:mla:api"
CLIENT_ID = "mla-console"
CLIENT_SECRET = "a-test-only-client-secret-of-32-chars"
# The provider's users and the claims it asserts: groups map to our authorities and roles
# (tests/identity/mapping.yaml).
ACCOUNTS: dict[str, dict[str, Any]] = {
    "amina": {"preferred_username": "amina.fr", "name": "Amina Diallo",
              "email": "amina@justice.example", "groups": ["mla:FR-MJ:officer"]},
    "paul": {"preferred_username": "paul.fr", "name": "Paul Martin",
             "email": "paul@justice.example",
             "groups": ["/ministry/mla-supervisors", "mla:FR-MJ:officer"]},
    "kim": {"preferred_username": "kim.ke", "name": "Kim Otieno",
            "groups": ["mla:KE-ODPP:officer"]},
    "nobody": {"preferred_username": "nobody", "name": "No Body", "groups": ["staff"]},
    "gone": {"preferred_username": "gone.fr", "name": "Gone Away",
             "groups": ["mla:FR-MJ:officer"], "mla_active": False},
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rsa_jwk(kid: str) -> tuple[dict[str, Any], str]:
    """A private RSA JWK for the provider and the same key as PEM for the tests."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    numbers = key.private_numbers()

    def b64int(value: int) -> str:
        raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    public = numbers.public_numbers
    return ({"kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig",
             "n": b64int(public.n), "e": b64int(public.e), "d": b64int(numbers.d),
             "p": b64int(numbers.p), "q": b64int(numbers.q), "dp": b64int(numbers.dmp1),
             "dq": b64int(numbers.dmq1), "qi": b64int(numbers.iqmp)}, pem)


@dataclass
class Provider:
    issuer: str
    port: int
    workdir: Path
    keys: list[tuple[dict[str, Any], str]]
    redirect_uris: list[str]
    proc: subprocess.Popen[bytes] | None = None
    log: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log = self.workdir / f"idp-{self.port}.log"

    @property
    def pem(self) -> str:
        """The private key the provider signs with now."""
        return self.keys[0][1]

    @property
    def kid(self) -> str:
        return str(self.keys[0][0]["kid"])

    @property
    def public_pem(self) -> bytes:
        return bytes(jose_jwk.construct(self.keys[0][0], "RS256").public_key().to_pem())

    def start(self) -> None:
        node = shutil.which("node")
        if node is None or not (IDP_DIR / "node_modules" / "oidc-provider").is_dir():
            raise RuntimeError("the test OpenID provider needs Node.js and `npm ci` in "
                               f"{IDP_DIR} (.ci/run does both)")
        config = {"issuer": self.issuer, "port": self.port, "audience": AUDIENCE,
                  "accounts": ACCOUNTS, "keys": [k for k, _ in self.keys],
                  "client": {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
                             "redirect_uris": self.redirect_uris,
                             "grant_types": ["authorization_code"],
                             "response_types": ["code"],
                             "token_endpoint_auth_method": "client_secret_basic"}}
        path = self.workdir / f"idp-{self.port}.json"
        path.write_text(json.dumps(config))
        self.proc = subprocess.Popen([node, str(IDP_DIR / "provider.mjs"), str(path)],
                                     cwd=IDP_DIR, stdout=self.log.open("wb"),
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while True:
            try:
                url = self.issuer + "/.well-known/openid-configuration"
                if httpx.get(url, timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the OpenID provider did not start:\n"
                                   + self.log.read_text())
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None

    def sign(self, claims: dict[str, Any], *, pem: str | None = None,
             kid: str | None = None) -> str:
        """A token signed with the provider's own key (or `pem`)."""
        return jwt.encode(claims, pem or self.pem, algorithm="RS256",
                          headers={"kid": kid or self.kid, "typ": "at+jwt"})

    def login_code(self, account: str, *, redirect_uri: str,
                   resource: str | None = AUDIENCE) -> dict[str, Any]:
        """The authorization code flow (PKCE) as a browser would run it, without one: the
        provider's login page, its redirects, then the code exchanged for tokens."""
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(
            hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
        params = {"client_id": CLIENT_ID, "response_type": "code",
                  "scope": "openid profile email groups", "redirect_uri": redirect_uri,
                  "state": secrets.token_urlsafe(16), "nonce": secrets.token_urlsafe(16),
                  "code_challenge": challenge, "code_challenge_method": "S256"}
        if resource:
            params["resource"] = resource
        with httpx.Client(follow_redirects=False, timeout=10) as client:
            response = client.get(self.issuer + "/auth", params=params)
            for _ in range(10):
                if response.status_code not in (302, 303):
                    break
                location = urljoin(str(response.url), response.headers["location"])
                if location.startswith(redirect_uri):
                    code = parse_qs(urlsplit(location).query)["code"][0]
                    tokens = client.post(self.issuer + "/token", auth=(CLIENT_ID, CLIENT_SECRET),
                                         data={"grant_type": "authorization_code",
                                               "code": code, "redirect_uri": redirect_uri,
                                               "code_verifier": verifier,
                                               **({"resource": resource} if resource else {})})
                    assert tokens.status_code == 200, tokens.text
                    return dict(tokens.json())
                response = client.get(location)
            action = re.search(r'action="([^"]+)"', response.text)
            assert action, response.text[:2000]
            response = client.post(urljoin(str(response.url), action.group(1)),
                                   data={"prompt": "login", "login": account,
                                         "password": "any"})
            for _ in range(10):
                location = urljoin(str(response.url), response.headers["location"])
                if location.startswith(redirect_uri):
                    code = parse_qs(urlsplit(location).query)["code"][0]
                    tokens = client.post(self.issuer + "/token", auth=(CLIENT_ID, CLIENT_SECRET),
                                         data={"grant_type": "authorization_code",
                                               "code": code, "redirect_uri": redirect_uri,
                                               "code_verifier": verifier,
                                               **({"resource": resource} if resource else {})})
                    assert tokens.status_code == 200, tokens.text
                    return dict(tokens.json())
                response = client.get(location)
            raise AssertionError(f"no code came back: {response.status_code} {response.text}")
