"""`mla profiles import|export|show|find`: country and authority profiles, the
competent-authority finder, our authority's UNODC directory entry."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from cli import output
from cli.output import database_option

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


@click.group(name="profiles")
def profiles_group() -> None:
    """Country and authority profiles and competent authorities (what a requested State
    requires, who executes what where)."""


@profiles_group.command(name="import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["auto", "csv", "json"]), default="auto",
              show_default=True, help="auto: by the file's extension or content.")
@database_option
def import_command(file: Path, fmt: str, database: str) -> None:
    """Import FILE; good rows are imported, each bad row is named with its line number and
    problems (exit status 1 when there were any)."""
    from mla import audit, rowfiles
    from mla.profiles import io as profiles_io

    text = file.read_text("utf-8-sig")
    fmt = rowfiles.guess_format(file.name, text) if fmt == "auto" else fmt
    try:
        rows, parse_errors = profiles_io.parse(text, fmt)
    except profiles_io.ParseError as exc:
        raise click.ClickException(f"{file}: {exc.detail}") from None
    with output.transaction(database) as session:
        report = profiles_io.import_rows(session, rows)
        audit.record(session, "profiles.import", object_type="profiles",
                     detail={"file": file.name, "created": report.created,
                             "updated": report.updated,
                             "rejected": len(report.errors) + len(parse_errors)})
    errors = sorted(parse_errors + report.errors, key=lambda e: e.line)
    click.echo(f"{report.imported} rows imported ({report.created} new, {report.updated} "
               f"updated), {len(errors)} rejected")
    for error in errors:
        click.echo(f"{file}:{error}", err=True)
    if errors:
        raise SystemExit(1)


@profiles_group.command(name="export")
@click.option("--format", "fmt", type=click.Choice(["json", "csv", "unodc"]), default="json",
              show_default=True, help="json: profiles and competent authorities; csv: one "
              "section (--section); unodc: the UNODC directory entry of --authority.")
@click.option("--section", type=click.Choice(["profiles", "competent_authorities"]),
              default="profiles", show_default=True, help="For --format csv.")
@click.option("--country", help="Only this country's (ISO 3166 alpha-2).")
@click.option("--authority", help="For --format unodc: our authority's code, e.g. FR-MJ.")
@click.option("--output", "-o", "output_file", type=click.Path(dir_okay=False, path_type=Path),
              help="File to write (default: standard output).")
@database_option
def export_command(fmt: str, section: str, country: str | None, authority: str | None,
                   output_file: Path | None, database: str) -> None:
    """Export profiles, competent authorities, or our authority's UNODC entry."""
    from mla.directory import service as directory
    from mla.profiles import io as profiles_io
    from mla.profiles import unodc

    if fmt == "unodc" and not authority:
        raise click.UsageError("--format unodc needs --authority CODE (your authority)")
    with output.transaction(database) as session:
        if fmt == "unodc":
            entry = unodc.entry(session, directory.authority_by_code(session, str(authority)))
            text = json.dumps(entry, indent=2, ensure_ascii=False) + "\n"
        elif fmt == "csv":
            text = profiles_io.export_csv(session, section, country)
        else:
            text = profiles_io.export_json(session, country)
    if output_file is None:
        click.echo(text, nl=False)
    else:
        output_file.write_text(text, "utf-8")


@profiles_group.command(name="show")
@click.argument("code")
@database_option
def show_command(code: str, database: str) -> None:
    """What CODE requires: a country (KE) or an authority (KE-ODPP), whose effective
    requirements merge its country's profile with its own."""
    from sqlalchemy import select

    from mla.models import Authority
    from mla.profiles import service

    with output.transaction(database) as session:
        authority = session.scalar(select(Authority).where(Authority.code == code))
        if authority is not None:
            reqs = service.requirements(session, authority)
            body, sources = dict(reqs.body), list(reqs.sources)
        else:
            body, sources = dict(service.get(session, code).body), [code]
    click.echo(f"{code} (from {', '.join(sources) or 'the directory only'})")
    for key, value in body.items():
        shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        click.echo(f"  {key}: {shown}")


@profiles_group.command(name="find")
@click.argument("country")
@click.argument("measure")
@click.argument("place", required=False)
@database_option
def find_command(country: str, measure: str, place: str | None, database: str) -> None:
    """Who executes MEASURE (a request kind or eio.c.*) at PLACE in COUNTRY, and where the
    request goes."""
    from mla.profiles import finder

    with output.transaction(database) as session:
        match = finder.find(session, country, measure, place)
        row = match.row
        click.echo(f"Executing authority: {row.name}"
                   + (f" ({row.area})" if row.area else " (whole country)"))
        if row.contact:
            click.echo(f"Contact: {row.contact}")
        how = "directly to it" if match.transmission == "direct" else \
            "through the central authority"
        click.echo(f"Send {how}: {match.send_to_name}"
                   + (f" [{match.send_to}]" if match.send_to else " (not in this directory)"))


DEMO_FILE = Path(__file__).parent / "demo_profiles.json"


def seed_demo(session: Session) -> None:
    """The demo's two country profiles (KE, FR) and their competent authorities, imported as
    `mla profiles import` does, unless a profile of either exists already."""
    from sqlalchemy import select

    from mla.models import Profile
    from mla.profiles import io as profiles_io

    if session.scalar(select(Profile.id).where(Profile.code.in_(("KE", "FR"))).limit(1)):
        return
    report = profiles_io.import_text(session, DEMO_FILE.read_text("utf-8"), "json")
    if report.errors:
        raise RuntimeError("demo profiles: " + "; ".join(map(str, report.errors)))


def register(main: click.Group) -> None:
    main.add_command(profiles_group)
