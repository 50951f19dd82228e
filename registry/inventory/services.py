"""Registering, changing and removing AI systems and their baseline metrics.

Every function takes the session and the acting user, checks permission, validates,
changes the rows and writes the audit event in the same transaction; the caller commits.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from registry.audit.services import record_event
from registry.auth.models import User
from registry.auth.permissions import (
    can_confirm_tier_override,
    can_create_system,
    can_delete_system,
    can_edit_system,
    can_override_tier,
    can_read_inventory,
    require,
)
from registry.db import utcnow
from registry.enums import (
    Affected,
    Autonomy,
    BiometricUse,
    DataCategory,
    DecisionDomain,
    DecisionRole,
    DeclaredRegime,
    EUClass,
    Kind,
    MetricDirection,
    ProhibitedPractice,
    Role,
    SafetyHarm,
    Sourcing,
    Stage,
    Tier,
)
from registry.errors import Conflict, NotFound, ValidationFailed
from registry.events import publish
from registry.inventory.models import (
    AISystem,
    BaselineMetric,
    SystemDataCategory,
    search_text_for,
)
from registry.inventory.schemas import MetricSchema, SystemSchema, load_or_raise
from registry.inventory.stages import stage_clock
from registry.inventory.tiering import (
    FLAGS,
    NOT_ASSESSED,
    RULES_VERSION,
    RiskInputs,
    TierAssessment,
    assess_tier,
    effective_tier,
    override_lapses,
    override_waits_for_confirmation,
    system_flags,
)
from registry.inventory.units import UNLISTED_FLAG, UNLISTED_LABEL, check_unit, is_listed
from registry.records import STALE_MESSAGE, flush_or_conflict

PROFILE_FIELDS = (
    "name", "purpose", "business_process", "business_unit", "sourcing", "vendor_name", "kind",
    "stage", "affects", "decisions_influenced", "autonomy",
)  # fmt: skip

# Labels for the audit snapshot keys, used by the history page.
FIELD_LABELS = {
    "name": "Name",
    "purpose": "Purpose",
    "business_process": "Business process",
    "business_unit": "Business unit",
    "accountable_owner": "Accountable owner",
    "technical_owner": "Technical owner",
    "sourcing": "Sourcing",
    "vendor_name": "Vendor",
    "kind": "Kind",
    "stage": "Lifecycle stage",
    "affects": "Affects",
    "decisions_influenced": "Decisions influenced",
    "autonomy": "Autonomy",
    "data_categories": "Data touched",
    "prohibited_practice": "Prohibited practice",
    "decision_domains": "Decisions about people in",
    "legal_effect": "Legal or similar effect",
    "decision_role": "Weight of its output",
    "safety_harms": "Could harm",
    "biometric_uses": "Biometrics",
    "profiling": "Profiles people",
    "acts_on_people": "Acts directly on people",
    "interacts_directly": "People interact with it directly",
    "declared_high_impact": "Declared high-impact / high-risk",
    "declared_regime": "Declared under",
    "declared_justification": "Declared determination's justification",
    "declared_source": "Declared determination's source",
    "eu_class": "EU AI Act class",
    "omb_high_impact": "OMB M-25-21 high-impact",
    "computed_tier": "Tier from the rules",
    "tier": "Effective tier",
    "tier_override": "Tier override",
    "tier_override_reason": "Override reason",
    "tier_override_status": "Override status",
    "deleted": "Deleted",
    UNLISTED_FLAG: UNLISTED_LABEL,  # (an imported record's missing_fields)
}


def _people_label(user: User | None) -> str | None:
    return user.label if user else None


def system_snapshot(system: AISystem) -> dict[str, Any]:
    """The system as people read it (labels, names, not ids): audit before/after values."""
    answers = system.risk_answers or {}
    return {
        "name": system.name,
        "purpose": system.purpose,
        "business_process": system.business_process,
        "business_unit": system.business_unit,
        "accountable_owner": _people_label(system.accountable_owner),
        "technical_owner": _people_label(system.technical_owner),
        "sourcing": Sourcing(system.sourcing).label,
        "vendor_name": system.vendor_name,
        "kind": Kind(system.kind).label,
        "stage": Stage(system.stage).label,
        "affects": ", ".join(Affected(a).label for a in system.affects),
        "decisions_influenced": system.decisions_influenced,
        "autonomy": Autonomy(system.autonomy).label,
        "data_categories": ", ".join(c.label for c in system.data_categories) or "None",
        "prohibited_practice": ProhibitedPractice(answers.get("prohibited_practice", "none")).label,
        "decision_domains": ", ".join(DecisionDomain(d).label for d in answers.get("decision_domains", [])) or "None",
        "legal_effect": "Yes" if answers.get("legal_effect") else "No",
        "decision_role": DecisionRole(answers["decision_role"]).label if answers.get("decision_role") else "Not answered",
        "safety_harms": ", ".join(SafetyHarm(h).label for h in answers.get("safety_harms", [])) or "None",
        "biometric_uses": ", ".join(BiometricUse(b).label for b in answers.get("biometric_uses", [])) or "None",
        "profiling": "Yes" if answers.get("profiling") else "No",
        "acts_on_people": "Yes" if answers.get("acts_on_people") else "No",
        "interacts_directly": omb_label(answers.get("interacts_directly")).replace("Not determined", "Not answered"),
        "declared_high_impact": declared_label(system.declared_high_impact),
        "declared_regime": (DeclaredRegime(system.declared_regime).label
                            if system.declared_high_impact is not None else None),
        "declared_justification": system.declared_justification or None,
        "declared_source": system.declared_source or None,
        "eu_class": _eu_label(system),
        "omb_high_impact": omb_label(system.omb_high_impact) if system.eu_class else "Not recorded",
        "computed_tier": Tier(system.computed_tier).label,
        "tier": Tier(system.tier).label,
        "tier_override": Tier(system.tier_override).label if system.tier_override else None,
        "tier_override_reason": system.tier_override_reason,
        "tier_override_status": override_status(system),
    }


def _eu_label(system: AISystem) -> str:
    return eu_class_label(system.eu_class, system.eu_basis)


def eu_class_label(eu_class, eu_basis: str | None) -> str:
    label = EUClass(eu_class).label if eu_class else "Not recorded"
    return f"{label}: {eu_basis}" if eu_basis else label


def declared_label(flag: bool | None) -> str:
    return "Not declared" if flag is None else ("Yes" if flag else "No")


def omb_label(flag: bool | None) -> str:
    return "Not determined" if flag is None else ("Yes" if flag else "No")


def override_status(system: AISystem) -> str | None:
    """The override's standing in words: in effect, or waiting for a second officer."""
    if not system.tier_override:
        return None
    if Tier(system.computed_tier) is Tier.UNACCEPTABLE:
        return "Not applied: a prohibited practice is never overridden"
    if system.override_pending:
        return "Waiting for a second compliance officer to confirm it; the computed tier applies"
    if system.tier_override_confirmed_by is not None:
        return f"In effect, confirmed by {system.tier_override_confirmed_by.label}"
    return "In effect"


