"""Migration 0014 indexes the requests filed before it: an instance that upgrades finds its
existing requests the same day."""

from __future__ import annotations

from alembic import command
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from mla import audit, db, templates
from mla.models import User
from mla.requests import filing
from mla.search import documents
from mla.search import query as search
from tests.conftest import build_world, private_schema_url


# PostgreSQL only: on SQLite, later revisions' downgrades rebuild `users` in batch mode,
# which its foreign keys refuse once there is data (SQLite instances restore a backup instead
# of downgrading; README, Operations).
def test_upgrade_indexes_existing_requests(request) -> None:  # type: ignore[no-untyped-def]
    request.getfixturevalue("postgresql_base_url")
    url = private_schema_url(request, "mla_mig")
    # Requests filed with this code's models at head, without the search index, then the
    # schema taken back to just before 0014 and brought up again: 0014's backfill must index
    # them. (Writing at 0013 with today's models would hit columns added since.)
    db.upgrade(url)
    engine = db.make_engine(url)
    event.remove(Session, "after_flush", documents._after_flush)
    # The audit entries would keep later revisions from going down (0020 refuses unsealed
    # entries); this test is about search, so it writes none.
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
    engine.dispose()
    command.downgrade(db.alembic_config(url), "0013")
    db.upgrade(url)
    with db.session_factory(engine)() as s:
        officer = s.scalars(select(User).where(User.username == "ke.officer")).one()
        assert [h.reference for h in search.search(s, officer, "heron")] == [reference]
        # The names of the form's persons too, from another script.
        assert [h.reference for h in search.search(s, officer, "Омонди")] == [reference]
    engine.dispose()

