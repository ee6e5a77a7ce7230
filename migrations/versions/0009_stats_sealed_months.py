"""Sealed statistics: per-month summaries of the figures that stop changing once a month is
over (stage durations, deadlines closed and met, refusal grounds, volume filed), so that the
instance-wide statistics do not read every request (mla/stats_seal.py); and the indexes that
find what they still read from the rows.

Revision ID: 0009
Revises: 0008
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MILESTONES = ("transmitted_at", "acknowledged_at", "executed_at")

# The months get sealed by the worker (or `mla stats seal`), not here: a migration that read
# every request would hold the upgrade for as long.


def upgrade() -> None:
    op.create_table(
        "stats_months",
        sa.Column("month", sa.String(7), primary_key=True),
        sa.Column("sealed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deadlines_closed", sa.Integer(), nullable=False),
        sa.Column("deadlines_met", sa.Integer(), nullable=False),
        sa.Column("refusals", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("month", name="pk_stats_months"),
    )
    for table, key in (("stats_stage_centidays", "centidays"), ("stats_stage_days", "day")):
        op.create_table(
            table,
            sa.Column("stage", sa.String(40), nullable=False),
            sa.Column("month", sa.String(7), nullable=False),
            sa.Column(key, sa.Integer(), nullable=False),
            sa.Column("n", sa.Integer(), nullable=False),
            sa.ForeignKeyConstraint(["month"], ["stats_months.month"],
                                    name=f"fk_{table}_month_stats_months"),
            sa.PrimaryKeyConstraint("stage", "month", key, name=f"pk_{table}"),
        )
    for table, key, key_type in (("stats_refusal_grounds", "ground", sa.Text()),
                                 ("stats_volume", "kind", sa.String(60))):
        op.create_table(
            table,
            sa.Column("month", sa.String(7), nullable=False),
            sa.Column(key, key_type, nullable=False),
            sa.Column("n", sa.Integer(), nullable=False),
            sa.ForeignKeyConstraint(["month"], ["stats_months.month"],
                                    name=f"fk_{table}_month_stats_months"),
            sa.PrimaryKeyConstraint("month", key, name=f"pk_{table}"),
        )
    # What the instance-wide report still reads from the rows: the stages that ended and the
    # deadlines that closed outside the sealed months, and the running deadlines
    # (index-only).
    for column in MILESTONES:
        op.create_index(f"ix_requests_{column}", "requests", [column],
                        postgresql_where=sa.text(f"{column} IS NOT NULL"),
                        sqlite_where=sa.text(f"{column} IS NOT NULL"))
    op.create_index("ix_deadlines_closed", "deadlines", ["closed_at"],
                    postgresql_where=sa.text("closed_at IS NOT NULL"),
                    sqlite_where=sa.text("closed_at IS NOT NULL"), postgresql_include=["due_at"])
    op.drop_index("ix_deadlines_running", table_name="deadlines")
    _running_index(["suspended_at", "acting_authority_id"])


def _running_index(include: list[str]) -> None:
    op.create_index("ix_deadlines_running", "deadlines", ["due_at"],
                    postgresql_where=sa.text("closed_at IS NULL"),
                    sqlite_where=sa.text("closed_at IS NULL"), postgresql_include=include)


def downgrade() -> None:
    op.drop_index("ix_deadlines_running", table_name="deadlines")
    _running_index([])
    op.drop_index("ix_deadlines_closed", table_name="deadlines")
    for column in MILESTONES:
        op.drop_index(f"ix_requests_{column}", table_name="requests")
    for table in ("stats_volume", "stats_refusal_grounds", "stats_stage_days",
                  "stats_stage_centidays", "stats_months"):
        op.drop_table(table)
