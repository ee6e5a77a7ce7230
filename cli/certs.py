"""`mla certs`: the authorities' certificates for signing request documents (PAdES), and
`mla mail`: where non-peer authorities receive requests by e-mail, the e-mail outbox and
acknowledgements read from replies. See mla/documents/, mla/mail/; README "Signed PDF and
e-mail transmission"."""

from __future__ import annotations

from pathlib import Path

import click
from sqlalchemy import select

from cli.output import database_option, table, transaction
from mla.directory import service as directory
from mla.documents import certs
from mla.mail import acknowledgements, addresses
from mla.mail import delivery as mail_delivery
from mla.models import MailMessage, Request


def register(main: click.Group) -> None:
    main.add_command(certs_group)
    main.add_command(mail_group)


@click.group(name="certs")
def certs_group() -> None:
    """Signing certificates of the authorities (the keys stay in this instance, encrypted
    with MLA_SIGNING_KEY_PASSPHRASE)."""


@certs_group.command(name="import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--authority", required=True, help="Code of the authority that signs, e.g. FR-MJ.")
@click.option("--password", default="", show_default=False,
              help="Password of the PKCS#12 file (default: none).")
@database_option
def import_command(file: Path, authority: str, password: str, database: str) -> None:
    """Import FILE.p12 (key, certificate and chain) for an authority."""
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise click.ClickException(f"cannot read {file}: {exc.strerror}") from None
    with transaction(database) as session:
        owner = directory.authority_by_code(session, authority)
        row = certs.import_pkcs12(session, owner, data, password or None)
        click.echo(f"{owner.code}: imported {row.subject}, valid until "
                   f"{row.not_after:%Y-%m-%d}; SHA-256 {row.fingerprint_sha256}")


@certs_group.command(name="self-signed")
@click.option("--authority", required=True, help="Code of the authority, e.g. FR-MJ.")
@click.option("--days", type=click.IntRange(1, 3650), default=365, show_default=True)
@database_option
def self_signed_command(authority: str, days: int, database: str) -> None:
    """Make a self-signed certificate (demonstrations: counterparts see it as untrusted)."""
    with transaction(database) as session:
        owner = directory.authority_by_code(session, authority)
        row = certs.self_signed(session, owner, days=days)
        click.echo(f"{owner.code}: self-signed {row.subject}, valid until "
                   f"{row.not_after:%Y-%m-%d}; SHA-256 {row.fingerprint_sha256}")


@certs_group.command(name="list")
@click.option("--authority", default=None, help="Only this authority's certificates.")
@database_option
def list_command(authority: str | None, database: str) -> None:
    """Every signing certificate; the current one of each authority is marked *."""
    with transaction(database) as session:
        owner = directory.authority_by_code(session, authority) if authority else None
        rows = certs.listing(session, owner)
        current = {a: certs.current(session, a) for a in {r.authority_id for r in rows}}
        click.echo(table(
            ["", "authority", "subject", "issuer", "valid until", "retired", "sha-256"],
            [["*" if current[r.authority_id] is r else "", r.authority.code, r.subject,
              "(self-signed)" if r.self_signed else r.issuer, f"{r.not_after:%Y-%m-%d}",
              f"{r.retired_at:%Y-%m-%d}" if r.retired_at else "", r.fingerprint_sha256[:16]]
             for r in rows]))


@certs_group.command(name="retire")
@click.argument("fingerprint")
@database_option
def retire_command(fingerprint: str, database: str) -> None:
    """Stop signing with a certificate (its SHA-256 fingerprint, as `list` shows it)."""
    with transaction(database) as session:
        matches = [r for r in certs.listing(session)
                   if r.fingerprint_sha256.startswith(fingerprint.lower().replace(":", ""))]
        if len(matches) != 1:
            raise click.ClickException(f"{len(matches)} certificates match {fingerprint}; "
                                       f"give more of the fingerprint (`mla certs list`)")
        certs.retire(session, matches[0].fingerprint_sha256)
        click.echo(f"retired {matches[0].subject}")


@click.group(name="mail")
def mail_group() -> None:
    """Requests by e-mail to authorities that run no instance of the engine."""


@mail_group.command(name="addresses")
@click.argument("authority")
@click.argument("address", nargs=-1)
@click.option("--clear", is_flag=True, help="Remove every address (nothing is e-mailed).")
@database_option
def addresses_command(authority: str, address: tuple[str, ...], clear: bool,
                      database: str) -> None:
    """Show, or set (ADDRESS...), where AUTHORITY receives requests by e-mail."""
    with transaction(database) as session:
        owner = directory.authority_by_code(session, authority)
        if address or clear:
            addresses.replace(session, owner, list(address))
        current = addresses.of(session, owner.id)
        click.echo(f"{owner.code}: {', '.join(current) if current else '(no e-mail address)'}")


@mail_group.command(name="outbox")
@database_option
def outbox_command(database: str) -> None:
    """The e-mails of transmitted requests: sent, acknowledged, waiting or failed."""
    with transaction(database) as session:
        rows = session.execute(select(MailMessage, Request.reference).join(Request)
                               .order_by(MailMessage.id)).all()
        click.echo(table(
            ["id", "request", "to", "status", "attempts", "sent", "acknowledged", "error"],
            [[m.id, ref, ", ".join(m.addresses), m.status, m.attempts,
              f"{m.sent_at:%Y-%m-%d %H:%M}" if m.sent_at else "",
              f"{m.acknowledged_at:%Y-%m-%d} ({m.acknowledged_via})" if m.acknowledged_at
              else "", (m.last_error or "")[:60]] for m, ref in rows]))


@mail_group.command(name="retry")
@click.argument("message_id", type=int)
@database_option
def retry_command(message_id: int, database: str) -> None:
    """Send a failed e-mail again now (the id `mla mail outbox` shows)."""
    with transaction(database) as session:
        mail_delivery.retry(session, message_id)
        click.echo(f"e-mail {message_id} will be sent by the next pass of `mla worker`")


@mail_group.command(name="acknowledgement")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@database_option
def acknowledgement_command(file: Path, database: str) -> None:
    """Record the acknowledgement a reply carries (FILE.eml, as saved by the mail client)."""
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise click.ClickException(f"cannot read {file}: {exc.strerror}") from None
    with transaction(database) as session:
        # A database that cannot be reached, or has no tables yet, says so before the file.
        session.execute(select(MailMessage.id).limit(1))
        message = acknowledgements.from_reply(session, raw, None)
        reference = session.get_one(Request, message.request_id).reference
        click.echo(f"{reference}: acknowledged on {message.acknowledged_at:%Y-%m-%d %H:%M} UTC "
                   f"({message.acknowledged_via})")
