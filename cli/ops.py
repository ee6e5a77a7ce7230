"""Operations commands: `mla backup`, `mla restore`, `mla audit checkpoint`,
`mla retention ...` (mla/ops/)."""

from __future__ import annotations

import os
from pathlib import Path

import click

from cli import output
from cli.output import database_option, table, transaction
from mla import audit, db
from mla.clock import utcnow
from mla.ops import anchor, backup


def register(main: click.Group) -> None:
    main.add_command(backup_command)
    main.add_command(restore_command)
    main.add_command(retention_group)
    audit_group = main.commands["audit"]
    assert isinstance(audit_group, click.Group)
    audit_group.add_command(checkpoint_command)


@click.command(name="backup")
@database_option
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def backup_command(database: str, file: Path) -> None:
    """Write a consistent copy of the database to FILE while the instance runs (PostgreSQL:
    pg_dump custom format; SQLite: the online backup API)."""
    _check(database, restoring=False)
    if not file.parent.is_dir():
        raise click.ClickException(f"{file.parent}: no such directory")
    backup.backup(database, file, os.environ)
    click.echo(f"backup of {db.shown(database)} written to {file} "
               f"({file.stat().st_size} bytes)")


@click.command(name="restore")
@database_option
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--yes", is_flag=True, help="Do not ask before replacing the database.")
def restore_command(database: str, file: Path, yes: bool) -> None:
    """Replace the whole database with the backup in FILE. Stop `mla serve` and `mla worker`
    first; afterwards run `mla audit verify` and start them again: what was sent after the
    backup goes out again under the same ids, which receivers drop."""
    _check(database, restoring=True)
    if not yes:
        click.confirm(f"Replace everything in {db.shown(database)} with {file}?", abort=True)
    backup.restore(database, file, os.environ)
    with output.engine(database) as made:
        backup.record_restore(made, file)
    click.echo(f"{db.shown(database)} restored from {file}; now run `mla audit verify`")


def _check(database: str, *, restoring: bool) -> None:
    """The database answers (and, to back it up, is this engine's): the same one-line
    mistakes as every command, before pg_dump or a question."""
    with output.engine(database) as made:
        state = db.schema_state(made)
    problem = state.problem(database)
    # An empty database is where a restore after a disaster goes.
    if problem is not None and not (restoring and state.current is None and state.empty):
        raise click.ClickException(problem)


@click.command(name="checkpoint")
@database_option
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path),
              help="Also write the checkpoint to this directory (keep it off this machine).")
@click.option("--send/--no-send", default=True, show_default=True,
              help="Send it to every peer instance to witness.")
def checkpoint_command(database: str, out: Path | None, send: bool) -> None:
    """Sign the audit chain's length and head hash now (the worker does it periodically)."""
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)  # a mistake here stops before anything is signed
    with output.engine(database) as made:
        # What committed until now is in the checkpoint, not only what the worker sealed.
        audit.seal_all(db.session_factory(made))
    with transaction(database) as session:
        checkpoint = anchor.make(session, utcnow(), force=True)
        assert checkpoint is not None
        outcome = anchor.send_to_peers(session, checkpoint) if send else {}
        length, head, signed = checkpoint.chain_length, checkpoint.head_hash, checkpoint.jws
    if out is not None:
        (out / f"{anchor.own_code()}-{length:012d}.jws").write_text(signed + "\n", "ascii")
    click.echo(f"checkpoint: {length} rows, head {head}")
    for code, result in outcome.items():
        click.echo(f"  witnessed by {code}: {result}")


@click.group(name="retention")
def retention_group() -> None:
    """Retention of personal data (Directive (EU) 2016/680 art. 5, or MLA_RETENTION_RULES):
    what is erased when, legal holds, the per-person access report."""


@retention_group.command(name="report")
@database_option
def retention_report(database: str) -> None:
    """Closed requests whose content is not erased yet: the rule, when it falls due, holds."""
    from mla.ops import retention

    with output.engine(database) as made, db.session_factory(made)() as session:
        rows = [(d.reference, d.kind, d.state, f"{d.closed_at:%Y-%m-%d}",
                 d.rule.id if d.rule else "(no rule: kept)",
                 f"{d.erase_at:%Y-%m-%d}" if d.erase_at else "",
                 "on hold" if d.held else "")
                for d in retention.report(session)]
    click.echo(f"Rules: {retention.rules().law}")
    click.echo(table(["request", "kind", "state", "closed", "rule", "erase on", ""], rows))


@retention_group.command(name="erase")
@database_option
def retention_erase(database: str) -> None:
    """Erase now what is due (the worker does it hourly), each erasure audited."""
    from mla.ops import retention

    with output.engine(database) as made, db.session_factory(made)() as session:
        erased = retention.erase_due(session, utcnow(), limit=10_000)
    click.echo(f"erased the content of {len(erased)} requests"
               + (f": {', '.join(erased)}" if erased else ""))


@retention_group.command(name="hold")
@database_option
@click.argument("reference")
@click.option("--reason", required=True, help="Why the content must be kept (an appeal...).")
def retention_hold(database: str, reference: str, reason: str) -> None:
    """Keep REFERENCE's content past its retention period until `release`."""
    from mla.ops import retention

    with transaction(database) as session:
        retention.hold(session, reference, reason, utcnow())
    click.echo(f"legal hold on {reference}")


@retention_group.command(name="release")
@database_option
@click.argument("reference")
def retention_release(database: str, reference: str) -> None:
    """Lift every legal hold on REFERENCE; its content is erased when due."""
    from mla.ops import retention

    with transaction(database) as session:
        lifted = retention.release(session, reference, utcnow())
    click.echo(f"{lifted} legal holds lifted on {reference}")


@retention_group.command(name="person")
@database_option
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="JSON instead of a table.")
def retention_person(database: str, name: str, as_json: bool) -> None:
    """Every request naming NAME (case- and accent-blind), for a data subject's request for
    access; the search is audited."""
    from mla.ops import retention

    with transaction(database) as session:
        rows = retention.person_report(session, name)
    if as_json:
        click.echo(retention.dumps(rows))
        return
    click.echo(table(["request", "kind", "state", "from", "to", "fields"],
                     [(r["reference"], r["kind"], r["state"], r["requesting"],
                       r["requested"], ", ".join(r["fields"])) for r in rows]))
