"""24/7 pages over Matrix and shift calendars (issue #27): the desk room of an authority, the
Matrix accounts of users and contact points, the bot's sync position and the replies it acted
on; the secret token of a contact point's calendar feed.

Revision ID: 0022
Revises: 0023
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _at(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.add_column("authorities", sa.Column("matrix_room_id", sa.String(255), nullable=True))
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("matrix_id", sa.String(255), nullable=True))
        batch.create_unique_constraint("uq_users_matrix_id", ["matrix_id"])
    with op.batch_alter_table("contact_points") as batch:
        batch.add_column(sa.Column("matrix_id", sa.String(255), nullable=True))
        batch.add_column(sa.Column("calendar_token", sa.String(64), nullable=True))
        batch.create_unique_constraint("uq_contact_points_calendar_token", ["calendar_token"])
    op.create_table(
        "matrix_sync",
        sa.Column("account", sa.String(255), nullable=False),
        sa.Column("since", sa.Text(), nullable=False),
        _at("updated_at"),
        sa.PrimaryKeyConstraint("account", name="pk_matrix_sync"),
    )
    op.create_table(
        "matrix_events",
        sa.Column("event_id", sa.String(255), nullable=False),
        sa.Column("room_id", sa.String(255), nullable=False),
        sa.Column("sender", sa.String(255), nullable=False),
        sa.Column("page_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                  nullable=True),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("reply", sa.Text(), nullable=True),
        _at("received_at"), _at("reply_sent_at", True),
        sa.ForeignKeyConstraint(["page_id"], ["pages.id"], ondelete="SET NULL",
                                name="fk_matrix_events_page_id_pages"),
        sa.PrimaryKeyConstraint("event_id", name="pk_matrix_events"),
    )
    op.create_index("ix_matrix_events_unsent", "matrix_events", ["received_at"],
                    postgresql_where=sa.text("reply_sent_at IS NULL"),
                    sqlite_where=sa.text("reply_sent_at IS NULL"))


def downgrade() -> None:
    op.drop_index("ix_matrix_events_unsent", table_name="matrix_events")
    op.drop_table("matrix_events")
    op.drop_table("matrix_sync")
    with op.batch_alter_table("contact_points") as batch:
        batch.drop_constraint("uq_contact_points_calendar_token", type_="unique")
        batch.drop_column("calendar_token")
        batch.drop_column("matrix_id")
    with op.batch_alter_table("users") as batch:
        batch.drop_constraint("uq_users_matrix_id", type_="unique")
        batch.drop_column("matrix_id")
    with op.batch_alter_table("authorities") as batch:
        batch.drop_column("matrix_room_id")
