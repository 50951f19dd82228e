"""Systems and their risk answers through the API: the inventory's filters and pagination, create,
get, update with optimistic concurrency (ETag / If-Match), and the computed tier with its reasons."""

from __future__ import annotations

from sqlalchemy import select

from registry.audit.models import AuditEvent
from registry.inventory.services import update_system
from tests.api.conftest import error_of
from tests.conftest import make_system, system_payload


def test_list_filters_sorts_and_pages_like_the_inventory(session, people, api_as):
    make_system(session, people["owner"], name="Alpha chatbot", stage="production", kind="generative_assistant")
    make_system(session, people["owner"], name="Beta scorer", stage="pilot")
    make_system(session, people["other_owner"], name="Gamma router", stage="pilot")
    api = api_as("executive")
    page = api.get("/api/v1/systems?stage=pilot&sort=-name&per_page=1&page=2").get_json()
    assert page["total"] == 2 and page["pages"] == 2 and page["page"] == 2 and page["per_page"] == 1
    assert [s["name"] for s in page["items"]] == ["Beta scorer"]
    assert [s["name"] for s in api.get("/api/v1/systems?q=CHATBOT").get_json()["items"]] == ["Alpha chatbot"]
    owned = api.get(f"/api/v1/systems?owner={people['other_owner'].id}").get_json()["items"]
    assert [(s["name"], s["accountable_owner"]) for s in owned] == [("Gamma router", "other@example.test")]
    both = api.get("/api/v1/systems?stage=pilot&stage=production").get_json()
    assert both["total"] == 3


def test_get_returns_the_record_with_its_version_as_etag(session, people, api_as):
    system = make_system(session, people["owner"])
    response = api_as("compliance").get(f"/api/v1/systems/{system.id}")
    body = response.get_json()
    assert response.status_code == 200 and response.headers["ETag"] == '"1"' and body["version"] == 1
    assert body["name"] == system.name and body["accountable_owner"] == "owner@example.test"
    assert body["tier"] == "high" and body["data_categories"] == ["personal", "financial"]
    assert body["risk"]["decision_domains"] == ["insurance"]
    assert any("Annex III" in reason for reason in body["tier_reasons"])


def test_create_goes_through_the_service_and_is_audited_as_the_token_user(session, people, api_as):
    payload = system_payload(people["owner"], name="Parcel chatbot")
    response = api_as("owner").post("/api/v1/systems", payload)
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert response.headers["Location"].endswith(f"/api/v1/systems/{body['id']}")
    assert response.headers["ETag"] == '"1"' and body["name"] == "Parcel chatbot"
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "system.create")).one()
    assert event.actor_id == people["owner"].id and event.system_id == body["id"]


def test_create_refuses_what_the_page_refuses(people, api_as):
    for_someone_else = api_as("owner").post("/api/v1/systems", system_payload(people["other_owner"]))
    assert for_someone_else.status_code == 422 and "accountable_owner" in error_of(for_someone_else)["fields"]
    vendor = api_as("owner").post("/api/v1/systems", system_payload(people["owner"], sourcing="vendor"))
    assert error_of(vendor)["fields"] == {"vendor_name": ["Name the vendor of a bought system."]}
    executive = api_as("executive").post("/api/v1/systems", system_payload(people["owner"]))
    assert executive.status_code == 403 and error_of(executive)["code"] == "forbidden"


def test_update_needs_if_match_refuses_a_stale_one_and_returns_the_new_etag(session, people, api_as):
    system = make_system(session, people["owner"])
    api = api_as("owner")
    url = f"/api/v1/systems/{system.id}"
    payload = system_payload(people["owner"], name="Renamed")
    missing = api.put(url, payload)
    assert missing.status_code == 428 and error_of(missing)["code"] == "precondition_required"
    stale = api.put(url, payload, headers={"If-Match": '"7"'})
    assert stale.status_code == 412 and error_of(stale)["code"] == "precondition_failed"
    done = api.put(url, payload, headers={"If-Match": '"1"'})
    assert done.status_code == 200 and done.get_json()["name"] == "Renamed" and done.headers["ETag"] == '"2"'
    again = api.put(url, system_payload(people["owner"], name="Lost update"), headers={"If-Match": '"1"'})
    assert again.status_code == 412
    assert api.get(url).get_json()["name"] == "Renamed"


def test_a_change_made_on_the_page_meanwhile_makes_the_api_update_stale(session, people, api_as):
    system = make_system(session, people["owner"])
    api = api_as("owner")
    etag = api.get(f"/api/v1/systems/{system.id}").headers["ETag"]
    update_system(session, people["owner"], system.id, system_payload(people["owner"], name="Changed on the page"),
                  expected_version=1)
    session.commit()
    response = api.patch(f"/api/v1/systems/{system.id}", {"stage": "production"}, headers={"If-Match": etag})
    assert response.status_code == 412
    assert api.get(f"/api/v1/systems/{system.id}").get_json()["stage"] == "pilot"


def test_patch_changes_only_the_fields_sent(session, people, api_as):
    system = make_system(session, people["owner"], name="Keeps its name")
    response = api_as("admin").patch(f"/api/v1/systems/{system.id}", {"stage": "production"},
                                     headers={"If-Match": '"1"'})
    body = response.get_json()
    assert response.status_code == 200 and body["stage"] == "production" and body["name"] == "Keeps its name"
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "system.update")).one()
    assert event.actor_id == people["admin"].id and event.after == {"stage": "Production"}


def test_only_the_owners_and_admins_update(session, people, api_as):
    system = make_system(session, people["owner"])
    for role in ("other_owner", "compliance", "executive"):
        response = api_as(role).patch(f"/api/v1/systems/{system.id}", {"stage": "production"},
                                      headers={"If-Match": '"1"'})
        assert response.status_code == 403, role


def test_risk_answers_and_the_tier_they_give_with_reasons(session, people, api_as):
    system = make_system(session, people["owner"])
    api = api_as("owner")
    risk = api.get(f"/api/v1/systems/{system.id}/risk")
    body = risk.get_json()
    assert risk.headers["ETag"] == '"1"' and body["computed_tier"] == "high" and body["tier"] == "high"
    assert body["answers"]["decision_domains"] == ["insurance"] and body["reasons"]
    answered = api.put(f"/api/v1/systems/{system.id}/risk", {"prohibited_practice": "social_scoring"},
                       headers={"If-Match": risk.headers["ETag"]})
    body = answered.get_json()
    assert answered.status_code == 200, body
    assert body["computed_tier"] == "unacceptable" and body["tier"] == "unacceptable"
    assert body["answers"]["decision_domains"] == []  # the answers sent replace the previous ones whole
    assert any("prohibited" in reason.lower() for reason in body["reasons"])
    assert answered.headers["ETag"] == '"2"'