def metric_snapshot(metric: BaselineMetric) -> dict[str, Any]:
    return {
        "metric": metric.name,
        "unit": metric.unit,
        "baseline": metric.baseline_value,
        "measured_on": metric.measured_on.isoformat() if metric.measured_on else None,
        "source": metric.source,
        "target": metric.target_value,
        "direction": MetricDirection(metric.direction).label,
    }


def _diff(before: dict, after: dict) -> tuple[dict, dict]:
    keys = [k for k in after if before.get(k) != after.get(k)]
    return {k: before.get(k) for k in keys}, {k: after.get(k) for k in keys}


def store_assessment(system: AISystem, assessment: TierAssessment) -> None:
    """Keep what the rules derived: the computed tier and why, the EU class, the OMB flag."""
    system.computed_tier = assessment.tier
    system.tier_reasons = assessment.reasons
    system.eu_class, system.eu_basis = assessment.eu_class, assessment.eu_basis
    system.omb_high_impact, system.omb_basis = assessment.omb_high_impact, assessment.omb_basis
    system.tier_rules = RULES_VERSION


def assessment_for(system: AISystem) -> TierAssessment:
    if not system.risk_answers:  # imported, never answered: nothing to assess
        return NOT_ASSESSED
    return assess_tier(
        RiskInputs.build(
            kind=system.kind,
            autonomy=system.autonomy,
            affects=system.affects,
            data_categories=[c.value for c in system.data_categories],
            risk_answers=system.risk_answers,
        )
    )


