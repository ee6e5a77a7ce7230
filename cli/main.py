"""The `mla` command."""

from __future__ import annotations

import sys

import click

from cli import admin, stats, transfer
from cli import directory as directory_commands
from cli import templates as template_commands
from cli import worker as worker_loop
from cli.output import table
from mla import db, hooks, settings


@click.group()
def main() -> None:
    """Workflow engine for mutual legal assistance and extradition requests."""
    try:
        settings.get()
    except settings.SettingsError as exc:
        raise click.ClickException(f"{exc} (fix or unset it; see the README's "
                                   "Configuration)") from None
    hooks.install()


@main.command()
@click.option("--database", envvar="MLA_DATABASE_URL", default=settings.DEFAULT_DATABASE_URL,
              show_default=True, help="Database URL (or MLA_DATABASE_URL).")
def demo(database: str) -> None:
    """Seed two authorities, file two requests, drive them, print state and history."""
    from sqlalchemy import select

    from cli import demo as demo_module
    from mla import templates
    from mla.deadlines import rules as deadline_rules
    from mla.deadlines import service as deadlines
    from mla.models import Request
    from mla.requests import lifecycle

    templates.load_all()
    click.echo(f"Database: {database}")
    db.upgrade(database)
    engine = db.make_engine(database)
    click.echo("Driving two requests from FR-MJ to KE-ODPP:")
    ids = demo_module.run(engine, click.echo)
    with db.session_factory(engine)() as session:
        requests = session.scalars(select(Request).where(Request.id.in_(ids))).all()
        click.echo("\nRequests")
        click.echo(table(
            ["reference", "kind", "from", "to", "state", "version", "allowed next"],
            [(r.reference, r.kind, r.requesting_authority.code, r.requested_authority.code,
              r.state, r.version, ", ".join(lifecycle.allowed_events(r))) for r in requests],
        ))
        for r in requests:
            click.echo(f"\nHistory of {r.reference} ({r.title})")
            click.echo(table(
                ["at (UTC)", "actor", "event", "from", "to"],
                [(e.at.strftime("%Y-%m-%d %H:%M:%S"), e.actor.username if e.actor else "system",
                  e.event, e.from_state or "", e.to_state)
                 for e in lifecycle.history(session, r)],
            ))
        click.echo("\nDeadlines (legal time limits now running)")
        click.echo(table(
            ["request", "rule", "due (UTC)", "citation"],
            [(d.request.reference, d.rule_id, d.due_at.strftime("%Y-%m-%d %H:%M"),
              deadline_rules.rules().rules[d.rule_id].citation[:70])
             for r in requests for d in deadlines.for_request(session, r)
             if d.closed_at is None],
        ))
    engine.dispose()
    click.echo(f"\nDemo users log in with the password '{demo_module.DEMO_PASSWORD}' "
               "(try: mla serve, then http://127.0.0.1:8000/docs).")


@main.group(name="db")
def db_group() -> None:
    """Database schema."""


@db_group.command()
@click.option("--database", envvar="MLA_DATABASE_URL", default=settings.DEFAULT_DATABASE_URL,
              show_default=True)
@click.option("--revision", default="head", show_default=True)
def upgrade(database: str, revision: str) -> None:
    """Apply Alembic migrations up to REVISION."""
    db.upgrade(database, revision)
    click.echo(f"Database at {revision}: {database}")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=int)
def serve(host: str, port: int, workers: int) -> None:
    """Run the HTTP API with uvicorn (database from MLA_DATABASE_URL)."""
    from api.server import serve as serve_api

    serve_api(host, port, workers)


@main.command()
@click.option("--database", envvar="MLA_DATABASE_URL", default=settings.DEFAULT_DATABASE_URL,
              show_default=True, help="Database URL (or MLA_DATABASE_URL).")
@click.option("--batch", default=500, show_default=True, help="Steps claimed per transaction.")
@click.option("--poll", default=5.0, show_default=True,
              help="Longest sleep in seconds when nothing is due.")
@click.option("--once", is_flag=True, help="Escalate what is due now, then exit.")
def worker(database: str, batch: int, poll: float, once: bool) -> None:
    """Escalate due deadlines, page 24/7 points, deliver to peer instances (any number
    of workers may run)."""
    import logging
    import threading

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    engine = db.make_engine(database)
    stop = threading.Event()
    worker_loop.install_signal_handlers(stop)
    total = worker_loop.run(engine, batch=batch, poll=poll, stop=stop, once=once)
    click.echo(f"worker stopped; {total} alerts written")


@main.group(name="deadlines")
def deadlines_group() -> None:
    """Legal time limits."""


@deadlines_group.command(name="list")
@click.option("--database", envvar="MLA_DATABASE_URL", default=settings.DEFAULT_DATABASE_URL,
              show_default=True)
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
directory_commands.register(main)
transfer.register(main)
main.add_command(template_commands.templates)
main.add_command(stats.stats_command)

if __name__ == "__main__":
    sys.exit(main())
