"""OpenID Connect relying party: the provider's discovery document and keys, the
authorization code flow with PKCE, `state` and `nonce`, and verification of the tokens the
provider signs (ID tokens for the console, access tokens as API bearer tokens).

Algorithms are pinned to the asymmetric ones the provider advertises
(`id_token_signing_alg_values_supported`), so `alg: none` and HS256 keyed with a public key are
refused whatever the token says; the key must be one of the provider's (`kid`), of the family
of the algorithm, and of that algorithm when the key names one. `iss`, `aud`, `exp`, `iat`,
`sub` are required and `nbf` checked when present. The keys are fetched again when a token
names a `kid` we have not seen (the provider rotated), at most every JWKS_MIN_REFRESH seconds
so that made-up `kid`s cannot make us hammer the provider.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
from jose import jwt
from jose.exceptions import JOSEError
from sqlalchemy import delete
from sqlalchemy.orm import Session

from mla import settings
from mla.clock import utcnow
from mla.errors import Unauthorized
from mla.models import LoginFlow

# RSA and EC only: what python-jose verifies with public keys.
ASYMMETRIC = {"RS256": "RSA", "RS384": "RSA", "RS512": "RSA",
              "ES256": "EC", "ES384": "EC", "ES512": "EC"}
DISCOVERY_TTL = 300.0
JWKS_TTL = 300.0
JWKS_MIN_REFRESH = 10.0
LEEWAY_SECONDS = 30
HTTP_TIMEOUT = 10.0
LOGIN_FLOW_TTL = timedelta(minutes=10)
TOKEN_CACHE_SIZE = 10_000


class ProviderUnavailable(Unauthorized):
    """The provider's discovery document or keys could not be read."""


@dataclass(frozen=True)
class ProviderInfo:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    algorithms: tuple[str, ...]
    end_session_endpoint: str | None


_lock = threading.Lock()
_discovery: dict[str, tuple[float, ProviderInfo]] = {}
_jwks: dict[str, tuple[float, dict[str, dict[str, Any]]]] = {}
_verified: dict[str, tuple[str, str, dict[str, Any]]] = {}


def configured() -> bool:
    config = settings.get()
    return bool(config.oidc_issuer and config.oidc_client_id)


def issuer() -> str | None:
    value = settings.get().oidc_issuer
    return value.rstrip("/") if value else None


def api_audience() -> str:
    config = settings.get()
    return config.oidc_audience or config.oidc_client_id or ""


def _get_json(url: str) -> dict[str, Any]:
    try:
        response = httpx.get(url, timeout=HTTP_TIMEOUT, follow_redirects=False)
        response.raise_for_status()
        body = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise ProviderUnavailable(f"the identity provider could not be read ({url}): "
                                  f"{exc.__class__.__name__}") from None
    if not isinstance(body, dict):
        raise ProviderUnavailable(f"the identity provider answered no JSON object at {url}")
    return body


def provider() -> ProviderInfo:
    """The configured provider's discovery document, cached DISCOVERY_TTL seconds. Its
    `issuer` must be the configured one exactly (OpenID Connect Discovery 1.0 §4.3)."""
    configured_issuer = issuer()
    if not configured_issuer:
        raise Unauthorized("single sign-on is not configured on this instance")
    cached = _discovery.get(configured_issuer)
    if cached and time.monotonic() - cached[0] < DISCOVERY_TTL:
        return cached[1]
    doc = _get_json(configured_issuer + "/.well-known/openid-configuration")
    if str(doc.get("issuer", "")).rstrip("/") != configured_issuer:
        raise ProviderUnavailable("the identity provider's discovery document names another "
                                  f"issuer ({doc.get('issuer')!r})")
    advertised = doc.get("id_token_signing_alg_values_supported") or ["RS256"]
    algorithms = tuple(a for a in advertised if a in ASYMMETRIC)
    if not algorithms:
        raise ProviderUnavailable("the identity provider advertises no signing algorithm "
                                  f"this instance accepts ({', '.join(ASYMMETRIC)})")
    try:
        info = ProviderInfo(
            issuer=str(doc["issuer"]), authorization_endpoint=str(doc["authorization_endpoint"]),
            token_endpoint=str(doc["token_endpoint"]), jwks_uri=str(doc["jwks_uri"]),
            algorithms=algorithms, end_session_endpoint=doc.get("end_session_endpoint"))
    except KeyError as exc:
        raise ProviderUnavailable(f"the identity provider's discovery document has no "
                                  f"{exc.args[0]}") from None
    _discovery[configured_issuer] = (time.monotonic(), info)
    return info


def _keys(info: ProviderInfo, *, refresh: bool = False) -> dict[str, dict[str, Any]]:
    cached = _jwks.get(info.jwks_uri)
    age = time.monotonic() - cached[0] if cached else None
    if cached and age is not None and (age < JWKS_MIN_REFRESH
                                       or (not refresh and age < JWKS_TTL)):
        return cached[1]
    with _lock:
        body = _get_json(info.jwks_uri)
        keys = {str(k["kid"]): k for k in body.get("keys", [])
                if isinstance(k, dict) and k.get("kid") and k.get("use", "sig") == "sig"}
        _jwks[info.jwks_uri] = (time.monotonic(), keys)
    return keys


def _key_for(info: ProviderInfo, header: dict[str, Any]) -> dict[str, Any]:
    alg = header.get("alg")
    if alg not in info.algorithms:
        raise Unauthorized(f"the token's algorithm {alg!r} is not one the identity provider "
                           f"signs with ({', '.join(info.algorithms)})")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid or len(kid) > 200:
        raise Unauthorized("the token names no signing key (kid)")
    key = _keys(info).get(kid) or _keys(info, refresh=True).get(kid)
    if key is None:
        raise Unauthorized("the token is signed by a key the identity provider does not "
                           "publish")
    if key.get("kty") != ASYMMETRIC[alg] or key.get("alg", alg) != alg:
        raise Unauthorized("the token's algorithm does not match the provider's key")
    return key


