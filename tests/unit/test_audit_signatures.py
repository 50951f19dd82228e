"""The audit chain signed from outside the database: event signatures, checkpoints, a kept copy.

The attacker here has write access to the database (triggers lifted with ``tampering``) but not
``AUDIT_KEY``."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.exc import DBAPIError

from registry.audit.checkpoints import (
    UnsignedChain,
    checkpoint_if_due,
    newest_checkpoint,
    parse_checkpoint,
    verify_signatures,
    write_checkpoint,
)
from registry.audit.keys import AuditKey, audit_key
from registry.audit.models import AuditCheckpoint, AuditEvent
from registry.audit.services import digest, record_event, verify_chain
from registry.cli import main
from registry.config import ConfigError, development_audit_key, load_config
from registry.db import utcnow
from tests.conftest import TEST_AUDIT_KEY
from tests.databases import tampering


@pytest.fixture
def cli(app):
    runner = app.test_cli_runner()

    def invoke(*args):
        return runner.invoke(main, list(args))

    return invoke


def _events(session, actor, n, start=0):
    for i in range(start, start + n):
        record_event(session, actor, "test.event", "thing", i, summary=f"event {i}", after={"i": i})


@pytest.fixture
def chain(session, people):
    _events(session, people["admin"], 8)
    session.commit()
    head = session.scalar(select(func.max(AuditEvent.seq)))
    assert verify_chain(session).ok and verify_signatures(session).ok
    session.rollback()  # end the read (SQLite: the test session's transaction holds the write lock)
    return head


def _rewrite_from(session, seq, *, mac_key: AuditKey | None = None):
    """Edit event ``seq`` and re-compute every later hash (and, given a key, every signature)."""
    rows = session.scalars(select(AuditEvent).where(AuditEvent.seq >= seq).order_by(AuditEvent.seq)).all()
    prev = session.scalar(select(AuditEvent.hash).where(AuditEvent.seq == seq - 1))
    with tampering(session):
        for row in rows:
            record = prev + row.record[64:]
            if row.seq == seq:
                record = record.replace('"summary":"', '"summary":"Tampered ')
            row.record, row.hash = record, digest(record)
            if mac_key is not None:
                row.mac = mac_key.event_mac(row.hash)
            prev = row.hash
            session.flush()
    session.commit()


def test_every_event_is_signed_with_the_audit_key(session, chain):
    key = audit_key(session)
    assert key == AuditKey.from_secret(TEST_AUDIT_KEY)
    rows = session.execute(select(AuditEvent.hash, AuditEvent.mac)).all()
    assert rows and all(key.event_mac_ok(h, m) for h, m in rows)
    other = AuditKey.from_secret("another-key-" + "x" * 32)
    assert not any(other.event_mac_ok(h, m) for h, m in rows) and other.key_id != key.key_id


def test_an_edit_with_every_later_hash_recomputed_is_caught_by_the_signature(session, chain):
    signed = write_checkpoint(session, "manual").number
    session.commit()
    _rewrite_from(session, 3)
    assert verify_chain(session).ok  # the links alone hold: this is what the key is for
    report = verify_signatures(session)
    assert any("event #3, after checkpoint #1, is not signed by the audit key" in p for p in report.problems), \
        report.problems
    assert any(f"event #{chain} differs from what checkpoint #{signed}" in p for p in report.problems)


def test_re_signing_with_a_guessed_key_is_caught(session, chain):
    _rewrite_from(session, 3, mac_key=AuditKey.from_secret("guess-" + "g" * 40))
    report = verify_signatures(session)
    assert not report.ok and any("event #3, after checkpoint #1, is not signed" in p for p in report.problems)


def test_deleting_the_newest_events_before_a_checkpoint_names_the_first_missing(session, chain, people):
    write_checkpoint(session, "manual")
    session.commit()
    with tampering(session):
        session.execute(delete(AuditEvent).where(AuditEvent.seq > chain - 3))
    session.commit()
    assert verify_chain(session).ok  # a shorter chain is consistent in itself
    report = verify_signatures(session)
    assert report.first_missing == chain - 2
    assert any(f"events #{chain - 2} to #{chain} are missing" in p for p in report.problems), report.problems


def test_deleting_or_editing_a_checkpoint_is_seen(session, chain, people):
    for _ in range(3):
        write_checkpoint(session, "manual")
    session.commit()
    with tampering(session):
        session.execute(update(AuditCheckpoint).where(AuditCheckpoint.number == 2).values(events=1))
    session.commit()
    assert any("checkpoint #2" in p and "does not match its signature" in p
               for p in verify_signatures(session).problems)
    with tampering(session):
        session.execute(delete(AuditCheckpoint).where(AuditCheckpoint.number == 2))
    session.commit()
    problems = verify_signatures(session).problems
    assert any("checkpoints #2 to #2 are missing" in p for p in problems), problems


def test_a_kept_checkpoint_catches_what_the_database_no_longer_shows(session, chain, people):
    kept = json.loads(json.dumps(write_checkpoint(session, "manual").document()))
    session.commit()
    doc = parse_checkpoint(json.dumps(kept))
    assert verify_signatures(session, doc).ok
    # Cut off the newest events and every checkpoint that named them: consistent in the database…
    newest = newest_checkpoint(session).number
    with tampering(session):
        session.execute(delete(AuditCheckpoint).where(AuditCheckpoint.number == newest))
        session.execute(delete(AuditEvent).where(AuditEvent.seq == chain))
    session.commit()
    assert verify_chain(session).ok and verify_signatures(session).ok
    # …but not against the copy kept outside it.
    report = verify_signatures(session, parse_checkpoint(json.dumps(kept)))
    assert report.first_missing == chain
    assert any("not among the stored checkpoints" in p for p in report.problems), report.problems


def test_a_forged_kept_checkpoint_is_refused(session, chain):
    doc = write_checkpoint(session, "manual").document()
    session.commit()
    doc["seq"] = chain - 1
    problems = verify_signatures(session, parse_checkpoint(json.dumps(doc))).problems
    assert any("does not match its signature" in p for p in problems), problems


@pytest.mark.parametrize(("raw", "message"), [
    ("not json", "not JSON"),
    ("[]", "not a Readiness Registry audit checkpoint"),
    (json.dumps({"readiness_registry_audit_checkpoint": 1, "number": "1"}), "field 'number'"),
    (json.dumps({"readiness_registry_audit_checkpoint": 1, "number": 1, "seq": 1, "hash": "a" * 64, "events": 1,
                 "at": "yesterday", "reason": "manual", "key_id": "k", "previous": "0" * 64, "signature": "b" * 64}),
     "field 'at' is not a time"),
    (json.dumps({"readiness_registry_audit_checkpoint": 1, "number": True, "seq": 1, "hash": "a", "events": 1,
                 "at": "2026-01-01T00:00:00+00:00", "reason": "manual", "key_id": "k", "previous": "p",
                 "signature": "s"}), "field 'number'"),
    (json.dumps({"readiness_registry_audit_checkpoint": True}), "not a Readiness Registry"),
    (json.dumps({"readiness_registry_audit_checkpoint": 1, "number": 1, "seq": 10 ** 30, "hash": "a" * 64,
                 "events": 1, "at": "2026-01-01T00:00:00+00:00", "reason": "manual", "key_id": "k",
                 "previous": "0" * 64, "signature": "b" * 64}), "2\\^63-1"),
    (json.dumps({"readiness_registry_audit_checkpoint": 1, "number": 1, "seq": 1, "hash": "a" * 64, "events": 1,
                 "at": "2026-01-01T00:00:00+00:00", "reason": "manual", "key_id": "k", "previous": "0" * 64,
                 "signature": "é" * 64}), "field 'signature' is not 64"),
    (json.dumps({"readiness_registry_audit_checkpoint": 1, "number": 1, "seq": 1, "hash": "a" * 64, "events": 1,
                 "at": "0001-01-01T00:30:00+01:00", "reason": "manual", "key_id": "k", "previous": "0" * 64,
                 "signature": "b" * 64}), "field 'at' is not a time"),
])
def test_a_checkpoint_file_that_is_not_one_says_why(raw, message):
    with pytest.raises(ValueError, match=message):
        parse_checkpoint(raw)


def test_a_checkpoint_is_written_on_the_first_write_then_hourly(session, people):
    first = newest_checkpoint(session)  # the people fixture's first event signed the chain
    assert (first.number, first.reason, first.seq) == (1, "first", 1)
    _events(session, people["admin"], 3)
    assert newest_checkpoint(session).number == 1
    later = first.created_at + timedelta(minutes=59)
    assert checkpoint_if_due(session, now=later) is None
    hourly = checkpoint_if_due(session, now=first.created_at + timedelta(minutes=60))
    assert hourly.reason == "hourly" and hourly.number == 2 and hourly.previous == first.signature
    seq = session.scalar(select(func.max(AuditEvent.seq)))
    assert (hourly.seq, hourly.events) == (seq, seq)
    session.commit()
    assert verify_signatures(session).ok


def test_events_written_before_the_key_are_adopted_once_by_an_operator(session, chain, cli, people):
    """A database from before migration 0010: no signatures, no checkpoints.  The app never signs
    them on its own (that would sign a forgery as readily); the operator adopts them, once."""
    with tampering(session):
        session.execute(update(AuditEvent).values(mac=None))
        session.execute(delete(AuditCheckpoint))
    session.commit()
    problems = verify_signatures(session).problems
    assert len(problems) == 1 and f"events #1 to #{chain} carry no signature" in problems[0], problems
    _events(session, people["admin"], 1, start=50)  # the next write signs its own event, not the old ones
    session.commit()
    assert newest_checkpoint(session) is None and not verify_signatures(session).ok
    with pytest.raises(UnsignedChain):
        write_checkpoint(session, "manual")
    session.rollback()  # end the transaction (SQLite: it holds the write lock the command needs)
    adopted = cli("audit", "checkpoint", "--adopt-unsigned")
    assert adopted.exit_code == 0, adopted.output
    assert json.loads(adopted.output)["reason"] == "adopted" and verify_signatures(session).ok
    session.rollback()
    again = cli("audit", "checkpoint", "--adopt-unsigned")
    assert again.exit_code == 0  # nothing unsigned left: an ordinary checkpoint


def test_adoption_refuses_a_broken_chain_and_unsigned_events_after_signed_ones(session, chain, cli):
    with tampering(session):
        session.execute(update(AuditEvent).where(AuditEvent.seq == chain - 1).values(mac=None))
        session.execute(delete(AuditCheckpoint))
    session.commit()
    refused = cli("audit", "checkpoint", "--adopt-unsigned")
    assert refused.exit_code == 2 and f"event #{chain - 1} has no signature" in refused.output, refused.output
    with tampering(session):
        session.execute(update(AuditEvent).values(mac=None))
        session.execute(update(AuditEvent).where(AuditEvent.seq == 3).values(record=AuditEvent.record + " "))
    session.commit()
    broken = cli("audit", "checkpoint", "--adopt-unsigned")
    assert broken.exit_code == 2 and "broken at event #3" in broken.output, broken.output


def test_an_edit_after_the_newest_checkpoint_is_not_laundered_by_later_writes(session, chain, people):
    """The reviewer's attack: rewrite events after the newest checkpoint, then let the app write."""
    write_checkpoint(session, "manual")
    session.commit()
    _events(session, people["admin"], 3, start=100)
    session.commit()
    _rewrite_from(session, chain + 2)
    assert not verify_signatures(session).ok
    record_event(session, None, "auth.login_failed", "user", "x@example.com", summary="Failed sign-in")
    session.commit()
    assert verify_chain(session).ok
    problems = verify_signatures(session).problems
    assert any(f"event #{chain + 2}" in p and "not signed by the audit key" in p for p in problems), problems
    # …and no checkpoint will sign over it, automatic or on demand.
    assert checkpoint_if_due(session, now=utcnow() + timedelta(hours=2)) is None
    with pytest.raises(UnsignedChain, match=f"event #{chain + 2}"):
        write_checkpoint(session, "manual")


