"""The `registry` console command, run through Click's runner against the test database."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, update

from registry.audit.models import AuditEvent
from registry.auth.models import User
from registry.cli import main
from registry.inventory.models import AISystem
from tests.databases import tampering


@pytest.fixture
def cli(app):
    runner = app.test_cli_runner()

    def invoke(*args, input=None):
        return runner.invoke(main, list(args), input=input)

    return invoke


def test_users_create_reads_password_from_stdin(cli, session):
    result = cli("users", "create", "--email", "Nia@Example.test", "--name", "Nia Obi", "--role", "compliance",
                 "--password-stdin", input="a long enough passphrase\n")
    assert result.exit_code == 0, result.output
    assert "Created nia@example.test (Compliance officer)" in result.output
    user = session.scalar(select(User).where(User.email == "nia@example.test"))
    assert user.password_hash.startswith("$argon2id$") and "passphrase" not in user.password_hash


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["--role", "owner"], "short\n", "at least 12 characters"),
        (["--role", "wizard"], "a long enough passphrase\n", "Invalid value for '--role'"),
        (["--role", "owner", "--email", "not-an-email"], "a long enough passphrase\n", "valid email"),
    ],
)
def test_users_create_rejects_bad_input(cli, session, args, stdin, message):
    base = {"--email": "x@example.test", "--name": "X"}
    for flag, value in zip(args[::2], args[1::2], strict=True):
        base[flag] = value
    flat = [item for pair in base.items() for item in pair]
    result = cli("users", "create", *flat, "--password-stdin", input=stdin)
    assert result.exit_code == 2 and message in result.output
    assert session.scalar(select(func.count(User.id))) == 0


def test_duplicate_user_is_refused(cli, session):
    args = ["users", "create", "--email", "a@example.test", "--name", "A", "--role", "owner", "--password-stdin"]
    assert cli(*args, input="a long enough passphrase\n").exit_code == 0
    result = cli(*args, input="a long enough passphrase\n")
    assert result.exit_code == 2 and "already exists" in result.output


def test_seed_demo_refuses_a_non_empty_database(cli, session, demo_portfolio):
    """On a copy of the loaded demo (load_demo's own database): loading the demo into an empty
    database, and its message, is tests/unit/test_report_cli.py's first step (one load per run)."""
    systems = session.scalar(select(func.count(AISystem.id)))
    assert systems == demo_portfolio.counts["systems"] == 30
    session.commit()  # the commands open write transactions: no read may be left open on SQLite
    refused = cli("seed", "--demo")
    assert refused.exit_code == 2 and "already holds data" in refused.output
    skipped = cli("seed", "--demo", "--if-empty")
    assert skipped.exit_code == 0 and "already holds data; demo portfolio not loaded" in skipped.output
    session.commit()
    assert session.scalar(select(func.count(AISystem.id))) == systems  # neither loaded a second copy


def test_seed_synthetic_and_audit_verify(cli, session):
    result = cli("seed", "--synthetic", "200")
    assert result.exit_code == 0, result.output
    assert session.scalar(select(func.count(AISystem.id))) == 200
    verify = cli("audit", "verify")
    assert verify.exit_code == 0 and "200 events verified" in verify.output
    with tampering(session):
        session.execute(update(AuditEvent).where(AuditEvent.seq == 17).values(record=AuditEvent.record + " "))
    session.commit()
    broken = cli("audit", "verify")
    assert broken.exit_code == 1 and "BROKEN at event #17" in broken.output


def test_seed_needs_a_choice(cli):
    result = cli("seed")
    assert result.exit_code == 2 and "--demo or --synthetic" in result.output


def test_demo_refused_in_production(cli, app):
    app.config["REGISTRY_ENV"] = "production"
    try:
        result = cli("seed", "--demo")
    finally:
        app.config["REGISTRY_ENV"] = "development"
    assert result.exit_code == 2 and "never loaded in production" in result.output


def test_every_command_and_setting_is_documented():
    """The README lists every CLI command and every environment variable the config reads."""
    import re
    from pathlib import Path

    import click

    root = Path(__file__).resolve().parents[2]
    readme = (root / "README.md").read_text(encoding="utf-8")

    def walk(group, prefix):
        for name, command in group.commands.items():
            if isinstance(command, click.Group):
                yield from walk(command, f"{prefix} {name}")
            else:
                yield f"{prefix} {name}"

    own = {name for name in main.commands if name not in {"run", "shell", "routes"}}
    for path in walk(click.Group(commands={n: main.commands[n] for n in own}), "registry"):
        assert f"`{path}" in readme, f"{path} is not documented in README.md"
    config_source = (root / "registry" / "config.py").read_text(encoding="utf-8")
    env_vars = set(re.findall(r'(?:environ\.get|_bool)\("([A-Z_]+)"', config_source))
    for name in env_vars | {"PORT", "HOST", "WEB_CONCURRENCY"}:
        assert f"`{name}`" in readme, f"{name} is not documented in README.md"


def test_deleting_the_newest_events_back_past_a_decision_is_detected(cli, session, people):
    """The chain alone cannot see its tail cut off; a decision's frozen chain head can."""
    from sqlalchemy import delete

    from registry.audit.services import record_event, verify_chain
    from registry.decisions.services import record_decision
    from tests.conftest import make_system

    system = make_system(session, people["owner"])
    decision = record_decision(session, people["compliance"], system.id,
                               {"verdict": "no_go", "rationale": "Not ready: nothing is answered yet."})
    for i in range(5):
        record_event(session, people["admin"], "test.event", "thing", i, summary=f"later {i}")
    session.commit()
    assert cli("audit", "verify").exit_code == 0
    head = decision.snapshot["audit_head"]["seq"]
    with tampering(session):
        session.execute(delete(AuditEvent).where(AuditEvent.seq >= head))
    session.commit()
    assert verify_chain(session).ok  # a shorter chain is still a valid chain
    result = cli("audit", "verify")
    assert result.exit_code == 1
    assert f"decision #{decision.id} recorded the chain head #{head}, which is missing from the chain" in result.output
