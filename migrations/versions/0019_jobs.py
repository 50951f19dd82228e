"""jobs: heartbeats, stored results and retention (issue 17)

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-29 21:50:01

- ``export_jobs`` (every long job: audit-PDF ZIPs, inventory workbooks, portfolio rebuilds) gains
  its ``kind``, a requester that may be the command line (``requested_by_id`` NULL), the words of its current step (``progress``), a ``result``, ``started_at`` and
  ``heartbeat_at`` (a running job that stops beating is marked failed), the stored file
  (``blob_sha256``, cleared when the retention period removes it) and ``expired_at``;
- ``staged_imports``: uploaded inventory files between their preview and their commit (the bytes
  in the file store), so that any node previews or commits them; they replaced ``IMPORT_DIR``.

Export ZIPs written to ``EXPORT_DIR`` before this revision are not moved: their jobs are marked
expired (the page says the file is no longer kept; a new export makes it again).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import registry.db

revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('export_jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('kind', sa.String(length=24), server_default='audit_pdfs', nullable=False))
        batch_op.add_column(sa.Column('progress', sa.String(length=200), server_default='', nullable=False))
        batch_op.add_column(sa.Column('result', sa.JSON(), server_default='{}', nullable=False))
        batch_op.add_column(sa.Column('blob_sha256', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('started_at', registry.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('heartbeat_at', registry.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('expired_at', registry.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.alter_column('size_bytes', existing_type=sa.Integer(), type_=sa.BigInteger(), existing_nullable=True)
        batch_op.alter_column('requested_by_id', existing_type=sa.Integer(), nullable=True)
        batch_op.create_foreign_key(batch_op.f('fk_export_jobs_blob_sha256_blobs'), 'blobs', ['blob_sha256'], ['sha256'])
        batch_op.create_index(batch_op.f('ix_export_jobs_blob_sha256'), ['blob_sha256'], unique=False)
        batch_op.create_index('ix_export_jobs_status', ['status'], unique=False)
    # ZIPs on one node's disk are not where any other node looks: those jobs end as expired.
    op.execute("UPDATE export_jobs SET status = 'expired', expired_at = finished_at WHERE status = 'done'")
    op.execute("UPDATE export_jobs SET status = 'failed', error = 'The export stopped when the registry was upgraded.' "
               "WHERE status IN ('queued', 'running')")

    op.create_table('staged_imports',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('file_name', sa.String(length=255), nullable=False),
    sa.Column('size_bytes', sa.BigInteger(), nullable=False),
    sa.Column('upload_sha256', sa.String(length=64), nullable=True),
    sa.Column('mapping', sa.JSON(), nullable=True),
    sa.Column('layout', sa.String(length=120), nullable=True),
    sa.Column('save_as', sa.String(length=120), nullable=True),
    sa.Column('sheet', sa.String(length=255), nullable=True),
    sa.Column('only_valid', sa.Boolean(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('backend', sa.String(length=16), server_default='', nullable=False),
    sa.Column('progress', sa.String(length=200), server_default='', nullable=False),
    sa.Column('step', sa.Integer(), nullable=False),
    sa.Column('rows', sa.Integer(), nullable=False),
    sa.Column('result', sa.JSON(), nullable=False),
    sa.Column('error', sa.Text(), server_default='', nullable=False),
    sa.Column('report_sha256', sa.String(length=64), nullable=True),
    sa.Column('created_at', registry.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('queued_at', registry.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('started_at', registry.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('heartbeat_at', registry.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('finished_at', registry.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['report_sha256'], ['blobs.sha256'], name=op.f('fk_staged_imports_report_sha256_blobs')),
    sa.ForeignKeyConstraint(['upload_sha256'], ['blobs.sha256'], name=op.f('fk_staged_imports_upload_sha256_blobs')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_staged_imports_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_staged_imports'))
    )
    with op.batch_alter_table('staged_imports', schema=None) as batch_op:
        batch_op.create_index('ix_staged_imports_created', ['created_at'], unique=False)
        batch_op.create_index('ix_staged_imports_status', ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_staged_imports_report_sha256'), ['report_sha256'], unique=False)
        batch_op.create_index(batch_op.f('ix_staged_imports_upload_sha256'), ['upload_sha256'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('staged_imports', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_staged_imports_upload_sha256'))
        batch_op.drop_index(batch_op.f('ix_staged_imports_report_sha256'))
        batch_op.drop_index('ix_staged_imports_status')
        batch_op.drop_index('ix_staged_imports_created')
    op.drop_table('staged_imports')
    # Jobs of the new kinds have no place in the old table; their stored files stay in the store.
    op.execute("DELETE FROM export_jobs WHERE kind <> 'audit_pdfs' OR requested_by_id IS NULL")
    op.execute("UPDATE export_jobs SET status = 'failed', error = 'The file was removed after the retention period.' "
               "WHERE status = 'expired'")
    with op.batch_alter_table('export_jobs', schema=None) as batch_op:
        batch_op.drop_index('ix_export_jobs_status')
        batch_op.drop_index(batch_op.f('ix_export_jobs_blob_sha256'))
        batch_op.drop_constraint(batch_op.f('fk_export_jobs_blob_sha256_blobs'), type_='foreignkey')
        batch_op.alter_column('size_bytes', existing_type=sa.BigInteger(), type_=sa.Integer(), existing_nullable=True)
        batch_op.alter_column('requested_by_id', existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column('expired_at')
        batch_op.drop_column('heartbeat_at')
        batch_op.drop_column('started_at')
        batch_op.drop_column('blob_sha256')
        batch_op.drop_column('result')
        batch_op.drop_column('progress')
        batch_op.drop_column('kind')