def test_a_full_rewrite_with_signatures_stripped_is_not_signed_by_the_next_write(session, chain, people):
    _rewrite_from(session, 2)
    with tampering(session):
        session.execute(update(AuditEvent).values(mac=None))
        session.execute(delete(AuditCheckpoint))
    session.commit()
    record_event(session, None, "auth.login_failed", "user", "x@example.com", summary="Failed sign-in")
    session.commit()
    assert newest_checkpoint(session) is None
    assert not verify_signatures(session).ok


def test_stripping_the_signatures_does_not_pass_for_an_old_chain(session, chain):
    _rewrite_from(session, 2)
    with tampering(session):
        session.execute(update(AuditEvent).values(mac=None))
        session.execute(delete(AuditCheckpoint))
    session.commit()
    assert verify_chain(session).ok and not verify_signatures(session).ok


def test_checkpoints_are_append_only_in_the_database(session, chain):
    with pytest.raises(DBAPIError, match="append-only"):
        session.execute(text("DELETE FROM audit_checkpoints"))
    session.rollback()
    with pytest.raises(DBAPIError, match="append-only"):
        session.execute(text("UPDATE audit_checkpoints SET seq = 0"))
    session.rollback()


def test_a_decision_and_a_seed_write_checkpoints(session, people):
    from registry.seed.synthetic import seed_synthetic

    seed_synthetic(session, 20)
    newest = newest_checkpoint(session)
    assert newest.reason == "seed" and newest.seq == session.scalar(select(func.max(AuditEvent.seq)))


