"""Administration commands: `mla users`, `mla keys`, `mla audit`.

`register(main)` adds the three groups to the `mla` command. They work on an already
migrated database (`mla db upgrade`). Writes made here are audited with no actor (the
operator at the console is not a user of the instance) and `detail.via = "cli"`.
"""

from __future__ import annotations

import click
from sqlalchemy import select

from cli import output
from cli.output import database_option, table, transaction
from mla import audit, db, security
from mla.directory import service as directory
from mla.models import ROLES, SigningKey

# Not click's own prompt: that asks before the command has looked at anything, so a typo in
# the authority code or a taken username would come out only after the password, twice.
password_option = click.option(
    "--password", envvar="MLA_USER_PASSWORD",
    help="Asked for (twice) when not given, once the rest is checked (or MLA_USER_PASSWORD).")


def _ask_password() -> str:
    def long_enough(value: str) -> str:
        if len(value) < security.MIN_PASSWORD_LENGTH:
            raise click.UsageError(f"at least {security.MIN_PASSWORD_LENGTH} characters")
        return value

    return str(click.prompt("Password", hide_input=True, confirmation_prompt=True,
                            value_proc=long_enough))


def register(main: click.Group) -> None:
    main.add_command(users_group)
    main.add_command(keys_group)
    main.add_command(audit_group)


# --- users ------------------------------------------------------------------------------


@click.group(name="users")
def users_group() -> None:
    """Users of the authorities on this instance."""


@users_group.command(name="add")
@click.option("--authority", "authority_code", required=True, help="Authority code, e.g. FR-MJ.")
@click.option("--username", required=True)
@click.option("--full-name", required=True)
@click.option("--role", required=True, type=click.Choice(ROLES))
@click.option("--email", default=None)
@password_option
@database_option
def users_add(authority_code: str, username: str, full_name: str, role: str,
              email: str | None, password: str | None, database: str) -> None:
    """Create a user who can log in with the given password."""
    if password is None:
        # Everything but the password is checked before it is asked for.
        with transaction(database) as session:
            directory.authority_by_code(session, authority_code)
            directory.check_new_user(session, username=username, role=role)
        password = _ask_password()
    with transaction(database) as session:
        authority = directory.authority_by_code(session, authority_code)
        user = directory.add_user(session, authority, username=username, full_name=full_name,
                                  role=role, email=email)
        security.set_password(session, user, password)
        audit.record(session, "user.create", object_type="user", object_id=str(user.id),
                     detail={"username": username, "role": role,
                             "authority": authority.code, "via": "cli"})
    click.echo(f"user {username} ({role}, {authority_code}) created")


@users_group.command(name="set-password")
@click.argument("username")
@password_option
@database_option
def users_set_password(username: str, password: str | None, database: str) -> None:
    """Set USERNAME's password (existing tokens stay valid until they expire)."""
    if password is None:
        with transaction(database) as session:
            directory.user_by_username(session, username)
        password = _ask_password()
    with transaction(database) as session:
        user = directory.user_by_username(session, username)
        security.set_password(session, user, password)
        audit.record(session, "user.set_password", object_type="user",
                     object_id=str(user.id), detail={"username": username, "via": "cli"})
    click.echo(f"password of {username} set")


# --- keys -------------------------------------------------------------------------------


@click.group(name="keys")
def keys_group() -> None:
    """Keys that sign access tokens."""


@keys_group.command(name="list")
@database_option
def keys_list(database: str) -> None:
    """All signing keys, newest first; `signing` marks the one new tokens get."""
    with transaction(database) as session:
        keys = session.scalars(select(SigningKey).order_by(SigningKey.created_at.desc())).all()
        current = next((k.kid for k in keys if k.retired_at is None), None)
        rows = [(k.kid, k.algorithm, f"{k.created_at:%Y-%m-%d %H:%M:%S}",
                 f"{k.retired_at:%Y-%m-%d %H:%M:%S}" if k.retired_at else "",
                 "signing" if k.kid == current else "") for k in keys]
    if not rows:
        click.echo("no signing keys yet (one is created with the first token)")
        return
    click.echo(table(["kid", "alg", "created (UTC)", "retired (UTC)", ""], rows))


