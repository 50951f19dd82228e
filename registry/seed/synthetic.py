"""N realistic random systems, with owners, data, metrics, audit events and readiness state, for benchmarks.

Rows go in with bulk INSERTs and the tier comes from the real rules, so a synthetic
portfolio looks to every page exactly like a typed-in one.  10,000 systems take a few
seconds.
"""

from __future__ import annotations

import random
from datetime import date, timedelta

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


def seed_synthetic(session: Session, count: int, *, seed: int = 7) -> int:
    """Insert ``count`` systems in the caller's transaction; return how many."""
    rng = random.Random(seed)
    owners = _owners(session, rng, max(5, count // 40))
    # The list the system form offers: inserted like the accounts, without an audit event each.
    listed = set(unit_names(session))
    bulk_insert(session, OrgUnit, [{"name": unit, "created_at": utcnow()} for unit in UNITS if unit not in listed])
    now = utcnow()
    systems, profiles = [], []
    for i in range(count):
        kind = rng.choices(KINDS, weights=[30, 25, 10, 15, 12, 8])[0]
        stage = rng.choices(STAGES, weights=[15, 45, 33, 7])[0]
        affects = rng.sample(Affected.values(), rng.randint(1, 2))
        data = rng.sample(DataCategory.values(), rng.randint(0, 3))
        domains = rng.sample(DecisionDomain.values(), 1) if rng.random() < 0.18 else []
        prohibited = ProhibitedPractice.SOCIAL_SCORING.value if rng.random() < 0.004 else "none"
        autonomy = rng.choices(AUTONOMIES, weights=[50, 35, 15])[0]
        risk = {"prohibited_practice": prohibited, "decision_domains": domains, "legal_effect": rng.random() < 0.12}
        if domains or risk["legal_effect"]:
            risk["decision_role"] = rng.choice(DecisionRole.values())
        assessment = assess_tier(RiskInputs.build(kind=kind, autonomy=autonomy, affects=affects,
                                                  data_categories=data, risk_answers=risk))
        sourcing = rng.choice([Sourcing.IN_HOUSE, Sourcing.VENDOR])
        unit = rng.choice(UNITS)
        subject = rng.choice(SUBJECTS)
        action = rng.choice(ACTIONS[kind])
        created = now - timedelta(days=rng.randint(0, 900), minutes=rng.randint(0, 1440))
        owner = rng.choice(owners)
        systems.append({
            "name": f"{subject.capitalize()} {action} #{i + 1}",
            "purpose": f"Supports {unit} with {action} on {subject}; synthetic system for load testing.",
            "business_process": f"{unit}: {subject} handling",
            "business_unit": unit,
            "accountable_owner_id": owner,
            "technical_owner_id": rng.choice(owners) if rng.random() < 0.7 else None,
            "sourcing": sourcing,
            "vendor_name": rng.choice(VENDORS) if sourcing is Sourcing.VENDOR else None,
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
        })
        row = systems[-1]
        row["search_text"] = search_text_for(row["name"], row["purpose"], unit, row["vendor_name"])
        profiles.append((data, kind))
    ids = bulk_insert(session, AISystem, systems)
    links, metrics, events, people = [], [], [], []
    for system_id, row, (data, _kind) in zip(ids, systems, profiles, strict=True):
        links.extend({"system_id": system_id, "category": DataCategory(c)} for c in data)
        people.extend({"system_id": system_id, "role": role, "user_id": row[f"{role}_id"]}
                      for role in PROFILE_ROLES if row[f"{role}_id"] is not None)
        for name, unit, direction in rng.sample(METRICS, rng.randint(0, 2)):
            baseline = round(rng.uniform(5, 95), 1)
            better = 1 if direction is MetricDirection.HIGHER_IS_BETTER else -1
            metrics.append({
                "system_id": system_id, "name": name, "unit": unit,
                "baseline_value": baseline if rng.random() < 0.85 else None,
                "measured_on": date(2026, 1, 1) - timedelta(days=rng.randint(0, 400)),
                "source": "Synthetic monitoring export", "target_value": round(baseline * (1 + 0.1 * better), 1),
                "direction": direction, "created_at": row["created_at"],
            })
        events.append({"action": "system.create", "entity_type": "system", "entity_id": str(system_id),
                       "system_id": system_id, "summary": f"Registered {row['name']}",
                       "after": {"name": row["name"], "tier": row["tier"].label, "stage": row["stage"].label}})
    if links:
        session.execute(SystemDataCategory.__table__.insert(), links)
    if people:
        session.execute(SystemPerson.__table__.insert(), people)
    if metrics:
        for m in metrics:
            if m["baseline_value"] is None:
                m["measured_on"] = None
        session.execute(BaselineMetric.__table__.insert(), metrics)
    record_events_bulk(session, None, events, actor_label="synthetic seeder")
    seed_readiness_state(session, ids, rng, bulk_insert)
    _stage_history(session, ids, systems, random.Random(seed + 1), now)
    refresh_states(session, ids)  # the bulk inserts bypass the ORM hook that keeps system_states
    write_checkpoint(session, "seed")
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
    session.execute(StageChange.__table__.insert(), rows)
