"""Test databases: built once per run, copied per test that needs them, one per pytest-xdist worker.

Two templates are built at most once per run (the first worker that needs one builds it, under a
file lock; the others wait and copy it):

- ``base``: migrated by Alembic, with the default control catalogues (their audit events removed);
- ``demo``: ``base`` plus ``load_demo`` (only when a test asks for the ``demo_portfolio`` fixture),
  with its evidence files in a folder of their own.

Each worker has its own database: a SQLite file in the worker's temporary folder, or on
PostgreSQL the database ``<name>_<worker>`` (``test_gw0``, ``test_gw1``, ``test_serial`` without
xdist) next to the one DATABASE_URL names, created from the maintenance database ``postgres``.
Templates are ``<name>_tpl_base`` and ``<name>_tpl_demo``; a copy is ``CREATE DATABASE … TEMPLATE``.
On SQLite a copy is SQLite's online backup of the file.  Concurrent runs against the same
PostgreSQL database name are not supported (as before: the suite always owned that database).

After each test the worker's database is emptied (every table but the catalogues: DELETE on
SQLite, TRUNCATE on PostgreSQL); the catalogues are checked and the base template copied back if
a test left them changed.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, make_url, text
from sqlalchemy.pool import NullPool

from registry.db import Base
from registry.migrate import upgrade

CATALOGUE_TABLES = ("frameworks", "controls")
# Recorded decisions, the audit trail and acknowledgements refuse UPDATE and DELETE (triggers,
# migrations 0004 and 0009): lifted while emptying a test database, and by ``tampering`` for
# the tests that play an attacker with the rights to drop a trigger.
SQLITE_GUARDS = {
    f"{table}_no_{verb}": (f"CREATE TRIGGER {table}_no_{verb} BEFORE {verb.upper()} ON {table} BEGIN SELECT "
                           f"RAISE(ABORT, '{message}'); END")
    for table, message in (
        ("decisions", "recorded decisions cannot be changed or deleted"),
        ("audit_events", "the audit trail is append-only: audit_events rows cannot be changed or deleted"),
        ("decision_acknowledgements", "the audit trail is append-only: decision_acknowledgements rows cannot be "
                                      "changed or deleted"),
        ("audit_checkpoints", "the audit trail is append-only: audit_checkpoints rows cannot be changed or deleted"))
    for verb in ("update", "delete")
}


@contextmanager
def tampering(session) -> Iterator[None]:
    """Lift the append-only triggers for the rest of ``session``'s transaction, as an attacker with
    write access to the database could (SQLite: dropped, then put back; PostgreSQL: replica mode)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL session_replication_role = replica"))
        yield
        return
    for name in SQLITE_GUARDS:
        session.execute(text(f"DROP TRIGGER IF EXISTS {name}"))
    try:
        yield
    finally:
        for sql in SQLITE_GUARDS.values():
            session.execute(text(sql))


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    with path.open("a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def worker_id() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER") or "serial"


class WorkerDatabases:
    """The worker's database and the run's templates; ``engine`` is the app's (disposed before copies)."""

    def __init__(self, shared_dir: Path, own_dir: Path):
        self.shared_dir = shared_dir
        self.own_dir = own_dir
        self.engine = None
        self.catalogue_fingerprint: tuple | None = None
        self.tables = [t for t in Base.metadata.sorted_tables if t.name not in CATALOGUE_TABLES]

    # -- backend specifics (overridden) ----------------------------------------------------
    url: str

    def create_empty(self) -> None:
        raise NotImplementedError

    def copy_into_own(self, template: str) -> None:
        raise NotImplementedError

    def save_own_as(self, template: str) -> None:
        raise NotImplementedError

    def _empty(self, conn) -> None:
        raise NotImplementedError

    # -- shared logic ------------------------------------------------------------------------
    def bind(self, engine) -> None:
        self.engine = engine

    def _release(self) -> None:
        """Close the app's pooled connections (a copy replaces the database under them)."""
        if self.engine is not None:
            self.engine.dispose()

    def _template(self, name: str, build: Callable[[], dict]) -> dict:
        """Copy template ``name`` into this worker's database, building it first if no worker has yet."""
        marker = self.shared_dir / f"template-{name}.json"
        with file_lock(self.shared_dir / f"template-{name}.lock"):
            self._release()
            if marker.exists():
                self.copy_into_own(name)
                return json.loads(marker.read_text(encoding="utf-8"))
            info = build()
            self._release()
            self.save_own_as(name)
            marker.write_text(json.dumps(info), encoding="utf-8")
            return info

    def start(self, build_base: Callable[[], dict]) -> None:
        """At the start of the worker's session: its database, a copy of the base template."""
        def build() -> dict:
            self._release()
            self.create_empty()
            upgrade(self.url)
            return build_base()

        self._template("base", build)
        self.catalogue_fingerprint = self._catalogue_fingerprint()

    def restore_base(self) -> None:
        self.copy_into_own("base")

    def restore_demo(self, build_demo: Callable[[Path], dict]) -> tuple[dict, Path]:
        """Replace the worker's database with the demo portfolio; returns (load_demo's counts, evidence dir)."""
        evidence = self.shared_dir / "demo-evidence"

        def build() -> dict:
            self.copy_into_own("base")
            if evidence.exists():
                shutil.rmtree(evidence)
            evidence.mkdir()
            return build_demo(evidence)

        return self._template("demo", build), evidence

    def _catalogue_fingerprint(self) -> tuple:
        with self.engine.connect() as conn:
            return tuple(conn.execute(text(
                "SELECT (SELECT count(*) FROM frameworks), (SELECT max(id) FROM frameworks), "
                "(SELECT count(*) FROM controls), (SELECT max(id) FROM controls)")).one())

    def empty(self) -> None:
        """Every table but the catalogues emptied (ids start again at 1); catalogues as built."""
        with self.engine.begin() as conn:
            self._empty(conn)
        if self._catalogue_fingerprint() != self.catalogue_fingerprint:
            self.restore_base()


