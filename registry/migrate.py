"""Alembic, driven from code: `registry db upgrade` and the test fixtures use this; and the release
lock, which serialises `registry db upgrade` and `registry catalogue load` across nodes."""

from __future__ import annotations

import fcntl
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.pool import NullPool

from registry.config import ROOT

# The PostgreSQL advisory lock every release step takes: one fixed 64-bit key ("ReadRels" in ASCII),
# the same on every node and version, so two nodes starting together take turns.
RELEASE_LOCK_KEY = 0x5265_6164_5265_6C73
WAITING = "Waiting for another node's migration or catalogue load to finish (release lock)…"


def alembic_config(database_url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    # ConfigParser interpolation: a literal % in a password must be doubled.
    cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return cfg


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@contextmanager
def release_lock(database_url: str, *, say: Callable[[str], None] = _say) -> Iterator[None]:
    """Hold the release lock for the ``with`` block, waiting (with one message) while another process has it.

    PostgreSQL: ``pg_advisory_lock`` on a connection of its own, held open for the block (a node
    that dies mid-release drops its connection, and the lock with it).  SQLite: ``flock`` on
    ``<database file>.release.lock`` beside the database (freed by the kernel if the process dies).
    An in-memory SQLite database is private to its process and needs no lock."""
    url = make_url(database_url)
    if url.get_backend_name() == "postgresql":
        engine = create_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                if not conn.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": RELEASE_LOCK_KEY}):
                    say(WAITING)
                    conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": RELEASE_LOCK_KEY})
                try:
                    yield
                finally:
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": RELEASE_LOCK_KEY})
        finally:
            engine.dispose()
        return
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        yield
        return
    with open(f"{url.database}.release.lock", "a+b") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say(WAITING)
            fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def revisions(database_url: str) -> tuple[str | None, str | None]:
    """(the database's current revision, the code's head revision); the first is None before any migration."""
    head = ScriptDirectory.from_config(alembic_config(database_url)).get_current_head()
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:") \
            and not os.path.exists(url.database):
        return None, head  # not created by checking it
    engine = create_engine(database_url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()
    return current, head


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
