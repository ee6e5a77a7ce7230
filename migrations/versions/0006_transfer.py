"""Electronic transfer between instances: peers, transfer keys, outbox, inbox.

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import mla.models

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Instant = mla.models.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "peers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("authority_id", sa.Integer(), nullable=False),
        sa.Column("base_url", sa.String(length=500), nullable=False),
        sa.Column("signing_jwks", sa.JSON(), nullable=False),
        sa.Column("encryption_jwks", sa.JSON(), nullable=False),
        sa.Column("created_at", Instant, nullable=False),
        sa.Column("updated_at", Instant, nullable=False),
        sa.ForeignKeyConstraint(["authority_id"], ["authorities.id"],
                                name=op.f("fk_peers_authority_id_authorities")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_peers")),
        sa.UniqueConstraint("authority_id", name=op.f("uq_peers_authority_id")),
    )
    op.create_table(
        "transfer_keys",
        sa.Column("kid", sa.String(length=64), nullable=False),
        sa.Column("use", sa.String(length=3), nullable=False),
        sa.Column("algorithm", sa.String(length=20), nullable=False),
        sa.Column("private_pem", sa.Text(), nullable=False),
        sa.Column("public_jwk", sa.JSON(), nullable=False),
        sa.Column("created_at", Instant, nullable=False),
        sa.Column("retired_at", Instant, nullable=True),
        sa.PrimaryKeyConstraint("kid", name=op.f("pk_transfer_keys")),
    )
    op.create_table(
        "transfer_outbox",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("message_id", sa.Uuid(), nullable=False),
        sa.Column("receiver_id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Uuid(), nullable=False),
        sa.Column("thread_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("event", sa.String(length=40), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("payload_sha256", sa.String(length=64), nullable=False),
        sa.Column("envelope", sa.Text(), nullable=False),
        sa.Column("sealed_at", Instant, nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", Instant, nullable=False),
        sa.Column("created_at", Instant, nullable=False),
        sa.Column("delivered_at", Instant, nullable=True),
        sa.Column("receipt", sa.JSON(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["receiver_id"], ["authorities.id"],
                                name=op.f("fk_transfer_outbox_receiver_id_authorities")),
        sa.ForeignKeyConstraint(["request_id"], ["requests.id"], ondelete="CASCADE",
                                name=op.f("fk_transfer_outbox_request_id_requests")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transfer_outbox")),
        sa.UniqueConstraint("message_id", name=op.f("uq_transfer_outbox_message_id")),
    )
    op.create_index("ix_transfer_outbox_request", "transfer_outbox", ["request_id"])
    # The delivery scan: only messages still to deliver, by when they are due.
    op.create_index("ix_transfer_outbox_pending_due", "transfer_outbox", ["next_attempt_at"],
                    postgresql_where=sa.text("status = 'pending'"),
                    sqlite_where=sa.text("status = 'pending'"))
    op.create_table(
        "transfer_inbox",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("message_id", sa.Uuid(), nullable=False),
        sa.Column("sender_id", sa.Integer(), nullable=False),
        sa.Column("thread_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("event", sa.String(length=40), nullable=False),
        sa.Column("received_at", Instant, nullable=False),
        sa.Column("payload_sha256", sa.String(length=64), nullable=False),
        sa.Column("request_id", sa.Uuid(), nullable=True),
        sa.Column("outcome", sa.String(length=10), nullable=False),
        sa.Column("receipt", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["request_id"], ["requests.id"], ondelete="CASCADE",
                                name=op.f("fk_transfer_inbox_request_id_requests")),
        sa.ForeignKeyConstraint(["sender_id"], ["authorities.id"],
                                name=op.f("fk_transfer_inbox_sender_id_authorities")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transfer_inbox")),
        sa.UniqueConstraint("message_id", name=op.f("uq_transfer_inbox_message_id")),
    )
    op.create_index("ix_transfer_inbox_request", "transfer_inbox", ["request_id"])


def downgrade() -> None:
    op.drop_index("ix_transfer_inbox_request", table_name="transfer_inbox")
    op.drop_table("transfer_inbox")
    op.drop_index("ix_transfer_outbox_pending_due", table_name="transfer_outbox")
    op.drop_index("ix_transfer_outbox_request", table_name="transfer_outbox")
    op.drop_table("transfer_outbox")
    op.drop_table("transfer_keys")
    op.drop_table("peers")
