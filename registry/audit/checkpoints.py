"""Signed checkpoints of the audit chain, and the checks that read them.

A checkpoint states, signed with the audit key, how far the chain went: the newest event's
seq and hash, the number of events, the time.  One is written at every recorded decision, at the
end of every seed or import, on the next write once the newest is older than
``AUDIT_CHECKPOINT_MINUTES`` (the first write of a chain, or the first after the key was
introduced, writes one at once), and on demand (``registry audit checkpoint``, which prints it
for keeping outside the database).

What they catch, beyond the chain's own links (``registry.audit.services.verify_chain``):

- the newest events deleted: a checkpoint names an event the chain no longer has, and the
  first missing seq is reported;
- the chain re-computed after an edit: the hashes no longer match the signed ones, and the
  newest event's own signature (``mac``) fails;
- a checkpoint deleted or edited: checkpoints are numbered, each signs the previous one's
  signature, and a copy kept elsewhere (``--checkpoint FILE``) must match the stored one.

Deleting the newest events *and* every checkpoint after them leaves a shorter chain that is
consistent: only a copy kept outside the database (or a decision's PDF naming a later head)
shows it.  That is why checkpoints are printed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from registry.audit.chain import GENESIS, append_queued, chain_head, lock_chain
from registry.audit.keys import AuditKey, audit_key, is_digest
from registry.audit.models import AuditCheckpoint, AuditEvent, checkpoint_text
from registry.db import setting, utcnow

REASONS = ("first", "hourly", "decision", "seed", "import", "bulk", "manual", "adopted")


class UnsignedChain(Exception):
    """The events a checkpoint would sign do not all carry a valid signature: they were written or
    changed without the audit key (or before it existed).  Nothing is signed over them."""

    def __init__(self, seq: int, unsigned: bool):
        self.seq, self.unsigned = seq, unsigned
        what = "has no signature" if unsigned else "does not match its signature"
        super().__init__(f"event #{seq} {what}: the chain is not signed over it "
                         "(run `registry audit verify`)")


def first_unsigned(session: Session, key: AuditKey, after_seq: int) -> tuple[int, bool] | None:
    """(seq, has no signature at all) of the first event after ``after_seq`` whose signature does
    not hold, or None.  Events after the newest checkpoint are few (an hour's writes, or one bulk
    append), so this reads them all."""
    rows = session.execute(select(AuditEvent.seq, AuditEvent.hash, AuditEvent.mac)
                           .where(AuditEvent.seq > after_seq).order_by(AuditEvent.seq))
    for seq, hash_, mac in rows:
        if not key.event_mac_ok(hash_, mac):
            return seq, mac is None
    return None


def write_checkpoint(session: Session, reason: str, *, now: datetime | None = None,
                     adopt_unsigned: bool = False) -> AuditCheckpoint:
    """Sign the chain as it stands in this transaction (committed with the caller's change).

    Only over events whose own signatures hold since the previous checkpoint: a checkpoint never
    launders an edit made without the key (``UnsignedChain``).  ``adopt_unsigned``: the one
    operator act that signs events written before the key existed (no checkpoint yet, every
    unsigned event without any signature; the caller checks the links first)."""
    if reason not in REASONS:
        raise ValueError(f"unknown checkpoint reason {reason!r}")
    key = audit_key(session)
    append_queued(session)  # the events recorded in this transaction are signed too
    lock_chain(session)
    session.flush()
    last = newest_checkpoint(session)
    bad = first_unsigned(session, key, last.seq if last else 0)
    if bad is not None and not (adopt_unsigned and last is None and _unsigned_prefix_only(session, key)):
        raise UnsignedChain(*bad)
    seq, head_hash = chain_head(session)
    events = session.scalar(select(func.count()).select_from(AuditEvent)) or 0
    checkpoint = AuditCheckpoint(
        number=(last.number + 1) if last else 1, seq=seq, head_hash=head_hash, events=events,
        created_at=(now or utcnow()).astimezone(UTC),
        reason=reason, key_id=key.key_id, previous=last.signature if last else GENESIS, signature="")
    checkpoint.signature = key.sign(checkpoint.signed_text())
    session.add(checkpoint)
    session.flush()
    return checkpoint


def _unsigned_prefix_only(session: Session, key: AuditKey) -> bool:
    """Whether the events without a signature all come before the first signed one (written before
    the key existed), and every signed one holds."""
    first_signed = session.scalar(select(func.min(AuditEvent.seq)).where(AuditEvent.mac.is_not(None)))
    last_unsigned = session.scalar(select(func.max(AuditEvent.seq)).where(AuditEvent.mac.is_(None)))
    if first_signed is None:
        return True
    if last_unsigned is not None and last_unsigned > first_signed:
        return False
    return first_unsigned(session, key, first_signed - 1) is None


def try_checkpoint(session: Session, reason: str, *, now: datetime | None = None) -> AuditCheckpoint | None:
    """``write_checkpoint`` for the automatic ones (a decision, a seed, an hour gone by): when the
    chain is not signed over, none is written and ``registry audit verify`` reports why; the
    user's own change still goes in."""
    try:
        return write_checkpoint(session, reason, now=now)
    except UnsignedChain:  # raised before anything is written
        return None


def newest_checkpoint(session: Session) -> AuditCheckpoint | None:
    return session.scalar(select(AuditCheckpoint).order_by(AuditCheckpoint.number.desc()).limit(1))


def checkpoint_if_due(session: Session, *, now: datetime | None = None) -> AuditCheckpoint | None:
    """After an append: write a checkpoint if there is none yet, or the newest is older than
    ``AUDIT_CHECKPOINT_MINUTES``."""
    now = now or utcnow()
    newest = session.scalar(select(AuditCheckpoint.created_at).order_by(AuditCheckpoint.number.desc()).limit(1))
    if newest is None:
        return try_checkpoint(session, "first", now=now)
    if now - newest >= timedelta(minutes=int(setting(session, "audit_checkpoint_minutes"))):
        return try_checkpoint(session, "hourly", now=now)
    return None


@dataclass
class SignatureReport:
    """What the signatures say: ``problems`` in plain sentences, and the first missing seq when
    events named by a checkpoint are gone."""

    problems: list[str] = field(default_factory=list)
    first_missing: int | None = None
    checkpoints: int = 0
    head_seq: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_signatures(session: Session, external: dict[str, Any] | None = None) -> SignatureReport:
    """Check the newest event's signature, every stored checkpoint, and ``external`` (a printed
    checkpoint, see ``parse_checkpoint``) if given.  Reads the checkpoints and the events they name
    in one query; the chain's own links are ``verify_chain``'s."""
    key = audit_key(session)
    head_seq, _ = chain_head(session)
    report = SignatureReport(head_seq=head_seq)
    rows = session.execute(
        select(AuditCheckpoint, AuditEvent.hash)
        .outerjoin(AuditEvent, AuditEvent.seq == AuditCheckpoint.seq)
        .order_by(AuditCheckpoint.number)).all()
    report.checkpoints = len(rows)
    stored = {checkpoint.number: checkpoint for checkpoint, _ in rows}
    _check_since_newest(session, key, head_seq, rows, report)
    previous, expected_number = GENESIS, 1
    for checkpoint, event_hash in rows:
        label = f"checkpoint #{checkpoint.number} ({_when(checkpoint.created_at)})"
        if checkpoint.number != expected_number:
            report.problems.append(f"checkpoints #{expected_number} to #{checkpoint.number - 1} are missing "
                                   "(deleted from audit_checkpoints)")
        elif checkpoint.previous != previous:
            report.problems.append(f"{label} does not follow checkpoint #{checkpoint.number - 1}: its link differs")
        previous, expected_number = checkpoint.signature, checkpoint.number + 1
        _check_one(key, label, checkpoint.signed_text(), checkpoint.signature, checkpoint.key_id, checkpoint.seq,
                   checkpoint.head_hash, checkpoint.events, event_hash, head_seq, report)
    if external is not None:
        _check_external(session, key, external, stored, head_seq, report)
    return report


def _check_since_newest(session: Session, key: AuditKey, head_seq: int, rows, report: SignatureReport) -> None:
    """Events up to the newest checkpoint that holds are covered by its signature (re-computing any
    of them changes the hash it signed); every event after it must carry its own valid signature."""
    if head_seq == 0:
        return
    valid = [c for c, event_hash in rows if c.key_id == key.key_id and c.seq <= head_seq and c.head_hash == event_hash
             and key.signature_ok(c.signed_text(), c.signature)]
    base = max((c.seq for c in valid), default=0)
    bad = first_unsigned(session, key, base)
    if bad is None:
        return
    seq, unsigned = bad
    if not valid and unsigned and _unsigned_prefix_only(session, key):
        report.problems.append(
            f"events #{seq} to #{_prefix_end(session, head_seq)} carry no signature and no checkpoint signs them: "
            "if this database was upgraded from before audit signatures (migration 0010) and never had a "
            "checkpoint, check the chain and adopt them with `registry audit checkpoint --adopt-unsigned`; if "
            "it ever had checkpoints, they were deleted: compare with a checkpoint kept elsewhere "
            "(`registry audit verify --checkpoint FILE`)")
        return
    what = "has no signature" if unsigned else "is not signed by the audit key"
    after = f"after checkpoint #{max(c.number for c in valid if c.seq == base)}" if valid else "with no checkpoint before it"
    report.problems.append(f"event #{seq}, {after}, {what}: it was added or changed without the key"
                           f"{_other_key(key, [c for c, _ in rows]) if not unsigned else ''}")


def _prefix_end(session: Session, head_seq: int) -> int:
    first_signed = session.scalar(select(func.min(AuditEvent.seq)).where(AuditEvent.mac.is_not(None)))
    return (first_signed - 1) if first_signed is not None else head_seq


def _other_key(key: AuditKey, checkpoints: list[AuditCheckpoint]) -> str:
    ids = {c.key_id for c in checkpoints} - {key.key_id}
    if ids:
        return (f", or AUDIT_KEY is not the key it was written with (checkpoints name key id "
                f"{', '.join(sorted(ids))}; this key's id is {key.key_id})")
    return ""


def _check_one(key: AuditKey, label: str, text: str, signature: str, key_id: str, seq: int, head_hash: str,
               events: int, event_hash: str | None, head_seq: int, report: SignatureReport) -> None:
    if key_id != key.key_id:
        report.problems.append(f"{label} was signed with another key (key id {key_id}; AUDIT_KEY here has id "
                               f"{key.key_id})")
    elif not key.signature_ok(text, signature):
        report.problems.append(f"{label} does not match its signature: it was edited")
        return
    if seq > head_seq:
        first = head_seq + 1
        if report.first_missing is None or first < report.first_missing:
            report.first_missing = first
        report.problems.append(f"events #{first} to #{seq} are missing: {label} covers #{seq}, the chain ends at "
                               f"#{head_seq}")
    elif seq and event_hash is None:
        if report.first_missing is None or seq < report.first_missing:
            report.first_missing = seq
        report.problems.append(f"event #{seq} is missing: {label} names it")
    elif seq and event_hash != head_hash:
        report.problems.append(f"event #{seq} differs from what {label} signed: the chain was rewritten")
    if events != seq:
        report.problems.append(f"{label} counted {events} events up to #{seq}: the chain was already missing "
                               "events when it was signed")


def _check_external(session: Session, key: AuditKey, doc: dict[str, Any], stored: dict[int, AuditCheckpoint],
                    head_seq: int, report: SignatureReport) -> None:
    label = f"the kept checkpoint #{doc['number']} ({_when(doc['at'])})"
    text = checkpoint_text(doc["number"], doc["seq"], doc["hash"], doc["events"], doc["at"], doc["reason"],
                           doc["key_id"], doc["previous"])
    event_hash = session.scalar(select(AuditEvent.hash).where(AuditEvent.seq == doc["seq"])) if doc["seq"] else None
    _check_one(key, label, text, doc["signature"], doc["key_id"], doc["seq"], doc["hash"], doc["events"], event_hash,
               head_seq, report)
    own = stored.get(doc["number"])
    if own is None:
        report.problems.append(f"{label} is not among the stored checkpoints: it was deleted")
    elif own.signature != doc["signature"]:
        report.problems.append(f"{label} differs from the stored checkpoint #{doc['number']}")


def _when(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M UTC")


FIELDS = {"number": int, "seq": int, "hash": str, "events": int, "at": str, "reason": str, "key_id": str,
          "previous": str, "signature": str}


MAX_INT = (1 << 63) - 1


def parse_checkpoint(raw: str) -> dict[str, Any]:
    """A checkpoint as printed by ``registry audit checkpoint``; ValueError names what is wrong."""
    try:
        doc = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON ({exc.msg}, line {exc.lineno})") from None
    marker = doc.get("readiness_registry_audit_checkpoint") if isinstance(doc, dict) else None
    if type(marker) is not int or marker != 1:
        raise ValueError("not a Readiness Registry audit checkpoint (printed by `registry audit checkpoint`)")
    for name, kind in FIELDS.items():
        if type(doc.get(name)) is not kind:
            raise ValueError(f"field {name!r} is missing or not {'a whole number' if kind is int else 'text'}")
    if not all(0 <= doc[name] <= MAX_INT for name in ("number", "seq", "events")) or doc["number"] < 1:
        raise ValueError("number, seq and events must be whole numbers from 0 (number from 1) to 2^63-1")
    for name in ("hash", "previous", "signature"):
        if not is_digest(doc[name]):
            raise ValueError(f"field {name!r} is not 64 lowercase hex characters")
    try:
        at = datetime.fromisoformat(doc["at"])
        if at.tzinfo is None:
            raise ValueError("field 'at' has no time zone")
        doc["at"] = at.astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise ValueError(str(exc) if "time zone" in str(exc) else f"field 'at' is not a time: {doc['at']!r}") from None
    return doc
