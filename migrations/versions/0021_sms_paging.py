"""SMS paging and contact preferences (issue #27): a contact point's account and channel
preferences, test pages (no request), SMS delivery reports on notifications, acknowledgement
codes and failed-reply counts.

Revision ID: 0021
Revises: 0022
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _at(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    with op.batch_alter_table("contact_points") as batch:
        batch.add_column(sa.Column("user_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("preferences", sa.JSON(), nullable=True))
        batch.create_foreign_key("fk_contact_points_user_id_users", "users", ["user_id"],
                                 ["id"], ondelete="SET NULL")
    with op.batch_alter_table("pages") as batch:
        batch.alter_column("request_id", existing_type=sa.Uuid(), nullable=True)
        batch.add_column(sa.Column("test", sa.Boolean(), nullable=False,
                                   server_default=sa.text("false")))
    with op.batch_alter_table("notifications") as batch:
        batch.add_column(sa.Column("delivery_status", sa.String(12), nullable=True))
        batch.add_column(_at("delivery_reported_at", True))
    op.create_table(
        "sms_codes",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("notification_id", BigId, nullable=False),
        sa.Column("page_id", BigId, nullable=False),
        sa.Column("contact_point_id", sa.Integer(), nullable=False),
        sa.Column("phone", sa.String(16), nullable=False),
        sa.Column("code_hash", sa.String(64), nullable=False),
        _at("created_at"), _at("expires_at"), _at("used_at", True),
        sa.ForeignKeyConstraint(["notification_id"], ["notifications.id"],
                                name="fk_sms_codes_notification_id_notifications",
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["page_id"], ["pages.id"], name="fk_sms_codes_page_id_pages",
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["contact_point_id"], ["contact_points.id"],
                                name="fk_sms_codes_contact_point_id_contact_points",
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_sms_codes"),
        sa.UniqueConstraint("notification_id", name="uq_sms_codes_notification_id"),
        sa.UniqueConstraint("code_hash", name="uq_sms_codes_code_hash"),
    )
    op.create_table(
        "sms_reply_failures",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("phone", sa.String(32), nullable=False),
        _at("at"),
        sa.PrimaryKeyConstraint("id", name="pk_sms_reply_failures"),
    )
    op.create_index("ix_sms_reply_failures_phone_at", "sms_reply_failures", ["phone", "at"])


def downgrade() -> None:
    op.drop_index("ix_sms_reply_failures_phone_at", table_name="sms_reply_failures")
    op.drop_table("sms_reply_failures")
    op.drop_table("sms_codes")
    with op.batch_alter_table("notifications") as batch:
        batch.drop_column("delivery_reported_at")
        batch.drop_column("delivery_status")
    op.execute("DELETE FROM pages WHERE request_id IS NULL")
    with op.batch_alter_table("pages") as batch:
        batch.drop_column("test")
        batch.alter_column("request_id", existing_type=sa.Uuid(), nullable=False)
    with op.batch_alter_table("contact_points") as batch:
        batch.drop_constraint("fk_contact_points_user_id_users", type_="foreignkey")
        batch.drop_column("preferences")
        batch.drop_column("user_id")
