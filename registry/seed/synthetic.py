"""N realistic random systems, with owners, data, metrics, audit events and readiness state, for benchmarks.

Rows go in in bulk (``bulk_rows``: PostgreSQL's COPY, else one executemany) and the tier comes
from the real rules, so a synthetic portfolio looks to every page exactly like a typed-in one.
The audit events are appended in one chained, signed batch and the state cache is computed in
bulk.  Every foreign key and trigger stays on while seeding: no code path of the registry turns
the database's own checks off.
"""

from __future__ import annotations

import json
import logging
import random
import time
from datetime import date, datetime, timedelta
from enum import Enum
from functools import lru_cache

from sqlalchemy import text
from sqlalchemy.orm import Session

from registry.audit.checkpoints import write_checkpoint
from registry.audit.services import record_events_bulk
from registry.auth.models import User
from registry.db import bulk_insert, utcnow
from registry.enums import (
    Affected,
    Autonomy,
    DataCategory,
    DecisionDomain,
    DecisionRole,
    Kind,
    MetricDirection,
    ProhibitedPractice,
    Role,
    Sourcing,
    Stage,
)
from registry.inventory.models import (
    PROFILE_ROLES,
    AISystem,
    BaselineMetric,
    OrgUnit,
    StageChange,
    SystemDataCategory,
    SystemPerson,
    search_text_for,
)
from registry.inventory.tiering import RULES_VERSION, RiskInputs, assess_tier
from registry.inventory.units import unit_names
from registry.seed.synthetic_readiness import seed_readiness_state
from registry.state.cache import refresh_states

UNITS = ["Customer Service", "Sales", "HR", "Finance", "Claims & Insurance", "Operations & Logistics",
         "Legal", "Engineering", "Risk & Fraud", "Marketing", "Procurement", "Public Sector Partnerships"]
SUBJECTS = ["claims", "invoices", "tickets", "contracts", "shipments", "applications", "orders", "leads",
            "payments", "shifts", "returns", "policies", "vehicles", "suppliers", "complaints"]
ACTIONS = {
    Kind.PREDICTIVE_MODEL: ["risk scoring", "forecasting", "churn prediction", "anomaly detection"],
    Kind.GENERATIVE_ASSISTANT: ["assistant", "summariser", "drafting copilot", "answer bot"],
    Kind.AGENT: ["resolution agent", "filing agent", "booking agent", "reconciliation agent"],
    Kind.OPTIMISER: ["optimiser", "route planner", "scheduler", "allocation engine"],
    Kind.PERCEPTION: ["document reader", "damage photo assessor", "speech transcriber"],
    Kind.OTHER: ["rules engine", "matching service"],
}
VENDORS = ["Parlance", "Quillo", "Veriface", "Lumen Analytics", "Corvid AI", "Stratos Labs"]
FIRST = ["Amara", "Bruno", "Chen", "Dana", "Emeka", "Farah", "Goran", "Hana", "Ivo", "Jana", "Kofi", "Lena",
         "Mateo", "Nadia", "Oskar", "Priya", "Rui", "Sofia", "Tariq", "Uma", "Viktor", "Wen", "Yara", "Zoltan"]
LAST = ["Adeyemi", "Berg", "Costa", "Dubois", "Eriksen", "Fischer", "Garcia", "Haddad", "Ivanova", "Jansen",
        "Kowalski", "Lindahl", "Moreau", "Novak", "Okafor", "Petrov", "Quinn", "Rossi", "Sato", "Tanaka"]
METRICS = [("Resolution rate", "%", MetricDirection.HIGHER_IS_BETTER), ("Handling time", "minutes",
           MetricDirection.LOWER_IS_BETTER), ("Error rate", "%", MetricDirection.LOWER_IS_BETTER),
           ("Cost per case", "EUR", MetricDirection.LOWER_IS_BETTER), ("Precision", "%", MetricDirection.HIGHER_IS_BETTER)]


log = logging.getLogger(__name__)


class _Phases:
    """Seconds spent in each phase of a seeding, logged at INFO (``scripts/bench_scale.py`` prints them)."""

    def __init__(self) -> None:
        self.last = time.perf_counter()

    def __call__(self, name: str) -> None:
        now = time.perf_counter()
        log.info("synthetic seeding, %s: %.1f s", name, now - self.last)
        self.last = now


def _copy_value(value) -> str:
    """One value in PostgreSQL's COPY text format."""
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, Enum):
        value = value.value
    elif isinstance(value, dict | list):
        value = json.dumps(value)
    elif isinstance(value, datetime | date):
        return value.isoformat()
    elif not isinstance(value, str):
        return str(value)
    return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def bulk_rows(session: Session, table, rows: list[dict]) -> None:
    """INSERT ``rows`` (dicts with the same keys) into ``table``: COPY on PostgreSQL, else one
    executemany.  Values as the ORM would bind them (enums, dicts and lists for JSON, aware datetimes)."""
    if not rows:
        return
    conn = session.connection()
    if conn.dialect.name != "postgresql":
        session.execute(table.insert(), rows)
        return
    columns = list(rows[0])
    encode = _copy_value
    with conn.connection.driver_connection.cursor() as cursor, \
            cursor.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy:
        for start in range(0, len(rows), 5000):
            copy.write("".join("\t".join([encode(row[c]) for c in columns]) + "\n"
                               for row in rows[start:start + 5000]))


