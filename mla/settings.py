"""Every `MLA_*` setting of the engine, in one typed object read from the environment.

`get()` is what the code calls; it parses the environment again only when an `MLA_*`
variable changed (nothing else is read: no `.env` file), so a test that sets one sees it at
once and a hot path pays a dictionary walk, not a parse. A value that does not parse stops
with one line naming the variable (`SettingsError`). The README's configuration table is
`markdown_table()` (a test checks).
"""

from __future__ import annotations

import functools
import ipaddress
import os
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

PREFIX = "MLA_"
DEFAULT_DATABASE_URL = "sqlite:///./mla.db"
MIB = 1024 * 1024


class SettingsError(ValueError):
    """An `MLA_*` variable whose value cannot be used; the message names it."""


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True)

    database_url: str = Field(
        DEFAULT_DATABASE_URL,
        description="SQLAlchemy URL, e.g. `postgresql+psycopg://user@host/db`")
    templates_dir: str | None = Field(
        None, description="request templates (unset: `templates/requests` of the checkout)")
    api_threads: int = Field(
        8, ge=1, description="per `mla serve` worker process: threads running requests and "
        "PostgreSQL connections kept")
    public_url: str = Field(
        "http://127.0.0.1:8000", description="base of the links in pages and e-mails")
    token_issuer: str = Field("urn:mla:instance", description="JWT `iss` of access tokens")
    token_audience: str = Field("urn:mla:api", description="JWT `aud` of access tokens")
    token_ttl_seconds: int = Field(900, ge=1, description="access token lifetime")
    max_attachment_bytes: int = Field(
        25 * MIB, ge=1, description="attachment size limit (larger uploads get 413)")
    max_body_bytes: int = Field(
        2 * MIB, ge=1024, description="largest request body of every other route (JSON, "
        "forms; larger: 413); the transfer inbox has its envelope limit")
    console_secure_cookies: Literal["auto"] | bool = Field(
        "auto", description="`auto`: Secure cookies when the request came over HTTPS; "
        "`true` behind a TLS-terminating proxy; `false` never")
    trusted_proxies: str | None = Field(
        None, description="reverse proxies whose `X-Forwarded-For`/`-Proto` `mla serve` "
        "believes: addresses or networks, comma-separated, or `*` (unset: none, the client "
        "is the connection's peer)")
    oidc_issuer: str | None = Field(
        None, description="issuer URL of the ministry's OpenID Connect provider (its "
        "discovery document is at `<issuer>/.well-known/openid-configuration`; unset: local "
        "accounts only)")
    oidc_client_id: str | None = Field(
        None, description="this instance's client id at that provider")
    oidc_client_secret: str | None = Field(
        None, description="its client secret (unset: a public client, PKCE only)")
    oidc_audience: str | None = Field(
        None, description="`aud` the provider's access tokens must carry to be accepted as "
        "API bearer tokens (unset: the client id)")
    oidc_scopes: str = Field(
        "openid profile email", description="scopes the console asks the provider for")
    oidc_mapping_file: str | None = Field(
        None, description="YAML file mapping the provider's claims to an authority and a "
        "role (unset: `mla/data/identity_mapping.yaml`, groups named "
        "`mla:<authority code>:<role>`)")
    second_factor_roles: str = Field(
        "supervisor,admin", description="roles whose local accounts must log in with a "
        "second factor (comma-separated; `none`: no role)")
    smtp_host: str = Field("127.0.0.1", description="SMTP server for e-mail pages")
    smtp_port: int | None = Field(
        None, ge=1, le=65535, description="SMTP port (unset: 25, or 465 with `tls`)")
    smtp_security: Literal["opportunistic", "starttls", "tls", "none"] = Field(
        "opportunistic", description="`starttls` (required: a server without it gets "
        "nothing), `tls` (implicit, port 465), `opportunistic` (STARTTLS when offered), `none`")
    smtp_username: str | None = Field(
        None, description="login after TLS; never sent without TLS (unset: no login)")
    smtp_password: str | None = Field(None, description="password of that login")
    smtp_ca_file: str | None = Field(
        None, description="CA bundle to verify the SMTP server (unset: system CAs)")
    smtp_from: str = Field("mla-pager@localhost", description="sender address of e-mails")
    matrix_homeserver: str | None = Field(
        None, description="base URL of the Matrix homeserver of the paging bot, e.g. "
        "`https://matrix.example.gov` (unset: no Matrix channel)")
    matrix_user_id: str | None = Field(
        None, description="the bot's Matrix account, e.g. `@mla-pager:example.gov`")
    matrix_access_token: str | None = Field(
        None, description="the bot's access token (or set `MLA_MATRIX_PASSWORD`: the bot "
        "logs in once per process)")
    matrix_password: str | None = Field(
        None, description="the bot's password, used when no access token is set")
    matrix_device_id: str | None = Field(
        None, description="device id of the bot's session (keeps one device across "
        "restarts; unset: the homeserver's choice at login)")
    matrix_sync_timeout_seconds: float = Field(
        30, gt=0, le=300, description="long-poll of `mla matrix listen`'s /sync")
    instance_authority: str | None = Field(
        None, description="code of the authority this instance hosts (unset: no transfer)")
    transfer_window_seconds: float = Field(
        300, gt=0, description="accepted distance between a message's sending time and ours")
    transfer_max_attachment_bytes: int = Field(
        16 * MIB, ge=0,
        description="attachments carried per request (more: transmit answers 413)")
    transfer_max_envelope_bytes: int | None = Field(
        None, ge=1, description="largest envelope the inbox reads (unset: 2.5 x the "
        "attachment limit + 4 MiB)")
    transfer_timeout_seconds: float = Field(30, gt=0, description="HTTP timeout of a delivery")
    transfer_backoff_base_seconds: float = Field(2, gt=0, description="first retry delay")
    transfer_backoff_cap_seconds: float = Field(600, gt=0, description="longest retry delay")
    transfer_max_attempts: int = Field(
        0, ge=0, description="attempts before a message is `failed` (0: never give up)")
    transfer_concurrency: int = Field(8, ge=1, description="deliveries in flight per worker")
    transfer_poll_seconds: float = Field(
        1.0, gt=0, description="longest idle sleep of the delivery loop")
    signing_key_passphrase: str | None = Field(
        None, description="encrypts the private keys of signing certificates at rest (unset: "
        "`mla certs` cannot store a key and documents are not signed)")
    signing_tsa_url: str | None = Field(
        None, description="RFC 3161 time-stamping authority for PDF signatures (unset: the "
        "signing time is this instance's clock)")
    signing_trust_anchors: str | None = Field(
        None, description="PEM file of the CA certificates incoming signed PDFs must chain to "
        "(unset: none; every signer is `untrusted`)")
    signing_fetch_revocation: bool = Field(
        False, description="fetch OCSP / CRLs when validating incoming PDFs (air-gapped "
        "default: only what the PDF embeds)")
    mail_max_attachment_bytes: int = Field(
        10 * MIB, ge=0, description="attachments carried in a request sent by e-mail; past "
        "that, the e-mail lists their SHA-256 instead")

    worker_stale_seconds: float = Field(
        120, gt=0, description="no `mla worker` heartbeat for this long: `/ready` fails and "
        "the API pages the admin contact (once per outage)")
    admin_email: str | None = Field(
        None, description="the instance's admin contact for the dead-man page (e-mail, over "
        "the SMTP settings)")
    admin_webhook_url: str | None = Field(
        None, description="the admin contact's webhook for the dead-man page (signed like "
        "pages' webhooks)")
    admin_webhook_secret: str | None = Field(
        None, description="HMAC key of that webhook's `X-MLA-Signature`")
    metrics_token: str | None = Field(
        None, description="bearer token that reads `/metrics` from anywhere (unset: loopback "
        "clients only)")
    log_format: Literal["json", "text"] = Field(
        "json", description="`json`: one JSON object per log line (request id, route, status, "
        "user id, time); `text`: plain lines")
    retention_rules: str | None = Field(
        None, description="YAML file of retention periods per kind and legal basis, the "
        "national law's (unset: `mla/data/retention.yaml`, Directive (EU) 2016/680 art. 5 "
        "defaults)")
    checkpoint_every_seconds: float = Field(
        3600, gt=0, description="how often the worker signs an audit checkpoint and sends it "
        "to the peers")
    audit_seal_every_seconds: float = Field(
        1.0, gt=0, le=60, description="how often the worker links new audit entries into the "
        "hash chain: an entry is sealed within about this delay after its commit")

    sms_sendsms_url: str | None = Field(
        None, description="Kannel smsbox `sendsms` URL for SMS pages, e.g. "
        "`http://127.0.0.1:13013/cgi-bin/sendsms` (unset: the SMS channel fails, and is "
        "retried)")
    sms_username: str | None = Field(None, description="Kannel `sendsms-user` username")
    sms_password: str | None = Field(None, description="that user's password")
    sms_sender: str = Field(
        "MLA247", description="sender id of SMS pages (`from`): a number or up to 11 letters")
    sms_callback_url: str | None = Field(
        None, description="our base URL as Kannel reaches it, for delivery reports (unset: "
        "`MLA_PUBLIC_URL`)")
    sms_callback_secret: str | None = Field(
        None, description="shared secret Kannel sends as `secret=` to `/sms/inbound` and "
        "`/sms/dlr` (unset: both answer 404)")
    sms_gateway_ips: str = Field(
        "127.0.0.1,::1", description="addresses or networks the Kannel gateway calls from; "
        "`/sms/inbound` and `/sms/dlr` refuse any other")
    sms_code_minutes: int = Field(
        1440, ge=1, description="how long an SMS page's acknowledgement code is valid")

    @field_validator("oidc_issuer")
    @classmethod
    def _issuer(cls, value: str | None) -> str | None:
        # OpenID Connect Discovery: an https URL; plain http only to this machine (tests,
        # a provider beside the instance).
        if value is None:
            return None
        parts = urlsplit(value)
        local = parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost", "::1")
        if not (parts.scheme == "https" or local) or not parts.hostname or parts.query \
                or parts.fragment:
            raise ValueError("must be the provider's https URL, without query or fragment")
        return value.rstrip("/")

    @field_validator("matrix_homeserver")
    @classmethod
    def _homeserver(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValueError("must be the homeserver's base URL, e.g. https://matrix.example.gov")
        return value.rstrip("/")

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies(cls, value: str | None) -> str | None:
        if value is None:
            return None
        items = [item.strip() for item in value.split(",") if item.strip()]
        for item in items:
            if item != "*":
                ipaddress.ip_network(item, strict=False)  # ValueError names the bad one
        return ",".join(items) or None

    @property
    def second_factor_role_list(self) -> tuple[str, ...]:
        items = tuple(r.strip() for r in self.second_factor_roles.split(",") if r.strip())
        return () if items == ("none",) else items

    @property
    def trusted_proxy_list(self) -> list[str]:
        return self.trusted_proxies.split(",") if self.trusted_proxies else []

    @property
    def smtp_port_or_default(self) -> int:
        return self.smtp_port or (465 if self.smtp_security == "tls" else 25)

    @property
    def transfer_envelope_limit(self) -> int:
        # Attachments are base64 three times over (JSON, JWS, JWE): about 2.4 times their size.
        return self.transfer_max_envelope_bytes or (
            self.transfer_max_attachment_bytes * 5 // 2 + 4 * MIB)


_FIELDS = tuple(Settings.model_fields)
_VARIABLES = tuple(PREFIX + name.upper() for name in _FIELDS)
# os.environ's own table (bytes on POSIX) and its keys as stored there: `os.environ.get` costs
# about 2 us a missing key, 50 us for all of them, and get() runs several times per request.
_TABLE: Any = getattr(os.environ, "_data", None)
_KEYS = tuple(map(os.environ.encodekey, _VARIABLES)) if _TABLE is not None else ()


def get() -> Settings:
    if _TABLE is None:
        return _parse(tuple(map(os.environ.get, _VARIABLES)))
    return _parse(tuple(map(_TABLE.get, _KEYS)))


@functools.lru_cache(maxsize=8)
def _parse(environment: tuple[str | bytes | None, ...]) -> Settings:
    # Empty means unset, as it did before this object: `MLA_SMTP_USERNAME=` is no login.
    values = {name: os.fsdecode(value) for name, value in zip(_FIELDS, environment, strict=True)
              if value}
    try:
        return Settings(**values)
    except ValidationError as exc:
        error = exc.errors()[0]
        name = PREFIX + str(error["loc"][0]).upper()
        raise SettingsError(f"{name}={values.get(str(error['loc'][0]), '')!r}: "
                            f"{error['msg'].lower()}") from None


def variables() -> list[tuple[str, str, str]]:
    """(variable, default, meaning) for every setting, in declaration order."""
    rows = []
    for name, field in Settings.model_fields.items():
        default = "(unset)" if field.default is None else f"`{field.default}`"
        rows.append((PREFIX + name.upper(), default, field.description or ""))
    return rows


def markdown_table() -> str:
    lines = ["| variable | default | meaning |", "|---|---|---|"]
    lines += [f"| `{name}` | {default} | {meaning} |" for name, default, meaning in variables()]
    return "\n".join(lines)
