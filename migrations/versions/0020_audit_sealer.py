"""The audit chain off the commit path (issue #26): entries get their id from a sequence and
their own hash at insert; the sealer links them into the chain later (mla/audit.py). Rows
chained before stay as they are: the chain and its head go on from them.

Revision ID: 0020
Revises: 0018
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The sealer's one write is let through: a hash where there was none, nothing else changed.
# Column triggers with WHEN, so that the sealer's UPDATE calls no function at all (a PL/pgSQL
# comparison of whole rows made sealing a third slower). A column added to the table later
# must be added to the list of audit_events_content_fixed.
PG_TRIGGERS = (
    "DROP TRIGGER audit_events_append_only ON audit_events",
    "CREATE TRIGGER audit_events_append_only BEFORE DELETE ON audit_events "
    "FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()",
    "CREATE TRIGGER audit_events_content_fixed BEFORE UPDATE OF id, at, actor_id, "
    "authority_id, action, object_type, object_id, detail, entry_hash ON audit_events "
    "FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()",
    "CREATE TRIGGER audit_events_sealed_once BEFORE UPDATE OF hash ON audit_events "
    "FOR EACH ROW WHEN (OLD.hash IS NOT NULL OR NEW.hash IS NULL) "
    "EXECUTE FUNCTION audit_events_append_only()",
)
PG_TRIGGERS_0002 = (
    "DROP TRIGGER audit_events_sealed_once ON audit_events",
    "DROP TRIGGER audit_events_content_fixed ON audit_events",
    "DROP TRIGGER audit_events_append_only ON audit_events",
    "CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events "
    "FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()",
)
SQLITE_TRIGGERS = (
    "CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events "
    "WHEN NOT (OLD.hash IS NULL AND NEW.hash IS NOT NULL AND NEW.id IS OLD.id "
    "AND NEW.at IS OLD.at AND NEW.actor_id IS OLD.actor_id "
    "AND NEW.authority_id IS OLD.authority_id AND NEW.action IS OLD.action "
    "AND NEW.object_type IS OLD.object_type AND NEW.object_id IS OLD.object_id "
    "AND NEW.detail IS OLD.detail AND NEW.entry_hash IS OLD.entry_hash) "
    "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END",
    "CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events "
    "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END",
)
SQLITE_TRIGGERS_0002 = (
    "CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events "
    "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END",
    SQLITE_TRIGGERS[1],
)


def _drop_sqlite_triggers() -> None:
    op.execute("DROP TRIGGER IF EXISTS audit_events_no_update")
    op.execute("DROP TRIGGER IF EXISTS audit_events_no_delete")


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    if not postgres:
        _drop_sqlite_triggers()  # the batch below copies the table
    with op.batch_alter_table("audit_events") as batch:
        batch.add_column(sa.Column("entry_hash", sa.String(64), nullable=True))
        batch.alter_column("hash", existing_type=sa.String(64), nullable=True)
    if postgres:
        # CACHE 1: ids are handed out in the order nextval() runs, which the sealer's proof
        # that an id is final relies on (mla/audit.py, _final_id).
        op.execute("CREATE SEQUENCE audit_events_id_seq AS bigint CACHE 1 "
                   "OWNED BY audit_events.id")
        op.execute("SELECT setval('audit_events_id_seq', GREATEST(h.last_id, 1), "
                   "h.last_id > 0) FROM audit_head AS h WHERE h.id = 1")
        for statement in PG_TRIGGERS:
            op.execute(statement)
    else:
        for statement in SQLITE_TRIGGERS:
            op.execute(statement)


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    unsealed = op.get_bind().execute(sa.text(
        "SELECT count(*) FROM audit_events WHERE hash IS NULL")).scalar()
    if unsealed:
        raise RuntimeError(f"{unsealed} audit entries are not sealed yet: run `mla audit seal` "
                           "(with no API or worker running) before going back to 0018")
    if postgres:
        for statement in PG_TRIGGERS_0002:
            op.execute(statement)
        op.execute("DROP SEQUENCE audit_events_id_seq")
    else:
        _drop_sqlite_triggers()
    with op.batch_alter_table("audit_events") as batch:
        batch.alter_column("hash", existing_type=sa.String(64), nullable=False)
        batch.drop_column("entry_hash")
    if not postgres:
        for statement in SQLITE_TRIGGERS_0002:
            op.execute(statement)
