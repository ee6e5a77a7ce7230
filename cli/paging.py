"""`mla oncall preferences`: a contact point's contact preferences (which channels page it, in
which order, after how many minutes), read or set from the server's shell."""

from __future__ import annotations

import click

from cli.directory import oncall_group
from cli.output import database_option
from mla import db


@click.command(name="preferences")
@click.option("--authority", required=True, help="Authority code, e.g. KE-ODPP.")
@click.option("--network", required=True, help="e.g. budapest_24_7.")
@click.option("--name", required=True, help="The contact point's name.")
@click.option("--set", "steps", help='Channels in order with minutes after the step, e.g. '
              '"email:0,sms:2" (matrix:0 once that channel is configured).')
@click.option("--clear", is_flag=True, help="Back to every channel of the contact point at once.")
@database_option
def preferences_command(authority: str, network: str, name: str, steps: str | None,
                        clear: bool, database: str) -> None:
    """Show (or --set, or --clear) the contact preferences of contact point NAME."""
    from mla.directory import service as directory
    from mla.errors import InvalidInput, NotFound
    from mla.oncall import preferences
    from mla.oncall import service as oncall

    if steps is not None and clear:
        raise click.UsageError("give --set or --clear, not both")
    engine = db.make_engine(database)
    try:
        with db.session_factory(engine)() as session:
            try:
                authority_id = directory.authority_by_code(session, authority).id
            except NotFound as exc:
                raise click.ClickException(exc.detail) from None
            contact = oncall.contact_by_name(session, authority_id, network, name)
            if contact is None:
                raise click.ClickException(f"no contact point {name!r} of {authority} on "
                                           f"{network} (see `mla directory export`)")
            if steps is not None or clear:
                try:
                    parsed = None if clear else preferences.parse(steps or "")
                    preferences.set_preferences(session, contact, parsed, None)
                except InvalidInput as exc:
                    raise click.ClickException("; ".join(
                        f"{p.path}: {p.message}" for p in exc.problems) or exc.detail) from None
                session.commit()
            plan = preferences.plan(contact)
            origin = "preferences" if contact.preferences is not None else "every channel at once"
            click.echo(f"{contact.name} ({origin}): " + (", ".join(
                f"{c} {a} after {m} min" if m else f"{c} {a} at once" for c, a, m in plan)
                or "no channel the pager sends on"))
    finally:
        engine.dispose()


def register(main: click.Group) -> None:
    """Joins `mla oncall` (cli/directory.py), which `main` has already."""
    oncall_group.add_command(preferences_command)
