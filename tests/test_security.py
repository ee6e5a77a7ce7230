"""Access tokens, signing keys, passwords and login limits, through the API and the domain."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mla import db, security
from mla.errors import RateLimited, Unauthorized
from mla.models import LoginAttempt
from tests import tokens
from tests.api_helpers import Api
from tests.conftest import World


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_valid_token_verifies_to_its_user(session: Session, world: World) -> None:
    token, ttl = security.issue_access_token(session, world["fr.officer"])
    assert 0 < ttl <= 900
    assert security.verify_access_token(session, token).username == "fr.officer"


def _bad_tokens(session: Session, world: World) -> dict[str, str]:
    user = world["fr.officer"]
    key = security.ensure_signing_key(session)
    session.commit()
    base = tokens.claims(user.id, user.role, "FR-MJ")
    stranger = tokens.fresh_ec_pem()
    return {
        "expired": tokens.signed(base | {"exp": base["iat"] - 1}, key.private_pem, key.kid),
        "wrong audience": tokens.signed(base | {"aud": "urn:other"}, key.private_pem, key.kid),
        "wrong issuer": tokens.signed(base | {"iss": "urn:evil"}, key.private_pem, key.kid),
        "alg none": tokens.alg_none(base, key.kid),
        "HS256 with the public key": tokens.hs256_with_public_key(base, key.public_jwk,
                                                                    key.kid),
        "unknown key": tokens.signed(base, stranger, "made-up-kid"),
        "other key, real kid": tokens.signed(base, stranger, key.kid),
        "role changed": tokens.signed(base | {"role": "supervisor"}, key.private_pem, key.kid),
        "no subject": tokens.signed({k: v for k, v in base.items() if k != "sub"},
                                    key.private_pem, key.kid),
        "garbage": "abc.def.ghi",
    }


def test_every_bad_token_is_401_problem(api: Api) -> None:
    for name, token in _bad_tokens(api.session, api.world).items():
        response = api.client.get("/requests", headers=_bearer(token))
        assert response.status_code == 401, name
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.headers["www-authenticate"] == "Bearer"


def test_every_bad_token_is_refused_by_the_domain(session: Session, world: World) -> None:
    for name, token in _bad_tokens(session, world).items():
        with pytest.raises(Unauthorized):
            security.verify_access_token(session, token)
        assert name


def test_rotation_keeps_old_tokens_until_the_key_is_retired(session: Session,
                                                            world: World) -> None:
    old_token, _ = security.issue_access_token(session, world["fr.officer"])
    old_kid = security.ensure_signing_key(session).kid
    new_key = security.rotate_signing_key(session)
    session.commit()
    new_token, _ = security.issue_access_token(session, world["fr.officer"])
    assert security.verify_access_token(session, old_token)
    assert security.verify_access_token(session, new_token)
    assert {k["kid"] for k in security.jwks(session)["keys"]} == {old_kid, new_key.kid}
    security.retire_signing_key(session, old_kid)
    session.commit()
    with pytest.raises(Unauthorized, match="unknown or retired"):
        security.verify_access_token(session, old_token)
    assert security.verify_access_token(session, new_token)
    assert [k["kid"] for k in security.jwks(session)["keys"]] == [new_key.kid]


def test_deactivated_user_is_locked_out(session: Session, world: World) -> None:
    token, _ = security.issue_access_token(session, world["fr.officer"])
    world["fr.officer"].active = False
    session.commit()
    with pytest.raises(Unauthorized):
        security.verify_access_token(session, token)


def test_password_login_and_identical_failures(session: Session, world: World) -> None:
    security.set_password(session, world["fr.officer"], "correct horse battery")
    session.commit()
    assert security.authenticate(session, "fr.officer", "correct horse battery",
                                 "10.0.0.1").username == "fr.officer"
    with pytest.raises(Unauthorized) as wrong:
        security.authenticate(session, "fr.officer", "wrong password!", "10.0.0.1")
    with pytest.raises(Unauthorized) as unknown:
        security.authenticate(session, "nobody", "wrong password!", "10.0.0.1")
    assert wrong.value.detail == unknown.value.detail
    stored = world["fr.officer"].password_hash
    assert stored and stored.startswith("$argon2") and "correct" not in stored


def test_account_limit_holds_even_with_the_right_password(session: Session,
                                                          world: World) -> None:
    security.set_password(session, world["fr.officer"], "correct horse battery")
    session.commit()
    for i in range(security.MAX_FAILURES_PER_ACCOUNT):
        with pytest.raises(Unauthorized):
            security.authenticate(session, "fr.officer", f"bad {i}", f"10.0.0.{i}")
    with pytest.raises(RateLimited) as limited:
        security.authenticate(session, "fr.officer", "correct horse battery", "10.0.0.99")
    assert 0 < limited.value.retry_after <= 15 * 60 + 1
    # Another account is not affected.
    security.set_password(session, world["ke.officer"], "another long password")
    session.commit()
    assert security.authenticate(session, "ke.officer", "another long password", "10.0.0.1")


def test_address_limit_spans_accounts(session: Session, world: World, engine) -> None:  # type: ignore[no-untyped-def]
    for i in range(security.MAX_FAILURES_PER_ADDRESS):
        with pytest.raises(Unauthorized):
            security.authenticate(session, f"guess{i}", "x" * 12, "192.0.2.7")
    security.set_password(session, world["us.officer"], "a fine long password")
    session.commit()
    with pytest.raises(RateLimited):
        security.authenticate(session, "us.officer", "a fine long password", "192.0.2.7")
    assert security.authenticate(session, "us.officer", "a fine long password", "192.0.2.8")
    # Failed attempts were committed, so they count from any process.
    with db.session_factory(engine)() as fresh:
        failed = fresh.scalar(select(func.count()).select_from(LoginAttempt)
                              .where(LoginAttempt.success.is_(False)))
    assert failed == security.MAX_FAILURES_PER_ADDRESS
