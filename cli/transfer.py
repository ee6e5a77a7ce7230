"""`mla transfer` (this instance's identity, keys, outbox) and `mla peers` (other
authorities' instances). See mla/transfer/; README "Electronic transfer between instances".
"""

from __future__ import annotations

import uuid

import click
from sqlalchemy import select

from cli.output import database_option, table, transaction
from mla import audit
from mla.models import OutboxMessage, Peer, TransferKey
from mla.transfer import keys as transfer_keys
from mla.transfer import outbox as transfer_outbox
from mla.transfer import peers as transfer_peers
from mla.transfer.errors import DeliveryError


def register(main: click.Group) -> None:
    main.add_command(transfer_group)
    main.add_command(peers_group)


@click.group(name="transfer")
def transfer_group() -> None:
    """Electronic transfer: this instance's identity, keys and outbox."""


@transfer_group.command(name="init")
@click.option("--code", envvar="MLA_INSTANCE_AUTHORITY", required=True,
              help="This instance's authority (or MLA_INSTANCE_AUTHORITY), e.g. FR-MJ.")
@click.option("--country", required=True, help="ISO 3166-1 alpha-2, e.g. FR.")
@click.option("--name", required=True)
@click.option("--timezone", required=True, help="IANA time zone, e.g. Europe/Paris.")
@click.option("--languages", required=True, help="Accepted languages, e.g. fr,en.")
@database_option
def init_command(code: str, country: str, name: str, timezone: str, languages: str,
                 database: str) -> None:
    """Create this instance's authority (unless it exists) and its transfer keys."""
    with transaction(database) as session:
        transfer_peers.init_instance(
            session, code=code, country=country, name=name, timezone=timezone,
            languages=[x.strip() for x in languages.split(",") if x.strip()])
        kids = [k["kid"] for k in transfer_keys.public_jwks(session)]
    click.echo(f"{code} ready for electronic transfer; keys {', '.join(kids)}")
    click.echo(f"run `mla serve` and `mla worker` with MLA_INSTANCE_AUTHORITY={code}")


@transfer_group.command(name="keys")
@click.argument("action", type=click.Choice(["list", "rotate", "retire"]), default="list")
@click.argument("kid", required=False)
@click.option("--use", type=click.Choice(["sig", "enc", "both"]), default="both",
              show_default=True, help="Which key pair `rotate` replaces.")
@database_option
def keys_command(action: str, kid: str | None, use: str, database: str) -> None:
    """list | rotate [--use sig|enc|both] | retire KID. A rotated key stays valid for
    messages in flight until it is retired; peers pick up new keys by themselves (on an
    unknown key id) or with `mla peers refresh`."""
    with transaction(database) as session:
        if action == "rotate":
            for one in ("sig", "enc") if use == "both" else (use,):
                key = transfer_keys.rotate_key(session, one)
                audit.record(session, "transfer.key_rotate", object_type="transfer_key",
                             object_id=key.kid, detail={"use": one, "via": "cli"})
                click.echo(f"new {one} key {key.kid}")
            return
        if action == "retire":
            if not kid:
                raise click.UsageError("retire needs the KID")
            transfer_keys.retire_key(session, kid)
            audit.record(session, "transfer.key_retire", object_type="transfer_key",
                         object_id=kid, detail={"via": "cli"})
            click.echo(f"transfer key {kid} retired")
            return
        keys = session.scalars(select(TransferKey).order_by(TransferKey.use,
                                                            TransferKey.created_at.desc()))
        current: dict[str, str] = {}
        rows = []
        for k in keys:
            if k.retired_at is None and k.use not in current:
                current[k.use] = k.kid
            rows.append((k.kid, k.use, k.algorithm, f"{k.created_at:%Y-%m-%d %H:%M:%S}",
                         f"{k.retired_at:%Y-%m-%d %H:%M:%S}" if k.retired_at else "",
                         "current" if current.get(k.use) == k.kid else ""))
    if not rows:
        click.echo("no transfer keys yet (`mla transfer init` creates them)")
        return
    click.echo(table(["kid", "use", "alg", "created (UTC)", "retired (UTC)", ""], rows))


