"""Urgency as the officer's input, and clocks that start at their legal triggers.

- `requests.urgency_reasons`: why the filing officer marked the request urgent (EIO section
  B, e-Evidence art. 10(4) emergency); existing requests keep their urgency, with no reasons.
- Deadlines of the rule `eio.postponement` still running are closed and their pending
  escalation steps dropped: Directive 2014/41/EU art. 15 fixes no period for a postponement
  (the 30 days were art. 12(5), the extension of the recognition limit, now on that rule).
  The rule stays readable (retired) for the history of old requests.
- Nothing else moves: clocks already running keep their instants; an EAW request granted
  before this revision gets its surrender clock when its surrender is scheduled (the
  workflow opens it there only when none runs).

Revision ID: 0011
Revises: 0010
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("requests") as batch:
        batch.add_column(sa.Column("urgency_reasons", sa.Text(), nullable=True))
    now = datetime.now(UTC)
    if op.get_bind().dialect.name == "sqlite":
        # SQLite stores the instants as naive UTC text (mla.models.UTCDateTime).
        now = now.replace(tzinfo=None)
    running = "SELECT id FROM deadlines WHERE rule_id = 'eio.postponement' AND closed_at IS NULL"
    op.execute(sa.text(f"DELETE FROM deadline_steps WHERE done_at IS NULL AND deadline_id IN "
                       f"({running})"))
    op.execute(sa.text("UPDATE deadlines SET closed_at = :now WHERE rule_id = "
                       "'eio.postponement' AND closed_at IS NULL").bindparams(
        sa.bindparam("now", value=now, type_=sa.DateTime(timezone=True))))


def downgrade() -> None:
    with op.batch_alter_table("requests") as batch:
        batch.drop_column("urgency_reasons")
