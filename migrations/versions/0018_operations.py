"""Operations (issue #24): worker heartbeats and outages (the dead-man page), signed audit
checkpoints (ours and peers'), legal holds and retention erasures; the HTTP request id on
pages and outbox messages.

Revision ID: 0018
Revises: 0017
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _at(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "worker_heartbeats",
        sa.Column("worker_id", sa.String(80), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        _at("started_at"), _at("beat_at"), _at("stopped_at", True),
        sa.PrimaryKeyConstraint("worker_id", name="pk_worker_heartbeats"),
    )
    op.create_index("ix_worker_heartbeats_beat_at", "worker_heartbeats", ["beat_at"])
    op.create_table(
        "worker_outages",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        _at("last_beat_at"), _at("detected_at"), _at("claimed_until", True),
        _at("paged_at", True), _at("recovered_at", True), _at("recovery_paged_at", True),
        sa.PrimaryKeyConstraint("id", name="pk_worker_outages"),
        sa.UniqueConstraint("last_beat_at", name="uq_worker_outages_last_beat_at"),
    )
    op.create_table(
        "audit_checkpoints",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("authority_code", sa.String(40), nullable=False),
        sa.Column("chain_length", sa.BigInteger(), nullable=False),
        sa.Column("head_hash", sa.String(64), nullable=False),
        _at("made_at"),
        sa.Column("jws", sa.Text(), nullable=False),
        _at("received_at", True),
        sa.PrimaryKeyConstraint("id", name="pk_audit_checkpoints"),
        sa.UniqueConstraint("authority_code", "chain_length",
                            name="uq_audit_checkpoints_authority_code"),
    )
    op.create_table(
        "legal_holds",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("request_id", sa.Uuid(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        _at("placed_at"),
        sa.Column("placed_by_id", sa.Integer(), nullable=True),
        _at("lifted_at", True),
        sa.ForeignKeyConstraint(["request_id"], ["requests.id"], ondelete="CASCADE",
                                name="fk_legal_holds_request_id_requests"),
        sa.ForeignKeyConstraint(["placed_by_id"], ["users.id"],
                                name="fk_legal_holds_placed_by_id_users"),
        sa.PrimaryKeyConstraint("id", name="pk_legal_holds"),
    )
    op.create_index("ix_legal_holds_request", "legal_holds", ["request_id"])
    op.create_table(
        "retention_erasures",
        sa.Column("request_id", sa.Uuid(), nullable=False),
        sa.Column("rule", sa.String(80), nullable=False),
        _at("closed_at"), _at("erased_at"),
        sa.ForeignKeyConstraint(["request_id"], ["requests.id"], ondelete="CASCADE",
                                name="fk_retention_erasures_request_id_requests"),
        sa.PrimaryKeyConstraint("request_id", name="pk_retention_erasures"),
    )


    # The HTTP request id (X-Request-ID) that caused a page or an outbox message, carried
    # into the worker's log lines about it.
    for table in ("pages", "transfer_outbox"):
        op.add_column(table, sa.Column("http_request_id", sa.String(64), nullable=True))


def downgrade() -> None:
    for table in ("transfer_outbox", "pages"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("http_request_id")
    op.drop_table("retention_erasures")
    op.drop_index("ix_legal_holds_request", table_name="legal_holds")
    op.drop_table("legal_holds")
    op.drop_table("audit_checkpoints")
    op.drop_table("worker_outages")
    op.drop_index("ix_worker_heartbeats_beat_at", table_name="worker_heartbeats")
    op.drop_table("worker_heartbeats")
