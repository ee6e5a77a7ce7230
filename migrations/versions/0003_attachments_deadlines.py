"""Attachments, deadlines with their escalation steps, alerts.

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import mla.models

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "attachments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("request_id", sa.Uuid(), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("uploaded_by_id", sa.Integer(), nullable=True),
        sa.Column("uploaded_at", mla.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["request_id"], ["requests.id"], ondelete="CASCADE",
                                name=op.f("fk_attachments_request_id_requests")),
        sa.ForeignKeyConstraint(["uploaded_by_id"], ["users.id"],
                                name=op.f("fk_attachments_uploaded_by_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attachments")),
    )
    op.create_index(op.f("ix_attachments_request_id"), "attachments", ["request_id"])
    op.create_table(
        "deadlines",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("request_id", sa.Uuid(), nullable=False),
        sa.Column("rule_id", sa.String(length=60), nullable=False),
        sa.Column("timer", sa.String(length=40), nullable=False),
        sa.Column("acting_authority_id", sa.Integer(), nullable=False),
        sa.Column("opened_at", mla.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("period_start", mla.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("due_at", mla.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("closed_at", mla.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("suspended_at", mla.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("extended_days", sa.Integer(), nullable=False),
        sa.Column("extension_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["acting_authority_id"], ["authorities.id"],
                                name=op.f("fk_deadlines_acting_authority_id_authorities")),
        sa.ForeignKeyConstraint(["request_id"], ["requests.id"], ondelete="CASCADE",
                                name=op.f("fk_deadlines_request_id_requests")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deadlines")),
    )
    op.create_index("ix_deadlines_request", "deadlines", ["request_id"])
    op.create_index("ix_deadlines_acting_due", "deadlines", ["acting_authority_id", "due_at"])
    op.create_table(
        "deadline_steps",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("deadline_id", BigId, nullable=False),
        sa.Column("step", sa.String(length=20), nullable=False),
        sa.Column("due_at", mla.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("done_at", mla.models.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["deadline_id"], ["deadlines.id"], ondelete="CASCADE",
                                name=op.f("fk_deadline_steps_deadline_id_deadlines")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deadline_steps")),
        sa.UniqueConstraint("deadline_id", "step", name=op.f("uq_deadline_steps_deadline_id")),
    )
    # The worker's scan: only pending steps, by due instant.
    op.create_index("ix_deadline_steps_pending_due", "deadline_steps", ["due_at"],
                    postgresql_where=sa.text("done_at IS NULL"),
                    sqlite_where=sa.text("done_at IS NULL"))
    op.create_table(
        "alerts",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("request_id", sa.Uuid(), nullable=False),
        sa.Column("authority_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("deadline_step_id", BigId, nullable=True),
        sa.Column("step", sa.String(length=20), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("created_at", mla.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("acknowledged_at", mla.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["acknowledged_by_id"], ["users.id"],
                                name=op.f("fk_alerts_acknowledged_by_id_users")),
        sa.ForeignKeyConstraint(["authority_id"], ["authorities.id"],
                                name=op.f("fk_alerts_authority_id_authorities")),
        sa.ForeignKeyConstraint(["deadline_step_id"], ["deadline_steps.id"], ondelete="CASCADE",
                                name=op.f("fk_alerts_deadline_step_id_deadline_steps")),
        sa.ForeignKeyConstraint(["request_id"], ["requests.id"], ondelete="CASCADE",
                                name=op.f("fk_alerts_request_id_requests")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
        sa.UniqueConstraint("deadline_step_id", "role", name=op.f("uq_alerts_deadline_step_id")),
    )
    op.create_index("ix_alerts_authority_created", "alerts", ["authority_id", "created_at"])


def downgrade() -> None:
    op.drop_table("alerts")
    op.drop_table("deadline_steps")
    op.drop_table("deadlines")
    op.drop_index(op.f("ix_attachments_request_id"), table_name="attachments")
    op.drop_table("attachments")
