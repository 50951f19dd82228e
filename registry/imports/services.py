"""Import an inventory file: plan (preview) and commit, for the command line and the page.

``plan_import`` reads nothing from the disk and writes nothing: it converts every row with the
mapping, matches it on its external key against what the registry holds, and says per row what
would happen (create, update, unchanged, or skipped for errors) with each problem's row, column
and message.  ``commit_import`` applies a plan in the caller's transaction: all or nothing, or
with ``only_valid`` the valid rows only.  Rows go in with bulk statements (an import of 10,000
rows is a few seconds, not one transaction per row); the audit trail gets one event per
imported system ("Imported from FILE row N": its history starts there) and one event with the
import's counts, appended in one go and closed by a signed checkpoint.

An imported system has not answered the risk questions: its tier is "not assessed", it needs no
controls yet and cannot get a GO (``registry.decisions.recommendation``).  A contact that is not a
registry user is kept as the contact and the system has no accountable owner until someone is named.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from registry.audit.keys import registry_identity
from registry.audit.models import AuditEvent
from registry.audit.services import record_events_bulk
from registry.auth.models import User
from registry.db import bulk_insert, utcnow
from registry.decisions.models import Decision
from registry.enums import Autonomy, DataCategory, DeclaredRegime, Kind, Role, Sourcing, Stage, Tier
from registry.events import publish
from registry.exports.writers import neutralise
from registry.imports.mapping import (
    FIELDS,
    Converted,
    check_mapping,
    convert_row,
    date_orders,
    external_key,
    fit_to,
    load_layouts,
    match_unit,
    recognise,
    suggest,
)
from registry.imports.models import ImportMapping
from registry.imports.reader import Table
from registry.inventory import stages
from registry.inventory.models import AISystem, SystemDataCategory, SystemPerson, search_text_for
from registry.inventory.services import reassess, system_snapshot
from registry.inventory.tiering import NOT_ASSESSED, RULES_VERSION
from registry.inventory.units import UNLISTED_FLAG, UNLISTED_LABEL, unit_matcher
from registry.state.cache import refresh_states

CREATE, UPDATE, UNCHANGED, SKIP = "create", "update", "unchanged", "skip"
CHUNK = 500
# Fields an import sets on a record; on a later import a blank cell never erases what is there.
IMPORTED = ("name", "purpose", "business_process", "business_unit", "organisation", "external_id", "contact",
            "stage", "kind", "sourcing", "vendor_name", "topic_area", "outputs", "operational_date",
            "decisions_influenced", "declared", "declared_justification", "declared_regime", "declared_source")


@dataclass
class RowPlan:
    row: int
    key: str
    action: str
    values: dict
    missing: list[str]
    problems: list[tuple[str, str, str]]  # (severity, column, message)
    system_id: int | None = None
    changes: dict = field(default_factory=dict)  # field -> (before, after), for updates
    current: object = None  # the registry's row, for updates

    @property
    def valid(self) -> bool:
        return not any(p[0] == "error" for p in self.problems)


@dataclass
class ImportPlan:
    file_name: str
    layout: str  # the known layout or saved mapping's name, or "custom"
    rows: list[RowPlan]
    notes: list[str]
    mapping: dict

    @property
    def counts(self) -> dict[str, int]:
        c = Counter(r.action for r in self.rows)
        return {"rows": len(self.rows), CREATE: c[CREATE], UPDATE: c[UPDATE], UNCHANGED: c[UNCHANGED],
                "errors": sum(1 for r in self.rows if not r.valid),
                "warnings": sum(1 for r in self.rows if any(p[0] == "warning" for p in r.problems)),
                # rows that would go in (created or updated) still lacking required fields
                "flagged": sum(1 for r in self.rows if r.action in (CREATE, UPDATE) and r.missing)}

    @property
    def valid(self) -> bool:
        return all(r.valid for r in self.rows)

    def problems_csv(self) -> str:
        """Every problem, one line each (row, column, severity, message): the downloadable report.
        Column names and values from the file are neutralised like the exports' (no formulas)."""
        out = io.StringIO()
        writer = csv.writer(out)

        def line(*cells) -> None:
            writer.writerow([neutralise(c) for c in cells])

        line("Row", "Column", "Severity", "Message")
        for r in self.rows:
            for severity, column, message in r.problems:
                line(r.row, column, severity, message)
            if r.action in (CREATE, UPDATE) and r.missing:
                line(r.row, "", "flagged", "Imported without: " + ", ".join(LABELS.get(m, m) for m in r.missing))
        return out.getvalue()


