"""`mla directory import|export` (the 24/7 directory as CSV or JSON) and `mla oncall who`."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click

from cli.output import database_option
from mla import db


@click.group(name="directory")
def directory_group() -> None:
    """The 24/7 directory: authorities, contact points, rotations, escalation policies."""


@directory_group.command(name="import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["auto", "csv", "json"]), default="auto",
              show_default=True, help="auto: by the file's extension or content.")
@database_option
def import_command(file: Path, fmt: str, database: str) -> None:
    """Import FILE; good rows are imported, each bad row is named with its line number and
    problems (exit status 1 when there were any)."""
    from mla import audit, rowfiles
    from mla.directory import io as directory_io

    text = file.read_text("utf-8-sig")
    fmt = rowfiles.guess_format(file.name, text) if fmt == "auto" else fmt
    try:
        rows, parse_errors = directory_io.parse(text, fmt)
    except directory_io.ParseError as exc:
        raise click.ClickException(f"{file}: {exc.detail}") from None
    engine = db.make_engine(database)
    with db.session_factory(engine)() as session:
        with click.progressbar(length=len(rows), label=f"Importing {file.name}",
                               file=click.get_text_stream("stderr")) as bar:
            report = directory_io.import_rows(session, rows, on_row=lambda _row: bar.update(1))
        audit.record(session, "directory.import", object_type="directory",
                     detail={"file": file.name, "created": report.created,
                             "updated": report.updated, "rejected": len(report.errors)
                             + len(parse_errors)})
        session.commit()
    engine.dispose()
    errors = sorted(parse_errors + report.errors, key=lambda e: e.line)
    click.echo(f"{report.imported} rows imported ({report.created} new, {report.updated} "
               f"updated), {len(errors)} rejected")
    for error in errors:
        click.echo(f"{file}:{error}", err=True)
    if errors:
        raise SystemExit(1)


@directory_group.command(name="export")
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="json",
              show_default=True, help="csv: contact points only; json: the whole directory.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path),
              help="File to write (default: standard output).")
@database_option
def export_command(fmt: str, output: Path | None, database: str) -> None:
    """Export the directory (never webhook secrets)."""
    from mla.directory import io as directory_io

    engine = db.make_engine(database)
    with db.session_factory(engine)() as session:
        text = directory_io.export_csv(session) if fmt == "csv" else \
            directory_io.export_json(session)
    engine.dispose()
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, "utf-8")


@click.group(name="oncall")
def oncall_group() -> None:
    """24/7 on-call rotations."""


@oncall_group.command(name="who")
@click.option("--authority", required=True, help="Authority code, e.g. FR-MJ.")
@click.option("--network", required=True, help="e.g. budapest_24_7.")
@click.option("--at", "at", help="ISO instant with offset (default: now).")
@database_option
def who(authority: str, network: str, at: str | None, database: str) -> None:
    """Who answers for AUTHORITY on NETWORK at an instant."""
    from zoneinfo import ZoneInfo

    from mla.directory import service as directory
    from mla.errors import NotFound
    from mla.oncall import service as oncall

    instant = datetime.now(UTC)
    if at:
        try:
            instant = datetime.fromisoformat(at)
        except ValueError:
            raise click.BadParameter("an ISO instant, e.g. 2026-03-29T03:30+02:00") from None
        if instant.tzinfo is None:
            raise click.BadParameter("give the instant's offset, e.g. +02:00 or Z")
    engine = db.make_engine(database)
    with db.session_factory(engine)() as session:
        try:
            authority_id = directory.authority_by_code(session, authority).id
        except NotFound as exc:
            raise click.ClickException(exc.detail) from None
        result = oncall.on_call(session, authority_id, network, instant)
        if result is None:
            raise click.ClickException(f"nobody is on call for {authority} on {network}")
        tz = ZoneInfo(result.rotation.timezone)
        click.echo(f"{result.member.name} ({result.source}) until "
                   f"{result.ends_at.astimezone(tz).isoformat(timespec='minutes')} "
                   f"{result.rotation.timezone}; "
                   + ", ".join(x for x in (result.member.email, result.member.phone) if x))
    engine.dispose()


def register(main: click.Group) -> None:
    main.add_command(directory_group)
    main.add_command(oncall_group)