@keys_group.command(name="rotate")
@database_option
def keys_rotate(database: str) -> None:
    """Add a key that signs from now on; older keys keep verifying until retired."""
    with transaction(database) as session:
        key = security.rotate_signing_key(session)
        audit.record(session, "key.rotate", object_type="signing_key", object_id=key.kid,
                     detail={"via": "cli"})
        kid = key.kid
    click.echo(f"new signing key {kid}")


@keys_group.command(name="retire")
@click.argument("kid")
@database_option
def keys_retire(kid: str, database: str) -> None:
    """Stop accepting tokens signed with KID (other processes within 30 seconds)."""
    with transaction(database) as session:
        security.retire_signing_key(session, kid)
        audit.record(session, "key.retire", object_type="signing_key", object_id=kid,
                     detail={"via": "cli"})
    click.echo(f"signing key {kid} retired")


# --- audit ------------------------------------------------------------------------------


@click.group(name="audit")
def audit_group() -> None:
    """The hash-chained audit trail."""


@audit_group.command(name="seal")
@database_option
def audit_seal(database: str) -> None:
    """Link the entries committed so far into the hash chain now (the worker does it every
    MLA_AUDIT_SEAL_EVERY_SECONDS)."""
    with output.engine(database) as made:
        linked = audit.seal_all(db.session_factory(made))
        with db.session_factory(made)() as session:
            result = audit.verify(session)
    click.echo(f"sealed {linked} rows; the chain has {result.sealed} rows, "
               f"{result.unsealed} entries wait to be sealed")


@audit_group.command(name="verify")
@database_option
@click.option("--checkpoints", "checkpoints", metavar="DIR|peer",
              help="Also check the chain against signed checkpoints kept outside the "
                   "database: the *.jws / *.json files in DIR, or `peer` for what every peer "
                   "instance witnessed (a chain rewritten whole by the database's owner "
                   "fails here).")
def audit_verify(database: str, checkpoints: str | None) -> None:
    """Recompute the chain, and check each entry not sealed yet against its own hash; exit
    status 1 and the first broken row if either does not hold."""
    from pathlib import Path

    from mla.ops import anchor

    anchored = None
    with output.engine(database) as made, db.session_factory(made)() as session:
        result = audit.verify(session)
        if checkpoints is not None:
            if checkpoints == "peer":
                statements, errors = anchor.fetch_from_peers(session)
                for code, error in errors.items():
                    click.echo(f"peer {code}: no checkpoints ({error})", err=True)
            else:
                folder = Path(checkpoints)
                if not folder.is_dir():
                    raise click.ClickException(f"{checkpoints}: no such directory (give a "
                                               "directory of checkpoint files, or `peer`)")
                statements = anchor.load_dir(folder)
            anchored = anchor.verify_against(session, statements)
    if not result.ok:
        row = result.first_broken_id
        reason = (result.reason or "").removeprefix(f"row {row}: ")
        click.echo(f"audit chain broken at row {row}: {reason}", err=True)
        raise SystemExit(1)
    click.echo(f"audit chain intact: {result.checked - result.gaps} events")
    click.echo(f"  sealed: {result.sealed} rows chained from the first "
               f"({result.gaps} of them gaps: ids of transactions that did not commit)")
    click.echo(f"  not sealed yet: {result.unsealed} entries, each matching its own hash")
    if result.pending_ids:
        click.echo(f"  ids after the chain's head with no entry yet: {result.pending_ids} "
                   "(transactions in flight or rolled back; the sealer records those that "
                   "never commit as gaps)")
    if anchored is None:
        return
    for problem in anchored.problems:
        click.echo(f"audit chain contradicts a witnessed {problem}", err=True)
    if not anchored.ok:
        raise SystemExit(1)
    if anchored.checked == 0:
        click.echo("no checkpoint of this instance found to compare with", err=True)
        raise SystemExit(1)
    click.echo(f"matches {anchored.checked} signed checkpoints")
