"""An AI system record, its data categories, baseline metrics, named people and stage history;
the organisation units a system belongs to."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Index, String, Text, and_, case, func, select, text
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from registry.auth.models import User
from registry.db import Base, enum_column, utcnow
from registry.enums import (
    Autonomy,
    DataCategory,
    DecisionDomain,
    DeclaredRegime,
    EUClass,
    Kind,
    MetricDirection,
    Sourcing,
    Stage,
    Tier,
)
from registry.inventory.tiering import RULES_VERSION, override_waits_for_confirmation


class OrgUnit(Base):
    """A business unit on the list an admin manages (``registry.inventory.units``): the vocabulary
    that a system's ``business_unit`` is chosen from.  Systems keep the unit's name (denormalised,
    for the filters, the state cache and the exports); renaming or merging a unit rewrites it."""

    __tablename__ = "org_units"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(300), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


def data_touched_text(categories: list[DataCategory], missing: list[str] | None) -> str:
    """The data a system touches: its categories, "None" when it touches none of them, "Not
    recorded" when an import did not say (an empty list is not an answer then)."""
    if categories:
        return ", ".join(c.label for c in categories)
    return "Not recorded" if "data_categories" in (missing or []) else "None"


class AISystem(Base):
    __tablename__ = "ai_systems"
    # Narrow indexes that let the inventory count, page and fill its filter menus
    # without reading the wide rows.
    __table_args__ = (
        Index("ix_ai_systems_tier_stage", "tier", "stage"),
        Index("ix_ai_systems_updated_at", "updated_at"),
        Index("ix_ai_systems_live", "deleted_at"),
        Index("ix_ai_systems_name_lower", func.lower(text("name"))),
        Index("ix_ai_systems_unit_live", "business_unit", "deleted_at"),
        Index("ix_ai_systems_owner_live", "accountable_owner_id", "deleted_at"),
        Index("ix_ai_systems_external_key", "external_key", unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(300), index=True)
    purpose: Mapped[str] = mapped_column(Text)
    business_process: Mapped[str] = mapped_column(String(300))
    business_unit: Mapped[str] = mapped_column(String(300))
    # None only for an imported system whose contact is not a registry user (``contact``): it is
    # listed for assignment and cannot get a GO until someone owns it.
    accountable_owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    technical_owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    sourcing: Mapped[Sourcing] = mapped_column(enum_column(Sourcing))
    vendor_name: Mapped[str | None] = mapped_column(String(200))
    kind: Mapped[Kind] = mapped_column(enum_column(Kind), index=True)
    stage: Mapped[Stage] = mapped_column(enum_column(Stage), index=True)
    affects: Mapped[list[str]] = mapped_column(default=list)
    decisions_influenced: Mapped[str] = mapped_column(Text, default="")
    autonomy: Mapped[Autonomy] = mapped_column(enum_column(Autonomy))

    # Risk tier: the questionnaire answers, the tier the rules computed and why, and the
    # effective tier (the override when there is one) that every list filters on.
    risk_answers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    computed_tier: Mapped[Tier] = mapped_column(enum_column(Tier))
    tier_reasons: Mapped[list[str]] = mapped_column(default=list)
    # What the same rules derive beside the tier, and why (``registry.inventory.tiering``): the EU
    # AI Act class and the Annex point, and the OMB M-25-21 high-impact flag (None: not determined,
    # the "principal basis" question is unanswered).  ``tier_rules``: the rules version that computed them.
    eu_class: Mapped[EUClass | None] = mapped_column(enum_column(EUClass))
    eu_basis: Mapped[str] = mapped_column(String(80), default="")
    omb_high_impact: Mapped[bool | None] = mapped_column(Boolean)
    omb_basis: Mapped[str] = mapped_column(Text, default="")
    tier_rules: Mapped[int] = mapped_column(default=RULES_VERSION)
    # A determination made outside the registry (an agency's or a business unit's own high-impact /
    # high-risk label, e.g. from an imported inventory), shown beside the computed one
    # (``registry.inventory.determination``).  None: nothing declared.
    declared_high_impact: Mapped[bool | None] = mapped_column(Boolean)
    declared_regime: Mapped[DeclaredRegime] = mapped_column(enum_column(DeclaredRegime), default=DeclaredRegime.OTHER)
    declared_justification: Mapped[str] = mapped_column(Text, default="")
    declared_source: Mapped[str] = mapped_column(String(300), default="")
    tier: Mapped[Tier] = mapped_column(enum_column(Tier), index=True)
    # Where an imported record came from (``registry.imports``): the external key it is matched on
    # when the file is imported again, the file, its row and when; what the source carried that
    # the registry shows as such; a contact that is not a registry user; fields the source lacked.
    external_key: Mapped[str | None] = mapped_column(String(400))
    external_id: Mapped[str] = mapped_column(String(200), default="")
    import_source: Mapped[str] = mapped_column(String(300), default="")
    import_row: Mapped[int | None]
    imported_at: Mapped[datetime | None]
    organisation: Mapped[str] = mapped_column(String(200), default="")
    topic_area: Mapped[str] = mapped_column(String(120), default="")
    outputs: Mapped[str] = mapped_column(Text, default="")
    operational_date: Mapped[date | None]
    contact: Mapped[str] = mapped_column(String(320), default="")
    missing_fields: Mapped[list[str]] = mapped_column(default=list)
    # What the last import set, field by field (the file's values): a re-import changes a field only
    # where the file changed since, so an edit made in the registry is not reverted by the same file.
    import_values: Mapped[dict[str, Any] | None]

    @property
    def data_touched(self) -> str:
        """The data it touches, as the list and the exports say it (``data_touched_text``)."""
        return data_touched_text(self.data_categories, self.missing_fields)

    @property
    def domain_hints(self) -> list[DecisionDomain]:
        """Decision areas the imported file's topic suggests (a hint for the tier questions, not an
        answer), while the questions are unanswered."""
        if self.risk_answers:
            return []
        return [DecisionDomain(d) for d in (self.import_values or {}).get("domain_hints", [])
                if d in DecisionDomain.values()]
    tier_override: Mapped[Tier | None] = mapped_column(enum_column(Tier))
    tier_override_reason: Mapped[str | None] = mapped_column(Text)
    tier_override_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    tier_override_at: Mapped[datetime | None]
    # The tier the rules gave when the override was made: the override lapses when they later
    # give a higher one.  A downward override applies only once a second compliance officer
    # has confirmed it (``registry.inventory.tiering.effective_tier``).
    tier_override_against: Mapped[Tier | None] = mapped_column(enum_column(Tier))
    tier_override_confirmed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    tier_override_confirmed_at: Mapped[datetime | None]

    # Lower-cased name, purpose, unit and vendor: one column for the inventory search, kept
    # by the services on every write (see ``search_text_for``), lower-cased in Python so
    # that SQLite and PostgreSQL match non-ASCII text alike.
    search_text: Mapped[str] = mapped_column(Text, default="")

    # Set when a material change (tier, data, autonomy, kind, going to production) follows a
    # recorded decision; cleared by the next decision.  The reasons say what changed.
    re_review_required_at: Mapped[datetime | None]
    re_review_reasons: Mapped[list[str]] = mapped_column(default=list)

    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    deleted_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(default=1)

    accountable_owner: Mapped[User | None] = relationship(foreign_keys=[accountable_owner_id], lazy="joined")
    technical_owner: Mapped[User | None] = relationship(foreign_keys=[technical_owner_id], lazy="joined")
    tier_override_by: Mapped[User | None] = relationship(foreign_keys=[tier_override_by_id])
    tier_override_confirmed_by: Mapped[User | None] = relationship(foreign_keys=[tier_override_confirmed_by_id])
    data_links: Mapped[list[SystemDataCategory]] = relationship(
        back_populates="system", cascade="all, delete-orphan", lazy="selectin"
    )
    metrics: Mapped[list[BaselineMetric]] = relationship(
        back_populates="system", cascade="all, delete-orphan", order_by="BaselineMetric.id"
    )
    # Loaded when a permission asks (one query), not with every list of systems.
    people: Mapped[list[SystemPerson]] = relationship(back_populates="system", cascade="all, delete-orphan")

    __mapper_args__ = {"version_id_col": version}

    @property
    def data_categories(self) -> list[DataCategory]:
        return sorted((link.category for link in self.data_links), key=lambda c: list(DataCategory).index(c))

    @property
    def override_pending(self) -> bool:
        """A downward override waiting for a second compliance officer (the computed tier applies)."""
        return override_waits_for_confirmation(self.computed_tier, self.tier_override,
                                               self.tier_override_confirmed_at is not None)

    @validates("accountable_owner_id", "technical_owner_id")
    def _name_owner(self, key: str, user_id: int | None) -> int | None:
        """Whoever is set as an owner is named on the system (``system_people``), however it is set."""
        if self.__dict__.get(key) != user_id:  # (the flush re-sets foreign keys to the same value)
            role = key.removesuffix("_id")
            set_named_people(self, (role,), {role: user_id})
        return user_id

    def owner_ids(self) -> set[int]:
        """The accountable and technical owner (``system_people`` rows of the profile's roles): who
        may edit the system.  Being named in the ownership answer gives no edit right."""
        return {p.user_id for p in self.people if p.role in PROFILE_ROLES}

    def named_user_ids(self) -> set[int]:
        """People named on the system (``SystemPerson``): they may edit it and may never review,
        verify, override or decide it.  The one definition every such rule uses."""
        return {p.user_id for p in self.people}


def search_text_for(name: str, purpose: str, business_unit: str, vendor_name: str | None) -> str:
    return "\n".join(part for part in (name, purpose, business_unit, vendor_name or "") if part).lower()


class SystemDataCategory(Base):
    __tablename__ = "system_data_categories"

    system_id: Mapped[int] = mapped_column(ForeignKey("ai_systems.id", ondelete="CASCADE"), primary_key=True)
    category: Mapped[DataCategory] = mapped_column(enum_column(DataCategory), primary_key=True, index=True)

    system: Mapped[AISystem] = relationship(back_populates="data_links")


# Where a person can be named on a system: the profile's two owners and the four owners of
# the ownership readiness answer.  Kept current by the services that write them.
PROFILE_ROLES = ("accountable_owner", "technical_owner")
OWNERSHIP_ROLES = ("performance_owner", "review_queue_owner", "escalation_owner", "business_impact_owner")


class SystemPerson(Base):
    """A person named on a system, and in which role (one row per role they hold).

    The single answer to "who is named on this system", for separation of duties (review,
    verification, tier override, decision) and the review queue's filter, in Python
    (``AISystem.named_user_ids``) and in SQL (``systems_naming``)."""

    __tablename__ = "system_people"
    __table_args__ = (Index("ix_system_people_user", "user_id", "system_id"),)

    system_id: Mapped[int] = mapped_column(ForeignKey("ai_systems.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[str] = mapped_column(String(40), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))

    system: Mapped[AISystem] = relationship(back_populates="people")


def overrides_pending():
    """SQL: ``AISystem.override_pending`` (``override_waits_for_confirmation``) as a WHERE clause."""
    rank = {t: t.rank for t in Tier}
    return and_(AISystem.tier_override.is_not(None), AISystem.tier_override_confirmed_at.is_(None),
                AISystem.computed_tier != Tier.UNACCEPTABLE,
                case(rank, value=AISystem.tier_override) < case(rank, value=AISystem.computed_tier))


def systems_naming(user_id: int):
    """SQL: the ids of the systems ``user_id`` is named on (an index range, for NOT IN)."""
    return select(SystemPerson.system_id).where(SystemPerson.user_id == user_id)


def set_named_people(system: AISystem, roles: tuple[str, ...], people: dict[str, int | None]) -> None:
    """Replace who ``system`` names in ``roles`` by ``people`` (role -> user id; None: nobody)."""
    keep = [p for p in system.people if p.role not in roles]
    existing = {p.role: p for p in system.people if p.role in roles}
    for role in roles:
        user_id = people.get(role)
        if user_id is None:
            continue
        row = existing.get(role)
        if row is None:
            row = SystemPerson(role=role, user_id=user_id)
        row.user_id = user_id
        keep.append(row)
    system.people = keep


class BaselineMetric(Base):
    __tablename__ = "baseline_metrics"

    id: Mapped[int] = mapped_column(primary_key=True)
    system_id: Mapped[int] = mapped_column(ForeignKey("ai_systems.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    unit: Mapped[str] = mapped_column(String(40))
    baseline_value: Mapped[float | None] = mapped_column(Float)
    measured_on: Mapped[date | None]
    source: Mapped[str] = mapped_column(String(300), default="")
    target_value: Mapped[float | None] = mapped_column(Float)
    direction: Mapped[MetricDirection] = mapped_column(enum_column(MetricDirection))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    system: Mapped[AISystem] = relationship(back_populates="metrics")


class StageChange(Base):
    """A system entering a lifecycle stage (written by ``registry.inventory.stages`` on every flush)."""

    __tablename__ = "stage_changes"
    __table_args__ = (Index("ix_stage_changes_system", "system_id", "entered_at"),
                      Index("ix_stage_changes_stage", "stage", "system_id"),
                      Index("ix_stage_changes_stay", "stage", "days_in_stage"))

    id: Mapped[int] = mapped_column(primary_key=True)
    system_id: Mapped[int] = mapped_column(ForeignKey("ai_systems.id", ondelete="CASCADE"))
    from_stage: Mapped[Stage | None] = mapped_column(enum_column(Stage))
    stage: Mapped[Stage] = mapped_column(enum_column(Stage))
    entered_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Set when the system moves on: when, and how many days it stayed (for the median).
    left_at: Mapped[datetime | None]
    days_in_stage: Mapped[float | None] = mapped_column(Float)

    system: Mapped[AISystem] = relationship()