def _insert_with_ids(session: Session, model, rows: list[dict]) -> list[int]:
    """``registry.db.bulk_insert``'s keys taken up front, then ``bulk_rows``."""
    if session.get_bind().dialect.name != "postgresql":
        return bulk_insert(session, model, rows)
    ids = list(session.scalars(
        text("SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :n)"),
        {"table": model.__tablename__, "n": len(rows)})) if rows else []
    for row, new_id in zip(rows, ids, strict=True):
        row["id"] = new_id
    bulk_rows(session, model.__table__, rows)
    return ids


@lru_cache(maxsize=8192)
def _tier(kind, autonomy, affects: tuple, data: tuple, risk: str):
    """The real rules, once per distinct set of answers (a few thousand at 100,000 systems)."""
    return assess_tier(RiskInputs.build(kind=kind, autonomy=autonomy, affects=affects, data_categories=data,
                                        risk_answers=json.loads(risk)))


SEEDED_TABLES = ("users", "ai_systems", "system_data_categories", "system_people", "baseline_metrics",
                 "readiness_answers", "control_assessments", "decisions", "stage_changes", "audit_events")


def _analyze(session: Session) -> None:
    """PostgreSQL: planner statistics for the tables just filled, within the transaction (ANALYZE
    sees its own uncommitted rows); without them every batch of the state computation scans them."""
    if session.get_bind().dialect.name == "postgresql":
        for table in SEEDED_TABLES:
            session.execute(text(f"ANALYZE {table}"))


def _owners(session: Session, rng: random.Random, count: int) -> list[int]:
    tag = f"{rng.randrange(10**9)}"
    rows = []
    for i in range(count):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        rows.append({
            "email": f"{first}.{last}.{tag}.{i}@synthetic.example".lower(),
            "name": f"{first} {last}",
            "role": Role.OWNER,
            "password_hash": "!synthetic-account-cannot-sign-in",
            "is_active": True,
            "session_epoch": 0,
            "created_at": utcnow(),
        })
    return bulk_insert(session, User, rows)


KINDS = [k for k in Kind if k is not Kind.UNKNOWN]
STAGES = [s for s in Stage if s is not Stage.UNKNOWN]
AUTONOMIES = [a for a in Autonomy if a is not Autonomy.UNKNOWN]
SOURCINGS = [Sourcing.IN_HOUSE, Sourcing.VENDOR]


