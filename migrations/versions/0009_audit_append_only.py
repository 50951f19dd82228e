"""the audit trail and owner acknowledgements are append-only in the database itself

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29 10:35:00

As for recorded decisions (0004), triggers refuse UPDATE and DELETE on ``audit_events`` and
``decision_acknowledgements`` on SQLite and PostgreSQL; on PostgreSQL a statement trigger also
refuses TRUNCATE (row triggers do not see it).  Someone with the rights to drop a trigger can
still change the tables: the hash chain detects that (``registry audit verify``), and the README
gives a PostgreSQL role for the running app with INSERT and SELECT only on these tables.
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

TABLES = ("audit_events", "decision_acknowledgements")
MESSAGE = "the audit trail is append-only: {table} rows cannot be changed or deleted"


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for table in TABLES:
        message = MESSAGE.format(table=table)
        if postgres:
            op.execute(f"CREATE FUNCTION {table}_append_only() RETURNS trigger AS $$ BEGIN "
                       f"RAISE EXCEPTION '{message}'; END; $$ LANGUAGE plpgsql")
            for verb in ("update", "delete"):
                op.execute(f"CREATE TRIGGER {table}_no_{verb} BEFORE {verb.upper()} ON {table} "
                           f"FOR EACH ROW EXECUTE FUNCTION {table}_append_only()")
            op.execute(f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                       f"FOR EACH STATEMENT EXECUTE FUNCTION {table}_append_only()")
        else:
            for verb in ("update", "delete"):
                op.execute(f"CREATE TRIGGER {table}_no_{verb} BEFORE {verb.upper()} ON {table} "
                           f"BEGIN SELECT RAISE(ABORT, '{message}'); END")


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for table in TABLES:
        on = f" ON {table}" if postgres else ""
        for verb in ("update", "delete", "truncate"):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{verb}{on}")
        if postgres:
            op.execute(f"DROP FUNCTION IF EXISTS {table}_append_only()")
