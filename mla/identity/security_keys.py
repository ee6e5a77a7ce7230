"""WebAuthn security keys and passkeys for local accounts: the phishing-resistant second
factor. The browser signs our challenge together with the origin it is really on, checked
against MLA_PUBLIC_URL (the relying party id is its host name), so a look-alike site relaying
the login gets a signature that opens nothing. Challenges travel in a signed, short-lived
token of mla.security (one per ceremony), never stored."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import webauthn
from sqlalchemy import select
from sqlalchemy.orm import Session
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from mla import settings
from mla.errors import FieldProblem, InvalidInput, Unauthorized
from mla.models import User, WebAuthnCredential

RP_NAME = "MLA engine"
MAX_KEYS = 10


def relying_party() -> tuple[str, str]:
    """(rp id, origin) of this instance, from MLA_PUBLIC_URL."""
    parts = urlsplit(settings.get().public_url)
    return parts.hostname or "localhost", f"{parts.scheme}://{parts.netloc}"


def keys(session: Session, user: User) -> list[WebAuthnCredential]:
    return list(session.scalars(select(WebAuthnCredential)
                                .where(WebAuthnCredential.user_id == user.id)
                                .order_by(WebAuthnCredential.id)))


def has_keys(session: Session, user: User) -> bool:
    return session.scalar(select(WebAuthnCredential.id)
                          .where(WebAuthnCredential.user_id == user.id).limit(1)) is not None


def _descriptors(session: Session, user: User) -> list[PublicKeyCredentialDescriptor]:
    return [PublicKeyCredentialDescriptor(id=base64url_to_bytes(k.credential_id))
            for k in keys(session, user)]


def registration_options(session: Session, user: User) -> tuple[str, str]:
    """(options as JSON for the browser, the challenge, base64url)."""
    rp_id, _ = relying_party()
    options = webauthn.generate_registration_options(
        rp_id=rp_id, rp_name=RP_NAME, user_id=f"mla-user-{user.id}".encode(),
        user_name=user.username, user_display_name=user.full_name,
        exclude_credentials=_descriptors(session, user),
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.DISCOURAGED,
            user_verification=UserVerificationRequirement.PREFERRED))
    return webauthn.options_to_json(options), bytes_to_base64url(options.challenge)


def register(session: Session, user: User, credential: str,
             challenge: str) -> WebAuthnCredential:
    """Stores the new key once the browser's answer checks out; the caller commits."""
    if len(keys(session, user)) >= MAX_KEYS:
        raise InvalidInput("too many security keys", [FieldProblem(
            "credential", f"at most {MAX_KEYS}; remove one first")])
    rp_id, origin = relying_party()
    try:
        verified = webauthn.verify_registration_response(
            credential=json.loads(credential), expected_challenge=base64url_to_bytes(challenge),
            expected_rp_id=rp_id, expected_origin=origin)
    except (WebAuthnException, ValueError, TypeError, KeyError) as exc:
        raise InvalidInput("the security key's answer does not check out",
                           [FieldProblem("credential", str(exc)[:200])]) from None
    key = WebAuthnCredential(user_id=user.id,
                             credential_id=bytes_to_base64url(verified.credential_id),
                             public_key=verified.credential_public_key,
                             sign_count=verified.sign_count)
    session.add(key)
    session.flush()
    return key


def authentication_options(session: Session, user: User) -> tuple[str, str]:
    rp_id, _ = relying_party()
    options = webauthn.generate_authentication_options(
        rp_id=rp_id, allow_credentials=_descriptors(session, user),
        user_verification=UserVerificationRequirement.PREFERRED)
    return webauthn.options_to_json(options), bytes_to_base64url(options.challenge)


def authenticate(session: Session, user: User, credential: str, challenge: str) -> None:
    """Unauthorized unless one of the user's keys signed this challenge on our origin. The
    signature counter must move forward (a cloned key shows an old one); the caller
    commits."""
    rp_id, origin = relying_party()
    try:
        body = json.loads(credential)
        key = session.scalar(select(WebAuthnCredential).where(
            WebAuthnCredential.user_id == user.id,
            WebAuthnCredential.credential_id == str(body.get("id", ""))[:1400]))
        if key is None:
            raise Unauthorized("this security key is not registered for the account")
        verified = webauthn.verify_authentication_response(
            credential=body, expected_challenge=base64url_to_bytes(challenge),
            expected_rp_id=rp_id, expected_origin=origin,
            credential_public_key=key.public_key, credential_current_sign_count=key.sign_count)
    except (WebAuthnException, ValueError, TypeError, AttributeError) as exc:
        raise Unauthorized(f"the security key's answer does not check out: "
                           f"{str(exc)[:200]}") from None
    key.sign_count = verified.new_sign_count
    session.flush()
