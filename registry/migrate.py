"""Alembic, driven from code: `registry db upgrade` and the test fixtures use this."""

from __future__ import annotations

import os

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, text

from registry.config import ROOT


def alembic_config(database_url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    # ConfigParser interpolation: a literal % in a password must be doubled.
    cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return cfg


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str) -> None:
    command.downgrade(alembic_config(database_url), revision)


def revision(database_url: str, message: str) -> None:
    command.revision(alembic_config(database_url), message=message, autogenerate=True)


def fresh_database(sqlite_path: str) -> str:
    """A newly migrated, empty database for tests and benchmarks.

    With DATABASE_URL pointing at PostgreSQL, that database's public schema is dropped and
    rebuilt; otherwise a SQLite file at ``sqlite_path`` is used.  Returns the URL.
    """
    url = os.environ.get("DATABASE_URL")
    if url and url.startswith("postgresql"):
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        engine.dispose()
    else:
        url = f"sqlite:///{sqlite_path}"
    upgrade(url)
    return url