def _resolve_person(session: Session, email: str | None, field: str, *, required: bool) -> User | None:
    if not email:
        if required:
            raise ValidationFailed("Some fields need attention.", errors={field: ["Name a registered person."]})
        return None
    user = session.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None or not user.is_active:
        raise ValidationFailed(
            "Some fields need attention.",
            errors={field: [f"{email} is not an active registered person. Ask an admin to create the account."]},
        )
    return user


def _apply(session: Session, system: AISystem, data: dict) -> str | None:
    """Set the profile from ``data``; return the reason if a tier override lapsed on the way."""
    for key in PROFILE_FIELDS:
        setattr(system, key, data[key])
    system.search_text = search_text_for(system.name, system.purpose, system.business_unit, system.vendor_name)
    # Both looked up before either is set: a lookup's autoflush must not sync a half-set owner
    # (that would name people on the system in the middle of a flush).
    accountable = _resolve_person(session, data["accountable_owner"], "accountable_owner", required=True)
    technical = _resolve_person(session, data.get("technical_owner"), "technical_owner", required=False)
    system.accountable_owner, system.technical_owner = accountable, technical
    system.accountable_owner_id = system.accountable_owner.id
    system.technical_owner_id = system.technical_owner.id if system.technical_owner else None
    wanted = {DataCategory(c) for c in data["data_categories"]}
    system.data_links = [link for link in system.data_links if link.category in wanted] + [
        SystemDataCategory(category=c) for c in sorted(wanted - {link.category for link in system.data_links})
    ]
    system.risk_answers = dict(data["risk"])
    declared = data.get("declared") or {}
    system.declared_high_impact = declared.get("high_impact")
    system.declared_regime = DeclaredRegime(declared.get("regime") or DeclaredRegime.OTHER.value)
    system.declared_justification = declared.get("justification", "")
    system.declared_source = declared.get("source", "")
    return reassess(system)


def reassess(system: AISystem) -> str | None:
    """Run the rules on the stored answers and apply the result; return the reason if a tier
    override lapsed on the way."""
    assessment = assessment_for(system)
    store_assessment(system, assessment)
    lapsed = None
    if override_lapses(system.tier_override_against, assessment.tier, system.tier_override):
        lapsed = (f"Tier override to {Tier(system.tier_override).label} lapsed: the rules now give "
                  f"{assessment.tier.label}, above {Tier(system.tier_override_against).label}, the tier it was made against")
        _set_override(system, None, None, None, None)
    _apply_tier(system)
    return lapsed


TIER_KEYS = ("computed_tier", "tier", "tier_override", "tier_override_status")


def recompute_tiers(session: Session, actor=None, *, now: datetime | None = None,
                    actor_label: str | None = None) -> dict[str, int]:
    """Bring every system computed under earlier rules to ``RULES_VERSION`` (run by ``registry db
    upgrade`` after the migrations).  A system whose tier changes gets an audit event saying why
    ("Tier recomputed under rules v2: Medium → High because …"), and a decided one is flagged
    "re-review required" through the usual profile-change event; the EU AI Act class and the OMB
    flag are stored for all.  Returns counts."""
    now = now or utcnow()
    counts = {"recomputed": 0, "changed": 0}
    stale = select(AISystem).where(AISystem.tier_rules < RULES_VERSION, AISystem.deleted_at.is_(None)).order_by(AISystem.id)
    for system in session.scalars(stale).all():
        before, flags_before = system_snapshot(system), system_flags(system.eu_class, system.omb_high_impact)
        lapsed = reassess(system)
        after, flags_after = system_snapshot(system), system_flags(system.eu_class, system.omb_high_impact)
        counts["recomputed"] += 1
        if all(before[k] == after[k] for k in TIER_KEYS) and flags_before == flags_after:
            continue
        counts["changed"] += 1
        keys = TIER_KEYS + (("eu_class", "omb_high_impact") if flags_before != flags_after else ())
        old, new = ({k: snap[k] for k in keys if before[k] != after[k]} for snap in (before, after))
        why = "; ".join(system.tier_reasons[:2])
        gained = sorted(FLAGS[f] for f in flags_after - flags_before)
        record_event(session, actor, "system.tier_recomputed", "system", system.id, system_id=system.id,
                     summary=(f"Tier recomputed under rules v{RULES_VERSION}: {before['computed_tier']} → "
                              f"{after['computed_tier']}{' and now ' + ', '.join(gained) if gained else ''} "
                              f"because {why}")[:500],
                     before=old, after={**new, "eu_class": after["eu_class"], "omb_high_impact": after["omb_high_impact"]},
                     at=now, actor_label=actor_label)
        publish(session, "system.profile_changed", actor=actor, system=system,
                before={k: before[k] for k in keys}, after={k: after[k] for k in keys}, at=now,
                notes=[lapsed] if lapsed else [])
    return counts


