"""The inventory list: search, filters, sort and pagination, all in SQL.

A page costs a constant number of queries whatever the number of systems: one count,
one page of rows (owners joined), one for the page's data categories, and the filter
options.  ``tests/web/test_query_count.py`` holds it to that.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from math import ceil

from sqlalchemy import and_, case, exists, func, or_, select, text
from sqlalchemy.orm import Session, aliased, selectinload

from registry.auth.models import User
from registry.auth.permissions import can_read_inventory, require
from registry.db import utcnow
from registry.enums import DataCategory, Kind, Stage, Tier, Verdict
from registry.inventory.models import AISystem, StageChange, SystemDataCategory
from registry.state.filters import REVIEW_DUE, REVIEW_WINDOW_DAYS, UNDECIDED, blocker_label, where_state
from registry.state.models import SystemState

SORTS = {
    "name": "Name",
    "tier": "Tier",
    "stage": "Stage",
    "business_unit": "Business unit",
    "owner": "Accountable owner",
    "decision": "Current decision",
    "recommendation": "Recommendation",
    "updated": "Last updated",
}
STATE_SORTS = {"decision", "recommendation"}  # read from the state cache (joined for the sort)
MAX_PAGE_SIZE = 200
__all__ = ["REVIEW_DUE", "REVIEW_WINDOW_DAYS", "UNDECIDED"]  # re-exported for the views and the portfolio


NO_OWNER = 0  # the owner filter's "none yet"
LONG_PILOT_DAYS = 90  # a pilot running longer than this needs a decision: scale it or stop it
# What an executive asks first, each a filter of the inventory (one definition, used by the list
# and the portfolio's headline figures).
ATTENTION = {
    "production_without_go": "In production without a current GO",
    "go_expired": "GO expired",
    "long_pilot": f"In pilot for more than {LONG_PILOT_DAYS} days",
}


def _current_go(today: date):
    """The system's current decision is GO or CONDITIONAL GO and has not expired (the state cache,
    aliased: the portfolio's query joins the cache itself)."""
    state = aliased(SystemState)
    return (select(state.system_id).where(state.system_id == AISystem.id,
                                          state.decision_verdict.in_([Verdict.GO, Verdict.CONDITIONAL_GO]),
                                          or_(state.decision_expires_on.is_(None), state.decision_expires_on >= today))
            .correlate(AISystem).exists())


def attention_condition(key: str, today: date, joined_state=None):
    """The SQL condition on ai_systems of an ``ATTENTION`` figure.  ``joined_state``: the state
    cache table when the query already outer-joins it (the portfolio's grouped count), read
    directly instead of through a subquery per system."""
    going = [Verdict.GO, Verdict.CONDITIONAL_GO]
    if key == "production_without_go":
        if joined_state is not None:
            s = joined_state  # not a current GO: no decision, not a GO, or expired (NULLs spelled out)
            return and_(AISystem.stage == Stage.PRODUCTION,
                        or_(s.decision_verdict.is_(None), s.decision_verdict.not_in(going), s.decision_expires_on < today))
        return and_(AISystem.stage == Stage.PRODUCTION, ~_current_go(today))
    if key == "go_expired":
        if joined_state is not None:
            s = joined_state
            return and_(AISystem.stage.in_([Stage.PILOT, Stage.PRODUCTION]), s.decision_verdict.in_(going),
                        s.decision_expires_on < today)
        state = aliased(SystemState)
        return and_(AISystem.stage.in_([Stage.PILOT, Stage.PRODUCTION]),
                    select(state.system_id).where(state.system_id == AISystem.id,
                                                  state.decision_verdict.in_(going),
                                                  state.decision_expires_on < today).correlate(AISystem).exists())
    if key == "long_pilot":  # its current stay in pilot began before the cut-off (stage history)
        began = (select(func.max(StageChange.entered_at))
                 .where(StageChange.system_id == AISystem.id, StageChange.stage == Stage.PILOT)
                 .correlate(AISystem).scalar_subquery())
        cutoff = datetime.combine(today - timedelta(days=LONG_PILOT_DAYS), datetime.min.time(), tzinfo=UTC)
        return and_(AISystem.stage == Stage.PILOT, began < cutoff)
    raise ValueError(f"unknown attention figure {key!r}")


