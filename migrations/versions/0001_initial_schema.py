"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-22 03:01:40.378459
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table('login_failures',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('address', sa.String(length=64), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_login_failures'))
    )
    with op.batch_alter_table('login_failures', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_login_failures_address'), ['address'], unique=False)
        batch_op.create_index(batch_op.f('ix_login_failures_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_login_failures_email'), ['email'], unique=False)

    op.create_table('users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('role', sa.Enum('admin', 'compliance', 'owner', 'executive', name='role', native_enum=False, length=20), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('session_epoch', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_login_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('email', name=op.f('uq_users_email'))
    )
    op.create_table('ai_systems',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('purpose', sa.Text(), nullable=False),
    sa.Column('business_process', sa.String(length=300), nullable=False),
    sa.Column('business_unit', sa.String(length=120), nullable=False),
    sa.Column('accountable_owner_id', sa.Integer(), nullable=False),
    sa.Column('technical_owner_id', sa.Integer(), nullable=True),
    sa.Column('sourcing', sa.Enum('in_house', 'vendor', name='sourcing', native_enum=False, length=32), nullable=False),
    sa.Column('vendor_name', sa.String(length=200), nullable=True),
    sa.Column('kind', sa.Enum('predictive_model', 'generative_assistant', 'agent', 'optimiser', 'perception', 'other', name='kind', native_enum=False, length=32), nullable=False),
    sa.Column('stage', sa.Enum('idea', 'pilot', 'production', 'retired', name='stage', native_enum=False, length=32), nullable=False),
    sa.Column('affects', sa.JSON(), nullable=False),
    sa.Column('decisions_influenced', sa.Text(), nullable=False),
    sa.Column('autonomy', sa.Enum('human_in_the_loop', 'human_on_the_loop', 'fully_automated', name='autonomy', native_enum=False, length=32), nullable=False),
    sa.Column('risk_answers', sa.JSON(), nullable=False),
    sa.Column('computed_tier', sa.Enum('low', 'medium', 'high', 'unacceptable', name='tier', native_enum=False, length=32), nullable=False),
    sa.Column('tier_reasons', sa.JSON(), nullable=False),
    sa.Column('tier', sa.Enum('low', 'medium', 'high', 'unacceptable', name='tier', native_enum=False, length=32), nullable=False),
    sa.Column('tier_override', sa.Enum('low', 'medium', 'high', 'unacceptable', name='tier', native_enum=False, length=32), nullable=True),
    sa.Column('tier_override_reason', sa.Text(), nullable=True),
    sa.Column('tier_override_by_id', sa.Integer(), nullable=True),
    sa.Column('tier_override_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['accountable_owner_id'], ['users.id'], name=op.f('fk_ai_systems_accountable_owner_id_users')),
    sa.ForeignKeyConstraint(['technical_owner_id'], ['users.id'], name=op.f('fk_ai_systems_technical_owner_id_users')),
    sa.ForeignKeyConstraint(['tier_override_by_id'], ['users.id'], name=op.f('fk_ai_systems_tier_override_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ai_systems'))
    )
    with op.batch_alter_table('ai_systems', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ai_systems_accountable_owner_id'), ['accountable_owner_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ai_systems_business_unit'), ['business_unit'], unique=False)
        batch_op.create_index(batch_op.f('ix_ai_systems_kind'), ['kind'], unique=False)
        batch_op.create_index(batch_op.f('ix_ai_systems_name'), ['name'], unique=False)
        batch_op.create_index(batch_op.f('ix_ai_systems_stage'), ['stage'], unique=False)
        batch_op.create_index(batch_op.f('ix_ai_systems_technical_owner_id'), ['technical_owner_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ai_systems_tier'), ['tier'], unique=False)
        batch_op.create_index('ix_ai_systems_tier_stage', ['tier', 'stage'], unique=False)
        batch_op.create_index('ix_ai_systems_updated_at', ['updated_at'], unique=False)

    op.create_table('audit_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('actor_label', sa.String(length=300), nullable=False),
    sa.Column('action', sa.String(length=60), nullable=False),
    sa.Column('entity_type', sa.String(length=40), nullable=False),
    sa.Column('entity_id', sa.String(length=64), nullable=True),
    sa.Column('system_id', sa.Integer(), nullable=True),
    sa.Column('summary', sa.String(length=500), nullable=False),
    sa.Column('before', sa.JSON(), nullable=True),
    sa.Column('after', sa.JSON(), nullable=True),
    sa.Column('address', sa.String(length=64), nullable=True),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_audit_events_actor_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_events')),
    sa.UniqueConstraint('seq', name=op.f('uq_audit_events_seq'))
    )
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_events_action'), ['action'], unique=False)
        batch_op.create_index('ix_audit_events_entity', ['entity_type', 'entity_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_events_system_id'), ['system_id'], unique=False)

    op.create_table('baseline_metrics',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('system_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('unit', sa.String(length=40), nullable=False),
    sa.Column('baseline_value', sa.Float(), nullable=True),
    sa.Column('measured_on', sa.Date(), nullable=True),
    sa.Column('source', sa.String(length=300), nullable=False),
    sa.Column('target_value', sa.Float(), nullable=True),
    sa.Column('direction', sa.Enum('higher', 'lower', name='metricdirection', native_enum=False, length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['system_id'], ['ai_systems.id'], name=op.f('fk_baseline_metrics_system_id_ai_systems'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_baseline_metrics'))
    )
    with op.batch_alter_table('baseline_metrics', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_baseline_metrics_system_id'), ['system_id'], unique=False)

    op.create_table('system_data_categories',
    sa.Column('system_id', sa.Integer(), nullable=False),
    sa.Column('category', sa.Enum('personal', 'health', 'financial', 'biometric', 'children', 'confidential_business', 'public', name='datacategory', native_enum=False, length=32), nullable=False),
    sa.ForeignKeyConstraint(['system_id'], ['ai_systems.id'], name=op.f('fk_system_data_categories_system_id_ai_systems'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('system_id', 'category', name=op.f('pk_system_data_categories'))
    )
    with op.batch_alter_table('system_data_categories', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_system_data_categories_category'), ['category'], unique=False)




def downgrade() -> None:

    with op.batch_alter_table('system_data_categories', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_system_data_categories_category'))

    op.drop_table('system_data_categories')
    with op.batch_alter_table('baseline_metrics', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_baseline_metrics_system_id'))

    op.drop_table('baseline_metrics')
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_events_system_id'))
        batch_op.drop_index('ix_audit_events_entity')
        batch_op.drop_index(batch_op.f('ix_audit_events_action'))

    op.drop_table('audit_events')
    with op.batch_alter_table('ai_systems', schema=None) as batch_op:
        batch_op.drop_index('ix_ai_systems_updated_at')
        batch_op.drop_index('ix_ai_systems_tier_stage')
        batch_op.drop_index(batch_op.f('ix_ai_systems_tier'))
        batch_op.drop_index(batch_op.f('ix_ai_systems_technical_owner_id'))
        batch_op.drop_index(batch_op.f('ix_ai_systems_stage'))
        batch_op.drop_index(batch_op.f('ix_ai_systems_name'))
        batch_op.drop_index(batch_op.f('ix_ai_systems_kind'))
        batch_op.drop_index(batch_op.f('ix_ai_systems_business_unit'))
        batch_op.drop_index(batch_op.f('ix_ai_systems_accountable_owner_id'))

    op.drop_table('ai_systems')
    op.drop_table('users')
    with op.batch_alter_table('login_failures', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_login_failures_email'))
        batch_op.drop_index(batch_op.f('ix_login_failures_at'))
        batch_op.drop_index(batch_op.f('ix_login_failures_address'))

    op.drop_table('login_failures')

