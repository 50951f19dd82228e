"""Inventory pages through the test client, CSRF on: what people see and what the forms keep."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from registry.audit.models import AuditEvent
from registry.inventory.models import AISystem
from tests.conftest import Browser, make_system, make_user


def form_data(owner_email: str, **overrides) -> dict:
    data = {
        "name": "Resume screener",
        "purpose": "Ranks applicants for warehouse roles.",
        "business_process": "Hiring",
        "business_unit": "HR",
        "accountable_owner": owner_email,
        "technical_owner": "",
        "sourcing": "vendor",
        "vendor_name": "HireRank",
        "kind": "predictive_model",
        "stage": "pilot",
        "affects": ["public"],
        "decisions_influenced": "Who is invited to interview",
        "autonomy": "human_in_the_loop",
        "data_categories": ["personal"],
        "prohibited_practice": "none",
        "decision_domains": ["employment"],
        "legal_effect": "no",
        "decision_role": "material",
        "profiling": "no",
        "acts_on_people": "no",
    }
    data.update(overrides)
    return data


def test_register_a_system_shows_its_tier_and_reasons(session, people, as_role):
    web = as_role("owner")
    response = web.post("/systems/new", form_data("owner@example.test"))
    assert response.status_code == 302
    page = web.get(response.headers["Location"]).get_data(as_text=True)
    assert "Registered Resume screener. Its risk tier is High." in page
    assert "Risk tier: High" in page
    assert "Influences decisions about people in an Annex III area: employment, hiring and work management." in page
    assert "High-risk (Art. 6(2), Annex III): Annex III 4" in page
    # One input a person weighs with others: not a principal basis, so not OMB high-impact.
    assert ("OMB M-25-21 high-impact</dt><dd>No: its output feeds decisions about people in employment, hiring and "
            "work management, but it is not a principal basis: a person weighs it with other grounds and decides."
            in page)
    assert "Bought from a vendor — HireRank" in page


def test_invalid_form_keeps_input_and_names_fields(session, people, as_role):
    web = as_role("owner")
    response = web.post("/systems/new", form_data("owner@example.test", name="", sourcing="vendor", vendor_name="",
                                                  purpose="Kept <purpose> text"))
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "There is a problem" in page
    assert re.search(r'id="name-error">This field is required', page)
    assert "Name the vendor of a bought system." in page
    assert "Kept &lt;purpose&gt; text" in page  # input kept, and escaped
    assert 'value="employment" checked' in page or "checked" in page
    assert session.scalar(select(func.count(AISystem.id))) == 0


def test_unknown_owner_is_a_field_error_not_a_500(session, people, as_role):
    web = as_role("admin")
    response = web.post("/systems/new", form_data("ghost@example.test"))
    assert response.status_code == 422
    assert "Not a valid choice" in response.get_data(as_text=True)


def test_edit_conflict_refuses_the_second_save(session, people, as_role):
    system = make_system(session, people["owner"])
    alice, bob = as_role("owner"), as_role("admin")
    alice_page = alice.get(f"/systems/{system.id}/edit").get_data(as_text=True)
    bob_page = bob.get(f"/systems/{system.id}/edit").get_data(as_text=True)
    version = re.search(r'name="version" type="hidden" value="(\d+)"', alice_page).group(1)
    assert version == re.search(r'name="version" type="hidden" value="(\d+)"', bob_page).group(1)
    data = form_data("owner@example.test", name="Alice's name", version=version)
    assert alice.post(f"/systems/{system.id}/edit", data, token_from=f"/systems/{system.id}/edit").status_code == 302
    data = form_data("owner@example.test", name="Bob's name", version=version)
    response = bob.post(f"/systems/{system.id}/edit", data, token_from=f"/systems/{system.id}/edit")
    assert response.status_code == 409
    page = response.get_data(as_text=True)
    assert "Someone else saved this system while you were editing it" in page
    assert 'value="Bob&#39;s name"' in page  # Bob's input is still in the form
    session.expire_all()
    assert session.get(AISystem, system.id).name == "Alice's name"


def test_history_shows_field_level_diffs_with_names(session, people, as_role):
    system = make_system(session, people["owner"])
    web = as_role("owner")
    page = web.get(f"/systems/{system.id}/edit").get_data(as_text=True)
    version = re.search(r'name="version" type="hidden" value="(\d+)"', page).group(1)
    data = form_data("owner@example.test", name=system.name, stage="production", technical_owner="other@example.test",
                     version=version)
    assert web.post(f"/systems/{system.id}/edit", data, token_from=f"/systems/{system.id}/edit").status_code == 302
    history = as_role("executive").get(f"/systems/{system.id}/history").get_data(as_text=True)
    assert "Lifecycle stage" in history and "Pilot" in history and "Production" in history
    assert "Otto Other &lt;other@example.test&gt;" in history
    assert "Olu Owner &lt;owner@example.test&gt;" in history  # who did it
    assert "Registered " + system.name in history


def test_compliance_override_is_shown_with_reason(session, people, as_role):
    """A downward override is shown as waiting until a second officer confirms it on the page."""
    system = make_system(session, people["owner"])
    web = as_role("compliance")
    response = web.post(f"/systems/{system.id}/tier", {"tier": "medium", "reason": "Adjusters review every ranking."},
                        token_from=f"/systems/{system.id}")
    assert response.status_code == 302
    page = as_role("owner").get(f"/systems/{system.id}").get_data(as_text=True)
    assert "Override waiting for confirmation" in page and "Risk tier: High" in page
    assert "Adjusters review every ranking." in page and "Cora Compliance" in page
    own = web.get(f"/systems/{system.id}").get_data(as_text=True)
    assert 'id="confirm-override"' not in own and "a second compliance officer confirms it" in own
    session.expire_all()
    seen = {"tier": "medium", "version": str(session.get(AISystem, system.id).version)}
    session.commit()
    assert web.post(f"/systems/{system.id}/tier/confirm", seen, token_from=f"/systems/{system.id}").status_code == 403
    make_user(session, "compliance", email="second@example.test", name="Sam Second")
    session.commit()
    second = Browser(web.client.application.test_client())
    second.login("second@example.test")
    page = second.get(f"/systems/{system.id}").get_data(as_text=True)
    assert 'id="confirm-override"' in page and f'name="version" value="{seen["version"]}"' in page
    assert second.post(f"/systems/{system.id}/tier/confirm", {"version": seen["version"]},
                       token_from=f"/systems/{system.id}").status_code == 400  # which proposal? refused
    # the proposer changes the proposal meanwhile: confirming what was seen is refused
    web.post(f"/systems/{system.id}/tier", {"tier": "low", "reason": "Adjusters review every ranking."},
             token_from=f"/systems/{system.id}")
    stale = second.post(f"/systems/{system.id}/tier/confirm", seen, token_from=f"/systems/{system.id}")
    assert stale.status_code == 409
    web.post(f"/systems/{system.id}/tier", {"tier": "medium", "reason": "Adjusters review every ranking."},
             token_from=f"/systems/{system.id}")
    session.expire_all()
    seen = {"tier": "medium", "version": str(session.get(AISystem, system.id).version)}
    session.commit()
    response = second.post(f"/systems/{system.id}/tier/confirm", seen, token_from=f"/systems/{system.id}")
    assert response.status_code == 302
    page = as_role("owner").get(f"/systems/{system.id}").get_data(as_text=True)
    assert "Overridden by compliance" in page and "from High to Medium" in page
    assert "confirmed by Sam Second" in page and "Risk tier: Medium" in page
    again = second.post(f"/systems/{system.id}/tier/confirm", seen, token_from=f"/systems/{system.id}")
    assert again.status_code == 409


def test_override_without_reason_changes_nothing(session, people, as_role):
    system = make_system(session, people["owner"])
    web = as_role("compliance")
    response = web.post(f"/systems/{system.id}/tier", {"tier": "low", "reason": ""}, token_from=f"/systems/{system.id}")
    assert response.status_code == 303
    session.expire_all()
    assert session.get(AISystem, system.id).tier_override is None
    assert "Write the reason for the override." in web.get(f"/systems/{system.id}").get_data(as_text=True)


def test_list_search_filter_sort_and_paginate(app, session, people, as_role):
    for i in range(30):
        make_system(session, people["owner"] if i % 2 else people["other_owner"], name=f"Sys {i:02d}",
                    business_unit="Sales" if i < 10 else "HR", stage="production" if i % 3 == 0 else "pilot",
                    data_categories=["health"] if i == 7 else [])
    make_system(session, people["owner"], name="Zebra 100% match_x", business_unit="HR")
    web = as_role("executive")

    def names(url):
        page = web.get(url).get_data(as_text=True)
        return re.findall(r'<a href="/systems/\d+">([^<]+)</a>', page), page

    first, page = names("/systems?per_page=10")
    assert first == [f"Sys {i:02d}" for i in range(10)] and "Page 1 of 4" in page
    second, _ = names("/systems?per_page=10&page=2")
    assert second == [f"Sys {i:02d}" for i in range(10, 20)]
    desc, _ = names("/systems?sort=-name&per_page=3")
    assert desc == ["Zebra 100% match_x", "Sys 29", "Sys 28"]
    sales, page = names("/systems?business_unit=Sales&stage=production")
    assert sales == ["Sys 00", "Sys 03", "Sys 06", "Sys 09"] and "4 AI systems match the filters" in page
    assert names("/systems?data=health")[0] == ["Sys 07"]
    assert names(f"/systems?owner={people['other_owner'].id}&per_page=100")[0] == [f"Sys {i:02d}" for i in range(0, 30, 2)]
    assert names("/systems?q=100%25")[0] == ["Zebra 100% match_x"]  # % is literal, not a wildcard
    assert names("/systems?q=h_x")[0] == ["Zebra 100% match_x"]
    assert names("/systems?q=nothing-like-this")[0] == []
    # nonsense parameters are ignored, never a 500
    assert web.get("/systems?page=abc&per_page=-4&tier=bogus&owner=x&sort=;drop").status_code == 200


def test_empty_inventory_says_what_to_do(people, as_role):
    page = as_role("owner").get("/systems").get_data(as_text=True)
    assert "The inventory is empty" in page and "Register the first system" in page


def test_metric_form_round_trip(session, people, as_role):
    system = make_system(session, people["owner"])
    web = as_role("owner")
    url = f"/systems/{system.id}/metrics/new"
    bad = web.post(url, {"name": "Time to decision", "unit": "hours", "baseline": "fast", "direction": "lower"})
    assert bad.status_code == 422 and "Not a valid float value." in bad.get_data(as_text=True)
    ok = web.post(url, {"name": "Time to decision", "unit": "hours", "baseline": "36.5", "measured_on": "2026-02-01",
                        "target": "24", "source": "Case system", "direction": "lower"})
    assert ok.status_code == 302
    page = web.get(f"/systems/{system.id}").get_data(as_text=True)
    assert "36.5 hours" in page and "24 hours" in page and "Lower is better" in page


def test_healthz_is_liveness_only(web):  # readiness (database, migrations, Redis) is /readyz: tests/web/test_ops.py
    response = web.get("/healthz")
    assert response.status_code == 200 and response.json == {"status": "ok"}


def test_unknown_system_is_404_page(people, as_role):
    response = as_role("owner").get("/systems/999999")
    assert response.status_code == 404 and "There is no AI system #999999." in response.get_data(as_text=True)


def test_json_clients_get_json_errors(people, as_role):
    response = as_role("owner").get("/systems/999999", headers={"Accept": "application/json"})
    assert response.status_code == 404 and response.json["error"] == "Not found"


def test_login_is_audited_with_address(session, people, as_role):
    as_role("owner")
    event = session.scalar(select(AuditEvent).where(AuditEvent.action == "login.success"))
    assert event.actor_label.startswith("Olu Owner") and event.address == "127.0.0.1"