def verify(token: str, *, audience: str, nonce: str | None = None) -> dict[str, Any]:
    """The claims of a token the configured provider signed for `audience`, or
    Unauthorized naming what is wrong. With `nonce`, an ID token of that login."""
    info = provider()
    try:
        header = jwt.get_unverified_header(token)
    except (JOSEError, RecursionError, ValueError):
        raise Unauthorized("the token is malformed") from None
    key = _key_for(info, header)
    try:
        claims: dict[str, Any] = jwt.decode(
            token, key, algorithms=[header["alg"]], audience=audience, issuer=info.issuer,
            options={"require_exp": True, "require_iat": True, "require_sub": True,
                     "require_aud": True, "require_iss": True, "verify_at_hash": False,
                     "leeway": LEEWAY_SECONDS})
    except jwt.ExpiredSignatureError:
        raise Unauthorized("the token has expired") from None
    except jwt.JWTClaimsError as exc:
        raise Unauthorized(f"the token is not for this service: {exc}") from None
    except JOSEError as exc:
        if "missing required key" in str(exc):
            raise Unauthorized(f"the token is not for this service: {exc}") from None
        raise Unauthorized("the token signature is invalid") from None
    if nonce is not None and claims.get("nonce") != nonce:
        raise Unauthorized("the ID token is not for this login (nonce)")
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    if nonce is not None and len(audiences) > 1 and claims.get("azp") != audience:
        raise Unauthorized("the ID token was issued to another client (azp)")
    return claims


def verify_bearer(token: str) -> dict[str, Any]:
    """An access token of the provider, accepted as an API bearer token. An ID token is
    refused even where its audience matches (it carries our login's `nonce`)."""
    cached = _verified.get(token)
    if cached and cached[0] == issuer() and cached[1] == api_audience() \
            and cached[2]["exp"] > time.time():
        return cached[2]
    claims = verify(token, audience=api_audience())
    if "nonce" in claims:
        raise Unauthorized("an ID token is no access token")
    if len(_verified) >= TOKEN_CACHE_SIZE:
        _verified.clear()
    _verified[token] = (issuer() or "", api_audience(), claims)
    return claims


def is_provider_token(token: str) -> bool:
    """Whether a bearer token says it comes from the configured provider (to be verified
    as such); our own tokens name our issuer."""
    configured_issuer = issuer()
    if not configured_issuer:
        return False
    try:
        claimed = jwt.get_unverified_claims(token).get("iss")
    except (JOSEError, RecursionError, ValueError, AttributeError):
        return False
    return isinstance(claimed, str) and claimed.rstrip("/") == configured_issuer


# --- the console's authorization code flow --------------------------------------------------


def _challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def begin(session: Session, *, redirect_uri: str, next_url: str) -> tuple[str, str]:
    """A new login: (state, the provider's authorization URL). The caller commits and puts
    `state` in the browser's cookie, so only this browser can finish the login."""
    info = provider()
    config = settings.get()
    state, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    verifier = secrets.token_urlsafe(64)
    now = utcnow()
    session.execute(delete(LoginFlow).where(LoginFlow.expires_at < now))
    session.add(LoginFlow(state=state, nonce=nonce, code_verifier=verifier,
                          next_url=next_url, expires_at=now + LOGIN_FLOW_TTL))
    query = urlencode({"response_type": "code", "client_id": config.oidc_client_id,
                       "redirect_uri": redirect_uri, "scope": config.oidc_scopes,
                       "state": state, "nonce": nonce, "code_challenge": _challenge(verifier),
                       "code_challenge_method": "S256"})
    separator = "&" if "?" in info.authorization_endpoint else "?"
    return state, f"{info.authorization_endpoint}{separator}{query}"


def finish(session: Session, *, state: str, cookie_state: str | None, code: str,
           redirect_uri: str) -> tuple[dict[str, Any], str]:
    """The verified ID token claims and the page to go to. The flow is used up whatever
    happens; the caller commits."""
    if not cookie_state or not secrets.compare_digest(state, cookie_state):
        raise Unauthorized("this login was not started in this browser; start again")
    flow = session.get(LoginFlow, state)
    if flow is None:
        raise Unauthorized("this login is unknown or was already used; start again")
    session.delete(flow)
    session.flush()
    if flow.expires_at < utcnow():
        raise Unauthorized("this login took too long; start again")
    info = provider()
    config = settings.get()
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
            "code_verifier": flow.code_verifier, "client_id": config.oidc_client_id or ""}
    auth = (config.oidc_client_id or "", config.oidc_client_secret) \
        if config.oidc_client_secret else None
    try:
        response = httpx.post(info.token_endpoint, data=data, auth=auth,  # type: ignore[arg-type]
                              timeout=HTTP_TIMEOUT)
        body = response.json()
    except (httpx.HTTPError, ValueError):
        raise ProviderUnavailable("the identity provider's token endpoint could not be "
                                  "reached") from None
    if response.status_code != 200 or not isinstance(body, dict) or "id_token" not in body:
        error = body.get("error_description") or body.get("error") \
            if isinstance(body, dict) else None
        raise Unauthorized(f"the identity provider refused the login: {error or 'no ID token'}")
    claims = verify(str(body["id_token"]), audience=config.oidc_client_id or "",
                    nonce=flow.nonce)
    return claims, flow.next_url