def _keys(table: Table, converted: list[Converted], mapping: dict, layout: str) -> list[tuple[str | None, str | None]]:
    """Each row's external key: the primary key, or when it is blank or repeated in the file the
    fallback key, made unique by its occurrence (stable for the same file)."""
    primary = [external_key(row, mapping, layout) for row in table.rows]
    taken: set[str] = set()
    seen: Counter = Counter()
    keys = []
    for (key, fallback), conv in zip(primary, converted, strict=True):
        if key and key not in taken:  # the first row with a key keeps it (and the record it matches)
            taken.add(key)
            keys.append((key, None))
            continue
        base = fallback or key or f"{layout}:row-without-key"
        seen[base] += 1
        chosen = base if seen[base] == 1 else f"{base}#{seen[base]}"
        note = ("the external key is blank" if not key else "the external key repeats in the file")
        conv.problems.append(("warning", ", ".join(mapping.get("key") or []),
                              f"{note}; matched on {', '.join(mapping.get('fallback_key') or ['the row'])} instead."))
        keys.append((chosen, note))
    return keys


COMPARED = [getattr(AISystem, "declared_high_impact" if n == "declared" else n) for n in IMPORTED]


def _existing(session: Session, keys: list, column=AISystem.external_key) -> dict:
    """What the registry holds for these keys (or ids): only the columns an import compares
    (narrow rows, no ORM objects: a re-import of 10,000 rows reads them in a few queries)."""
    found = {}
    columns = [AISystem.id, AISystem.external_key, AISystem.accountable_owner_id, AISystem.deleted_at,
               AISystem.missing_fields, AISystem.import_values, *COMPARED]
    for start in range(0, len(keys), CHUNK):
        chunk = keys[start:start + CHUNK]
        for row in session.execute(select(*columns).where(column.in_(chunk))):
            found[row.id if column is AISystem.id else row.external_key] = row
    return found


def _own_ids(session: Session, table: Table, mapping: dict) -> dict[int, int]:
    """Row index -> system id, for rows of this registry's own export (``registry_match``)."""
    match = mapping.get("registry_match")
    if not match:
        return {}
    own = registry_identity(session)
    return {i: int(row[match["id"]]) for i, row in enumerate(table.rows)
            if row.get(match["registry"], "").strip() == own and row.get(match["id"], "").strip().isdigit()
            and int(row[match["id"]]) < 2**31}


def _stored_values(values: dict) -> dict:
    """The file's values of a row as ``import_values`` keeps them (a blank cell says nothing)."""
    return {k: stored(x) for k, x in values.items() if x is not None and x != ""}


def stored(value):
    """A value as ``import_values`` keeps it (JSON)."""
    return value.isoformat() if hasattr(value, "isoformat") else value


def _changes(system, conv: Converted, columns: dict, categories: list[str], owners: dict[str, int]) -> dict:
    """What an import would change on a record: each field the file gives (a blank cell never
    erases) that differs from the record, except where the file still says what the last import
    set (the registry's own edit since then stands), and the contact once someone owns it; the
    data it touches; and an owner where the contact has become a registry user since."""
    last = system.import_values or {}
    changes = {}
    if system.accountable_owner_id is None:
        contact = (conv.values.get("contact") or system.contact or "").lower()
        if contact in owners:
            changes["accountable_owner_id"] = (None, owners[contact])
    data = conv.values.get("data_categories")
    if data is not None and last.get("data_categories") != data and set(data) != set(categories):
        if "data_categories" in last and set(last["data_categories"]) != set(categories):
            conv.problems.append(("warning", columns.get("data_categories", ""), "The data it touches was edited in "
                                  "the registry since the last import; the file's new value replaces the edit."))
        changes["data_categories"] = (sorted(categories, key=DataCategory.values().index), data)
    for name, value in conv.values.items():
        if name not in IMPORTED or value in (None, ""):
            continue
        if name == "contact" and system.accountable_owner_id is not None:
            continue
        current = _current(system, name)
        if name in last and last[name] == stored(value):
            continue  # the file has not changed since the last import
        if _same(name, current, value):
            continue
        if name in last and not _same(name, current, last[name]):
            conv.problems.append(("warning", columns.get(name, ""), f"{FIELDS[name][0]} was edited in the registry since the "
                                                             "last import; the file's new value replaces the edit."))
        changes[name] = (current, value)
    return changes