@dataclass
class InventoryFilters:
    q: str = ""
    stage: list[str] = field(default_factory=list)
    tier: list[str] = field(default_factory=list)
    kind: list[str] = field(default_factory=list)
    business_unit: list[str] = field(default_factory=list)
    owner: list[int] = field(default_factory=list)
    owner_name: str = ""  # part of the accountable owner's name or email (the list's text field)
    data: list[str] = field(default_factory=list)
    # From the portfolio state cache (registry.portfolio): the dashboard's numbers link here.
    verdict: list[str] = field(default_factory=list)  # current decision, or "undecided"
    recommendation: list[str] = field(default_factory=list)
    blocker: str = ""  # a blocker group key, e.g. "question:drift"; systems it blocks
    stale_evidence: bool = False
    re_review: bool = False  # re-review required after a material change
    review_due: str = ""  # "overdue" or "30d"
    attention: str = ""  # an ATTENTION key: the executive's headline figures
    sort: str = "name"
    descending: bool = False
    page: int = 1
    per_page: int = 25

    @classmethod
    def from_args(cls, args, per_page: int = 25) -> InventoryFilters:
        """Read query parameters, dropping values that are not in the vocabularies."""

        def allowed(key, values):
            return [v for v in args.getlist(key) if v in values]

        owners = []
        for raw in args.getlist("owner"):
            if raw == "none":  # no accountable owner yet (imported records): 0, which no account has
                owners.append(NO_OWNER)
            elif raw.isdigit() and int(raw) < 2**31:
                owners.append(int(raw))
        sort = args.get("sort", "name")
        descending = sort.startswith("-")
        sort = sort.lstrip("-")
        try:
            page = max(1, int(args.get("page", "1")))
        except ValueError:
            page = 1
        try:
            size = min(MAX_PAGE_SIZE, max(1, int(args.get("per_page", per_page))))
        except ValueError:
            size = per_page
        return cls(
            q=(args.get("q") or "").strip()[:200],
            stage=allowed("stage", Stage.values()),
            tier=allowed("tier", Tier.values()),
            kind=allowed("kind", Kind.values()),
            business_unit=[v[:120] for v in args.getlist("business_unit") if v],
            owner=owners,
            owner_name=(args.get("owner_name") or "").strip()[:200],
            data=allowed("data", DataCategory.values()),
            verdict=allowed("verdict", [*Verdict.values(), UNDECIDED]),
            recommendation=allowed("recommendation", Verdict.values()),
            blocker=(args.get("blocker") or "").strip()[:200],
            stale_evidence=args.get("stale_evidence") == "1",
            re_review=args.get("re_review") == "1",
            review_due=args.get("review_due") if args.get("review_due") in REVIEW_DUE else "",
            attention=args.get("attention") if args.get("attention") in ATTENTION else "",
            sort=sort if sort in SORTS else "name",
            descending=descending,
            page=page,
            per_page=size,
        )

    def active(self) -> bool:
        return bool(self.q or self.stage or self.tier or self.kind or self.business_unit or self.owner
                    or self.owner_name or self.data or self.portfolio_active())

    def portfolio_active(self) -> bool:
        return bool(self.verdict or self.recommendation or self.blocker or self.stale_evidence or self.re_review
                    or self.review_due or self.attention)

    def args(self, **changes) -> dict:
        """The filters as query arguments (no paging or sort), for links that keep them."""
        out = {"q": self.q or None, "stage": self.stage, "tier": self.tier, "kind": self.kind,
               "business_unit": self.business_unit, "owner": self.owner, "owner_name": self.owner_name or None,
               "data": self.data,
               "verdict": self.verdict, "recommendation": self.recommendation, "blocker": self.blocker or None,
               "stale_evidence": "1" if self.stale_evidence else None, "re_review": "1" if self.re_review else None,
               "review_due": self.review_due or None, "attention": self.attention or None}
        out.update(changes)
        return {k: v for k, v in out.items() if v not in (None, [], "")}


