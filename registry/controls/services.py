"""A system's controls: which apply, where each stands, its evidence and its verification.

Changing a control's status or its evidence clears an earlier verification: a compliance
officer verifies what is there now, not what was there before.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.audit.services import record_event
from registry.auth.models import User
from registry.auth.permissions import can_edit_system, can_review, require
from registry.controls.applicability import active_controls, applies
from registry.controls.evidence_store import StoredFile
from registry.controls.models import Control, ControlAssessment, Evidence
from registry.controls.schemas import AssessmentSchema, EvidenceSchema
from registry.controls.staleness import is_stale as collected_too_long_ago
from registry.controls.staleness import waiver_lapsed
from registry.db import evidence_max_age_days, utcnow
from registry.enums import ControlStatus, EvidenceKind
from registry.errors import Conflict, NotFound, ValidationFailed
from registry.inventory.models import AISystem
from registry.inventory.schemas import load_or_raise
from registry.inventory.services import system_for_update
from registry.inventory.tiering import system_flags
from registry.records import check_version, flush_or_conflict

WAIVER_MAX_DAYS = 366  # a waiver is re-granted at least yearly, never open-ended
VERIFIABLE = (ControlStatus.IMPLEMENTED, ControlStatus.NOT_APPLICABLE, ControlStatus.WAIVED)  # a verifier's to check
STALE = "Someone else changed this control while you were working on it. Reload the page and try again."


@dataclass
class ControlRow:
    control: Control
    assessment: ControlAssessment | None
    required: bool

    @property
    def status(self) -> ControlStatus:
        return self.assessment.status if self.assessment else ControlStatus.NOT_STARTED


def is_stale(evidence: Evidence, today: date, max_age_days: int) -> bool:
    """Whether a piece of evidence is too old to rely on (the rule: ``registry.controls.staleness``)."""
    return collected_too_long_ago(evidence.collected_on, today, max_age_days)


def assessments_for(session: Session, system_id: int) -> dict[int, ControlAssessment]:
    rows = session.scalars(select(ControlAssessment).where(ControlAssessment.system_id == system_id)
                           .order_by(ControlAssessment.control_id))
    return {a.control_id: a for a in rows.unique()}


def control_rows(session: Session, system: AISystem, controls: list[Control] | None = None) -> list[ControlRow]:
    """Required controls in catalogue order, then assessed ones that no longer apply (kept, shown apart).
    ``controls``: the active catalogue when the caller has it already."""
    assessed = assessments_for(session, system.id)
    data = [c.value for c in system.data_categories]
    flags = system_flags(system.eu_class, system.omb_high_impact)
    rows = []
    for control in active_controls(session) if controls is None else controls:
        required = applies(control, system.tier, system.kind, data, flags)
        if required or control.id in assessed:
            rows.append(ControlRow(control, assessed.get(control.id), required))
    return rows


def _control(session: Session, control_id: int) -> Control:
    control = session.get(Control, control_id)
    if control is None or control.retired or not control.framework.active:
        raise NotFound("There is no such control in an active catalogue.")
    return control


def _assessment(session: Session, system: AISystem, control: Control, *, create: bool) -> ControlAssessment | None:
    assessment = session.scalar(
        select(ControlAssessment)
        .where(ControlAssessment.system_id == system.id, ControlAssessment.control_id == control.id)
        .execution_options(populate_existing=True)
    )
    if assessment is None and create:
        assessment = ControlAssessment(system_id=system.id, control_id=control.id, status=ControlStatus.NOT_STARTED)
        assessment.control = control
        session.add(assessment)
        session.flush()
    return assessment


def _flush(session: Session) -> None:
    flush_or_conflict(session, STALE)


def _snapshot(a: ControlAssessment) -> dict:
    return {
        "status": a.status.label,
        "due_on": a.due_on.isoformat() if a.due_on else None,
        "na_reason": a.na_reason,
        "notes": a.notes or None,
        "verified_by": a.verified_by.label if a.verified_by else None,
        "waiver_reason": a.waiver_reason,
        "waiver_granted_by": a.waiver_granted_by,
        "waiver_expires_on": a.waiver_expires_on.isoformat() if a.waiver_expires_on else None,
    }


def _clear_verification(a: ControlAssessment) -> None:
    a.verified_by_id, a.verified_at = None, None
    a.verified_by = None


def assess_control(session: Session, actor: User, system_id: int, control_id: int, payload: dict,
                   *, expected_version: int | None = None, today: date | None = None,
                   now: datetime | None = None) -> ControlAssessment:
    """``now`` (here, in add_evidence and in verify_control) dates the change for the demo seeder,
    which replays work done in the past, and is ``today``'s default; its audit events are dated then too
    (their hashed record also keeps when they were really written)."""
    system = system_for_update(session, system_id)
    require(can_edit_system(actor, system), "Only the system's owners (or an admin) can update its controls.")
    control = _control(session, control_id)
    data = load_or_raise(AssessmentSchema(), payload)
    today = today or (now or utcnow()).date()
    status = ControlStatus(data["status"])
    if data["due_on"] is not None and data["due_on"] < today and status is ControlStatus.IN_PROGRESS:
        raise ValidationFailed("Some fields need attention.", errors={"due_on": ["A due date must be today or later."]})
    if status is ControlStatus.WAIVED:
        if not control.waivable:
            raise ValidationFailed("Some fields need attention.", errors={"status": [
                f"{control.ref} cannot be waived: only practices whose framework allows waivers can be "
                "(e.g. the OMB M-25-21 minimum practices)."]})
        if data["waiver_expires_on"] <= today:
            raise ValidationFailed("Some fields need attention.",
                                   errors={"waiver_expires_on": ["A waiver's expiry must be after today."]})
        if data["waiver_expires_on"] > today + timedelta(days=WAIVER_MAX_DAYS):
            raise ValidationFailed("Some fields need attention.", errors={"waiver_expires_on": [
                f"A waiver lasts at most a year: choose {(today + timedelta(days=WAIVER_MAX_DAYS)).isoformat()} "
                "or earlier, and renew it then."]})
    assessment = _assessment(session, system, control, create=False)
    check_version(assessment, expected_version, STALE)
    if assessment is None:
        assessment = _assessment(session, system, control, create=True)
        if now is not None:
            assessment.updated_at = now
    before = _snapshot(assessment)
    assessment.status = status
    assessment.due_on = data["due_on"] if status is ControlStatus.IN_PROGRESS else None
    assessment.na_reason = data["na_reason"].strip() or None if status is ControlStatus.NOT_APPLICABLE else None
    assessment.notes = data["notes"].strip()
    waived = status is ControlStatus.WAIVED
    assessment.waiver_reason = data["waiver_reason"].strip() if waived else None
    assessment.waiver_granted_by = data["waiver_granted_by"].strip() if waived else None
    assessment.waiver_expires_on = data["waiver_expires_on"] if waived else None
    after = _snapshot(assessment)
    if after == before:
        return assessment
    if any(before[k] != after[k] for k in ("status", "na_reason", "waiver_reason", "waiver_granted_by",
                                            "waiver_expires_on")):
        _clear_verification(assessment)
        after["verified_by"] = None
    assessment.updated_by_id = actor.id
    if now is not None:  # set explicitly, so it wins over the column's onupdate
        assessment.updated_at = now
    _flush(session)
    changed = [k for k in after if before[k] != after[k]]
    record_event(session, actor, "control.assess", "control_assessment", assessment.id, system_id=system.id,
                 summary=f"{control.ref}: {after['status']}", before={k: before[k] for k in changed},
                 after={"control": control.ref} | {k: after[k] for k in changed}, at=now)
    return assessment


def add_evidence(session: Session, actor: User, system_id: int, control_id: int, payload: dict,
                 *, stored: StoredFile | None = None, today: date | None = None,
                 now: datetime | None = None) -> Evidence:
    """Attach a file (``stored``: checked and put in the file store by ``EvidenceStore.save`` in this
    transaction) or a link (``payload['url']``) to a control of the system."""
    system = system_for_update(session, system_id)
    require(can_edit_system(actor, system), "Only the system's owners (or an admin) can attach evidence.")
    control = _control(session, control_id)
    data = load_or_raise(EvidenceSchema(), payload)
    added_at = now or utcnow()
    today = today or added_at.date()
    if (stored is None) == (not data["url"]):
        raise ValidationFailed("Some fields need attention.",
                               errors={"url": ["Upload a file or give a link (one of the two)."]})
    collected = data["collected_on"] or today
    if collected > today:
        raise ValidationFailed("Some fields need attention.", errors={"collected_on": ["This date is in the future."]})
    assessment = _assessment(session, system, control, create=True)
    evidence = Evidence(
        assessment_id=assessment.id, description=data["description"].strip(), collected_on=collected,
        added_by_id=actor.id, added_at=added_at,
        kind=EvidenceKind.FILE if stored else EvidenceKind.LINK, url=data["url"],
    )
    if stored:
        evidence.file_name = stored.file_name  # stored_name stays NULL: the bytes are the blob named by sha256
        evidence.content_type, evidence.size_bytes, evidence.sha256 = stored.content_type, stored.size_bytes, stored.sha256
    session.add(evidence)
    had_verification = assessment.verified_at is not None
    _clear_verification(assessment)
    assessment.updated_by_id = actor.id
    assessment.updated_at = added_at
    _flush(session)
    session.expire(assessment, ["evidence"])
    record_event(session, actor, "evidence.add", "evidence", evidence.id, system_id=system.id,
                 summary=f"{control.ref}: added evidence “{evidence.description}”",
                 after={"control": control.ref, "evidence": evidence.file_name or evidence.url,
                        "sha256": evidence.sha256, "collected_on": collected.isoformat(),
                        **({"verification": "cleared"} if had_verification else {})}, at=now)
    return evidence


def get_evidence(session: Session, system_id: int, evidence_id: int) -> Evidence:
    evidence = session.get(Evidence, evidence_id)
    if evidence is None or evidence.assessment.system_id != system_id or evidence.removed_at is not None:
        raise NotFound("There is no such evidence on this system.")
    return evidence


def remove_evidence(session: Session, actor: User, system_id: int, evidence_id: int) -> Evidence:
    """Withdraw evidence from the control; the row and its blob stay (decisions and the audit trail
    cite its SHA-256, and the history shows it)."""
    system = system_for_update(session, system_id)
    require(can_edit_system(actor, system), "Only the system's owners (or an admin) can remove evidence.")
    evidence = get_evidence(session, system_id, evidence_id)
    evidence.removed_at = utcnow()
    assessment = evidence.assessment
    _clear_verification(assessment)
    assessment.updated_by_id = actor.id
    _flush(session)
    session.expire(assessment, ["evidence"])
    record_event(session, actor, "evidence.remove", "evidence", evidence.id, system_id=system.id,
                 summary=f"{assessment.control.ref}: withdrew evidence “{evidence.description}”",
                 before={"evidence": evidence.file_name or evidence.url}, after={"evidence": None})
    return evidence


def verify_control(session: Session, actor: User, system_id: int, control_id: int, *,
                   expected_version: int | None = None, today: date | None = None,
                   max_age_days: int | None = None, now: datetime | None = None, note: str = "") -> ControlAssessment:
    """``note``: the officer's words, kept in the audit event (a bulk verification gives each the same)."""
    system = system_for_update(session, system_id)
    max_age_days = evidence_max_age_days(session) if max_age_days is None else max_age_days
    require(can_review(actor, system),
            "Only a compliance officer who is not named on the system can verify its controls.")
    control = _control(session, control_id)
    assessment = _assessment(session, system, control, create=False)
    if assessment is None:
        raise ValidationFailed("Nothing to verify: the control is not started.")
    check_version(assessment, expected_version, STALE)
    today = today or (now or utcnow()).date()
    if assessment.status not in VERIFIABLE:
        raise ValidationFailed(f"Only an implemented, not-applicable or waived control can be verified; this one is "
                               f"{assessment.status.label.lower()}.")
    if assessment.status is ControlStatus.WAIVED and waiver_lapsed(assessment.waiver_expires_on, today):
        raise ValidationFailed(f"The waiver expired on {assessment.waiver_expires_on.isoformat()}: it cannot be "
                               "verified; record a new waiver or implement the practice.")
    if assessment.status is ControlStatus.IMPLEMENTED:
        fresh = [e for e in assessment.evidence if not is_stale(e, today, max_age_days)]
        if not fresh:
            raise ValidationFailed("An implemented control needs current evidence before it can be verified.")
    assessment.verified_by_id, assessment.verified_at = actor.id, now or utcnow()
    assessment.verified_by = actor
    if now is not None:
        assessment.updated_at = now
    _flush(session)
    record_event(session, actor, "control.verify", "control_assessment", assessment.id, system_id=system.id,
                 summary=f"Verified {control.ref} ({assessment.status.label.lower()})",
                 after={"control": control.ref, "status": assessment.status.label, "verified_by": actor.label,
                        "evidence": [e.sha256 or e.url for e in assessment.evidence],
                        **({"note": note.strip()} if note.strip() else {})}, at=now)
    return assessment