def test_verify_command_with_a_kept_checkpoint(cli, session, chain, tmp_path):
    kept = tmp_path / "kept.json"
    written = cli("audit", "checkpoint", "-o", str(kept))
    assert written.exit_code == 0, written.output
    doc = json.loads(kept.read_text())
    assert json.loads(written.output) == doc and doc["seq"] == chain and doc["reason"] == "manual"
    shown = cli("audit", "checkpoint", "--show")
    assert json.loads(shown.output)["number"] == doc["number"]
    ok = cli("audit", "verify", "--checkpoint", str(kept))
    assert ok.exit_code == 0 and f"the kept checkpoint #{doc['number']} matches" in ok.output, ok.output
    with tampering(session):
        session.execute(delete(AuditCheckpoint).where(AuditCheckpoint.number == doc["number"]))
        session.execute(delete(AuditEvent).where(AuditEvent.seq >= chain - 1))
    session.commit()
    assert cli("audit", "verify").exit_code == 0  # nothing in the database shows it…
    broken = cli("audit", "verify", "--checkpoint", str(kept))
    assert broken.exit_code == 1 and f"events are missing from #{chain - 1} on" in broken.output, broken.output


def test_checkpoint_command_bad_input(cli, tmp_path, session):
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    result = cli("audit", "verify", "--checkpoint", str(bad))
    assert result.exit_code == 2 and "is not a checkpoint file" in result.output
    existing = tmp_path / "exists.json"
    existing.write_text("keep me")
    result = cli("audit", "checkpoint", "-o", str(existing))
    assert result.exit_code == 2 and "exists" in result.output and existing.read_text() == "keep me"
    assert session.scalar(select(func.count(AuditCheckpoint.id))) == 0
    assert cli("audit", "checkpoint", "--show").exit_code == 2


