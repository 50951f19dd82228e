"""The inventory export: systems (with verdicts and blockers), controls and decisions as tables.

The rows are built set-based, a few queries per block of systems (100 or 500) whatever the number
of controls or decisions: the matching systems' ids in the inventory list's order (the same
filters and sort as ``/systems``, without paging), then per block the systems joined with
their owners and their cached state (``registry.portfolio``: verdict, decision and blockers,
never recomputed per system here), their data categories, their control assessments with
evidence counts, and their decisions.  Applicability is the catalogue's pure rule, evaluated
once per distinct (tier, kind, data) combination.

The web page and ``registry export inventory`` call ``write_export``, so both produce the
same tables; CSV is the systems sheet only (one table per file is what CSV can hold).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from typing import BinaryIO

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session, aliased

from registry.audit.keys import registry_identity
from registry.auth.models import User
from registry.auth.permissions import can_export_inventory, require
from registry.controls.applicability import active_controls, applies
from registry.controls.models import ControlAssessment, Evidence
from registry.controls.staleness import stale_before
from registry.db import evidence_max_age_days
from registry.decisions.models import Decision, current_decisions
from registry.enums import ControlStatus, DataCategory
from registry.exports.writers import Column, Sheet, write_csv, write_xlsx
from registry.inventory.models import AISystem, SystemDataCategory, data_touched_text
from registry.inventory.queries import InventoryFilters, ordered_ids_query
from registry.inventory.services import FIELD_LABELS, declared_label, eu_class_label, omb_label
from registry.inventory.tiering import system_flags
from registry.state.models import SystemState

FORMATS = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv",  # Flask adds "; charset=utf-8"
}
CHUNK = 500
# The systems sheet reads each system's blocker list (JSON, ~17 KB for a system with every
# control open): smaller blocks keep the decoded lists at ~10 MiB.
SYSTEM_CHUNK = 100
SYSTEMS, CONTROLS, DECISIONS = "Systems", "Controls", "Decisions"
NO_LONGER_APPLIES = "No longer applies"
NOT_STARTED_LABEL = ControlStatus.NOT_STARTED.label

SYSTEM_COLUMNS = [
    Column("System ID", 10),
    Column(FIELD_LABELS["name"], 36),
    Column(FIELD_LABELS["business_unit"], 24),
    Column(FIELD_LABELS["stage"], 14),
    Column(FIELD_LABELS["tier"], 14),
    Column(FIELD_LABELS["kind"], 24),
    Column(FIELD_LABELS["sourcing"], 20),
    Column(FIELD_LABELS["vendor_name"], 20),
    Column(FIELD_LABELS["autonomy"], 30),
    Column(FIELD_LABELS["accountable_owner"], 24),
    Column("Accountable owner email", 30),
    Column(FIELD_LABELS["technical_owner"], 24),
    Column("Technical owner email", 30),
    Column(FIELD_LABELS["data_categories"], 30),
    Column("Current decision", 16),
    Column("Decided at (UTC)", 18),
    Column("Decision expires on", 16),
    Column("Recommendation now", 18),
    Column("Blockers", 60),
    Column("Stale evidence", 12),
    Column("Required controls", 10),
    Column("Required controls verified", 12),
    Column("Re-review required", 12),
    Column("Last updated (UTC)", 18),
    # What an import reads back (seed_data/import_layouts/readiness-registry-export.yaml): the
    # inventory facts, the declared determination, where an imported record came from, and the
    # registry that wrote the file (rows match their systems by id only there).
    Column(FIELD_LABELS["purpose"], 40),
    Column(FIELD_LABELS["business_process"], 24),
    Column(FIELD_LABELS["decisions_influenced"], 30),
    Column("Organisation / agency", 24),
    Column("External id", 14),
    Column("Topic area", 18),
    Column("Outputs", 30),
    Column("Operational date", 12),
    Column(FIELD_LABELS["eu_class"], 22),
    Column(FIELD_LABELS["omb_high_impact"], 14),
    Column(FIELD_LABELS["declared_high_impact"], 14),
    Column(FIELD_LABELS["declared_regime"], 20),
    Column(FIELD_LABELS["declared_justification"], 40),
    Column(FIELD_LABELS["declared_source"], 30),
    Column("Contact in the source", 24),
    Column("Imported from", 30),
    Column("Registry", 18),
]
CONTROL_COLUMNS = [
    Column("System ID", 10),
    Column("System", 36),
    Column("Framework", 28),
    Column("Ref", 12),
    Column("Control", 50),
    Column("Function", 14),
    Column("Required", 16),
    Column("Status", 16),
    Column("Due on", 12),
    Column("Not-applicable reason", 40),
    Column("Evidence items", 10),
    Column("Stale evidence items", 10),
    Column("Verified by", 24),
    Column("Verified at (UTC)", 18),
]
DECISION_COLUMNS = [
    Column("Decision ID", 10),
    Column("System ID", 10),
    Column("System", 36),
    Column("Verdict", 16),
    Column("Recommended", 16),
    Column("Differs from recommendation", 12),
    Column("Rationale", 60),
    Column("Conditions", 50),
    Column("Decided by", 24),
    Column("Decided by email", 30),
    Column("Decided at (UTC)", 18),
    Column("Expires on", 12),
    Column("Current decision", 10),
    Column("Supersedes decision", 10),
    Column("Snapshot SHA-256", 66),
]


@dataclass
class ExportResult:
    format: str
    file_name: str
    content_type: str
    rows: dict[str, int] = field(default_factory=dict)

    def audit_after(self, filters: InventoryFilters) -> dict:
        """What the audit event keeps: the format, the filters that chose the systems, the rows written."""
        chosen = {k: v for k, v in asdict(filters).items() if v and k not in ("page", "per_page", "descending")}
        chosen["sort"] = ("-" if filters.descending else "") + filters.sort
        return {"format": self.format, "file_name": self.file_name, "filters": chosen, "rows": self.rows}

    def summary(self) -> str:
        counts = ", ".join(f"{n} {title.lower()}" for title, n in self.rows.items())
        return f"Exported the inventory as {self.format.upper()} ({counts})"


def file_name(fmt: str, today: date) -> str:
    return f"inventory-{today.isoformat()}.{fmt}"


def write_export(session: Session, actor, filters: InventoryFilters, fmt: str, out: BinaryIO, *,
                 today: date, max_age_days: int | None = None,
                 progress: Callable[[int, int, str], None] | None = None) -> ExportResult:
    """Write the export of every system matching ``filters`` (no paging) to ``out``.

    ``actor`` None is the operator's command line (trusted); anyone else needs
    ``can_export_inventory``.  The caller refreshes the state cache first
    (``registry.state.cache.refresh_due_states``) and audits the result.  Evidence ages are
    judged against the session's EVIDENCE_MAX_AGE_DAYS unless ``max_age_days`` is given.
    ``progress(done, total, sheet)`` hears of each system written to each sheet (a job's progress
    bar: ``total`` is the systems times the sheets).
    """
    max_age_days = evidence_max_age_days(session) if max_age_days is None else max_age_days
    if actor is not None:
        require(can_export_inventory(actor), "Your role does not allow exporting the inventory.")
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; use one of: {', '.join(FORMATS)}")
    ids = list(session.scalars(ordered_ids_query(filters)))
    result = ExportResult(fmt, file_name(fmt, today), FORMATS[fmt])
    counted = _Progress(ids, 1 if fmt == "csv" else 3, progress)
    systems = Sheet(SYSTEMS, SYSTEM_COLUMNS, counted.rows(SYSTEMS, 0, system_rows(session, ids)))
    if fmt == "csv":
        result.rows = {SYSTEMS: write_csv(systems, out)}
    else:
        result.rows = write_xlsx([
            systems,
            Sheet(CONTROLS, CONTROL_COLUMNS, counted.rows(CONTROLS, 0, control_rows(
                session, ids, today=today, max_age_days=max_age_days))),
            Sheet(DECISIONS, DECISION_COLUMNS, counted.rows(DECISIONS, 1, decision_rows(session, ids))),
        ], out)
    counted.report(counted.total, "")
    return result


class _Progress:
    """Turns rows written into systems done: each sheet's rows come in the systems' order."""

    def __init__(self, ids: list[int], sheets: int, listener: Callable[[int, int, str], None] | None):
        self.position = {system_id: i for i, system_id in enumerate(ids)}
        self.per_sheet, self.total, self.listener = len(ids), len(ids) * sheets, listener
        self.sheets_done = 0

    def report(self, done: int, sheet: str) -> None:
        if self.listener is not None:
            self.listener(done, self.total, sheet)

    def rows(self, sheet: str, id_column: int, rows: Iterator[tuple]) -> Iterator[tuple]:
        base, last = self.sheets_done * self.per_sheet, -1
        self.sheets_done += 1
        for row in rows:
            yield row
            at = self.position.get(row[id_column], last)
            if at != last:
                last = at
                self.report(base + at + 1, sheet)
        self.report(base + self.per_sheet, sheet)


def _chunks(ids: list[int], size: int = CHUNK) -> Iterator[list[int]]:
    for start in range(0, len(ids), size):
        yield ids[start:start + size]


def utc_naive(value: datetime | None) -> datetime | None:
    """Spreadsheets have no time zones: UTC wall time, to the second."""
    if value is None:
        return None
    return value.astimezone(UTC).replace(tzinfo=None, microsecond=0)


def _label(value) -> str | None:
    return None if value is None else value.label


def _yes_no(value) -> str:
    return "Yes" if value else "No"


def blockers_text(blockers: list[dict] | None) -> str:
    """One line per blocker: "Blocking: …" or "Condition: …"."""
    lines = []
    for b in blockers or []:
        kind = "Blocking" if b.get("severity") == "blocking" else "Condition"
        lines.append(f"{kind}: {b.get('message') or b.get('label') or b.get('rule')}")
    return "\n".join(lines)


def _data_by_system(session: Session, chunk: list[int]) -> dict[int, list[DataCategory]]:
    order = {c: i for i, c in enumerate(DataCategory)}
    found: dict[int, list[DataCategory]] = defaultdict(list)
    for system_id, category in session.execute(
        select(SystemDataCategory.system_id, SystemDataCategory.category).where(SystemDataCategory.system_id.in_(chunk))
    ):
        found[system_id].append(category)
    return {k: sorted(v, key=order.__getitem__) for k, v in found.items()}


def system_rows(session: Session, ids: list[int]) -> Iterator[tuple]:
    accountable, technical = aliased(User), aliased(User)
    registry = registry_identity(session)
    for chunk in _chunks(ids, SYSTEM_CHUNK):
        position = {system_id: i for i, system_id in enumerate(chunk)}
        rows = session.execute(
            select(
                AISystem.id, AISystem.name, AISystem.business_unit, AISystem.stage, AISystem.tier, AISystem.kind,
                AISystem.sourcing, AISystem.vendor_name, AISystem.autonomy,
                accountable.name, accountable.email, technical.name, technical.email,
                SystemState.decision_verdict, SystemState.decided_at, SystemState.decision_expires_on,
                SystemState.recommendation, SystemState.blockers, SystemState.stale_evidence,
                SystemState.re_review_required, AISystem.updated_at,
                SystemState.required_controls, SystemState.verified_controls,
                AISystem.purpose, AISystem.business_process, AISystem.decisions_influenced, AISystem.organisation,
                AISystem.external_id, AISystem.topic_area, AISystem.outputs, AISystem.operational_date,
                AISystem.eu_class, AISystem.eu_basis, AISystem.omb_high_impact, AISystem.declared_high_impact,
                AISystem.declared_regime, AISystem.declared_justification, AISystem.declared_source, AISystem.contact,
                AISystem.import_source, AISystem.import_row, AISystem.missing_fields,
            )
            .outerjoin(accountable, accountable.id == AISystem.accountable_owner_id)
            .outerjoin(technical, technical.id == AISystem.technical_owner_id)
            .outerjoin(SystemState, SystemState.system_id == AISystem.id)
            .where(AISystem.id.in_(chunk))
        ).all()
        data = _data_by_system(session, chunk)
        for r in sorted(rows, key=lambda r: position[r[0]]):
            yield (
                r[0], r[1], r[2], r[3].label, r[4].label, r[5].label, r[6].label, r[7], r[8].label,
                r[9], r[10], r[11], r[12],
                data_touched_text(data.get(r[0], []), r[41]),
                _label(r[13]) or "Undecided", utc_naive(r[14]), r[15], _label(r[16]), blockers_text(r[17]),
                r[18] if isinstance(r[18], int) and not isinstance(r[18], bool) else _yes_no(r[18]),
                r[21], r[22], _yes_no(r[19]), utc_naive(r[20]),
                r[23], r[24], r[25], r[26], r[27], r[28], r[29], r[30],
                eu_class_label(r[31], r[32]), omb_label(r[33]) if r[31] else "Not assessed", declared_label(r[34]),
                r[35].label if r[34] is not None else "", r[36], r[37], r[38],
                f"{r[39]} row {r[40]}" if r[39] else "", registry,
            )


def control_rows(session: Session, ids: list[int], *, today: date, max_age_days: int) -> Iterator[tuple]:
    """One row per system and control that applies to it or that it has assessed (as the controls page lists)."""
    controls = active_controls(session)
    by_id = {c.id: i for i, c in enumerate(controls)}
    # Plain tuples, read once: half a million rows should not touch ORM attributes.
    catalogue = [(c.id, (c.framework.name, c.ref, c.title, c.function)) for c in controls]
    applicable: dict[tuple, frozenset[int]] = {}
    stale_from = stale_before(today, max_age_days)
    verifier = aliased(User)
    live = and_(Evidence.assessment_id == ControlAssessment.id, Evidence.removed_at.is_(None))
    evidence_n = select(func.count(Evidence.id)).where(live).correlate(ControlAssessment).scalar_subquery()
    stale_n = (select(func.count(Evidence.id)).where(live, Evidence.collected_on < stale_from)
               .correlate(ControlAssessment).scalar_subquery())
    for chunk in _chunks(ids):
        systems = {r[0]: r for r in session.execute(
            select(AISystem.id, AISystem.name, AISystem.tier, AISystem.kind, AISystem.eu_class,
                   AISystem.omb_high_impact).where(AISystem.id.in_(chunk)))}
        data = _data_by_system(session, chunk)
        assessed: dict[int, dict[int, tuple]] = defaultdict(dict)
        for a in session.execute(
            select(ControlAssessment.system_id, ControlAssessment.control_id, ControlAssessment.status,
                   ControlAssessment.due_on, ControlAssessment.na_reason, evidence_n, stale_n,
                   verifier.name, ControlAssessment.verified_at)
            .outerjoin(verifier, verifier.id == ControlAssessment.verified_by_id)
            .where(ControlAssessment.system_id.in_(chunk))
        ):
            if a[1] in by_id:
                assessed[a[0]][a[1]] = a
        for system_id in chunk:
            system_id, name, tier, kind, eu_class, omb = systems[system_id]
            categories = [c.value for c in data.get(system_id, [])]
            flags = system_flags(eu_class, omb)
            key = (tier, kind, frozenset(categories), flags)
            if key not in applicable:
                applicable[key] = frozenset(c.id for c in controls if applies(c, tier, kind, categories, flags))
            required = applicable[key]
            mine = assessed.get(system_id, {})
            for control_id, described in catalogue:
                a = mine.get(control_id)
                if a is None:
                    if control_id in required:
                        yield (system_id, name, *described, "Yes", NOT_STARTED_LABEL, None, None, 0, 0, None, None)
                    continue
                yield (
                    system_id, name, *described, "Yes" if control_id in required else NO_LONGER_APPLIES,
                    a[2].label, a[3], a[4], a[5], a[6], a[7], utc_naive(a[8]),
                )


def decision_rows(session: Session, ids: list[int]) -> Iterator[tuple]:
    """Every recorded decision of the chosen systems, oldest first within each system."""
    decider = aliased(User)
    for chunk in _chunks(ids):
        position = {system_id: i for i, system_id in enumerate(chunk)}
        rows = session.execute(
            select(Decision.id, Decision.system_id, AISystem.name, Decision.verdict, Decision.recommended,
                   Decision.rationale, Decision.conditions, decider.name, decider.email, Decision.decided_at,
                   Decision.expires_on, Decision.supersedes_id, Decision.snapshot_sha256)
            .join(AISystem, AISystem.id == Decision.system_id)
            .join(decider, decider.id == Decision.decided_by_id)
            .where(Decision.system_id.in_(chunk))
        ).all()
        rows.sort(key=lambda r: (position[r[1]], r[9], r[0]))
        current_ids = set(session.scalars(select(current_decisions(chunk).c.decision_id)))
        for r in rows:
            current = r[0] in current_ids
            yield (
                r[0], r[1], r[2], r[3].label, r[4].label, _yes_no(r[3] != r[4]), r[5],
                "\n".join(r[6] or []), r[7], r[8], utc_naive(r[9]), r[10], _yes_no(current), r[11], r[12],
            )
