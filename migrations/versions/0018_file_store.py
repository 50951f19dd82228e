"""file store: content-addressed blobs in the database (or an S3 store), shared by every node

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-29 21:50:00

- ``blobs``: one row per distinct SHA-256 (size, where the bytes are: ``db`` or ``s3``);
- ``blob_chunks``: the bytes of a blob kept in the database, in pieces of at most 1 MiB;
- ``ix_evidence_sha256``: evidence rows by the blob they name (is a blob still referred to; verify).

Evidence files already on disk (``evidence.stored_name`` set) move in with ``registry files migrate``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('blobs',
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('size_bytes', sa.BigInteger(), nullable=False),
    sa.Column('location', sa.String(length=8), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('sha256', name=op.f('pk_blobs'))
    )
    op.create_table('blob_chunks',
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('seq', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['sha256'], ['blobs.sha256'], name=op.f('fk_blob_chunks_sha256_blobs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('sha256', 'seq', name=op.f('pk_blob_chunks'))
    )
    op.create_index('ix_evidence_sha256', 'evidence', ['sha256'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_evidence_sha256', table_name='evidence')
    op.drop_table('blob_chunks')
    op.drop_table('blobs')
