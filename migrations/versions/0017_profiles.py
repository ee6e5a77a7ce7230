"""Country and authority profiles (what a requested State requires) and the competent
authorities by measure and place (mla/profiles/).

Revision ID: 0017
Revises: 0014
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import mla.models

revision: str = "0017"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Instant = mla.models.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "profiles",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("authority_id", sa.Integer(), nullable=True),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("updated_at", Instant, nullable=False),
        sa.Column("updated_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["authority_id"], ["authorities.id"],
                                name=op.f("fk_profiles_authority_id_authorities")),
        sa.ForeignKeyConstraint(["updated_by_id"], ["users.id"],
                                name=op.f("fk_profiles_updated_by_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_profiles")),
        sa.UniqueConstraint("code", name=op.f("uq_profiles_code")),
    )
    op.create_index("ix_profiles_country", "profiles", ["country"])
    op.create_table(
        "competent_authorities",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("measure", sa.String(length=80), nullable=False),
        sa.Column("area", sa.String(length=200), nullable=False),
        sa.Column("places", sa.JSON(), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("authority_code", sa.String(length=32), nullable=True),
        sa.Column("transmission", sa.String(length=10), nullable=False),
        sa.Column("contact", sa.Text(), nullable=False),
        sa.Column("languages", sa.JSON(), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_competent_authorities")),
        sa.UniqueConstraint("country", "measure", "area",
                            name="uq_competent_authorities_country_measure_area"),
    )


def downgrade() -> None:
    op.drop_table("competent_authorities")
    op.drop_index("ix_profiles_country", table_name="profiles")
    op.drop_table("profiles")
