"""`mla stats`: the statistics tables at the console, and as CSV files."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import click

from cli.output import database_option
from mla import db
from mla.directory import service as directory
from mla.errors import DomainError
from mla.stats import report as stats
from mla.stats import seal as stats_seal
from mla.stats.periods import PERIODS
from mla.stats.query import sealed_span

MONTH = re.compile(r"\d{4}-(0[1-9]|1[0-2])")


@click.group(name="stats", invoke_without_command=True)
@database_option
@click.option("--user", "username",
              help="See what this user sees (their authority; an admin: the instance). "
                   "Without it: every authority on the instance.")
@click.option("--period", type=click.Choice(PERIODS), default="month", show_default=True)
@click.option("--since", type=click.DateTime(), help="From this date or instant (UTC).")
@click.option("--until", type=click.DateTime(), help="Up to this date or instant (UTC), "
              "exclusive.")
@click.option("--csv", "csv_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Also write each table to DIR/<table>.csv.")
@click.pass_context
def stats_command(ctx: click.Context, database: str, username: str | None, period: str,
                  since: datetime | None, until: datetime | None, csv_dir: Path | None) -> None:
    """Caseload and timeliness statistics: counts, time per stage, deadlines, refusals.

    Without a command: the report. `seal` and `unseal` manage the sealed months."""
    ctx.obj = database
    if ctx.invoked_subcommand is not None:
        return
    from cli.output import table

    engine = db.make_engine(database)
    try:
        with db.session_factory(engine)() as session:
            user = directory.user_by_username(session, username) if username else None
            report = stats.report(session, user, since=since, until=until, period=period)
    except DomainError as exc:
        raise click.ClickException(exc.detail) from None
    finally:
        engine.dispose()
    sealed = f"; {report.sealed[0]} to {report.sealed[1]} from the sealed months" \
        if report.sealed else ""
    click.echo(f"Statistics: {report.scope.label}, per {report.period}{sealed}")
    for t in report.tables.values():
        click.echo(f"\n{t.title}")
        click.echo(table(t.columns, t.rows) if t.rows else "(nothing)")
    if csv_dir is not None:
        csv_dir.mkdir(parents=True, exist_ok=True)
        for t in report.tables.values():
            (csv_dir / f"{t.name}.csv").write_text(t.to_csv(), "utf-8", newline="")
        click.echo(f"\n{len(report.tables)} CSV files in {csv_dir}")


@stats_command.command(name="seal")
@click.pass_obj
def seal_command(database: str) -> None:
    """Seal every month over and not sealed yet (the worker does this on its own)."""
    engine = db.make_engine(database)
    try:
        sessions = db.session_factory(engine)
        months = stats_seal.seal_due(sessions)
        with sessions() as session:
            span = sealed_span(session)
    finally:
        engine.dispose()
    click.echo(f"sealed {', '.join(months)}" if months else "no month to seal")
    click.echo(f"sealed months: {span[0]} to {span[1]}" if span else "no month is sealed")


@stats_command.command(name="unseal")
@click.argument("month")
@click.pass_obj
def unseal_command(database: str, month: str) -> None:
    """Drop the sealed figures of MONTH (YYYY-MM) and every later month, to seal them again
    from the rows (after importing data with earlier instants, say)."""
    if not MONTH.fullmatch(month):
        raise click.BadParameter("a month as YYYY-MM", param_hint="MONTH")
    engine = db.make_engine(database)
    try:
        with db.session_factory(engine)() as session, session.begin():
            count = stats_seal.unseal(session, month)
    finally:
        engine.dispose()
    click.echo(f"unsealed {count} month(s) from {month}; `mla stats seal` or the worker "
               "seals them again")
