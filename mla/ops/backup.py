"""`mla backup FILE` / `mla restore FILE`.

PostgreSQL: `pg_dump --format=custom` and `pg_restore --clean --if-exists` (Debian's
postgresql-client; the same major version as the server, or newer). A URL whose `options`
set a `search_path` (one schema per instance on a shared server) dumps and restores that
schema only. SQLite: the online backup API, page by page, safe while others write.

A restored database is back at the moment of the backup. What the instance sent after that
moment is sent again when the worker resumes, under the same ids, which receivers drop
(transfer: the message id, RFC-style idempotent inbox; pages: the notification id). So that
messages *created* after the restore never reuse the id of one sent before it, the
notifications' id sequence jumps by `ID_GAP` (PostgreSQL).
"""

from __future__ import annotations

import re
import shutil
import sqlite3
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, make_url, text

from mla import audit, db
from mla.errors import DomainError

PG_MAGIC = b"PGDMP"
SQLITE_MAGIC = b"SQLite format 3\x00"
# Ids handed out after a restore start this far above the restored ones: more notifications
# than the instance sent between a backup and its loss.
ID_GAP = 1_000_000_000
_SEARCH_PATH = re.compile(r"-c\s*search_path=([A-Za-z0-9_]+)")


class BackupError(DomainError):
    title = "Backup failed"


@dataclass(frozen=True)
class PgTarget:
    env: dict[str, str]
    schema: str | None


def _pg_target(url: str, environ: Mapping[str, str]) -> PgTarget:
    parsed = make_url(url)
    env = dict(environ)  # the client tools need PATH, locale, HOME (.pgpass)
    for variable, value in (("PGHOST", parsed.host), ("PGPORT", parsed.port),
                            ("PGUSER", parsed.username), ("PGDATABASE", parsed.database)):
        if value:
            env[variable] = str(value)
    if parsed.password:
        env["PGPASSWORD"] = str(parsed.password)  # never on the command line (ps shows it)
    options = parsed.query.get("options")
    match = _SEARCH_PATH.search(options if isinstance(options, str) else "")
    return PgTarget(env, match.group(1) if match else None)


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(f"{name} is not installed (Debian: apt-get install "
                          "postgresql-client)")
    return found


def _run(args: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        last = lines[-1] if lines else f"exit code {done.returncode}"
        raise BackupError(f"{Path(args[0]).name} failed: {last}")


def backup(url: str, file: Path, environ: Mapping[str, str]) -> None:
    """Writes a consistent copy of the database at `url` to `file` (replaced if it exists).
    `environ`: the caller's environment, which the PostgreSQL tools run in."""
    if url.startswith("sqlite"):
        source = _sqlite_path(url)
        with sqlite3.connect(source) as src, sqlite3.connect(file) as dest:
            src.backup(dest)
        return
    target = _pg_target(url, environ)
    args = [_tool("pg_dump"), "--format=custom", "--no-owner", f"--file={file}"]
    if target.schema:
        args.append(f"--schema={target.schema}")
    _run(args, target.env)


def restore(url: str, file: Path, environ: Mapping[str, str]) -> None:
    """Replaces everything in the database at `url` with the backup in `file`. Stop `mla
    serve` and `mla worker` first: their connections would see tables vanish."""
    head = file.read_bytes()[:16] if file.exists() else b""
    if url.startswith("sqlite"):
        if head != SQLITE_MAGIC:
            raise BackupError(f"{file.name} is not an SQLite backup (made by `mla backup` "
                              "from an SQLite database)")
        with sqlite3.connect(file) as src, sqlite3.connect(_sqlite_path(url)) as dest:
            src.backup(dest)
        return
    if not head.startswith(PG_MAGIC):
        raise BackupError(f"{file.name} is not a PostgreSQL custom-format backup (made by "
                          "`mla backup` from a PostgreSQL database)")
    target = _pg_target(url, environ)
    engine = db.make_engine(url)
    try:
        if target.schema:
            # The dump creates the schema itself; what is there now goes first, whole.
            with engine.begin() as conn:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{target.schema}" CASCADE'))
        args = [_tool("pg_restore"), "--no-owner", "--exit-on-error",
                f"--dbname={target.env.get('PGDATABASE', '')}"]
        if not target.schema:
            args += ["--clean", "--if-exists"]
        _run([*args, str(file)], target.env)
        with engine.begin() as conn:
            conn.execute(text("SELECT setval(pg_get_serial_sequence('notifications', 'id'), "
                              "(SELECT COALESCE(max(id), 0) FROM notifications) + :gap)"),
                         {"gap": ID_GAP})
    finally:
        engine.dispose()


def record_restore(engine: Engine, file: Path) -> None:
    """The restore in the restored database's audit trail."""
    with db.unit_of_work(engine) as session:
        audit.record(session, "ops.restore", object_type="database",
                     detail={"backup": file.name})


def _sqlite_path(url: str) -> str:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise BackupError("an in-memory SQLite database has nothing to back up")
    return database
