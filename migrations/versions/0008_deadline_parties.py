"""The request's parties on each deadline, so an authority's deadline statistics read an
index of their own instead of joining all its requests (PostgreSQL: index-only).

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen here: later changes to the model must not change what this revision did.
INCLUDE = ["acting_authority_id", "closed_at", "due_at", "suspended_at"]
SIDES = (("requesting", "requested"), ("requested", "requesting"))


def upgrade() -> None:
    # Plain ADD COLUMN, nullable: rebuilding `deadlines` on SQLite would cascade-delete its
    # steps; the code always sets both.
    for side, _ in SIDES:
        op.add_column("deadlines", sa.Column(f"{side}_authority_id", sa.Integer(),
                                             nullable=True))
    op.execute("UPDATE deadlines SET requesting_authority_id = r.requesting_authority_id, "
               "requested_authority_id = r.requested_authority_id "
               "FROM requests r WHERE r.id = deadlines.request_id")
    for side, other in SIDES:
        op.create_index(f"ix_deadlines_{side}", "deadlines", [f"{side}_authority_id"],
                        postgresql_include=[f"{other}_authority_id", *INCLUDE])


def downgrade() -> None:
    # Both indexes first: each carries the other side's column.
    for side, _ in SIDES:
        op.drop_index(f"ix_deadlines_{side}", table_name="deadlines")
    for side, _ in SIDES:
        op.drop_column("deadlines", f"{side}_authority_id")