NOTE_MAX = 2000


@dataclass
class BulkVerification:
    verified: list[ControlAssessment]
    refused: list[tuple[int, str]]  # (control id, why), for the ones left as they were


def verify_controls(session: Session, actor: User, system_id: int, picks: dict[int, int | None], *,
                    note: str = "", today: date | None = None) -> BulkVerification:
    """Verify several controls of one system with one note.  Each goes through ``verify_control``
    (the same permission, separation of duties, evidence and version checks) and is audited on its
    own; one that is refused is left as it was (its savepoint rolled back) and the others still count.
    ``picks``: control id -> the version the officer saw."""
    system = system_for_update(session, system_id)
    require(can_review(actor, system),
            "Only a compliance officer who is not named on the system can verify its controls.")
    if not picks:
        raise ValidationFailed("Select at least one control to verify.")
    if len(note) > NOTE_MAX:
        raise ValidationFailed(f"The note is too long: at most {NOTE_MAX} characters.",
                               errors={"note": [f"At most {NOTE_MAX} characters."]})
    max_age_days = evidence_max_age_days(session)
    result = BulkVerification([], [])
    for control_id, version in sorted(picks.items()):
        try:
            with session.begin_nested():
                result.verified.append(verify_control(session, actor, system_id, control_id, expected_version=version,
                                                      today=today, max_age_days=max_age_days, note=note))
        except (ValidationFailed, Conflict, NotFound) as err:
            result.refused.append((control_id, err.message))
    return result


def clear_verifications_by(session: Session, actor: User | None, system: AISystem, user_ids: set[int],
                           at: datetime | None = None) -> int:
    """Someone who verified a control of ``system`` is now named on it: their verification no longer
    counts (separation of duties), so it is cleared, audited, and the control waits for another
    officer.  The handler of the ``system.people_named`` event; returns how many were cleared."""
    cleared = 0
    for assessment in session.scalars(select(ControlAssessment).where(
            ControlAssessment.system_id == system.id, ControlAssessment.verified_by_id.in_(user_ids))
            .order_by(ControlAssessment.control_id)):
        verifier = assessment.verified_by.label if assessment.verified_by else "a former verifier"
        _clear_verification(assessment)
        record_event(session, actor, "control.verification_cleared", "control_assessment", assessment.id,
                     system_id=system.id, at=at,
                     summary=f"{assessment.control.ref}: verification by {verifier} cleared: they are now named on "
                             "the system, so another compliance officer verifies it",
                     before={"verified_by": verifier}, after={"verified_by": None})
        cleared += 1
    return cleared
