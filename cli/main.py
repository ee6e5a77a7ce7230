"""The `mla` command."""

from __future__ import annotations

import sys
from typing import Any

import click

from cli import admin, certs, ops, output, stats, transfer
from cli import directory as directory_commands
from cli import matrix as matrix_commands
from cli import paging as paging_commands
from cli import profiles as profile_commands
from cli import templates as template_commands
from cli import worker as worker_loop
from cli.output import database_option, table
from mla import db, hooks, settings


class Main(click.Group):
    """The `mla` group: a user's mistake (a bad option value, a database unreachable or not
    migrated, a missing file) ends any command with one line on stderr, never a traceback.
    What `output.explain` does not recognise is a bug and keeps its traceback."""

    def make_context(self, info_name: str | None, args: list[str],
                     parent: click.Context | None = None, **extra: Any) -> click.Context:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except click.UsageError as exc:
            raise _one_line(exc) from None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            raise _one_line(exc) from None
        except click.ClickException:
            raise
        except Exception as exc:
            line = output.explain(exc, ctx.meta.get(output.DATABASE_KEY))
            if line is None:
                raise
            raise click.ClickException(line) from None


def _one_line(exc: click.UsageError) -> click.ClickException:
    """click's usage error is four lines (usage, hint, blank, error): one here."""
    if isinstance(exc, click.exceptions.NoArgsIsHelpError):
        return exc  # the help text the user asked for by giving nothing
    where = exc.ctx.command_path if exc.ctx else "mla"
    short = click.ClickException(f"{exc.format_message()} (see `{where} --help`)")
    short.exit_code = exc.exit_code
    return short


# prometheus_client's multiprocess directory (its variable, not an MLA_* setting).
METRICS_DIR = "PROMETHEUS_MULTIPROC_DIR"


@click.group(cls=Main)
def main() -> None:
    """Workflow engine for mutual legal assistance and extradition requests."""
    try:
        settings.get()
    except settings.SettingsError as exc:
        raise click.ClickException(f"{exc} (fix or unset it; see the README's "
                                   "Configuration)") from None
    hooks.install()


@main.command()
@database_option
@click.option("--history", is_flag=True,
              help="Also simulate a year of work between the two authorities (a few hundred "
                   "requests of every kind, both ways), so the statistics have figures.")
@click.option("--requests", "count", type=click.IntRange(1, 5000), default=300,
              show_default=True, help="How many requests the simulated year holds.")
def demo(database: str, history: bool, count: int) -> None:
    """Seed two authorities with users and a 24/7 service, file two requests and drive them,
    print state and history; on a second run, show what the first one made."""
    from cli import demo as demo_module
    from cli import demo_history
    from mla import templates

    templates.load_all()
    click.echo(f"Database: {db.shown(database)}")
    db.upgrade(database)
    engine = db.make_engine(database)
    try:
        if history:
            demo_history.populate(engine, click.echo, requests=count)
        demo_module.populate(engine, click.echo)
        demo_module.show(engine, click.echo)
    finally:
        engine.dispose()


@main.group(name="db")
def db_group() -> None:
    """Database schema."""


@db_group.command()
@database_option
@click.option("--revision", default="head", show_default=True)
def upgrade(database: str, revision: str) -> None:
    """Apply Alembic migrations up to REVISION."""
    db.upgrade(database, revision)
    click.echo(f"Database at {revision}: {db.shown(database)}")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=1, show_default=True, type=click.IntRange(min=1))