def _apply_tier(system: AISystem) -> None:
    system.tier = effective_tier(system.computed_tier, system.tier_override,
                                 confirmed=system.tier_override_confirmed_at is not None)


def _set_override(system: AISystem, tier: Tier | None, reason: str | None, actor: User | None,
                  at: datetime | None) -> None:
    system.tier_override, system.tier_override_reason = tier, reason
    system.tier_override_by_id = actor.id if actor else None
    system.tier_override_by = actor
    system.tier_override_at = at
    system.tier_override_against = Tier(system.computed_tier) if tier else None
    system.tier_override_confirmed_by_id, system.tier_override_confirmed_at = None, None
    system.tier_override_confirmed_by = None


def announce_newly_named(session: Session, actor: User | None, system: AISystem, named_before: set[int],
                         *, at: datetime | None = None) -> None:
    """Tell the domains above that people were newly named on ``system`` since ``named_before``
    (``AISystem.named_user_ids()`` read before the change): they may no longer verify it."""
    newly_named = system.named_user_ids() - named_before
    if newly_named:
        publish(session, "system.people_named", actor=actor, system=system, user_ids=newly_named, at=at)


def flag_re_review(session: Session, actor: User | None, system: AISystem, reasons: list[str],
                   *, at: datetime | None = None) -> None:
    """Mark the system "re-review required" for ``reasons`` (kept until the next decision), audited.
    The one place that sets the flag (``registry.decisions.services.flag_material_change`` calls it
    for a material change or a lapsed override after a decision)."""
    system.re_review_required_at = system.re_review_required_at or at or utcnow()
    system.re_review_reasons = list(dict.fromkeys([*(system.re_review_reasons or []), *reasons]))
    record_event(session, actor, "system.re_review_required", "system", system.id, system_id=system.id,
                 summary=f"Re-review required: {'; '.join(reasons)}",
                 after={"re_review_required": "Yes", "changes": "; ".join(reasons)}, at=at)


def _check_owner_is_named(actor: User, system: AISystem) -> None:
    if actor is not None and actor.role is Role.OWNER and actor.id not in system.owner_ids():
        raise ValidationFailed(
            "Name yourself as the accountable or the technical owner, or ask an admin to register it.",
            errors={"accountable_owner": ["A product owner registers systems they own or are named on."]},
        )


def create_system(session: Session, actor: User | None, payload: dict, *, now: datetime | None = None) -> AISystem:
    """Register a system from a SystemSchema payload; ``actor`` None is the console or seeder.
    ``now`` dates the registration (the demo replays past work); default: the clock.  A person's
    business unit must be on the list (``registry.inventory.units``); the console and the seeders
    put theirs on it first (``ensure_units``)."""
    if actor is not None:
        require(can_create_system(actor), "Your role cannot register systems.")
    data = load_or_raise(SystemSchema(), payload)
    if actor is not None:  # a person chooses from the list; the console and the seeders name units they list
        check_unit(session, data["business_unit"])
    system = AISystem(data_links=[])
    if now is not None:
        system.created_at = system.updated_at = now
    _apply(session, system, data)
    _check_owner_is_named(actor, system)
    session.add(system)
    for metric in data["metrics"]:
        system.metrics.append(_new_metric(metric))
        if now is not None:
            system.metrics[-1].created_at = now
    session.flush()
    record_event(session, actor, "system.create", "system", system.id, system_id=system.id,
                 summary=f"Registered {system.name}", after=system_snapshot(system), at=now)
    for metric in system.metrics:
        record_event(session, actor, "metric.create", "metric", metric.id, system_id=system.id,
                     summary=f"Added baseline metric {metric.name}", after=metric_snapshot(metric), at=now)
    return system


