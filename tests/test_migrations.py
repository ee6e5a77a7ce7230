"""The schema comes only from Alembic and must equal the models."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from mla import db
from mla.models import Base
from tests.conftest import private_schema_url


def _fresh_url(backend: str, request: pytest.FixtureRequest, tmp_path) -> str:  # type: ignore[no-untyped-def]
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'fresh.db'}"
    request.getfixturevalue("postgresql_base_url")  # skips or fails if unreachable
    return private_schema_url(request, "mla_mig")


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_upgrade_head_on_empty_database_matches_models(backend, request, tmp_path) -> None:  # type: ignore[no-untyped-def]
    url = _fresh_url(backend, request, tmp_path)
    db.upgrade(url)
    engine = db.make_engine(url)
    with engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True,
                                                  "include_name": db.modelled}),
            Base.metadata)
    assert diff == []
    # ...and migrations run back down and up again cleanly.
    command.downgrade(db.alembic_config(url), "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    db.upgrade(url)
    assert set(Base.metadata.tables) <= set(inspect(engine).get_table_names())
    engine.dispose()