@transfer_group.command(name="outbox")
@click.option("--status", type=click.Choice(["pending", "delivered", "failed", "all"]),
              default="all", show_default=True)
@click.option("--limit", default=50, show_default=True, type=click.IntRange(min=1))
@database_option
def outbox_command(status: str, limit: int, database: str) -> None:
    """Messages to peers, newest first."""
    with transaction(database) as session:
        query = select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(limit)
        if status != "all":
            query = query.where(OutboxMessage.status == status)
        rows = [(str(m.message_id), m.receiver.code, m.kind, m.event, m.status, m.attempts,
                 f"{m.created_at:%Y-%m-%d %H:%M:%S}",
                 f"{m.delivered_at:%H:%M:%S}" if m.delivered_at else
                 f"next {m.next_attempt_at:%H:%M:%S}" if m.status == "pending" else "",
                 (m.last_error or "")[:60]) for m in session.scalars(query)]
    click.echo(table(["message", "to", "type", "event", "status", "attempts",
                       "created (UTC)", "delivered", "last error"], rows))


@transfer_group.command(name="retry")
@click.argument("message_id", type=click.UUID)
@database_option
def retry_command(message_id: uuid.UUID, database: str) -> None:
    """Deliver MESSAGE_ID again from now on (e.g. a failed one after the peer is fixed)."""
    with transaction(database) as session:
        transfer_outbox.retry(session, message_id)
    click.echo(f"message {message_id} will be delivered by the next `mla worker` pass")


@click.group(name="peers")
def peers_group() -> None:
    """Other authorities' instances this one exchanges requests with."""


@peers_group.command(name="add")
@click.argument("code")
@click.option("--url", required=True, help="The peer's base URL, e.g. https://mla.example.ke")
@database_option
def peers_add(code: str, url: str, database: str) -> None:
    """Register CODE's instance: fetches its identity (GET /transfer/identity, which becomes
    the directory entry) and its transfer keys (GET /.well-known/jwks.json)."""
    with transaction(database) as session:
        peer = transfer_peers.add_peer(session, code, url)
        kids = [k["kid"] for k in peer.signing_jwks + peer.encryption_jwks]
    click.echo(f"peer {code} at {url.rstrip('/')}; keys {', '.join(kids)}")


@peers_group.command(name="refresh")
@click.argument("code", required=False)
@database_option
def peers_refresh(code: str | None, database: str) -> None:
    """Fetch the keys of CODE (or of every peer) again."""
    with transaction(database) as session:
        peers = list(session.scalars(select(Peer)))
        if code:
            peers = [p for p in peers if p.authority.code == code]
            if not peers:
                raise click.ClickException(f"no peer {code}")
        failed = []
        for peer in peers:
            try:
                changed = transfer_peers.refresh_peer(session, peer)
            except DeliveryError as exc:
                failed.append(peer.authority.code)
                click.echo(f"{peer.authority.code}: {exc}", err=True)
                continue
            click.echo(f"{peer.authority.code}: {'keys updated' if changed else 'unchanged'}")
    if failed:
        raise SystemExit(1)


@peers_group.command(name="list")
@database_option
def peers_list(database: str) -> None:
    """Registered peers with their keys."""
    with transaction(database) as session:
        rows = [(p.authority.code, p.authority.name, p.base_url,
                 ", ".join(k["kid"] for k in p.signing_jwks),
                 ", ".join(k["kid"] for k in p.encryption_jwks),
                 f"{p.updated_at:%Y-%m-%d %H:%M:%S}")
                for p in session.scalars(select(Peer).order_by(Peer.id))]
    click.echo(table(["code", "name", "url", "signing keys", "encryption keys",
                       "keys fetched (UTC)"], rows))