class SQLiteDatabases(WorkerDatabases):
    def __init__(self, shared_dir: Path, own_dir: Path):
        super().__init__(shared_dir, own_dir)
        self.path = own_dir / "test.sqlite3"
        self.url = f"sqlite:///{self.path}"

    def _template_path(self, name: str) -> Path:
        return self.shared_dir / f"template-{name}.sqlite3"

    def _remove(self, path: Path) -> None:
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)

    @staticmethod
    def _backup(source: Path, target: Path) -> None:
        src, dst = sqlite3.connect(source), sqlite3.connect(target)
        try:
            src.backup(dst)
        finally:
            dst.close()
            src.close()

    def create_empty(self) -> None:
        self._remove(self.path)

    def copy_into_own(self, template: str) -> None:
        self._release()
        self._remove(self.path)
        self._backup(self._template_path(template), self.path)

    def save_own_as(self, template: str) -> None:
        target = self._template_path(template)
        self._remove(target)
        self._backup(self.path, target)

    def _empty(self, conn) -> None:
        for name in SQLITE_GUARDS:
            conn.execute(text(f"DROP TRIGGER IF EXISTS {name}"))
        for table in reversed(self.tables):
            conn.execute(table.delete())
        for sql in SQLITE_GUARDS.values():
            conn.execute(text(sql))


class PostgresDatabases(WorkerDatabases):
    def __init__(self, shared_dir: Path, own_dir: Path, database_url: str):
        super().__init__(shared_dir, own_dir)
        url = make_url(database_url)
        self.prefix = url.database
        self.own = f"{self.prefix}_{worker_id()}"
        # Test databases need no durability: commits do not wait for the disk (a per-session setting).
        self.url = url.set(database=self.own).update_query_dict(
            {"options": "-c synchronous_commit=off"}).render_as_string(hide_password=False)
        self.admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT", poolclass=NullPool)

    def _name(self, template: str) -> str:
        return f"{self.prefix}_tpl_{template}"

    def _create(self, name: str, template: str | None = None) -> None:
        with self.admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            if template:
                conn.execute(text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :t AND pid <> pg_backend_pid()"),
                    {"t": template})
                conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
            else:
                conn.execute(text(f'CREATE DATABASE "{name}"'))

    def create_empty(self) -> None:
        self._create(self.own)

    def copy_into_own(self, template: str) -> None:
        self._release()
        self._create(self.own, self._name(template))

    def save_own_as(self, template: str) -> None:
        self._create(self._name(template), self.own)

    def _empty(self, conn) -> None:
        # TRUNCATE, not DELETE: a fresh heap returns rows in insertion order, which some tests'
        # unordered reads rely on (DELETE is faster, but later inserts then land anywhere).
        names = ", ".join(f'"{t.name}"' for t in self.tables)
        conn.execute(text("SET LOCAL session_replication_role = replica"))  # past the append-only triggers
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))

    def close(self) -> None:
        self.admin.dispose()


def databases_for(shared_dir: Path, own_dir: Path) -> WorkerDatabases:
    url = os.environ.get("DATABASE_URL")
    if url and url.startswith("postgresql"):
        return PostgresDatabases(shared_dir, own_dir, url)
    return SQLiteDatabases(shared_dir, own_dir)
