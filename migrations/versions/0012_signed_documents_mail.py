"""Signed PDF documents and e-mail transmission (issue #20): the authorities' signing
certificates (key encrypted), the e-mail addresses of authorities that run no instance, the
e-mail outbox written by `transmit`, and signed PDFs received with their validation.

Revision ID: 0012
Revises: 0011
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import mla.models

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('authority_mail_addresses',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('authority_id', sa.Integer(), nullable=False),
    sa.Column('address', sa.String(length=254), nullable=False),
    sa.Column('created_at', mla.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['authority_id'], ['authorities.id'], name=op.f('fk_authority_mail_addresses_authority_id_authorities')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_authority_mail_addresses')),
    sa.UniqueConstraint('authority_id', 'address', name=op.f('uq_authority_mail_addresses_authority_id'))
    )
    op.create_table('signing_certificates',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('authority_id', sa.Integer(), nullable=False),
    sa.Column('subject', sa.String(length=500), nullable=False),
    sa.Column('issuer', sa.String(length=500), nullable=False),
    sa.Column('serial', sa.String(length=80), nullable=False),
    sa.Column('fingerprint_sha256', sa.String(length=64), nullable=False),
    sa.Column('not_before', mla.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('not_after', mla.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('self_signed', sa.Boolean(), nullable=False),
    sa.Column('chain_pem', sa.Text(), nullable=False),
    sa.Column('encrypted_key', sa.Text(), nullable=False),
    sa.Column('created_at', mla.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('retired_at', mla.models.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['authority_id'], ['authorities.id'], name=op.f('fk_signing_certificates_authority_id_authorities')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_signing_certificates')),
    sa.UniqueConstraint('fingerprint_sha256', name=op.f('uq_signing_certificates_fingerprint_sha256'))
    )
    with op.batch_alter_table('signing_certificates', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_signing_certificates_authority_id'), ['authority_id'], unique=False)

    op.create_table('mail_outbox',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('message_id', sa.Uuid(), nullable=False),
    sa.Column('request_id', sa.Uuid(), nullable=False),
    sa.Column('receiver_id', sa.Integer(), nullable=False),
    sa.Column('addresses', sa.JSON(), nullable=False),
    sa.Column('subject', sa.String(length=300), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('document_filename', sa.String(length=255), nullable=False),
    sa.Column('document', sa.LargeBinary(), nullable=False),
    sa.Column('document_sha256', sa.String(length=64), nullable=False),
    sa.Column('attachments', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', mla.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_at', mla.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('sent_at', mla.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('acknowledged_at', mla.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('acknowledged_by_id', sa.Integer(), nullable=True),
    sa.Column('acknowledged_via', sa.String(length=10), nullable=True),
    sa.ForeignKeyConstraint(['acknowledged_by_id'], ['users.id'], name=op.f('fk_mail_outbox_acknowledged_by_id_users')),
    sa.ForeignKeyConstraint(['receiver_id'], ['authorities.id'], name=op.f('fk_mail_outbox_receiver_id_authorities')),
    sa.ForeignKeyConstraint(['request_id'], ['requests.id'], name=op.f('fk_mail_outbox_request_id_requests'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mail_outbox')),
    sa.UniqueConstraint('message_id', name=op.f('uq_mail_outbox_message_id'))
    )
    with op.batch_alter_table('mail_outbox', schema=None) as batch_op:
        batch_op.create_index('ix_mail_outbox_pending_due', ['next_attempt_at'], unique=False, postgresql_where=sa.text("status = 'pending'"), sqlite_where=sa.text("status = 'pending'"))
        batch_op.create_index('ix_mail_outbox_request', ['request_id'], unique=False)

    op.create_table('received_documents',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('request_id', sa.Uuid(), nullable=False),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('content', sa.LargeBinary(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('signer', sa.String(length=500), nullable=True),
    sa.Column('signed_at', mla.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('validation', sa.JSON(), nullable=False),
    sa.Column('uploaded_by_id', sa.Integer(), nullable=True),
    sa.Column('uploaded_at', mla.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['request_id'], ['requests.id'], name=op.f('fk_received_documents_request_id_requests'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['uploaded_by_id'], ['users.id'], name=op.f('fk_received_documents_uploaded_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_received_documents'))
    )
    with op.batch_alter_table('received_documents', schema=None) as batch_op:
        batch_op.create_index('ix_received_documents_request', ['request_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('received_documents', schema=None) as batch_op:
        batch_op.drop_index('ix_received_documents_request')

    op.drop_table('received_documents')
    with op.batch_alter_table('mail_outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_mail_outbox_request')
        batch_op.drop_index('ix_mail_outbox_pending_due', postgresql_where=sa.text("status = 'pending'"), sqlite_where=sa.text("status = 'pending'"))

    op.drop_table('mail_outbox')
    with op.batch_alter_table('signing_certificates', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_signing_certificates_authority_id'))

    op.drop_table('signing_certificates')
    op.drop_table('authority_mail_addresses')
