"""Migration 0014 indexes the requests filed before it: an instance that upgrades finds its
existing requests the same day."""

from __future__ import annotations

import pytest
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from mla import audit, db, templates
from mla.models import User
from mla.requests import filing
from mla.search import documents
from mla.search import query as search
from tests.conftest import build_world, private_schema_url


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_upgrade_indexes_existing_requests(backend, request, tmp_path) -> None:  # type: ignore[no-untyped-def]
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'old.db'}"
    else:
        request.getfixturevalue("postgresql_base_url")
        url = private_schema_url(request, "mla_mig")
    # The revision just before 0014 (the models of later revisions' tables are not used).
    db.upgrade(url, "0013")
    engine = db.make_engine(url)
    # Before 0014 there is no index to keep, and the audit entries of that time had no hash
    # of their own (0020): this test is about search, so it writes none.
    event.remove(Session, "after_flush", documents._after_flush)
    event.remove(Session, "before_commit", audit._write_pending)
    try:
        with db.session_factory(engine)() as s:
            world = build_world(s)
            old = filing.file_request(
                s, world["fr.officer"], kind="mla.evidence", requested_authority_id=world.ke.id,
                legal_basis="untoc", title="Heron ledger", language="en",
                data=templates.example("mla.evidence"))
            s.commit()
            reference = old.reference
    finally:
        documents.install()
        event.listen(Session, "before_commit", audit._write_pending)
    db.upgrade(url)
    with db.session_factory(engine)() as s:
        officer = s.scalars(select(User).where(User.username == "ke.officer")).one()
        assert [h.reference for h in search.search(s, officer, "heron")] == [reference]
        # The names of the form's persons too, from another script.
        assert [h.reference for h in search.search(s, officer, "Омонди")] == [reference]
    engine.dispose()

