"""`mla matrix`: the 24/7 desk's room, users' Matrix accounts, and the reply listener."""

from __future__ import annotations

import signal
import threading

import click

from cli.output import database_option
from mla import db


@click.group(name="matrix")
def matrix_group() -> None:
    """Pages over Matrix (README, Matrix paging)."""


@matrix_group.command(name="desk")
@click.argument("authority")
@click.argument("room")
@database_option
def desk(authority: str, room: str, database: str) -> None:
    """Post every page of AUTHORITY (a code, e.g. KE-ODPP) to ROOM (!id:server or
    #alias:server), the room of its 24/7 desk; ROOM `none`: no room."""
    from mla.directory import service as directory
    from mla.errors import NotFound
    from mla.oncall import matrix

    target = None if room == "none" else room
    engine = db.make_engine(database)
    try:
        with db.session_factory(engine)() as session, session.begin():
            try:
                found = directory.authority_by_code(session, authority)
                matrix.set_desk_room(session, found, target)
            except NotFound as exc:
                raise click.ClickException(exc.detail) from None
            except ValueError as exc:
                raise click.BadParameter(str(exc), param_hint="ROOM") from None
    finally:
        engine.dispose()
    click.echo(f"{authority}: pages posted to {target}" if target else
               f"{authority}: pages posted to no Matrix room")


@matrix_group.command(name="link")
@click.argument("username")
@click.argument("matrix_id")
@database_option
def link(username: str, matrix_id: str, database: str) -> None:
    """Let replies and reactions from MATRIX_ID (@name:server) acknowledge pages as
    USERNAME (a contact point or supervisor of the page's authority); `none`: unlink."""
    from mla.directory import service as directory
    from mla.errors import InvalidInput, NotFound
    from mla.oncall import matrix

    account = None if matrix_id == "none" else matrix_id
    engine = db.make_engine(database)
    try:
        with db.session_factory(engine)() as session, session.begin():
            try:
                matrix.link_user(session, directory.user_by_username(session, username),
                                 account)
            except NotFound as exc:
                raise click.ClickException(exc.detail) from None
            except InvalidInput as exc:
                raise click.BadParameter(exc.problems[0].message,
                                         param_hint="MATRIX_ID") from None
    finally:
        engine.dispose()
    click.echo(f"{username}: Matrix account {account}" if account else
               f"{username}: no Matrix account")


@matrix_group.command(name="listen")
@click.option("--once", is_flag=True, help="Read what arrived, act on it, and stop.")
@database_option
def listen(once: bool, database: str) -> None:
    """Read replies and reactions to pages and acknowledge them (`mla worker` does this too
    when Matrix is configured: run one or the other)."""
    from sqlalchemy import select

    from mla.models import MatrixSync
    from mla.oncall import matrix, notify

    engine = db.make_engine(database)
    try:
        with db.session_factory(engine)() as session:
            session.scalar(select(MatrixSync.since).limit(1))  # the database first
        try:
            matrix.matrix_settings()
        except notify.DeliveryError as exc:
            raise click.ClickException(str(exc)) from None
        if once:
            result = matrix.sync(engine)
            click.echo(f"{result.events} replies or reactions acted on, "
                       f"{result.replies} answers sent")
            return
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        matrix.listen(engine, stop)
    finally:
        engine.dispose()
