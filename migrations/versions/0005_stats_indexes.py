"""Indexes for the statistics: stage milestones and refusals in the history, running
deadlines.

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MILESTONES = "event IN ('file', 'transmit', 'acknowledge', 'execute', 'complete')"


def upgrade() -> None:
    op.create_index("ix_history_events_milestones", "history_events",
                    ["request_id", "event", "at"],
                    postgresql_where=sa.text(MILESTONES), sqlite_where=sa.text(MILESTONES))
    op.create_index("ix_history_events_refusals", "history_events", ["at"],
                    postgresql_where=sa.text("event = 'refuse'"),
                    sqlite_where=sa.text("event = 'refuse'"))
    op.create_index("ix_deadlines_running", "deadlines", ["due_at"],
                    postgresql_where=sa.text("closed_at IS NULL"),
                    sqlite_where=sa.text("closed_at IS NULL"))


def downgrade() -> None:
    op.drop_index("ix_deadlines_running", table_name="deadlines")
    op.drop_index("ix_history_events_refusals", table_name="history_events")
    op.drop_index("ix_history_events_milestones", table_name="history_events")
