"""A system's incidents: report one, change it (open → mitigated → closed, or reopened), list them.

Closing needs the root cause and the lessons.  Every change is audited with what it was before and
after, in the labels a person reads on the system's history.  ``actor`` None is the system itself
(the demo data); the permission check then does not apply.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from registry.audit.services import record_event
from registry.auth.models import User
from registry.auth.permissions import can_report_incident, require
from registry.db import utcnow
from registry.enums import FailureMode, IncidentStatus, Severity
from registry.errors import Conflict, NotFound, ValidationFailed
from registry.incidents.models import Incident
from registry.incidents.schemas import IncidentSchema
from registry.inventory.models import AISystem
from registry.inventory.schemas import load_or_raise
from registry.inventory.services import system_for_update
from registry.records import flush_or_conflict

STALE = ("Someone else changed this incident while you were editing it. Your changes were not saved: reload the "
         "page to see theirs, then apply yours again.")
NOT_ALLOWED = "Only the system's owners, compliance officers and admins can report or update its incidents."
NOT_CLASSIFIED = "Not classified"

# Where an incident may go from where it is (reporting one may start anywhere: a past incident
# is often recorded once it is closed).
TRANSITIONS = {
    IncidentStatus.OPEN: {IncidentStatus.MITIGATED},
    IncidentStatus.MITIGATED: {IncidentStatus.CLOSED, IncidentStatus.OPEN},
    IncidentStatus.CLOSED: {IncidentStatus.OPEN},
}

# The list's order: open critical, open major, open minor, mitigated (by severity), closed.
SEVERITY_RANK = {Severity.CRITICAL: 0, Severity.MAJOR: 1, Severity.MINOR: 2}


def _check_actor(actor: User | None, system: AISystem) -> None:
    if actor is not None:
        require(can_report_incident(actor, system), NOT_ALLOWED)


def snapshot(incident: Incident) -> dict[str, Any]:
    """The incident as the history shows it: labels, not codes; "Not classified" said as such."""
    return {
        "title": incident.title,
        "occurred_on": incident.occurred_on.isoformat(),
        "severity": incident.severity.label,
        "status": incident.status.label,
        "failure_mode": incident.failure_mode.label if incident.failure_mode else NOT_CLASSIFIED,
        "description": incident.description,
        "people_affected": incident.affected or None,
        "root_cause": incident.root_cause or None,
        "lessons": incident.lessons or None,
    }


def _apply(incident: Incident, data: dict) -> None:
    incident.occurred_on = data["occurred_on"]
    incident.severity = Severity(data["severity"])
    incident.title = data["title"].strip()
    incident.description = data["description"].strip()
    incident.affected = data["affected"].strip()
    incident.status = IncidentStatus(data["status"])
    incident.failure_mode = FailureMode(data["failure_mode"]) if data["failure_mode"] else None
    incident.root_cause = data["root_cause"].strip()
    incident.lessons = data["lessons"].strip()


def _check_transition(old: IncidentStatus, new_value) -> None:
    if not isinstance(new_value, str) or new_value not in IncidentStatus.values():
        return  # the schema says what is wrong with it
    new = IncidentStatus(new_value)
    if new != old and new not in TRANSITIONS[old]:
        allowed = " or ".join(s.label.lower() for s in sorted(TRANSITIONS[old], key=list(IncidentStatus).index))
        hint = " Mark it mitigated first, with what was done." if new is IncidentStatus.CLOSED else ""
        article = "An" if old is IncidentStatus.OPEN else "A"
        raise ValidationFailed("Some fields need attention.", errors={"status": [
            f"{article} {old.label.lower()} incident can become {allowed}, not {new.label.lower()}.{hint}"]})


def report_incident(session: Session, actor: User | None, system_id: int, payload: dict, *,
                    now: datetime | None = None) -> Incident:
    """Record an incident of the system (``IncidentSchema``'s fields; status defaults to open).
    ``now`` dates the report for the demo, which replays past work; its audit event too."""
    system = system_for_update(session, system_id)
    _check_actor(actor, system)
    data = load_or_raise(IncidentSchema(now=now), payload)
    at = now or utcnow()
    incident = Incident(system_id=system.id, created_at=at, updated_at=at, version=1,
                        created_by_id=actor.id if actor is not None else None)
    _apply(incident, data)
    session.add(incident)
    session.flush()
    record_event(session, actor, "incident.report", "incident", incident.id, system_id=system.id,
                 summary=f"Reported a {incident.severity.label.lower()} incident: {incident.title}",
                 after=snapshot(incident), at=now)
    return incident


def get_incident(session: Session, system_id: int, incident_id: int) -> Incident:
    incident = session.get(Incident, incident_id)
    if incident is None or incident.system_id != system_id:
        raise NotFound("There is no such incident on this system.")
    return incident


def update_incident(session: Session, actor: User | None, system_id: int, incident_id: int, payload: dict, *,
                    expected_version: int | None, now: datetime | None = None) -> Incident:
    """Replace the incident's fields; refused (Conflict) if it changed since ``expected_version``
    was read (None: the caller does not check).  The status moves open → mitigated → closed, and a
    mitigated or closed incident may be reopened; closing needs the root cause and the lessons."""
    system = system_for_update(session, system_id)  # serialises changes to the system's incidents
    _check_actor(actor, system)
    incident = session.scalar(select(Incident).where(Incident.id == incident_id)
                              .execution_options(populate_existing=True))
    if incident is None or incident.system_id != system.id:
        raise NotFound("There is no such incident on this system.")
    if expected_version is not None and incident.version != expected_version:
        raise Conflict(STALE)
    _check_transition(incident.status, payload.get("status", IncidentStatus.OPEN.value))  # before the details
    data = load_or_raise(IncidentSchema(now=now), payload)
    old_status, new_status = incident.status, IncidentStatus(data["status"])
    before = snapshot(incident)
    _apply(incident, data)
    after = snapshot(incident)
    changed = [k for k in after if before[k] != after[k]]
    if not changed:
        return incident
    incident.version += 1
    incident.updated_at = now or utcnow()
    flush_or_conflict(session, STALE)
    if new_status != old_status:
        verb = {IncidentStatus.OPEN: "Reopened", IncidentStatus.MITIGATED: "Mitigated",
                IncidentStatus.CLOSED: "Closed"}[new_status]
        summary = f"{verb} incident: {incident.title}"
    else:
        summary = f"Edited incident: {incident.title}"
    record_event(session, actor, "incident.update", "incident", incident.id, system_id=system.id, summary=summary,
                 before={k: before[k] for k in changed}, after={"incident": incident.title} | {k: after[k] for k in changed},
                 at=now)
    return incident


def list_incidents(session: Session, system_id: int, *, status: str | None = None,
                   severity: str | None = None) -> list[Incident]:
    """The system's incidents, open critical and major first (then open minor, mitigated, closed),
    newest first within each."""
    open_rank = case(*((Incident.severity == s, r) for s, r in SEVERITY_RANK.items()), else_=3)
    order = case((Incident.status == IncidentStatus.OPEN, open_rank),
                 (Incident.status == IncidentStatus.MITIGATED, 3 + open_rank), else_=10)
    query = select(Incident).where(Incident.system_id == system_id)
    if status:
        query = query.where(Incident.status == IncidentStatus(status))
    if severity:
        query = query.where(Incident.severity == Severity(severity))
    return list(session.scalars(query.order_by(order, Incident.occurred_on.desc(), Incident.id.desc())))


def open_counts(session: Session, system_ids: list[int]) -> dict[int, dict[Severity, int]]:
    """Open incidents by severity, per system (systems without any are left out)."""
    out: dict[int, dict[Severity, int]] = {}
    rows = session.execute(select(Incident.system_id, Incident.severity, func.count())
                           .where(Incident.system_id.in_(system_ids), Incident.status == IncidentStatus.OPEN)
                           .group_by(Incident.system_id, Incident.severity))
    for system_id, severity, n in rows:
        out.setdefault(system_id, {})[severity] = n
    return out


def creators(session: Session, incidents: list[Incident]) -> dict[int, User]:
    """Who reported each incident, by user id (one query)."""
    ids = {i.created_by_id for i in incidents if i.created_by_id is not None}
    return {u.id: u for u in session.scalars(select(User).where(User.id.in_(ids)))} if ids else {}


def incident_record(incident: Incident, created_by: User | None) -> dict:
    """The API's shape of an incident (``IncidentRecordSchema``)."""
    return {
        "id": incident.id, "system_id": incident.system_id, "occurred_on": incident.occurred_on,
        "severity": incident.severity.value, "title": incident.title, "description": incident.description,
        "affected": incident.affected, "status": incident.status.value,
        "failure_mode": incident.failure_mode.value if incident.failure_mode else None,
        "root_cause": incident.root_cause, "lessons": incident.lessons, "created_at": incident.created_at,
        "created_by": created_by.label if created_by else None, "updated_at": incident.updated_at,
        "version": incident.version,
    }


def payload_of(incident: Incident) -> dict:
    """The incident's fields as ``IncidentSchema`` takes them (to change some and send all back)."""
    return {"occurred_on": incident.occurred_on.isoformat(), "severity": incident.severity.value,
            "title": incident.title, "description": incident.description, "affected": incident.affected,
            "status": incident.status.value,
            "failure_mode": incident.failure_mode.value if incident.failure_mode else None,
            "root_cause": incident.root_cause, "lessons": incident.lessons}
