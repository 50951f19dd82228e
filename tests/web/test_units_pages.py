"""The admin's list of units (add, rename, merge, add what imports brought) and the system form's select."""

from __future__ import annotations

import re

from sqlalchemy import select

from registry.audit.models import AuditEvent
from registry.inventory.models import AISystem, OrgUnit
from registry.inventory.units import ensure_units
from tests.conftest import make_system


def _text(response) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.get_data(as_text=True)))


def test_the_admin_adds_renames_and_merges_units_with_csrf(session, people, as_role):
    admin, owner = as_role("admin"), as_role("owner")
    ensure_units(session, ["Claims", "Claimz"])
    session.commit()
    make_system(session, people["owner"], name="Typo system", business_unit="Claimz")
    make_system(session, people["owner"], name="Imported system", business_unit="Pricing Team")  # not listed

    page = admin.get("/admin/units")
    assert page.status_code == 200
    body = _text(page)
    assert "On the list (2)" in body and "Used by systems, not on the list (1)" in body
    assert "Pricing Team" in body and 'aria-current="page">Units<' in page.get_data(as_text=True)

    assert admin.client.post("/admin/units", data={"name": "Legal"}).status_code == 400  # no CSRF token: refused
    assert owner.post("/admin/units", {"name": "Legal"}, token_from="/systems").status_code == 403
    added = admin.post("/admin/units", {"name": "Legal"})
    assert added.status_code == 302
    twice = admin.post("/admin/units", {"name": "  legal "})
    assert twice.status_code == 409 and "“Legal” is already on the list" in _text(twice)
    assert admin.post("/admin/units", {"name": "Pricing Team"}, token_from="/admin/units").status_code == 302

    session.expire_all()
    ids = dict(session.execute(select(OrgUnit.name, OrgUnit.id)).all())
    session.rollback()  # (the web's writes need the database)
    assert set(ids) == {"Claims", "Claimz", "Legal", "Pricing Team"}
    renamed = admin.post(f"/admin/units/{ids['Legal']}/rename", {"name": "Legal & Compliance"}, token_from="/admin/units")
    assert renamed.status_code == 302
    merged = admin.post("/admin/units/merge", {"source": "Claimz", "target": str(ids["Claims"])}, token_from="/admin/units")
    assert merged.status_code == 302
    after = _text(admin.get("/admin/units"))
    assert "Merged Claimz into Claims: 1 system moved." in after
    assert "Every system's unit is on the list." in after

    session.expire_all()
    assert sorted(session.scalars(select(OrgUnit.name))) == ["Claims", "Legal & Compliance", "Pricing Team"]
    assert session.scalar(select(AISystem.business_unit).where(AISystem.name == "Typo system")) == "Claims"
    actions = list(session.scalars(select(AuditEvent.action).where(AuditEvent.action.like("org_unit.%"),
                                                                   AuditEvent.actor_id == people["admin"].id)
                                  .order_by(AuditEvent.seq)))
    assert actions == ["org_unit.create", "org_unit.create", "org_unit.rename", "org_unit.merge"]
