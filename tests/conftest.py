"""Database fixtures: every test that takes `engine` or `session` runs on SQLite and on
PostgreSQL. PostgreSQL comes from MLA_TEST_POSTGRES_URL (default: the local server); when it
cannot be reached those runs are skipped with a message, except under CI=true, where the
whole run fails."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import Engine, create_engine, insert, make_url, text
from sqlalchemy.orm import Session

from mla import audit, db, hooks
from mla.directory import service as directory
from mla.models import AuditHead, Authority, Base, User
from tests.api_helpers import Api

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
PG_URL = os.environ.get("MLA_TEST_POSTGRES_URL", DEFAULT_PG)
IN_CI = os.environ.get("CI", "").lower() == "true"

# `pytest -qq --kinds -n 0`: test functions and cases per kind; each test marked with its kind.
pytest_plugins = ["tests.kinds"]


@pytest.fixture(scope="session", autouse=True)
def wired() -> None:
    """The test run is an entry point like the API, the CLI and the worker: it wires the
    transition and alert hooks once (mla/hooks.py)."""
    hooks.install()


def _pg_unreachable_reason() -> str | None:
    try:
        engine = create_engine(PG_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
        return None
    except Exception as exc:  # any failure to connect means "not available here"
        return f"{type(exc).__name__}: {str(exc).splitlines()[0]}"


def private_schema_url(request: pytest.FixtureRequest, prefix: str) -> str:
    """A PostgreSQL URL whose search_path is a new, empty schema, dropped when `request`'s
    scope ends."""
    schema = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))

    def drop() -> None:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

    request.addfinalizer(drop)
    url = make_url(PG_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def postgresql_base_url(request: pytest.FixtureRequest) -> str:
    """A PostgreSQL URL whose search_path is a schema private to this test run."""
    reason = _pg_unreachable_reason()
    if reason is not None:
        message = f"PostgreSQL not reachable at {PG_URL} ({reason})"
        if IN_CI:
            pytest.exit(f"{message}; CI=true requires it", returncode=1)
        pytest.skip(f"{message}: PostgreSQL runs skipped. Start PostgreSQL or set "
                    "MLA_TEST_POSTGRES_URL to run them.")
    return private_schema_url(request, "mla_test")


@pytest.fixture(scope="session")
def sqlite_base_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'mla.db'}"


_migrated: dict[str, Engine] = {}


def _migrated_engine(url: str) -> Engine:
    if url not in _migrated:
        db.upgrade(url)
        _migrated[url] = db.make_engine(url)
    return _migrated[url]


def _wipe(engine: Engine) -> None:
    tables = list(reversed(Base.metadata.sorted_tables))
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            names = ", ".join(f'"{t.name}"' for t in tables)
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            # The append-only triggers are lifted just for the wipe.
            conn.execute(text("DROP TRIGGER IF EXISTS audit_events_no_update"))
            conn.execute(text("DROP TRIGGER IF EXISTS audit_events_no_delete"))
            for table in tables:
                conn.execute(table.delete())
            for statement in audit.SQLITE_TRIGGERS:
                conn.execute(text(statement))
        conn.execute(insert(AuditHead).values(id=1, last_id=0, last_hash=audit.GENESIS))


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest) -> str:
    """URL of a migrated, empty database; once per backend."""
    url: str = request.getfixturevalue(f"{request.param}_base_url")
    _wipe(_migrated_engine(url))
    return url


@pytest.fixture
def engine(db_url: str) -> Engine:
    return _migrated_engine(db_url)


@pytest.fixture
def pg_engine(postgresql_base_url: str) -> Engine:
    engine = _migrated_engine(postgresql_base_url)
    _wipe(engine)
    return engine


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with db.session_factory(engine)() as s:
        yield s


@dataclass
class World:
    """Three authorities: FR and KE deal with each other, US is a stranger to their cases."""

    fr: Authority
    ke: Authority
    us: Authority
    users: dict[str, User]

    def __getitem__(self, username: str) -> User:
        return self.users[username]


def build_world(session: Session) -> World:
    specs = {
        "fr": dict(code="FR-MJ", country="FR", name="Ministère de la Justice",
                   timezone="Europe/Paris", languages=["fr", "en"]),
        "ke": dict(code="KE-ODPP", country="KE", name="ODPP Central Authority",
                   timezone="Africa/Nairobi", languages=["en", "sw"]),
        "us": dict(code="US-OIA", country="US", name="Office of International Affairs",
                   timezone="America/New_York", languages=["en"]),
    }
    authorities = {k: directory.add_authority(session, **v) for k, v in specs.items()}
    users = {}
    for key, authority in authorities.items():
        for role in ("officer", "supervisor", "liaison", "contact_point", "admin", "validator"):
            username = f"{key}.{role}"
            users[username] = directory.add_user(session, authority, username=username,
                                                 full_name=username.title(), role=role)
    session.commit()
    return World(authorities["fr"], authorities["ke"], authorities["us"], users)


@pytest.fixture
def world(session: Session) -> World:
    return build_world(session)


@pytest.fixture
def api(db_url: str, session: Session, world: World) -> Iterator[Api]:
    """The HTTP API on the test database, with real tokens for every user of the world."""
    from fastapi.testclient import TestClient

    from api.app import create_app

    app = create_app(db_url)
    # Console pages in English, as an English browser asks for them (FR's officers would
    # otherwise read French, their authority's first language): tests/console/
    # test_console_languages.py and tests/i18n choose other languages on purpose.
    with TestClient(app, raise_server_exceptions=False,
                    headers={"Accept-Language": "en"}) as client:
        yield Api(app, client, world, session)
    app.state.engine.dispose()