def _same(name: str, current, value) -> bool:
    """The file says what the registry holds (a one-line field read from a file has its spacing
    collapsed: the registry's own line breaks in it are not a change)."""
    if current == value:
        return True
    return FIELDS[name][1] in ("line", "email") and isinstance(current, str) and " ".join(current.split()) == value


def _current(system, name: str):
    value = getattr(system, "declared_high_impact" if name == "declared" else name)
    return value.value if hasattr(value, "value") else value


def plan_import(session: Session, table: Table, mapping: dict, *, layout: str = "custom") -> ImportPlan:
    orders = date_orders(table.rows, mapping)
    converted = [convert_row(row, mapping, orders) for row in table.rows]
    matcher, unit_column = unit_matcher(session), (mapping.get("columns") or {}).get("business_unit") or ""
    for conv in converted:  # the list's spelling, or flagged (one query for the list)
        match_unit(conv, unit_column, matcher)
    keys = _keys(table, converted, mapping, layout)
    existing = _existing(session, [k for k, _ in keys])
    own_ids = _own_ids(session, table, mapping)
    by_id = _existing(session, sorted(set(own_ids.values())), AISystem.id) if own_ids else {}
    categories = _categories(session, sorted({s.id for s in (*existing.values(), *by_id.values())}))
    owners = _owners(session)
    rows = []
    for i, (number, conv, (key, _note)) in enumerate(zip(table.numbers, converted, keys, strict=True)):
        if i in own_ids:  # a row of this registry's own export: its system, whatever its key
            if own_ids[i] in by_id:
                key = f"#id:{own_ids[i]}"
                existing[key] = by_id[own_ids[i]]
            else:
                conv.problems.append(("warning", mapping["registry_match"]["id"],
                                      f"This registry has no system {own_ids[i]} (any more): imported as a new record."))
        if not conv.values.get("name") and "name" in conv.missing and key not in existing:  # a record keeps its name
            conv.values["name"] = f"(no name) {table.file_name} row {number}"[:300]
            conv.problems.append(("warning", (mapping.get("columns") or {}).get("name", ""),
                                  f"The row has no name: imported as “{conv.values['name']}” and flagged."))
        plan = RowPlan(number, key, CREATE, conv.values, conv.missing, conv.problems)
        if not plan.valid:
            plan.action = SKIP
        elif key in existing and existing[key].deleted_at is not None:
            plan.action = UNCHANGED
            plan.problems.append(("warning", "", "The record was deleted in the registry; the import leaves it so."))
        elif key in existing:
            system = existing[key]
            plan.system_id = system.id
            plan.current = system
            plan.changes = _changes(system, conv, mapping.get("columns") or {}, categories.get(system.id, []), owners)
            plan.action = UPDATE if plan.changes else UNCHANGED
        rows.append(plan)
    return ImportPlan(table.file_name, layout, rows, list(table.notes), mapping)


def _categories(session: Session, ids: list[int]) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {}
    for start in range(0, len(ids), CHUNK):
        for system_id, category in session.execute(select(SystemDataCategory.system_id, SystemDataCategory.category)
                                                   .where(SystemDataCategory.system_id.in_(ids[start:start + CHUNK]))):
            found.setdefault(system_id, []).append(category.value if hasattr(category, "value") else category)
    return found


LABELS = {**{name: label for name, (label, _kind, _limit) in FIELDS.items()}, "accountable_owner_id": "Accountable owner",
          UNLISTED_FLAG: UNLISTED_LABEL}