@dataclass
class InventoryPage:
    systems: list[AISystem]
    total: int
    filters: InventoryFilters
    business_units: list[str]
    owners: list[tuple[int, str]]  # the owners the filter names (by id), with their names: never every owner
    blocker_label: str | None = None
    states: dict = field(default_factory=dict)  # system id -> (current decision's verdict, recommendation)

    @property
    def pages(self) -> int:
        return max(1, ceil(self.total / self.filters.per_page))


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def filtered_ids_query(f: InventoryFilters):
    """The WHERE clause of the inventory as a select of ids, reusable by exports."""
    return _where(select(AISystem.id), f)


def with_filters(stmt, f: InventoryFilters):
    """Add the inventory's WHERE clause (live systems matching ``f``) to a statement over ai_systems."""
    return _where(stmt, f)


def ordered_ids_query(f: InventoryFilters):
    """Every matching system's id in the list's order, without paging (exports)."""
    owner, state = aliased(User), aliased(SystemState)
    stmt = _sort_joins(filtered_ids_query(f), f, owner, state)
    return stmt.order_by(*_order(f, owner, state))


def _sort_joins(stmt, f: InventoryFilters, owner, state):
    if f.sort == "owner":
        stmt = stmt.outerjoin(owner, owner.id == AISystem.accountable_owner_id)
    if f.sort in STATE_SORTS:
        stmt = stmt.outerjoin(state, state.system_id == AISystem.id)
    return stmt


def search_condition(q: str):
    """The search: ``q`` anywhere in the system's lower-cased name, purpose, unit and vendor.  A plain
    ``LIKE '%…%'``, which PostgreSQL serves from the trigram index of migration 0020 (three
    characters or more; shorter terms read the table)."""
    return AISystem.search_text.like(f"%{_escape_like(q.lower())}%", escape="\\")


def _where(stmt, f: InventoryFilters):
    stmt = stmt.where(AISystem.deleted_at.is_(None))
    if f.q:
        stmt = stmt.where(search_condition(f.q))
    if f.stage:
        stmt = stmt.where(AISystem.stage.in_([Stage(s) for s in f.stage]))
    if f.tier:
        stmt = stmt.where(AISystem.tier.in_([Tier(t) for t in f.tier]))
    if f.kind:
        stmt = stmt.where(AISystem.kind.in_([Kind(k) for k in f.kind]))
    if f.business_unit:
        stmt = stmt.where(AISystem.business_unit.in_(f.business_unit))
    if f.owner:
        named = AISystem.accountable_owner_id.in_([o for o in f.owner if o != NO_OWNER])
        stmt = stmt.where(or_(named, AISystem.accountable_owner_id.is_(None)) if NO_OWNER in f.owner else named)
    if f.owner_name:
        pattern = f"%{_escape_like(f.owner_name.lower())}%"
        stmt = stmt.where(AISystem.accountable_owner_id.in_(
            select(User.id).where(or_(func.lower(User.name).like(pattern, escape="\\"),
                                      func.lower(User.email).like(pattern, escape="\\")))))
    if f.data:
        stmt = stmt.where(
            exists().where(
                SystemDataCategory.system_id == AISystem.id,
                SystemDataCategory.category.in_([DataCategory(d) for d in f.data]),
            )
        )
    if f.portfolio_active():
        stmt = where_state(stmt, AISystem.id, today=utcnow().date(), verdict=f.verdict, recommendation=f.recommendation,
                           stale_evidence=f.stale_evidence, re_review=f.re_review, review_due=f.review_due,
                           blocker=f.blocker)
        if f.attention:
            stmt = stmt.where(attention_condition(f.attention, utcnow().date()))
    return stmt


def _order(f: InventoryFilters, owner_alias, state_alias):
    tier_rank = case({t: t.rank for t in Tier}, value=AISystem.tier)
    stage_rank = case({s: i for i, s in enumerate(Stage)}, value=AISystem.stage)
    verdict_rank = {Verdict.GO: 0, Verdict.CONDITIONAL_GO: 1, Verdict.NO_GO: 2}  # undecided last
    column = {
        "name": func.lower(AISystem.name),
        "tier": tier_rank,
        "stage": stage_rank,
        "business_unit": AISystem.business_unit,
        "owner": owner_alias.name,
        "decision": case(verdict_rank, value=state_alias.decision_verdict, else_=3),
        "recommendation": case(verdict_rank, value=state_alias.recommendation, else_=3),
        "updated": AISystem.updated_at,
    }[f.sort]
    primary = column.desc() if f.descending else column.asc()
    return [primary, AISystem.id.asc()]


