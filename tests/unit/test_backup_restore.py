"""A backup is one database dump (evidence files are in the database's file store): dump, restore into
a fresh database, and the restored registry passes ``registry db check``, ``registry audit verify``
and ``registry files verify``, with every evidence file's bytes hashing to its recorded SHA-256.
The procedure is docs/backup.md's: ``pg_dump -Fc`` / ``pg_restore`` on PostgreSQL, SQLite's online
backup API (what the ``.backup`` command uses) on SQLite."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import create_engine, make_url, select, text
from sqlalchemy.pool import NullPool

from registry import create_app
from registry.audit.models import AuditEvent
from registry.cli import main
from registry.controls.evidence_store import evidence_store
from registry.controls.models import Evidence
from registry.controls.services import add_evidence, control_rows
from registry.decisions.models import Decision
from registry.decisions.services import record_decision
from registry.enums import EvidenceKind
from registry.files.store import CHUNK_BYTES, FileStore
from tests.conftest import TEST_AUDIT_KEY, make_system


def _registry_with_evidence(session, people) -> dict[int, bytes]:
    """A system with two evidence files (one over a chunk) and a decision, all through the services."""
    system = make_system(session, people["owner"])
    controls = [r.control for r in control_rows(session, system) if r.required][:2]
    files = {"model-card.pdf": b"%PDF-1.4\n" + os.urandom(CHUNK_BYTES + 4321), "notes.txt": "Prüfbericht ✓\n".encode()}
    saved = {}
    for control, (name, data) in zip(controls, files.items(), strict=True):
        stored = evidence_store(session).save(session, io.BytesIO(data), name)
        evidence = add_evidence(session, people["owner"], system.id, control.id, {"description": name}, stored=stored)
        saved[evidence.id] = data
    record_decision(session, people["compliance"], system.id, {"verdict": "no_go", "rationale": "Not ready yet."})
    session.commit()
    assert session.scalar(select(Decision.id)) and session.scalar(select(AuditEvent.id))
    session.commit()
    return saved


def _check_restored(app, url: str, saved: dict[int, bytes], events: int) -> None:
    restored = create_app({**{k: app.config[k] for k in ("EVIDENCE_DIR", "EXPORT_DIR", "IMPORT_DIR")},
                           "DATABASE_URL": url, "TESTING": True, "SECRET_KEY": "restore-test", "REDIS_URL": None,
                           "AUDIT_KEY": TEST_AUDIT_KEY})
    try:
        runner = restored.test_cli_runner()
        for command in (["db", "check"], ["audit", "verify"], ["files", "verify"]):
            result = runner.invoke(main, command)
            assert result.exit_code == 0, (command, result.output)
        assert f"Audit chain intact: {events} events" in runner.invoke(main, ["audit", "verify"]).output
        assert "2 in the store, 0 missing" in runner.invoke(main, ["files", "verify"]).output
        with restored.extensions["registry.sessions"][1]() as session:
            rows = session.scalars(select(Evidence).where(Evidence.kind == EvidenceKind.FILE)).all()
            assert {r.id for r in rows} == set(saved)
            for row in rows:
                data = FileStore().read(session, row.sha256)
                assert hashlib.sha256(data).hexdigest() == row.sha256 and data == saved[row.id]
        # the audit key is kept outside the database: restored under another key, the signatures fail
        other = create_app({**restored.config, "AUDIT_KEY": "another-key-0123456789abcdef0123456789abcdef"})
        try:
            assert other.test_cli_runner().invoke(main, ["audit", "verify"]).exit_code == 1
        finally:
            other.extensions["registry.engine"].dispose()
    finally:
        restored.extensions["registry.engine"].dispose()


def _audit_events(session) -> int:
    count = len(session.scalars(select(AuditEvent.id)).all())
    session.commit()
    return count


def test_a_postgresql_dump_restores_into_a_registry_that_verifies(app, session, people, database_url, tmp_path):
    if session.get_bind().dialect.name != "postgresql":
        pytest.skip("PostgreSQL only (pg_dump -Fc / pg_restore); the SQLite variant is the next test")
    tools = [shutil.which("pg_dump"), shutil.which("pg_restore")]
    if None in tools:
        if os.environ.get("CI"):
            pytest.fail("pg_dump and pg_restore must be on PATH in CI")
        pytest.skip("pg_dump or pg_restore is not on PATH (install postgresql-client 15)")
    saved = _registry_with_evidence(session, people)
    events = _audit_events(session)
    source = make_url(database_url)
    target = f"{source.database}_restored"
    connect = ["-h", source.host or "127.0.0.1", "-p", str(source.port or 5432), "-U", source.username or "postgres"]
    env = {**os.environ, **({"PGPASSWORD": source.password} if source.password else {})}
    dump = tmp_path / "registry.dump"
    subprocess.run([tools[0], "-Fc", *connect, "-d", source.database, "-f", str(dump)], check=True, env=env,
                   capture_output=True)
    admin = create_engine(source.set(database="postgres", query={}), isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{target}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{target}"'))
        subprocess.run([tools[1], "--no-owner", "--exit-on-error", *connect, "-d", target, str(dump)], check=True,
                       env=env, capture_output=True)
        _check_restored(app, source.set(database=target).render_as_string(hide_password=False), saved, events)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{target}" WITH (FORCE)'))
        admin.dispose()


def test_a_sqlite_online_backup_restores_into_a_registry_that_verifies(app, session, people, database_url, tmp_path):
    if session.get_bind().dialect.name != "sqlite":
        pytest.skip("SQLite only (the online backup API); PostgreSQL's dump and restore is the test above")
    saved = _registry_with_evidence(session, people)
    events = _audit_events(session)
    backup = tmp_path / "registry-backup.sqlite3"
    source, target = sqlite3.connect(make_url(database_url).database), sqlite3.connect(backup)
    try:
        source.backup(target)  # what `sqlite3 registry.sqlite3 ".backup …"` does, safe while the app runs
    finally:
        target.close()
        source.close()
    assert Path(backup).stat().st_size > CHUNK_BYTES
    _check_restored(app, f"sqlite:///{backup}", saved, events)