def _owners(session: Session) -> dict[str, int]:
    """Registry users who may own a system, by lower-cased email."""
    return {email.lower(): uid for uid, email in session.execute(
        select(User.id, User.email).where(User.is_active.is_(True), User.role != Role.EXECUTIVE))}


def commit_import(session: Session, actor: User | None, plan: ImportPlan, *, only_valid: bool = False,
                  now: datetime | None = None, actor_label: str | None = None,
                  progress: Callable[..., None] | None = None) -> dict[str, int]:
    """Apply ``plan``; returns the counts.  Raises ``ImportRefused`` when rows have errors and
    ``only_valid`` is not set (nothing is written).  ``progress(text, rows_done)`` hears of each step."""
    if not plan.valid and not only_valid:
        bad = [r for r in plan.rows if not r.valid]
        first = bad[0]
        severity, column, message = next(p for p in first.problems if p[0] == "error")
        raise ImportRefused(f"{len(bad)} row{'s' if len(bad) != 1 else ''} with errors, nothing imported (first: row "
                            f"{first.row}, column “{column}”: {message}). Fix the file or the mapping, or import "
                            "the valid rows only.")
    now = now or utcnow()
    progress = progress or (lambda text, done=None: None)
    owners = _owners(session)
    default_regime = DeclaredRegime(plan.mapping.get("declared_regime") or DeclaredRegime.OTHER.value)
    source = (plan.mapping.get("source_label") or "").strip()
    creates = [r for r in plan.rows if r.action == CREATE]
    updates = [r for r in plan.rows if r.action == UPDATE]
    new_rows, people, links = [], [], []
    for r in creates:
        v = r.values
        owner = owners.get((v.get("contact") or "").lower())
        row = {
            "name": v["name"], "purpose": v.get("purpose") or "", "business_process": v.get("business_process") or "",
            "business_unit": v.get("business_unit") or "", "accountable_owner_id": owner, "technical_owner_id": None,
            "sourcing": Sourcing(v.get("sourcing") or "unknown"), "vendor_name": v.get("vendor_name"),
            "kind": Kind(v.get("kind") or "unknown"), "stage": Stage(v.get("stage") or "unknown"),
            "affects": [], "decisions_influenced": v.get("decisions_influenced") or "",
            "autonomy": Autonomy.UNKNOWN, "risk_answers": {}, "computed_tier": Tier.NOT_ASSESSED,
            "tier_reasons": NOT_ASSESSED.reasons, "tier": Tier.NOT_ASSESSED, "eu_class": None, "eu_basis": "",
            "omb_high_impact": None, "omb_basis": "", "tier_rules": RULES_VERSION,
            "declared_high_impact": v.get("declared"),
            "declared_regime": DeclaredRegime(v.get("declared_regime") or default_regime.value),
            "declared_justification": v.get("declared_justification") or "",
            "declared_source": (v.get("declared_source") or source or plan.file_name)[:300]
            if v.get("declared") is not None else "",
            "external_key": r.key, "external_id": v.get("external_id") or "", "import_source": plan.file_name[:300],
            "import_row": r.row, "imported_at": now, "organisation": v.get("organisation") or "",
            "topic_area": v.get("topic_area") or "", "outputs": v.get("outputs") or "",
            "operational_date": v.get("operational_date"), "contact": "" if owner else (v.get("contact") or ""),
            "missing_fields": r.missing + ([] if owner else ["accountable_owner"]),
            "import_values": _stored_values(v),
            "created_at": now, "updated_at": now, "version": 1,
        }
        row["search_text"] = search_text_for(row["name"], row["purpose"], row["business_unit"], row["vendor_name"])
        new_rows.append(row)
    progress(f"Writing {len(creates):,} new and {len(updates):,} updated records…")
    ids = bulk_insert(session, AISystem, new_rows)
    for system_id, row, r in zip(ids, new_rows, creates, strict=True):
        r.system_id = system_id
        if row["accountable_owner_id"]:
            people.append({"system_id": system_id, "role": "accountable_owner", "user_id": row["accountable_owner_id"]})
        links.extend({"system_id": system_id, "category": c} for c in r.values.get("data_categories") or [])
    if people:
        session.execute(SystemPerson.__table__.insert(), people)
    if links:
        session.execute(SystemDataCategory.__table__.insert(), links)
    # Stage history: a new record entered its stage on import; a changed stage is a move then.
    stages.record_bulk(session, created=[(sid, row["stage"]) for sid, row in zip(ids, new_rows, strict=True)],
                       moved=[(r.system_id, Stage(r.changes["stage"][0]), Stage(r.changes["stage"][1]))
                              for r in updates if "stage" in r.changes], now=now)
    assessed = _assessed_before(session, [r.system_id for r in updates])
    relinked = [r for r in updates if "data_categories" in r.changes]
    for start in range(0, len(relinked), CHUNK):
        session.execute(delete(SystemDataCategory).where(
            SystemDataCategory.system_id.in_([r.system_id for r in relinked[start:start + CHUNK]])))
    new_links = [{"system_id": r.system_id, "category": c} for r in relinked for c in r.changes["data_categories"][1]]
    if new_links:
        session.execute(SystemDataCategory.__table__.insert(), new_links)
    named = [{"system_id": r.system_id, "role": "accountable_owner", "user_id": r.changes["accountable_owner_id"][1]}
             for r in updates if "accountable_owner_id" in r.changes]
    if named:
        session.execute(SystemPerson.__table__.insert(), named)
    for r in updates:
        values = {("declared_high_impact" if k == "declared" else k): after for k, (_before, after) in r.changes.items()
                  if k != "data_categories"}
        if "accountable_owner_id" in r.changes:
            values["contact"] = ""  # the contact is now the registry user named as owner
        now_is = {k: values.get(k, getattr(r.current, k)) for k in ("name", "purpose", "business_unit", "vendor_name")}
        values["search_text"] = search_text_for(now_is["name"], now_is["purpose"] or "", now_is["business_unit"] or "",
                                                now_is["vendor_name"])
        values["missing_fields"] = [m for m in (r.current.missing_fields or []) if m not in r.changes
                                    and not (m == "accountable_owner" and "accountable_owner_id" in r.changes)
                                    and not (m == UNLISTED_FLAG and "business_unit" in r.changes)]
        if "business_unit" in r.changes and UNLISTED_FLAG in r.missing:
            values["missing_fields"].append(UNLISTED_FLAG)
        values["import_values"] = {**(r.current.import_values or {}), **_stored_values(r.values)}
        values.update(updated_at=now, import_source=plan.file_name[:300], import_row=r.row, imported_at=now,
                      version=AISystem.version + 1)
        session.execute(update(AISystem).where(AISystem.id == r.system_id).values(**values))
    counts = plan.counts
    skipped = [r.row for r in plan.rows if r.action == SKIP]
    events = [{"action": "system.import", "entity_type": "system", "entity_id": str(r.system_id),
               "system_id": r.system_id, "at": now,
               "summary": f"Imported from {plan.file_name} row {r.row}",
               "after": {"source": plan.file_name, "row": r.row, "external_key": r.key,
                         "missing": [LABELS.get(m, m) for m in r.missing] or None}} for r in creates]
    events += [{"action": "system.import_update", "entity_type": "system", "entity_id": str(r.system_id),
                "system_id": r.system_id, "at": now,
                "summary": f"Updated from {plan.file_name} row {r.row}: {', '.join(LABELS[k] for k in r.changes)}",
                "before": {k: _plain(b) for k, (b, _a) in r.changes.items()},
                "after": {k: _plain(a) for k, (_b, a) in r.changes.items()}} for r in updates]
    events.append({"action": "import.commit", "entity_type": "import", "entity_id": plan.file_name[:64], "at": now,
                   "summary": (f"Imported {plan.file_name} ({plan.layout}): {len(creates)} created, {len(updates)} "
                               f"updated, {counts[UNCHANGED]} unchanged, {len(skipped)} skipped for errors"),
                   "after": {"file": plan.file_name, "layout": plan.layout, "rows": counts["rows"],
                             "created": len(creates), "updated": len(updates), "unchanged": counts[UNCHANGED],
                             "skipped_rows": skipped[:1000] or None, "flagged": counts["flagged"]}})
    progress(f"Recording {len(events):,} audit events…")
    record_events_bulk(session, actor, events, actor_label=actor_label, checkpoint="import")
    for system, before in assessed:  # its tier follows the file's changes; a decision may be in question
        session.refresh(system)
        lapsed = reassess(system)
        publish(session, "system.profile_changed", actor=actor, system=system, before=before,
                after=system_snapshot(system), at=now, notes=[lapsed] if lapsed else [])
    touched = [r.system_id for r in creates + updates]
    if touched:
        progress(f"Computing the readiness state of {len(touched):,} records…")
        refresh_states(session, touched)
    progress("Saving…", counts["rows"])
    return {"created": len(creates), "updated": len(updates), "unchanged": counts[UNCHANGED], "skipped": len(skipped),
            "flagged": counts["flagged"]}


