"""after the baseline: observations and drift, incidents, agent reliability, the value case, stops

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-29 18:45:59

- ``observations`` of a baseline metric (unique per metric and moment: a retried upload changes
  nothing), its ``drift_rules`` (one per metric) and the ``drift_alerts`` they open;
- ``incidents`` of a system, with severity, status and one of the eight failure modes;
- ``eval_trials`` (task, trial, passed) and the ``reliability_gates`` on pass^k;
- ``value_cases`` (value, costs, constraints, who funds the run) and ``pilot_stops``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('eval_trials',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('system_id', sa.Integer(), nullable=False),
    sa.Column('task_id', sa.String(length=200), nullable=False),
    sa.Column('trial', sa.Integer(), nullable=False),
    sa.Column('passed', sa.Boolean(), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('recorded_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['recorded_by_id'], ['users.id'], name=op.f('fk_eval_trials_recorded_by_id_users')),
    sa.ForeignKeyConstraint(['system_id'], ['ai_systems.id'], name=op.f('fk_eval_trials_system_id_ai_systems'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_eval_trials')),
    sa.UniqueConstraint('system_id', 'task_id', 'trial', name='uq_eval_trials_system_task_trial')
    )
    op.create_table('incidents',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('system_id', sa.Integer(), nullable=False),
    sa.Column('occurred_on', sa.Date(), nullable=False),
    sa.Column('severity', sa.Enum('critical', 'major', 'minor', name='severity', native_enum=False, length=32), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('affected', sa.Text(), server_default='', nullable=False),
    sa.Column('status', sa.Enum('open', 'mitigated', 'closed', name='incidentstatus', native_enum=False, length=32), nullable=False),
    sa.Column('failure_mode', sa.Enum('hallucination', 'prompt_injection', 'context_window', 'non_determinism', 'cost_latency', 'bias_fairness', 'privacy_leakage', 'multi_step_reasoning', 'other', name='failuremode', native_enum=False, length=32), nullable=True),
    sa.Column('root_cause', sa.Text(), server_default='', nullable=False),
    sa.Column('lessons', sa.Text(), server_default='', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_incidents_created_by_id_users')),
    sa.ForeignKeyConstraint(['system_id'], ['ai_systems.id'], name=op.f('fk_incidents_system_id_ai_systems'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_incidents'))
    )
    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.create_index('ix_incidents_system_status', ['system_id', 'status', 'severity'], unique=False)

    op.create_table('pilot_stops',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('system_id', sa.Integer(), nullable=False),
    sa.Column('reason', sa.Enum('data_quality', 'costs_above_value', 'adoption', 'performance', 'other', name='stopreason', native_enum=False, length=32), nullable=False),
    sa.Column('note', sa.Text(), server_default='', nullable=False),
    sa.Column('lessons', sa.Text(), nullable=False),
    sa.Column('stage_before', sa.Enum('idea', 'pilot', 'production', 'retired', 'unknown', name='stage', native_enum=False, length=32), nullable=False),
    sa.Column('stopped_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('stopped_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['stopped_by_id'], ['users.id'], name=op.f('fk_pilot_stops_stopped_by_id_users')),
    sa.ForeignKeyConstraint(['system_id'], ['ai_systems.id'], name=op.f('fk_pilot_stops_system_id_ai_systems'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pilot_stops'))
    )
    with op.batch_alter_table('pilot_stops', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pilot_stops_system_id'), ['system_id'], unique=False)

    op.create_table('reliability_gates',
    sa.Column('system_id', sa.Integer(), nullable=False),
    sa.Column('k', sa.Integer(), nullable=True),
    sa.Column('threshold', sa.Float(), nullable=True),
    sa.Column('step_rates', sa.JSON(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['system_id'], ['ai_systems.id'], name=op.f('fk_reliability_gates_system_id_ai_systems'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['updated_by_id'], ['users.id'], name=op.f('fk_reliability_gates_updated_by_id_users')),
    sa.PrimaryKeyConstraint('system_id', name=op.f('pk_reliability_gates'))
    )
    op.create_table('value_cases',
    sa.Column('system_id', sa.Integer(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('expected_annual_value', sa.Float(), nullable=True),
    sa.Column('value_basis', sa.Text(), server_default='', nullable=False),
    sa.Column('one_off_cost', sa.Float(), nullable=True),
    sa.Column('annual_run_cost', sa.Float(), nullable=True),
    sa.Column('annual_maintenance_cost', sa.Float(), nullable=True),
    sa.Column('maintenance_team', sa.String(length=300), server_default='', nullable=False),
    sa.Column('run_funded_by', sa.String(length=300), server_default='', nullable=False),
    sa.Column('latency', sa.String(length=300), server_default='', nullable=False),
    sa.Column('volume', sa.String(length=300), server_default='', nullable=False),
    sa.Column('availability', sa.String(length=300), server_default='', nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_by_id', sa.Integer(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['system_id'], ['ai_systems.id'], name=op.f('fk_value_cases_system_id_ai_systems'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['updated_by_id'], ['users.id'], name=op.f('fk_value_cases_updated_by_id_users')),
    sa.PrimaryKeyConstraint('system_id', name=op.f('pk_value_cases'))
    )
    op.create_table('drift_alerts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('metric_id', sa.Integer(), nullable=False),
    sa.Column('system_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.Enum('open', 'resolved', name='alertstatus', native_enum=False, length=32), nullable=False),
    sa.Column('opened_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('breaches', sa.Integer(), nullable=False),
    sa.Column('last_value', sa.Float(), nullable=False),
    sa.Column('last_observed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('summary', sa.String(length=500), nullable=False),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resolved_by_id', sa.Integer(), nullable=True),
    sa.Column('resolution_note', sa.Text(), server_default='', nullable=False),
    sa.ForeignKeyConstraint(['metric_id'], ['baseline_metrics.id'], name=op.f('fk_drift_alerts_metric_id_baseline_metrics'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['resolved_by_id'], ['users.id'], name=op.f('fk_drift_alerts_resolved_by_id_users')),
    sa.ForeignKeyConstraint(['system_id'], ['ai_systems.id'], name=op.f('fk_drift_alerts_system_id_ai_systems'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_drift_alerts'))
    )
    with op.batch_alter_table('drift_alerts', schema=None) as batch_op:
        batch_op.create_index('ix_drift_alerts_metric_status', ['metric_id', 'status'], unique=False)
        batch_op.create_index('ix_drift_alerts_system_status', ['system_id', 'status'], unique=False)

    op.create_table('drift_rules',
    sa.Column('metric_id', sa.Integer(), nullable=False),
    sa.Column('system_id', sa.Integer(), nullable=False),
    sa.Column('reference', sa.Enum('baseline', 'target', name='driftreference', native_enum=False, length=32), nullable=False),
    sa.Column('band_kind', sa.Enum('absolute', 'relative', name='bandkind', native_enum=False, length=32), nullable=False),
    sa.Column('below', sa.Float(), nullable=True),
    sa.Column('above', sa.Float(), nullable=True),
    sa.Column('min_observations', sa.Integer(), nullable=False),
    sa.Column('consecutive', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['metric_id'], ['baseline_metrics.id'], name=op.f('fk_drift_rules_metric_id_baseline_metrics'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['system_id'], ['ai_systems.id'], name=op.f('fk_drift_rules_system_id_ai_systems'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['updated_by_id'], ['users.id'], name=op.f('fk_drift_rules_updated_by_id_users')),
    sa.PrimaryKeyConstraint('metric_id', name=op.f('pk_drift_rules'))
    )
    with op.batch_alter_table('drift_rules', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_drift_rules_system_id'), ['system_id'], unique=False)

    op.create_table('observations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('metric_id', sa.Integer(), nullable=False),
    sa.Column('system_id', sa.Integer(), nullable=False),
    sa.Column('observed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('value', sa.Float(), nullable=False),
    sa.Column('note', sa.String(length=500), server_default='', nullable=False),
    sa.Column('source', sa.Enum('form', 'csv', 'api', 'demo', name='observationsource', native_enum=False, length=32), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('recorded_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['metric_id'], ['baseline_metrics.id'], name=op.f('fk_observations_metric_id_baseline_metrics'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['recorded_by_id'], ['users.id'], name=op.f('fk_observations_recorded_by_id_users')),
    sa.ForeignKeyConstraint(['system_id'], ['ai_systems.id'], name=op.f('fk_observations_system_id_ai_systems'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_observations')),
    sa.UniqueConstraint('metric_id', 'observed_at', name='uq_observations_metric_at')
    )
    with op.batch_alter_table('observations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_observations_system_id'), ['system_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('observations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_observations_system_id'))

    op.drop_table('observations')
    with op.batch_alter_table('drift_rules', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_drift_rules_system_id'))

    op.drop_table('drift_rules')
    with op.batch_alter_table('drift_alerts', schema=None) as batch_op:
        batch_op.drop_index('ix_drift_alerts_system_status')
        batch_op.drop_index('ix_drift_alerts_metric_status')

    op.drop_table('drift_alerts')
    op.drop_table('value_cases')
    op.drop_table('reliability_gates')
    with op.batch_alter_table('pilot_stops', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pilot_stops_system_id'))

    op.drop_table('pilot_stops')
    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.drop_index('ix_incidents_system_status')

    op.drop_table('incidents')
    op.drop_table('eval_trials')
