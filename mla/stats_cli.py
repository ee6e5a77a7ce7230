"""`mla stats`: the statistics tables at the console, and as CSV files."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click

from mla import config, db, directory, stats
from mla.errors import DomainError


@click.command(name="stats")
@click.option("--database", envvar="MLA_DATABASE_URL", default=config.DEFAULT_DATABASE_URL,
              show_default=True, help="Database URL (or MLA_DATABASE_URL).")
@click.option("--user", "username",
              help="See what this user sees (their authority; an admin: the instance). "
                   "Without it: every authority on the instance.")
@click.option("--period", type=click.Choice(stats.PERIODS), default="month", show_default=True)
@click.option("--since", type=click.DateTime(), help="From this date or instant (UTC).")
@click.option("--until", type=click.DateTime(), help="Up to this date or instant (UTC), "
              "exclusive.")
@click.option("--csv", "csv_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Also write each table to DIR/<table>.csv.")
def stats_command(database: str, username: str | None, period: str, since: datetime | None,
                  until: datetime | None, csv_dir: Path | None) -> None:
    """Caseload and timeliness statistics: counts, time per stage, deadlines, refusals."""
    from mla.cli import table

    engine = db.make_engine(database)
    try:
        with db.session_factory(engine)() as session:
            user = directory.user_by_username(session, username) if username else None
            report = stats.report(session, user, since=since, until=until, period=period)
    except DomainError as exc:
        raise click.ClickException(exc.detail) from None
    finally:
        engine.dispose()
    click.echo(f"Statistics: {report.scope.label}, per {report.period}")
    for t in report.tables.values():
        click.echo(f"\n{t.title}")
        click.echo(table(t.columns, t.rows) if t.rows else "(nothing)")
    if csv_dir is not None:
        csv_dir.mkdir(parents=True, exist_ok=True)
        for t in report.tables.values():
            (csv_dir / f"{t.name}.csv").write_text(t.to_csv(), "utf-8", newline="")
        click.echo(f"\n{len(report.tables)} CSV files in {csv_dir}")
