"""Releases on several nodes: `registry db upgrade` and `registry catalogue load` wait for the release
lock another process holds; `registry db check` says whether the schema is at head; loading an
unchanged catalogue again is a no-op (nothing written, no audit event)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select

from registry import create_app
from registry.audit.models import AuditEvent
from registry.cli import main
from registry.controls.catalogue import CATALOGUE_DIR, load_catalogue, load_default_catalogues
from registry.controls.models import Control
from registry.migrate import WAITING, release_lock, revisions, upgrade
from tests.conftest import TEST_AUDIT_KEY

ROOT = Path(__file__).resolve().parents[2]


def _start_cli(database_url: str, args: list[str], stderr: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "REGISTRY_ENV"}
    env.update(DATABASE_URL=database_url, AUDIT_KEY=TEST_AUDIT_KEY, SECRET_KEY="test-secret")
    return subprocess.Popen([sys.executable, "-m", "registry.cli", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=stderr.open("w"), text=True)


def _waits_for_the_lock(database_url: str, args: list[str], tmp_path: Path) -> str:
    """Hold the release lock, start the command, see it wait (its message, still running), release,
    see it finish; returns its output."""
    stderr = tmp_path / "stderr.txt"
    with release_lock(database_url, say=lambda _: pytest.fail("the test itself had to wait for the lock")):
        proc = _start_cli(database_url, args, stderr)
        try:
            deadline = time.monotonic() + 20  # the command's start-up (imports) takes a few seconds
            while WAITING not in stderr.read_text() and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
            assert WAITING in stderr.read_text(), f"it did not wait for the lock: {stderr.read_text()}"
            time.sleep(0.5)
            assert proc.poll() is None, "it went ahead while the lock was held"
        except BaseException:
            proc.kill()
            proc.wait()
            raise
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr.read_text()
    assert stderr.read_text().count(WAITING) == 1  # said once, not once per retry
    return out


@pytest.mark.parametrize(("args", "done"), [(["db", "upgrade"], "Database at head."),
                                            (["catalogue", "load"], "nist-ai-rmf-1.0")])
def test_a_release_step_waits_for_the_lock_on_sqlite(tmp_path, args, done):
    url = f"sqlite:///{tmp_path / 'shared.sqlite3'}"
    upgrade(url)
    assert done in _waits_for_the_lock(url, args, tmp_path)
    assert (tmp_path / "shared.sqlite3.release.lock").exists()


def test_db_upgrade_waits_for_the_lock_on_postgresql(app, database_url, tmp_path):
    """The worker's test database, migrated by the ``app`` fixture."""
    if not database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL only (DATABASE_URL=postgresql+psycopg://…)")
    assert "Database at head." in _waits_for_the_lock(database_url, ["db", "upgrade"], tmp_path)


def test_the_lock_is_free_again_after_an_error(app, database_url):
    with pytest.raises(RuntimeError), release_lock(database_url):
        raise RuntimeError("a migration failed")
    with release_lock(database_url, say=lambda _: pytest.fail("the lock was left held")):
        pass


@pytest.fixture
def cli(app):
    runner = app.test_cli_runner()
    return lambda *args: runner.invoke(main, list(args))


def test_db_check_passes_at_head(cli):
    result = cli("db", "check")
    assert result.exit_code == 0, result.output
    assert "Database at head (" in result.output


def test_db_check_fails_behind_head_and_on_an_empty_database(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    empty = f"sqlite:///{tmp_path / 'none.sqlite3'}"
    upgrade(url, "0016")
    head = revisions(url)[1]
    assert head != "0016"
    for target, current in ((url, "0016"), (empty, "no revision (empty)")):
        app = create_app({"DATABASE_URL": target, "TESTING": True, "SECRET_KEY": "x", "AUDIT_KEY": TEST_AUDIT_KEY})
        try:
            result = app.test_cli_runner().invoke(main, ["db", "check"])
        finally:
            app.extensions["registry.engine"].dispose()
        assert result.exit_code == 1
        assert f"Database at {current}, code at {head}" in result.output
        assert "registry db upgrade" in result.output
    assert not (tmp_path / "none.sqlite3").exists()  # checking does not create the database


def _events(session) -> int:
    return session.scalar(select(func.count(AuditEvent.id)))


def test_loading_the_catalogues_again_changes_nothing(cli, session):
    """The test database holds the default catalogues already: `registry catalogue load` is a no-op."""
    before = session.execute(select(Control.id, Control.title, Control.tiers, Control.retired)
                             .order_by(Control.id)).all()
    session.rollback()  # its transaction would hold SQLite's write lock against the command's
    for _ in range(2):
        result = cli("catalogue", "load")
        assert result.exit_code == 0, result.output
        assert "0 added, 0 updated, 0 retired" in result.output
    assert _events(session) == 0
    assert session.execute(select(Control.id, Control.title, Control.tiers, Control.retired)
                           .order_by(Control.id)).all() == before
    assert all(counts == {"added": 0, "updated": 0, "retired": 0} for _, counts in load_default_catalogues(session))
    session.rollback()


def test_a_changed_catalogue_is_loaded_and_audited_once(session, tmp_path):
    data = yaml.safe_load((CATALOGUE_DIR / "production-failure-modes.yaml").read_text(encoding="utf-8"))
    data["controls"][0]["title"] = "A reworded first control."
    changed = tmp_path / "changed.yaml"
    changed.write_text(yaml.safe_dump(data), encoding="utf-8")
    try:
        assert load_catalogue(session, None, changed)[1] == {"added": 0, "updated": 1, "retired": 0}
        assert _events(session) == 1
        assert load_catalogue(session, None, changed)[1] == {"added": 0, "updated": 0, "retired": 0}
        assert _events(session) == 1
    finally:
        session.rollback()