def get_system(session: Session, actor: User, system_id: int) -> AISystem:
    require(can_read_inventory(actor))
    system = session.scalar(
        select(AISystem)
        .where(AISystem.id == system_id, AISystem.deleted_at.is_(None))
        .options(selectinload(AISystem.metrics))
    )
    if system is None:
        raise NotFound(f"There is no AI system #{system_id}.")
    return system


def system_for_update(session: Session, system_id: int) -> AISystem:
    """Load and lock the row (SELECT … FOR UPDATE on PostgreSQL; SQLite's write transaction
    already holds the lock), so the version check below sees the latest committed save."""
    system = session.scalars(
        select(AISystem).where(AISystem.id == system_id).with_for_update(of=AISystem).execution_options(populate_existing=True)
    ).unique().one_or_none()
    if system is None or system.deleted_at is not None:
        raise NotFound(f"There is no AI system #{system_id}.")
    return system


def update_system(session: Session, actor: User, system_id: int, payload: dict, *, expected_version: int,
                  now: datetime | None = None, permitted: bool = False) -> AISystem:
    """Change a system's profile; refuse if someone saved it since ``expected_version`` was read.
    The business unit must be on the list, or be the record's own unchanged (an imported one's).
    A tier override made against a lower tier than the rules now give lapses (re-review required).
    ``permitted``: a service above has checked its own, narrower permission for this one change
    (``registry.value.services.stop_pilot`` retiring a pilot for a compliance officer)."""
    system = system_for_update(session, system_id)
    require(permitted or can_edit_system(actor, system), "Only the system's owners (or an admin) can edit it.")
    if system.version != expected_version:
        raise Conflict(STALE_MESSAGE)
    with stage_clock(session, now):  # a stage change is dated when the edit happened
        data = load_or_raise(SystemSchema(), payload)
        check_unit(session, data["business_unit"], current=system.business_unit)
        before = system_snapshot(system)
        named_before = system.named_user_ids()
        lapsed = _apply(session, system, data)
        if UNLISTED_FLAG in (system.missing_fields or []) and is_listed(session, system.business_unit):
            system.missing_fields = [m for m in system.missing_fields if m != UNLISTED_FLAG]
        _check_owner_is_named(actor, system)
        after = system_snapshot(system)
        old, new = _diff(before, after)
        if old or new:
            if now is not None:
                system.updated_at = now
            flush_or_conflict(session)
            record_event(session, actor, "system.update", "system", system.id, system_id=system.id,
                         summary=f"Edited {system.name}", before=old, after=new, at=now)
            if lapsed:
                record_event(session, actor, "system.tier_override_lapsed", "system", system.id, system_id=system.id,
                             summary=lapsed, before={"tier_override": before["tier_override"]},
                             after={"tier_override": None}, at=now)
            # A lapse is itself a reason to re-review a decided system (the handler flags it).
            publish(session, "system.profile_changed", actor=actor, system=system, before=before, after=after, at=now,
                    notes=[lapsed] if lapsed else [])
            announce_newly_named(session, actor, system, named_before, at=now)
    return system


PROHIBITED_NOT_OVERRIDDEN = ("The answers describe a prohibited practice, so the tier is UNACCEPTABLE and cannot be "
                             "overridden. If the answers are wrong, correct them (an audited edit) and the tier follows.")