def recent_imports(session: Session, limit: int = 10) -> list:
    """The newest imports (their ``import.commit`` audit events), newest first."""
    return list(session.scalars(select(AuditEvent).where(AuditEvent.action == "import.commit")
                                .order_by(AuditEvent.seq.desc()).limit(limit)))


def _assessed_before(session: Session, ids: list[int]) -> list[tuple[AISystem, dict]]:
    """The systems among ``ids`` whose tier has been assessed (or that were decided), each with its
    profile before the import: a file's change to them is a profile change like an edit on the page
    (the tier is reassessed, a decision flagged for re-review).  Usually few: an import mostly
    touches records nobody has assessed yet, which take the fast path."""
    found = []
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start:start + CHUNK]
        decided = select(Decision.id).where(Decision.system_id == AISystem.id).exists()
        for system in session.scalars(select(AISystem).where(
                AISystem.id.in_(chunk), or_(AISystem.tier != Tier.NOT_ASSESSED, decided))):
            found.append((system, system_snapshot(system)))
    return found


def _plain(value):
    return value.isoformat() if hasattr(value, "isoformat") else value


class ImportRefused(ValueError):
    """Rows have errors and only valid rows were not asked for: nothing was imported."""


def resolve_mapping(session: Session, table: Table, name: str | None) -> tuple[dict, str]:
    """The mapping to use and what to call it: ``name`` is a shipped layout's key or a saved
    mapping's name; without it the file's layout is recognised by its headers.  Raises
    ``UnknownLayout`` (with a suggested mapping) when neither gives one."""
    layouts = load_layouts()
    if name:
        for layout in layouts:
            if layout.key == name:
                mapping, notes = fit_to(layout.mapping, table.headers)
                table.notes.extend(notes)
                return mapping, layout.key
        saved = session.scalar(select(ImportMapping).where(ImportMapping.name == name))
        if saved is None:
            known = ", ".join([lay.key for lay in layouts] + list(session.scalars(select(ImportMapping.name))))
            raise UnknownLayout(f"No mapping called “{name}”. Known: {known or 'none'}.", suggest(table.headers))
        return saved.mapping, saved.name
    layout = recognise(table.headers, layouts)
    if layout is not None:
        mapping, notes = fit_to(layout.mapping, table.headers)
        table.notes.extend(notes)
        return mapping, layout.key
    for saved in session.scalars(select(ImportMapping).order_by(ImportMapping.updated_at.desc())):
        if set(saved.headers) == set(table.headers):
            return saved.mapping, saved.name
    raise UnknownLayout(f"{table.file_name}: a layout the registry does not know yet. Save a mapping for it "
                        "(the suggestion below is a start) and import with it.", suggest(table.headers))


def save_mapping(session: Session, actor: User | None, name: str, headers: list[str], mapping: dict) -> ImportMapping:
    problems = check_mapping(mapping, headers)
    if problems:
        raise ImportRefused("The mapping cannot be used: " + " ".join(problems))
    saved = session.scalar(select(ImportMapping).where(ImportMapping.name == name)) or ImportMapping(name=name)
    saved.headers, saved.mapping = list(headers), mapping
    saved.created_by_id = saved.created_by_id or (actor.id if actor else None)
    session.add(saved)
    session.flush()
    return saved


class UnknownLayout(LookupError):
    def __init__(self, message: str, suggestion: dict):
        super().__init__(message)
        self.suggestion = suggestion