def without_jit(session: Session) -> None:
    """PostgreSQL: no JIT compilation for the rest of this (read) transaction.  The lists and the
    dashboard aggregate 100,000 rows in well under 100 ms, and a JIT-compiled plan spent 300 ms
    compiling first (the planner switches it on by estimated cost, not by benefit)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL jit = off"))


# PostgreSQL: the distinct business units of live systems, one index probe per unit (a loose index
# scan over ix_ai_systems_unit_live) instead of reading every system: a dozen units cost a dozen
# probes.  SQLite plans the probes on another index (ten times slower), so it keeps DISTINCT.
LIVE_UNITS = text("""
WITH RECURSIVE units(unit) AS (
    SELECT min(business_unit) FROM ai_systems WHERE deleted_at IS NULL
    UNION ALL
    SELECT (SELECT min(business_unit) FROM ai_systems WHERE deleted_at IS NULL AND business_unit > units.unit)
    FROM units WHERE units.unit IS NOT NULL
)
SELECT unit FROM units WHERE unit IS NOT NULL
""")


def live_business_units(session: Session) -> list[str]:
    """Every business unit of a live system, in order (the filter menus)."""
    if session.get_bind().dialect.name == "postgresql":
        return list(session.scalars(LIVE_UNITS))
    return list(session.scalars(select(AISystem.business_unit).where(AISystem.deleted_at.is_(None))
                                .distinct().order_by(AISystem.business_unit)))


def list_systems(session: Session, actor: User, f: InventoryFilters) -> InventoryPage:
    require(can_read_inventory(actor))
    without_jit(session)
    total = session.scalar(_where(select(func.count(AISystem.id)), f))
    # Sort and page over narrow (key, id) rows first, then load the page's full rows:
    # sorting 10,000 wide rows is what made a deep page slow.
    owner, state = aliased(User), aliased(SystemState)
    page_ids = _sort_joins(_where(select(AISystem.id), f), f, owner, state)
    page_ids = page_ids.order_by(*_order(f, owner, state)).limit(f.per_page).offset((f.page - 1) * f.per_page)
    ids = list(session.scalars(page_ids))
    states = {row.system_id: (row.decision_verdict, row.recommendation) for row in session.execute(
        select(SystemState.system_id, SystemState.decision_verdict, SystemState.recommendation)
        .where(SystemState.system_id.in_(ids)))}
    position = {system_id: i for i, system_id in enumerate(ids)}
    systems = sorted(
        session.scalars(
            select(AISystem).where(AISystem.id.in_(ids)).options(selectinload(AISystem.data_links))
        ).unique(),
        key=lambda s: position[s.id],
    )
    units = live_business_units(session)
    owners = owner_names(session, f.owner)
    label = blocker_label(session, f.blocker) if f.blocker else None
    return InventoryPage(systems=systems, total=total, filters=f, business_units=units, owners=owners,
                         blocker_label=label or f.blocker, states=states)


def owner_names(session: Session, ids: list[int]) -> list[tuple[int, str]]:
    """(id, name) of the owners an owner filter names, in its order ("None yet" for ``NO_OWNER``):
    the page shows who it filters on without listing every owner (100,000 systems have thousands)."""
    names = dict(session.execute(select(User.id, User.name).where(User.id.in_([i for i in ids if i != NO_OWNER]))).all())
    return [(i, "None yet" if i == NO_OWNER else names[i]) for i in ids if i == NO_OWNER or i in names]


def systems_owned_by(session: Session, user: User, limit: int = 50) -> list[AISystem]:
    stmt = (
        select(AISystem)
        .where(AISystem.deleted_at.is_(None))
        .where(or_(AISystem.accountable_owner_id == user.id, AISystem.technical_owner_id == user.id))
        .options(selectinload(AISystem.metrics))
        # the tier questions first: nothing else can be judged before they are answered
        .order_by(case((AISystem.tier == Tier.NOT_ASSESSED, 0), else_=1), func.lower(AISystem.name))
        .limit(limit)
    )
    return list(session.scalars(stmt).unique())


def counts_by(session: Session, column) -> dict:
    rows = session.execute(select(column, func.count()).where(AISystem.deleted_at.is_(None)).group_by(column))
    return {key: n for key, n in rows}