def override_tier(session: Session, actor: User | None, system_id: int, tier: str | None, reason: str,
                  *, now: datetime | None = None) -> AISystem:
    """Set (or with ``tier`` None, clear) the compliance override of a system's tier.

    An override above the computed tier applies at once; one below it waits for a second
    compliance officer (``confirm_tier_override``).  UNACCEPTABLE is never overridden."""
    system = system_for_update(session, system_id)
    if actor is None or not can_override_tier(actor, system):
        require(False, "Only a compliance officer who is not named on the system can override its tier.")
    reason = (reason or "").strip()
    if tier is not None and Tier(system.computed_tier) is Tier.UNACCEPTABLE:
        raise ValidationFailed(PROHIBITED_NOT_OVERRIDDEN, errors={"tier": [PROHIBITED_NOT_OVERRIDDEN]})
    if tier is not None and Tier(system.computed_tier) is Tier.NOT_ASSESSED:
        message = "The risk questions have not been answered: answer them first, then override the tier if needed."
        raise ValidationFailed(message, errors={"tier": [message]})
    if not reason:
        raise ValidationFailed("Some fields need attention.", errors={"reason": ["Write the reason for the override."]})
    if len(reason) > 4000:
        raise ValidationFailed("Some fields need attention.", errors={"reason": ["Keep the reason under 4,000 characters."]})
    if tier is not None:
        try:
            tier = Tier(tier)
        except ValueError as exc:
            raise ValidationFailed("Unknown tier.", errors={"tier": ["Choose a tier."]}) from exc
    if tier is None and system.tier_override is None:
        raise ValidationFailed("There is no override to remove.", errors={"tier": ["Choose a tier."]})
    before = system_snapshot(system)
    _set_override(system, tier, reason if tier else None, actor if tier else None, (now or utcnow()) if tier else None)
    _apply_tier(system)
    after = system_snapshot(system)
    old, new = _diff(before, after)
    flush_or_conflict(session)
    if tier is None:
        action, summary = "system.tier_override_cleared", f"Cleared override of tier of {system.name}: {reason}"
    elif override_waits_for_confirmation(system.computed_tier, tier, False):
        action = "system.tier_override"
        summary = (f"Proposed lowering the tier of {system.name} to {tier.label} (computed "
                   f"{Tier(system.computed_tier).label}); waits for a second compliance officer: {reason}")
    else:
        action, summary = "system.tier_override", f"Overrode tier of {system.name} to {tier.label}: {reason}"
    record_event(session, actor, action, "system", system.id, system_id=system.id, summary=summary,
                 before=old, after=new | {"tier_override_reason": reason}, at=now)
    publish(session, "system.profile_changed", actor=actor, system=system, before=before, after=after, at=now,
            notes=[])
    return system


def confirm_tier_override(session: Session, actor: User | None, system_id: int, *, expected_tier: str | None = None,
                          expected_version: int | None = None, now: datetime | None = None) -> AISystem:
    """A second compliance officer (not named on the system, not the one who proposed it)
    confirms a downward override; from then on it is the effective tier.  ``expected_tier`` and
    ``expected_version``: the proposal the officer saw (the page sends both), so a proposal
    changed meanwhile is never confirmed unseen."""
    system = system_for_update(session, system_id)
    if actor is None or not can_override_tier(actor, system):
        require(False, "Only a compliance officer who is not named on the system can confirm a tier override.")
    if not system.override_pending:
        raise Conflict("There is no tier override waiting for confirmation on this system: reload the page.")
    if (expected_tier is not None and expected_tier != Tier(system.tier_override).value) or (
            expected_version is not None and expected_version != system.version):
        raise Conflict("The system or its proposed override changed since you opened the page, so nothing was "
                       "confirmed. Reload the page, read the proposal again, then confirm it.")
    require(can_confirm_tier_override(actor, system),
            "A downward override is confirmed by a second compliance officer, not the one who made it.")
    before = system_snapshot(system)
    system.tier_override_confirmed_by_id, system.tier_override_confirmed_at = actor.id, now or utcnow()
    system.tier_override_confirmed_by = actor
    _apply_tier(system)
    after = system_snapshot(system)
    old, new = _diff(before, after)
    flush_or_conflict(session)
    record_event(session, actor, "system.tier_override_confirmed", "system", system.id, system_id=system.id,
                 summary=f"Confirmed the override of the tier of {system.name} to {Tier(system.tier_override).label}",
                 before=old, after=new, at=now)
    publish(session, "system.profile_changed", actor=actor, system=system, before=before, after=after, at=now,
            notes=[])
    return system


def delete_system(session: Session, actor: User, system_id: int, *, expected_version: int | None = None) -> None:
    """Soft-delete: the record and its history stay for the audit trail."""
    require(can_delete_system(actor), "Only admins can delete systems.")
    system = system_for_update(session, system_id)
    if expected_version is not None and system.version != expected_version:
        raise Conflict("Someone changed this system since you opened it; reload and try again.")
    system.deleted_at = utcnow()
    flush_or_conflict(session)
    record_event(session, actor, "system.delete", "system", system.id, system_id=system.id,
                 summary=f"Deleted {system.name}", before=system_snapshot(system), after={"deleted": "Yes"})


