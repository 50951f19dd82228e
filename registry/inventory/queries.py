"""The inventory list: search, filters, sort and pagination, all in SQL.

A page costs a constant number of queries whatever the number of systems: one count,
one page of rows (owners joined), one for the page's data categories, and the filter
options.  ``tests/web/test_query_count.py`` holds it to that.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import ceil

from sqlalchemy import case, exists, func, or_, select
from sqlalchemy.orm import Session, aliased, selectinload

from registry.auth.models import User
from registry.auth.permissions import can_read_inventory, require
from registry.enums import DataCategory, Kind, Stage, Tier
from registry.inventory.models import AISystem, SystemDataCategory

SORTS = {
    "name": "Name",
    "tier": "Tier",
    "stage": "Stage",
    "business_unit": "Business unit",
    "owner": "Accountable owner",
    "updated": "Last updated",
}
MAX_PAGE_SIZE = 200


@dataclass
class InventoryFilters:
    q: str = ""
    stage: list[str] = field(default_factory=list)
    tier: list[str] = field(default_factory=list)
    kind: list[str] = field(default_factory=list)
    business_unit: list[str] = field(default_factory=list)
    owner: list[int] = field(default_factory=list)
    data: list[str] = field(default_factory=list)
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
            if raw.isdigit():
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
            data=allowed("data", DataCategory.values()),
            sort=sort if sort in SORTS else "name",
            descending=descending,
            page=page,
            per_page=size,
        )

    def active(self) -> bool:
        return bool(self.q or self.stage or self.tier or self.kind or self.business_unit or self.owner or self.data)


@dataclass
class InventoryPage:
    systems: list[AISystem]
    total: int
    filters: InventoryFilters
    business_units: list[str]
    owners: list[tuple[int, str]]

    @property
    def pages(self) -> int:
        return max(1, ceil(self.total / self.filters.per_page))


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def filtered_ids_query(f: InventoryFilters):
    """The WHERE clause of the inventory as a select of ids, reusable by exports."""
    return _where(select(AISystem.id), f)


def ordered_ids_query(f: InventoryFilters):
    """Every matching system's id in the list's order, without paging (exports)."""
    owner = aliased(User)
    stmt = filtered_ids_query(f)
    if f.sort == "owner":
        stmt = stmt.join(owner, owner.id == AISystem.accountable_owner_id)
    return stmt.order_by(*_order(f, owner))


def _where(stmt, f: InventoryFilters):
    stmt = stmt.where(AISystem.deleted_at.is_(None))
    if f.q:
        stmt = stmt.where(AISystem.search_text.like(f"%{_escape_like(f.q.lower())}%", escape="\\"))
    if f.stage:
        stmt = stmt.where(AISystem.stage.in_([Stage(s) for s in f.stage]))
    if f.tier:
        stmt = stmt.where(AISystem.tier.in_([Tier(t) for t in f.tier]))
    if f.kind:
        stmt = stmt.where(AISystem.kind.in_([Kind(k) for k in f.kind]))
    if f.business_unit:
        stmt = stmt.where(AISystem.business_unit.in_(f.business_unit))
    if f.owner:
        stmt = stmt.where(AISystem.accountable_owner_id.in_(f.owner))
    if f.data:
        stmt = stmt.where(
            exists().where(
                SystemDataCategory.system_id == AISystem.id,
                SystemDataCategory.category.in_([DataCategory(d) for d in f.data]),
            )
        )
    return stmt


def _order(f: InventoryFilters, owner_alias):
    tier_rank = case({t: t.rank for t in Tier}, value=AISystem.tier)
    stage_rank = case({s: i for i, s in enumerate(Stage)}, value=AISystem.stage)
    column = {
        "name": func.lower(AISystem.name),
        "tier": tier_rank,
        "stage": stage_rank,
        "business_unit": AISystem.business_unit,
        "owner": owner_alias.name,
        "updated": AISystem.updated_at,
    }[f.sort]
    primary = column.desc() if f.descending else column.asc()
    return [primary, AISystem.id.asc()]


def list_systems(session: Session, actor: User, f: InventoryFilters) -> InventoryPage:
    require(can_read_inventory(actor))
    total = session.scalar(_where(select(func.count(AISystem.id)), f))
    # Sort and page over narrow (key, id) rows first, then load the page's full rows:
    # sorting 10,000 wide rows is what made a deep page slow.
    owner = aliased(User)
    page_ids = _where(select(AISystem.id), f)
    if f.sort == "owner":
        page_ids = page_ids.join(owner, owner.id == AISystem.accountable_owner_id)
    page_ids = page_ids.order_by(*_order(f, owner)).limit(f.per_page).offset((f.page - 1) * f.per_page)
    ids = list(session.scalars(page_ids))
    position = {system_id: i for i, system_id in enumerate(ids)}
    systems = sorted(
        session.scalars(
            select(AISystem).where(AISystem.id.in_(ids)).options(selectinload(AISystem.data_links))
        ).unique(),
        key=lambda s: position[s.id],
    )
    units = list(
        session.scalars(
            select(AISystem.business_unit).where(AISystem.deleted_at.is_(None)).distinct().order_by(AISystem.business_unit)
        )
    )
    owners = [
        (row.id, row.name)
        for row in session.execute(
            select(User.id, User.name)
            .where(exists().where(AISystem.accountable_owner_id == User.id, AISystem.deleted_at.is_(None)))
            .order_by(User.name)
        )
    ]
    return InventoryPage(systems=systems, total=total, filters=f, business_units=units, owners=owners)


def systems_owned_by(session: Session, user: User, limit: int = 50) -> list[AISystem]:
    stmt = (
        select(AISystem)
        .where(AISystem.deleted_at.is_(None))
        .where(or_(AISystem.accountable_owner_id == user.id, AISystem.technical_owner_id == user.id))
        .options(selectinload(AISystem.metrics))
        .order_by(func.lower(AISystem.name))
        .limit(limit)
    )
    return list(session.scalars(stmt).unique())


def counts_by(session: Session, column) -> dict:
    rows = session.execute(select(column, func.count()).where(AISystem.deleted_at.is_(None)).group_by(column))
    return {key: n for key, n in rows}