def test_production_needs_an_audit_key_of_real_length(monkeypatch, tmp_path):
    monkeypatch.setenv("REGISTRY_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "s" * 40)
    monkeypatch.delenv("AUDIT_KEY", raising=False)
    with pytest.raises(ConfigError, match="AUDIT_KEY must be set"):
        load_config()
    monkeypatch.setenv("AUDIT_KEY", "short")
    with pytest.raises(ConfigError, match="at least 32"):
        load_config()
    monkeypatch.setenv("AUDIT_KEY", "k" * 32)
    assert load_config()["AUDIT_KEY"] == "k" * 32


def test_development_key_is_generated_once_and_kept(tmp_path):
    path = tmp_path / "instance" / "audit.key"
    key = development_audit_key(path)
    assert len(key) == 64 and development_audit_key(path) == key
    assert path.stat().st_mode & 0o777 == 0o600


def test_checkpoint_times_round_trip_exactly(session, chain):
    """The signature covers the time to the microsecond: what the database gives back must match."""
    at = utcnow().replace(microsecond=123456)
    write_checkpoint(session, "manual", now=at)
    session.commit()
    session.expire_all()
    assert newest_checkpoint(session).created_at == at and verify_signatures(session).ok


def test_an_unsigned_event_after_a_checkpoint_is_not_taken_for_an_old_one(session, chain):
    """Events after a checkpoint were written with the key: a newest event without a signature was
    added (or had its signature removed) by someone without it."""
    with tampering(session):
        session.execute(update(AuditEvent).where(AuditEvent.seq == chain).values(mac=None))
    session.commit()
    problems = verify_signatures(session).problems
    assert problems == [f"event #{chain}, after checkpoint #1, has no signature: it was added or changed without "
                        "the key"], problems