def _new_metric(data: dict) -> BaselineMetric:
    return BaselineMetric(
        name=data["name"].strip(),
        unit=data["unit"].strip(),
        baseline_value=data["baseline_value"],
        measured_on=data["measured_on"],
        source=(data.get("source") or "").strip(),
        target_value=data["target_value"],
        direction=MetricDirection(data["direction"]),
    )


def _check_measured_on(data: dict) -> None:
    measured: date | None = data.get("measured_on")
    if measured is not None and measured > utcnow().date():
        raise ValidationFailed("Some fields need attention.", errors={"measured_on": ["A baseline cannot be measured in the future."]})


def add_metric(session: Session, actor: User, system_id: int, payload: dict) -> BaselineMetric:
    system = system_for_update(session, system_id)
    require(can_edit_system(actor, system), "Only the system's owners (or an admin) can change its metrics.")
    data = load_or_raise(MetricSchema(), payload)
    _check_measured_on(data)
    metric = _new_metric(data)
    system.metrics.append(metric)
    session.flush()
    record_event(session, actor, "metric.create", "metric", metric.id, system_id=system.id,
                 summary=f"Added baseline metric {metric.name}", after=metric_snapshot(metric))
    return metric


def _metric_of(session: Session, system_id: int, metric_id: int) -> BaselineMetric:
    metric = session.get(BaselineMetric, metric_id)
    if metric is None or metric.system_id != system_id:
        raise NotFound("There is no such metric on this system.")
    return metric


def update_metric(session: Session, actor: User, system_id: int, metric_id: int, payload: dict) -> BaselineMetric:
    system = system_for_update(session, system_id)
    require(can_edit_system(actor, system), "Only the system's owners (or an admin) can change its metrics.")
    metric = _metric_of(session, system_id, metric_id)
    data = load_or_raise(MetricSchema(), payload)
    _check_measured_on(data)
    before = metric_snapshot(metric)
    fresh = _new_metric(data)
    for key in ("name", "unit", "baseline_value", "measured_on", "source", "target_value", "direction"):
        setattr(metric, key, getattr(fresh, key))
    old, new = _diff(before, metric_snapshot(metric))
    if new:
        session.flush()
        record_event(session, actor, "metric.update", "metric", metric.id, system_id=system.id,
                     summary=f"Edited baseline metric {metric.name}", before=old, after=new)
        publish(session, "metric.changed", actor=actor, system=system, metric_id=metric.id, change="changed")
    return metric


def delete_metric(session: Session, actor: User, system_id: int, metric_id: int) -> None:
    system = system_for_update(session, system_id)
    require(can_edit_system(actor, system), "Only the system's owners (or an admin) can change its metrics.")
    metric = _metric_of(session, system_id, metric_id)
    before = metric_snapshot(metric)
    session.delete(metric)
    session.flush()
    record_event(session, actor, "metric.delete", "metric", metric_id, system_id=system.id,
                 summary=f"Removed baseline metric {before['metric']}", before=before)
    publish(session, "metric.changed", actor=actor, system=system, metric_id=metric_id, change="deleted")


def assignable_people(session: Session) -> list[tuple[str, str]]:
    """(email, "Name (email)") of every active person who may be named on a system (executives may not)."""
    rows = session.execute(
        select(User.email, User.name).where(User.is_active.is_(True), User.role != Role.EXECUTIVE).order_by(User.name)
    )
    return [(email, f"{name} ({email})") for email, name in rows]


def system_payload(system: AISystem) -> dict:
    """The SystemSchema payload of an existing system: what an edit form starts from."""
    return {
        **{key: getattr(system, key).value if hasattr(getattr(system, key), "value") else getattr(system, key)
           for key in PROFILE_FIELDS},
        "accountable_owner": system.accountable_owner.email if system.accountable_owner else None,
        "technical_owner": system.technical_owner.email if system.technical_owner else None,
        "data_categories": [c.value for c in system.data_categories],
        "risk": dict(system.risk_answers or {}),
        "declared": (None if system.declared_high_impact is None else
                     {"high_impact": system.declared_high_impact, "regime": DeclaredRegime(system.declared_regime).value,
                      "justification": system.declared_justification, "source": system.declared_source}),
    }