def seed_synthetic(session: Session, count: int, *, seed: int = 7) -> int:
    """Insert ``count`` systems in the caller's transaction; return how many."""
    rng = random.Random(seed)
    phase = _Phases()
    owners = _owners(session, rng, max(5, count // 40))
    # The list the system form offers: inserted like the accounts, without an audit event each.
    listed = set(unit_names(session))
    bulk_insert(session, OrgUnit, [{"name": unit, "created_at": utcnow()} for unit in UNITS if unit not in listed])
    now = utcnow()
    systems, profiles = [], []
    affected, categories, domains_all, roles = Affected.values(), DataCategory.values(), DecisionDomain.values(), \
        DecisionRole.values()
    choices, sample, rand, randint = rng.choices, rng.sample, rng.random, rng.randint
    for i in range(count):
        kind = choices(KINDS, weights=[30, 25, 10, 15, 12, 8])[0]
        stage = choices(STAGES, weights=[15, 45, 33, 7])[0]
        affects = sample(affected, randint(1, 2))
        data = sample(categories, randint(0, 3))
        domains = sample(domains_all, 1) if rand() < 0.18 else []
        prohibited = ProhibitedPractice.SOCIAL_SCORING.value if rand() < 0.004 else "none"
        autonomy = choices(AUTONOMIES, weights=[50, 35, 15])[0]
        risk = {"prohibited_practice": prohibited, "decision_domains": domains, "legal_effect": rand() < 0.12}
        if domains or risk["legal_effect"]:
            risk["decision_role"] = rng.choice(roles)
        assessment = _tier(kind, autonomy, tuple(affects), tuple(data), json.dumps(risk, sort_keys=True))
        sourcing = rng.choice(SOURCINGS)
        unit = rng.choice(UNITS)
        subject = rng.choice(SUBJECTS)
        action = rng.choice(ACTIONS[kind])
        created = now - timedelta(days=randint(0, 900), minutes=randint(0, 1440))
        owner = rng.choice(owners)
        name = f"{subject.capitalize()} {action} #{i + 1}"
        purpose = f"Supports {unit} with {action} on {subject}; synthetic system for load testing."
        vendor = rng.choice(VENDORS) if sourcing is Sourcing.VENDOR else None
        systems.append({
            "name": name,
            "purpose": purpose,
            "business_process": f"{unit}: {subject} handling",
            "business_unit": unit,
            "accountable_owner_id": owner,
            "technical_owner_id": rng.choice(owners) if rand() < 0.7 else None,
            "sourcing": sourcing,
            "vendor_name": vendor,
            "kind": kind,
            "stage": stage,
            "affects": affects,
            "decisions_influenced": f"Which {subject} are prioritised and how they are handled.",
            "autonomy": autonomy,
            "risk_answers": risk,
            "computed_tier": assessment.tier,
            "tier_reasons": assessment.reasons,
            "tier": assessment.tier,
            "eu_class": assessment.eu_class,
            "eu_basis": assessment.eu_basis,
            "omb_high_impact": assessment.omb_high_impact,
            "omb_basis": assessment.omb_basis,
            "tier_rules": RULES_VERSION,
            "created_at": created,
            "updated_at": created,
            "version": 1,
            "search_text": search_text_for(name, purpose, unit, vendor),
            "re_review_reasons": [],
        })
        profiles.append(data)
    phase("systems generated")
    ids = _insert_with_ids(session, AISystem, systems)
    phase("systems inserted")
    links, metrics, events, people = [], [], [], []
    for system_id, row, data in zip(ids, systems, profiles, strict=True):
        links.extend({"system_id": system_id, "category": DataCategory(c)} for c in data)
        people.extend({"system_id": system_id, "role": role, "user_id": row[f"{role}_id"]}
                      for role in PROFILE_ROLES if row[f"{role}_id"] is not None)
        for name, unit, direction in sample(METRICS, randint(0, 2)):
            baseline = round(rng.uniform(5, 95), 1)
            better = 1 if direction is MetricDirection.HIGHER_IS_BETTER else -1
            measured = rand() < 0.85
            metrics.append({
                "system_id": system_id, "name": name, "unit": unit,
                "baseline_value": baseline if measured else None,
                "measured_on": date(2026, 1, 1) - timedelta(days=randint(0, 400)) if measured else None,
                "source": "Synthetic monitoring export", "target_value": round(baseline * (1 + 0.1 * better), 1),
                "direction": direction, "created_at": row["created_at"],
            })
        events.append({"action": "system.create", "entity_type": "system", "entity_id": str(system_id),
                       "system_id": system_id, "summary": f"Registered {row['name']}",
                       "after": {"name": row["name"], "tier": row["tier"].label, "stage": row["stage"].label}})
    bulk_rows(session, SystemDataCategory.__table__, links)
    bulk_rows(session, SystemPerson.__table__, people)
    bulk_rows(session, BaselineMetric.__table__, metrics)
    phase("data, people and metrics")
    record_events_bulk(session, None, events, actor_label="synthetic seeder")
    phase("audit events")
    seed_readiness_state(session, ids, rng, _insert_with_ids)
    phase("answers, control assessments and decisions")
    _stage_history(session, ids, systems, random.Random(seed + 1), now)
    phase("stage history")
    _analyze(session)  # the state's loader reads these tables back by system: plan with their new sizes
    refresh_states(session, ids)  # the bulk inserts bypass the ORM hook that keeps system_states
    phase("state cache")
    write_checkpoint(session, "seed")
    phase("audit checkpoint")
    return count


STAGE_PATHS = {
    Stage.IDEA: [[Stage.IDEA]],
    Stage.PILOT: [[Stage.IDEA, Stage.PILOT], [Stage.PILOT]],
    Stage.PRODUCTION: [[Stage.IDEA, Stage.PILOT, Stage.PRODUCTION], [Stage.PILOT, Stage.PRODUCTION]],
    Stage.RETIRED: [[Stage.IDEA, Stage.PILOT, Stage.RETIRED], [Stage.PILOT, Stage.PRODUCTION, Stage.RETIRED]],
}


def _stage_history(session: Session, ids: list[int], systems: list[dict], rng: random.Random, now) -> None:
    """A plausible path to each system's current stage, dated between its registration and now."""
    rows = []
    for system_id, row in zip(ids, systems, strict=True):
        path = rng.choice(STAGE_PATHS[row["stage"]])
        span = (now - row["created_at"]).total_seconds()
        offsets = sorted(rng.uniform(0, span) for _ in path[1:])
        previous = None
        starts = [0.0, *offsets]
        for i, (stage, offset) in enumerate(zip(path, starts, strict=True)):
            left = starts[i + 1] if i + 1 < len(starts) else None
            rows.append({"system_id": system_id, "from_stage": previous, "stage": stage,
                         "entered_at": row["created_at"] + timedelta(seconds=offset),
                         "left_at": row["created_at"] + timedelta(seconds=left) if left is not None else None,
                         "days_in_stage": (left - offset) / 86400 if left is not None else None})
            previous = stage
    bulk_rows(session, StageChange.__table__, rows)
