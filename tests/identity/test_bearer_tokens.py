"""Access tokens of the ministry's OpenID provider (a real one on loopback, tests/idp/) as API
bearer tokens: accepted when the provider signed them for our audience, the user created at
first use with the authority and role the claim mapping gives; refused (401) when another
issuer signed them, with `alg: none`, HS256 keyed with the provider's public key, expired, not
yet valid, for another audience, an ID token, or a key the provider does not publish."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import pytest
from sqlalchemy import select

from mla.identity import oidc
from mla.models import AuditEvent, ExternalIdentity, User
from tests.api_helpers import Api, refusal
from tests.identity import idp
from tests.identity.conftest import NO_BROWSER_CALLBACK


def one_user(api: Api, username: str) -> User | None:
    """Read afresh: the API committed in its own sessions."""
    api.session.commit()
    return api.session.scalar(select(User).where(User.username == username))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def access_token(provider: idp.Provider, account: str) -> str:
    return str(provider.login_code(account, redirect_uri=NO_BROWSER_CALLBACK)["access_token"])


def claims(provider: idp.Provider, **over: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"iss": provider.issuer, "sub": "amina", "aud": idp.AUDIENCE, "iat": now,
            "exp": now + 300, "jti": "j1", "client_id": idp.CLIENT_ID,
            "groups": ["mla:FR-MJ:officer"], "preferred_username": "amina.fr",
            "name": "Amina Diallo"} | over


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def unsigned(header: dict[str, Any], payload: dict[str, Any], key: bytes | None) -> str:
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    if key is None:
        return signing_input + "."
    return f"{signing_input}.{b64(hmac.new(key, signing_input.encode(), hashlib.sha256).digest())}"


def test_a_providers_access_token_opens_the_api_as_the_mapped_user(api: Api,
                                                                   sso: idp.Provider) -> None:
    token = access_token(sso, "amina")
    me = api.client.get("/auth/me", headers=bearer(token))
    assert me.status_code == 200, me.text
    assert me.json()["username"] == "amina.fr"
    assert (me.json()["role"], me.json()["authority"]) == ("officer", "FR-MJ")
    # Created at first use, linked to the provider's subject, and audited.
    user = one_user(api, "amina.fr")
    assert user is not None and user.password_hash is None
    link = api.session.scalar(select(ExternalIdentity).where(ExternalIdentity.user_id == user.id))
    assert link is not None and (link.issuer, link.subject) == (sso.issuer, "amina")
    actions = api.session.scalars(select(AuditEvent.action)
                                  .where(AuditEvent.object_id == str(user.id))).all()
    assert "user.create" in actions
    # The same person again is the same user, not a second one.
    again = api.client.get("/auth/me", headers=bearer(access_token(sso, "amina")))
    assert again.json()["id"] == me.json()["id"]
    # And works like any officer: lists FR's requests, files one.
    assert api.client.get("/requests", headers=bearer(token)).status_code == 200


def test_a_group_table_entry_wins_by_role_precedence(api: Api, sso: idp.Provider) -> None:
    # paul is in /ministry/mla-supervisors (the table) and mla:FR-MJ:officer (the pattern).
    me = api.client.get("/auth/me", headers=bearer(access_token(sso, "paul")))
    assert (me.json()["role"], me.json()["authority"]) == ("supervisor", "FR-MJ")


def test_a_person_without_a_mapped_group_is_refused_never_given_a_default_role(
        api: Api, sso: idp.Provider) -> None:
    body = refusal(api.client.get("/auth/me", headers=bearer(access_token(sso, "nobody"))),
                   403)
    assert "no group of this instance" in body["detail"]
    assert one_user(api, "nobody") is None
    refused = api.session.scalars(select(AuditEvent.detail)
                                  .where(AuditEvent.action == "login.refused")).all()
    assert any(d["sub"] == "nobody" for d in refused)


def test_the_provider_disabling_a_user_deactivates_them_here(api: Api,
                                                             sso: idp.Provider) -> None:
    assert api.client.get("/auth/me", headers=bearer(access_token(sso, "amina"))) \
        .status_code == 200
    # The provider now says amina is disabled (its `active` claim, signed with its key).
    disabled = sso.sign(claims(sso, mla_active=False, jti="j2"))
    refusal(api.client.get("/auth/me", headers=bearer(disabled)), 403)
    user = one_user(api, "amina.fr")
    assert user is not None and not user.active
    # Her next ordinary token is refused too: a deactivation is undone by an admin only.
    body = refusal(api.client.get("/auth/me", headers=bearer(access_token(sso, "amina"))), 403)
    assert "deactivated" in body["detail"]
    # An account the provider says is disabled is never created either.
    refusal(api.client.get("/auth/me", headers=bearer(access_token(sso, "gone"))), 403)
    assert one_user(api, "gone.fr") is None


def test_an_admin_disabling_the_user_takes_effect_on_the_next_request(
        api: Api, sso: idp.Provider) -> None:
    token = access_token(sso, "amina")
    me = api.client.get("/auth/me", headers=bearer(token)).json()
    changed = api.call("fr.admin", "PATCH", f"/users/{me['id']}", json={"active": False})
    assert changed.status_code == 200, changed.text
    refusal(api.client.get("/auth/me", headers=bearer(token)), 403)


def test_an_officer_of_another_authority_sees_none_of_frs_requests(api: Api,
                                                                   sso: idp.Provider) -> None:
    filed = api.file()
    kim = bearer(access_token(sso, "kim"))
    me = api.client.get("/auth/me", headers=kim).json()
    assert me["authority"] == "KE-ODPP"  # KE is the requested party: it sees it once sent
    us = sso.sign(claims(sso, sub="us-person", groups=["mla:US-OIA:officer"],
                         preferred_username="us.person"))
    refusal(api.client.get(f"/requests/{filed['id']}", headers=bearer(us)), 404)


def test_forged_and_misdirected_tokens_are_refused(api: Api, sso: idp.Provider) -> None:
    _, other_pem = idp.rsa_jwk("key-1")  # same kid, another key
    forged = {
        "another issuer": sso.sign(claims(sso, iss="http://127.0.0.1:1/evil"), pem=other_pem),
        "another key, same kid": sso.sign(claims(sso), pem=other_pem),
        "a kid the provider does not publish": sso.sign(claims(sso), pem=other_pem,
                                                        kid="key-x"),
        "alg none": unsigned({"alg": "none", "typ": "JWT", "kid": sso.kid}, claims(sso), None),
        "HS256 keyed with the public key": unsigned({"alg": "HS256", "typ": "JWT",
                                                     "kid": sso.kid}, claims(sso),
                                                    sso.public_pem),
        "expired": sso.sign(claims(sso, iat=int(time.time()) - 900,
                                   exp=int(time.time()) - 300)),
        "not yet valid": sso.sign(claims(sso, nbf=int(time.time()) + 600)),
        "another audience": sso.sign(claims(sso, aud="urn:other:api")),
        "no audience": sso.sign({k: v for k, v in claims(sso).items() if k != "aud"}),
        "no expiry": sso.sign({k: v for k, v in claims(sso).items() if k != "exp"}),
        "an ID token": str(sso.login_code("amina", redirect_uri=NO_BROWSER_CALLBACK)
                           ["id_token"]),
    }
    for name, token in forged.items():
        response = api.client.get("/auth/me", headers=bearer(token))
        assert response.status_code == 401, (name, response.text)
        assert response.headers["content-type"].startswith("application/problem+json"), name
    assert one_user(api, "amina.fr") is None
    # The genuine one still works after all that.
    ok = api.client.get("/auth/me", headers=bearer(access_token(sso, "amina")))
    assert ok.status_code == 200


def test_the_providers_new_key_is_followed_after_a_rotation(
        api: Api, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The provider restarts with a new signing key (the old one still published): tokens
    signed with either verify, the new one after the keys are fetched again."""
    from tests.identity.conftest import provider_environment

    port = idp.free_port()
    old = idp.rsa_jwk("2025-key")
    first = idp.Provider(issuer=f"http://127.0.0.1:{port}", port=port, workdir=tmp_path,
                         keys=[old], redirect_uris=[NO_BROWSER_CALLBACK])
    first.start()
    for name, value in provider_environment(first).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(oidc, "JWKS_MIN_REFRESH", 0.5)
    try:
        assert api.client.get("/auth/me", headers=bearer(access_token(first, "amina"))) \
            .status_code == 200
    finally:
        first.stop()
    second = idp.Provider(issuer=first.issuer, port=port, workdir=tmp_path,
                          keys=[idp.rsa_jwk("2026-key"), old],
                          redirect_uris=[NO_BROWSER_CALLBACK])
    second.start()
    try:
        token = access_token(second, "amina")
        assert oidc.jwt.get_unverified_header(token)["kid"] == "2026-key"
        time.sleep(0.6)
        assert api.client.get("/auth/me", headers=bearer(token)).status_code == 200
        assert api.client.get("/auth/me", headers=bearer(first.sign(
            claims(first, jti="old-key")))).status_code == 200
    finally:
        second.stop()


def test_a_broken_mapping_file_refuses_with_a_reason_never_a_500(
        api: Api, sso: idp.Provider, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    broken = tmp_path / "mapping.yaml"
    broken.write_text("groups: {g: {authority: FR-MJ, role: emperor}}\n")
    monkeypatch.setenv("MLA_OIDC_MAPPING_FILE", str(broken))
    body = refusal(api.client.get("/auth/me", headers=bearer(access_token(sso, "amina"))), 403)
    assert "misconfigured" in body["detail"]