def serve(host: str, port: int, workers: int) -> None:
    """Run the HTTP API with uvicorn (database from MLA_DATABASE_URL). Refuses to start on a
    database not at the migrations' head (run `mla db upgrade`), except the embedded default
    `./mla.db` (MLA_DATABASE_URL unset), which it migrates."""
    import os
    import shutil
    import tempfile

    from api.server import serve as serve_api
    from mla.ops import logs

    db.prepare(settings.get().database_url,
               lambda line: click.echo(f"mla serve: {line}", err=True))
    logs.configure()
    # Several processes: each writes its counters where a scrape of any of them sums them
    # all (prometheus_client's multiprocess mode, read by the processes this one spawns).
    made = None
    if workers > 1 and not os.environ.get(METRICS_DIR):
        made = os.environ[METRICS_DIR] = tempfile.mkdtemp(prefix="mla-metrics-")
    try:
        serve_api(host, port, workers)
    finally:
        if made:
            shutil.rmtree(made, ignore_errors=True)


@main.command()
@database_option
@click.option("--batch", default=500, show_default=True, type=click.IntRange(min=1),
              help="Steps claimed per transaction.")
@click.option("--poll", default=5.0, show_default=True,
              type=click.FloatRange(min=0, min_open=True),
              help="Longest sleep in seconds when nothing is due.")
@click.option("--once", is_flag=True, help="Escalate what is due now, then exit.")
def worker(database: str, batch: int, poll: float, once: bool) -> None:
    """Escalate due deadlines, page 24/7 points, deliver to peer instances (any number
    of workers may run). Refuses to start on a database not at the migrations' head, as
    `mla serve` does."""
    import logging
    import threading

    from mla.ops import logs

    db.prepare(database, lambda line: click.echo(f"mla worker: {line}", err=True))
    logs.configure(logging.INFO)
    engine = db.make_engine(database)
    stop = threading.Event()
    worker_loop.install_signal_handlers(stop)
    total = worker_loop.run(engine, batch=batch, poll=poll, stop=stop, once=once)
    click.echo(f"worker stopped; {total} alerts written")


@main.group(name="deadlines")
def deadlines_group() -> None:
    """Legal time limits."""


@deadlines_group.command(name="list")
@database_option
@click.option("--user", "username", required=True, help="See what this user's authority sees.")
@click.option("--overdue", is_flag=True)
def deadlines_list(database: str, username: str, overdue: bool) -> None:
    """Running deadlines of USER's authority, soonest first."""
    from mla.deadlines import service as deadlines
    from mla.directory import service as directory
    from mla.errors import NotFound

    engine = db.make_engine(database)
    with db.session_factory(engine)() as s:
        try:
            user = directory.user_by_username(s, username)
        except NotFound as exc:
            raise click.ClickException(exc.detail) from None
        rows = [(d.request.reference, d.rule_id, d.due_at.strftime("%Y-%m-%d %H:%M UTC"),
                 "suspended" if d.suspended_at else "") for d in
                deadlines.for_authority(s, user, overdue=overdue)]
    click.echo(table(["request", "rule", "due", ""], rows))


@main.group(name="workflows")
def workflows_group() -> None:
    """Request lifecycles."""


@workflows_group.command(name="list")
def workflows_list() -> None:
    """List the workflows with their states."""
    import workflows

    rows = []
    for name in workflows.names():
        wf = workflows.get(name)
        rows.append((name, wf.definition.title, len(wf.states), ", ".join(wf.final_states())))
    click.echo(table(["name", "title", "states", "final states"], rows))


@workflows_group.command()
@click.argument("name")
def diagram(name: str) -> None:
    """Print the Mermaid state diagram of workflow NAME."""
    import workflows
    from mla.errors import NotFound
    from workflows.diagram import mermaid

    try:
        click.echo(mermaid(workflows.get(name)), nl=False)
    except NotFound as exc:
        raise click.ClickException(exc.detail) from None


# Wired here, in one place: each module lists the groups it adds.
admin.register(main)
ops.register(main)
directory_commands.register(main)
paging_commands.register(main)
profile_commands.register(main)
transfer.register(main)
certs.register(main)
main.add_command(template_commands.templates)
main.add_command(stats.stats_command)
main.add_command(matrix_commands.matrix_group)

if __name__ == "__main__":
    sys.exit(main())
