"""The system form's business unit: a select of the listed units (plus the system's own unlisted one)."""

from __future__ import annotations

import html
import re

from sqlalchemy import select

from registry.inventory.models import AISystem
from registry.inventory.units import NOT_LISTED, ensure_units
from tests.conftest import csrf_from, make_system


def _text(response) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.get_data(as_text=True)))


def test_the_system_form_offers_the_list_and_refuses_another_unit(session, people, as_role):
    owner = as_role("owner")
    ensure_units(session, ["Claims & Insurance", "HR"])
    session.commit()
    legacy = make_system(session, people["owner"], business_unit="Imported Team")

    form = owner.get("/systems/new").get_data(as_text=True)
    select_html = re.search(r'<select[^>]*name="business_unit".*?</select>', form, re.S).group(0)
    assert [html.unescape(v) for v in re.findall(r'<option[^>]*value="([^"]*)"', select_html)] == [
        "", "Claims & Insurance", "HR"]

    edit = owner.get(f"/systems/{legacy.id}/edit").get_data(as_text=True)
    assert re.search(r'<option selected value="Imported Team">Imported Team \(not on the list\)</option>', edit)

    token = csrf_from(form)
    data = {"csrf_token": token, "name": "Typed unit", "purpose": "p", "business_process": "b",
            "business_unit": "Claims & Insurence", "accountable_owner": people["owner"].email, "sourcing": "in_house",
            "kind": "predictive_model", "stage": "pilot", "affects": "customers", "autonomy": "human_in_the_loop",
            "prohibited_practice": "none", "legal_effect": "no", "profiling": "no", "acts_on_people": "no"}
    refused = owner.client.post("/systems/new", data=data)
    assert refused.status_code == 422 and NOT_LISTED in _text(refused)
    assert owner.client.post("/systems/new", data=data | {"business_unit": "HR"}).status_code == 302
    session.expire_all()
    assert session.scalar(select(AISystem.business_unit).where(AISystem.name == "Typed unit")) == "HR"
