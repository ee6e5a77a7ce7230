"""Access tokens, signing keys, passwords and login limits, through the API and the domain."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import click
import pytest
from argon2 import PasswordHasher
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jose import jwt
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cli import admin as cli_admin
from mla import audit, clock, db, security
from mla.directory import service as directory
from mla.errors import InvalidInput, NotFound, RateLimited, Unauthorized
from mla.models import LoginAttempt, SigningKey
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


# Why each is refused, as the 401 tells the client.
REASONS = {
    "expired": "the access token has expired",
    "wrong audience": "the access token is not for this service: Invalid audience",
    "wrong issuer": "the access token is not for this service: Invalid issuer",
    "alg none": "tokens must be signed with ES256",
    "HS256 with the public key": "tokens must be signed with ES256",
    "unknown key": "the access token is signed by an unknown or retired key",
    "other key, real kid": "the access token signature is invalid",
    "role changed": "the account changed since the token was issued; log in again",
    "no subject": 'the access token is not for this service: missing required key "sub"',
    "garbage": "the access token is malformed",
}


def test_every_bad_token_is_refused_by_the_domain(session: Session, world: World) -> None:
    bad = _bad_tokens(session, world)
    assert set(bad) == set(REASONS)
    for name, token in bad.items():
        with pytest.raises(Unauthorized) as refused:
            security.verify_access_token(session, token)
        assert refused.value.detail.startswith(REASONS[name]), (name, refused.value.detail)
    # The same claims, signed as they should be, are accepted: each refusal is its flaw's.
    user = world["fr.officer"]
    key = security.ensure_signing_key(session)
    good = tokens.signed(tokens.claims(user.id, user.role, "FR-MJ"), key.private_pem, key.kid)
    assert security.verify_access_token(session, good).id == user.id


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


# --- more of the same, from the domain side ---------------------------------------------

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _public_pem(key: SigningKey) -> str:
    private = serialization.load_pem_private_key(key.private_pem.encode(), password=None)
    return private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def _p384_pem() -> str:
    return ec.generate_private_key(ec.SECP384R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()).decode()


def test_token_carries_the_agreed_claims(session: Session, world: World) -> None:
    user = world["ke.supervisor"]
    token, ttl = security.issue_access_token(session, user)
    header = jwt.get_unverified_header(token)
    claims = jwt.get_unverified_claims(token)
    assert header["alg"] == "ES256" and header["kid"] == security.ensure_signing_key(session).kid
    assert claims["sub"] == str(user.id) and claims["role"] == "supervisor"
    assert claims["authority"] == "KE-ODPP"
    assert claims["iss"] == "urn:mla:instance" and claims["aud"] == "urn:mla:api"
    assert claims["exp"] - claims["iat"] == ttl == 900 and claims["nbf"] == claims["iat"]
    assert len(claims["jti"]) == 32
    assert jwt.get_unverified_claims(security.issue_access_token(session, user)[0])["jti"] \
        != claims["jti"]


def test_settings_come_from_the_environment(session: Session, world: World,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLA_TOKEN_TTL_SECONDS", "60")
    monkeypatch.setenv("MLA_TOKEN_AUDIENCE", "urn:mla:other-api")
    token, ttl = security.issue_access_token(session, world["fr.officer"])
    assert ttl == 60
    assert security.verify_access_token(session, token).username == "fr.officer"
    monkeypatch.delenv("MLA_TOKEN_AUDIENCE")
    with pytest.raises(Unauthorized, match="not for this service"):
        security.verify_access_token(session, token)


def test_token_issued_earlier_expires(session: Session, world: World) -> None:
    with clock.frozen(clock.utcnow() - timedelta(hours=1)):
        token, _ = security.issue_access_token(session, world["fr.officer"])
    with pytest.raises(Unauthorized, match="expired"):
        security.verify_access_token(session, token)


def test_forged_headers_are_refused_with_a_reason(session: Session, world: World) -> None:
    user = world["fr.officer"]
    key = security.ensure_signing_key(session)
    session.commit()
    base = tokens.claims(user.id, user.role, "FR-MJ")
    cases = {
        "ES256": tokens.forge(base, key=key.private_pem),  # no kid at all
        "ES256 ": tokens.forge(base, key=key.private_pem, kid=key.kid, headers={"kid": ""}),
        "none": tokens.forge(base, alg="none", kid=key.kid),
        "HS256": tokens.forge(base, key=_public_pem(key), alg="HS256", kid=key.kid),
        "HS512": tokens.forge(base, key=key.private_pem, alg="HS512", kid=key.kid),
        "ES384": tokens.forge(base, key=_p384_pem(), alg="ES384", kid=key.kid),
    }
    reasons = {}
    for name, token in cases.items():
        with pytest.raises(Unauthorized) as refused:
            security.verify_access_token(session, token)
        reasons[name] = refused.value.detail
    assert "kid" in reasons["ES256"] and "kid" in reasons["ES256 "]
    assert all("ES256" in reasons[n] for n in ("none", "HS256", "HS512", "ES384"))
    # The same forge with the real key is accepted: the refusals above are about the forgery.
    assert security.verify_access_token(
        session, tokens.forge(base, key=key.private_pem, kid=key.kid)).id == user.id


def test_unknown_user_and_changed_authority_are_refused(session: Session,
                                                        world: World) -> None:
    user = world["fr.officer"]
    key = security.ensure_signing_key(session)
    session.commit()
    ghost = tokens.claims(987654, "officer", "FR-MJ")
    with pytest.raises(Unauthorized, match="unknown or deactivated"):
        security.verify_access_token(session, tokens.signed(ghost, key.private_pem, key.kid))
    moved = tokens.claims(user.id, user.role, "KE-ODPP")
    with pytest.raises(Unauthorized, match="changed"):
        security.verify_access_token(session, tokens.signed(moved, key.private_pem, key.kid))


def test_jwks_publishes_public_keys_that_verify_our_tokens(session: Session,
                                                           world: World) -> None:
    token, _ = security.issue_access_token(session, world["fr.officer"])
    keys = security.jwks(session)["keys"]
    assert len(keys) == 1
    public = keys[0]
    assert {public["kid"], public["alg"], public["use"], public["kty"], public["crv"]} \
        >= {"ES256", "sig", "EC", "P-256"}
    assert "d" not in public  # the private scalar never leaves the database
    claims = jwt.decode(token, public, algorithms=["ES256"], audience="urn:mla:api",
                        issuer="urn:mla:instance")
    assert claims["sub"] == str(world["fr.officer"].id)


def test_rotation_under_a_frozen_clock_still_switches_keys(session: Session) -> None:
    with clock.frozen(T0):
        first = security.ensure_signing_key(session)
        second = security.rotate_signing_key(session)
        assert security.ensure_signing_key(session).kid == second.kid != first.kid
    with pytest.raises(NotFound):
        security.retire_signing_key(session, "no-such-kid")
    security.retire_signing_key(session, second.kid)
    assert security.ensure_signing_key(session).kid == first.kid
    security.retire_signing_key(session, first.kid)
    # Retiring every key does not stop logins: a fresh key is made for the next token.
    assert security.ensure_signing_key(session).kid not in (first.kid, second.kid)


def test_key_retired_elsewhere_stops_working_when_the_cache_lapses(
        session: Session, world: World, engine, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    token, _ = security.issue_access_token(session, world["fr.officer"])
    session.commit()
    assert security.verify_access_token(session, token)  # now cached
    # Another process retires it: this process's cache is not told.
    kid = jwt.get_unverified_header(token)["kid"]
    with db.unit_of_work(engine) as other:
        other.get(SigningKey, kid).retired_at = clock.utcnow()  # type: ignore[union-attr]
    assert security.verify_access_token(session, token)
    monkeypatch.setattr(security, "KEY_CACHE_SECONDS", 0.0)
    with pytest.raises(Unauthorized, match="unknown or retired"):
        security.verify_access_token(session, token)


def test_short_password_is_refused_on_its_field(session: Session, world: World) -> None:
    with pytest.raises(InvalidInput) as refused:
        security.set_password(session, world["fr.officer"], "short")
    assert [p.path for p in refused.value.problems] == ["password"]
    assert world["fr.officer"].password_hash is None


def test_inactive_and_passwordless_users_get_the_same_answer(session: Session,
                                                             world: World) -> None:
    security.set_password(session, world["fr.admin"], "correct horse battery")
    world["fr.admin"].active = False
    session.commit()
    answers = set()
    for username, password in (("fr.admin", "correct horse battery"),
                               ("fr.officer", "any long password"),  # never had one
                               ("nobody", "any long password")):
        with pytest.raises(Unauthorized) as refused:
            security.authenticate(session, username, password, "10.0.0.1")
        answers.add(refused.value.detail)
    assert answers == {"invalid username or password"}


def test_retry_after_counts_down_from_the_oldest_failure(session: Session,
                                                         world: World) -> None:
    security.set_password(session, world["fr.officer"], "correct horse battery")
    session.commit()
    for minute in range(security.MAX_FAILURES_PER_ACCOUNT):
        with clock.frozen(T0 + timedelta(minutes=minute)), pytest.raises(Unauthorized):
            security.authenticate(session, "fr.officer", "wrong guess", "10.0.0.1")
    with clock.frozen(T0 + timedelta(minutes=10)), pytest.raises(RateLimited) as limited:
        security.authenticate(session, "fr.officer", "correct horse battery", "10.0.0.1")
    assert 300 <= limited.value.retry_after <= 301
    # Refused attempts are not failures: they do not push the lockout further out.
    with clock.frozen(T0 + timedelta(minutes=15, seconds=1)):
        assert security.authenticate(session, "fr.officer", "correct horse battery",
                                     "10.0.0.1").username == "fr.officer"


def test_login_upgrades_an_outdated_hash(session: Session, world: World) -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1)
    world["fr.officer"].password_hash = weak.hash("correct horse battery")
    session.commit()
    security.authenticate(session, "fr.officer", "correct horse battery", "10.0.0.1")
    stored = world["fr.officer"].password_hash
    assert stored and not PasswordHasher().check_needs_rehash(stored)
    security.authenticate(session, "fr.officer", "correct horse battery", "10.0.0.1")


def _cli() -> click.Group:
    group = click.Group()
    cli_admin.register(group)
    return group


def test_cli_users_add_and_set_password(session: Session, world: World, db_url: str,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    runner = CliRunner()
    added = runner.invoke(_cli(), [
        "users", "add", "--authority", "KE-ODPP", "--username", "ke.clerk",
        "--full-name", "Ke Clerk", "--role", "officer", "--email", "clerk@example.org",
        "--database", db_url], input="first long password\nfirst long password\n")
    assert added.exit_code == 0, added.output
    assert security.authenticate(session, "ke.clerk", "first long password", "10.0.0.1")
    monkeypatch.setenv("MLA_USER_PASSWORD", "second long password")
    changed = runner.invoke(_cli(), ["users", "set-password", "ke.clerk",
                                     "--database", db_url])
    assert changed.exit_code == 0, changed.output
    assert security.authenticate(session, "ke.clerk", "second long password", "10.0.0.1")
    monkeypatch.delenv("MLA_USER_PASSWORD")
    for args, message in (
            (["users", "add", "--authority", "XX-NONE", "--username", "x", "--full-name", "X",
              "--role", "officer", "--password", "long enough password"], "no authority"),
            (["users", "add", "--authority", "KE-ODPP", "--username", "ke.clerk",
              "--full-name", "X", "--role", "officer", "--password", "long enough password"],
             "username: ke.clerk is taken"),
            (["users", "add", "--authority", "KE-ODPP", "--username", "ke.new",
              "--full-name", "X", "--role", "officer", "--password", "short"],
             "password: at least 12"),
            (["users", "set-password", "nobody", "--password", "long enough password"],
             "no user nobody")):
        refused = runner.invoke(_cli(), [*args, "--database", db_url])
        assert refused.exit_code == 1 and message in refused.output, refused.output
    session.rollback()
    assert directory.user_by_username(session, "ke.clerk").email == "clerk@example.org"
    with pytest.raises(NotFound):
        directory.user_by_username(session, "ke.new")
    assert [e.action for e in audit.events(session)] == ["user.create", "user.set_password"]
    assert audit.verify(session).ok


def test_cli_keys_rotate_list_retire(session: Session, world: World, db_url: str) -> None:
    runner = CliRunner()
    empty = runner.invoke(_cli(), ["keys", "list", "--database", db_url])
    assert empty.exit_code == 0 and "no signing keys" in empty.output
    old_token, _ = security.issue_access_token(session, world["fr.officer"])
    session.commit()
    old_kid = jwt.get_unverified_header(old_token)["kid"]
    rotated = runner.invoke(_cli(), ["keys", "rotate", "--database", db_url])
    assert rotated.exit_code == 0, rotated.output
    new_kid = rotated.output.split()[-1]
    listing = runner.invoke(_cli(), ["keys", "list", "--database", db_url]).output
    lines = {line.split()[0]: line for line in listing.splitlines()[1:]}
    assert lines[new_kid].endswith("signing") and not lines[old_kid].endswith("signing")
    session.rollback()
    new_token, _ = security.issue_access_token(session, world["fr.officer"])
    session.commit()
    assert jwt.get_unverified_header(new_token)["kid"] == new_kid
    assert security.verify_access_token(session, old_token)
    retired = runner.invoke(_cli(), ["keys", "retire", old_kid, "--database", db_url])
    assert retired.exit_code == 0, retired.output
    unknown = runner.invoke(_cli(), ["keys", "retire", "nope", "--database", db_url])
    assert unknown.exit_code == 1 and "no signing key nope" in unknown.output
    # Cached for up to KEY_CACHE_SECONDS in this process; the cache is what a second
    # process would hold, so forget it here to see what the database now says.
    security._key_cache.clear()
    with pytest.raises(Unauthorized):
        security.verify_access_token(session, old_token)
    assert security.verify_access_token(session, new_token)
    session.rollback()
    assert [e.action for e in audit.events(session)] == ["key.rotate", "key.retire"]
