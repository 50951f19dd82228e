"""The value case and the stop over the JSON API: ETag/If-Match, null is not 0, field errors, the
stop's rules (who, only a pilot, once), and the OpenAPI document describing all three."""

from __future__ import annotations

from sqlalchemy import select

from registry.enums import Stage
from registry.inventory.models import AISystem
from registry.value.models import PilotStop
from tests.api.conftest import error_of
from tests.conftest import make_system

CASE = {"currency": "GBP", "expected_annual_value": 250000, "value_basis": "Fewer refunds sent by mistake",
        "one_off_cost": 60000, "annual_run_cost": 0, "annual_maintenance_cost": 50000,
        "maintenance_team": "Payments ML", "run_funded_by": "", "latency": "", "volume": "", "availability": ""}
LESSONS = "The model was no better than the rules it replaced on the refunds that matter."


def _url(system) -> str:
    return f"/api/v1/systems/{system.id}/value-case"


def test_an_unrecorded_value_case_reads_as_nulls_with_etag_zero(session, people, api_as):
    system = make_system(session, people["owner"])
    response = api_as("executive").get(_url(system))
    assert response.status_code == 200 and response.headers["ETag"] == '"0"'
    body = response.get_json()
    assert body["recorded"] is False and body["version"] == 0
    for key in ("currency", "expected_annual_value", "one_off_cost", "annual_run_cost", "annual_maintenance_cost",
                "net_annual_value", "business_outcome", "updated_at"):
        assert body[key] is None, key
    assert body["maintenance_team"] == ""


def test_put_needs_if_match_and_records_the_case(session, people, api_as):
    system = make_system(session, people["owner"])
    owner = api_as("owner")
    assert owner.put(_url(system), CASE).status_code == 428
    assert owner.put(_url(system), CASE, headers={"If-Match": '"3"'}).status_code == 412
    response = owner.put(_url(system), CASE, headers={"If-Match": '"0"'})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["ETag"] == '"1"'
    body = response.get_json()
    assert body["annual_run_cost"] == 0 and body["currency"] == "GBP"
    assert body["net_annual_value"] == 200000
    assert body["updated_by"] == people["owner"].label
    # a full replacement: a figure left out is not recorded (not kept, not 0)
    partial = {k: v for k, v in CASE.items() if k != "one_off_cost"}
    response = owner.put(_url(system), partial, headers={"If-Match": '"1"'})
    assert response.get_json()["one_off_cost"] is None and response.headers["ETag"] == '"2"'


def test_bad_values_are_422_with_fields_and_nothing_written(session, people, api_as):
    system = make_system(session, people["owner"])
    owner = api_as("owner")
    response = owner.put(_url(system), {**CASE, "annual_run_cost": -1, "currency": "XXX", "colour": "red"},
                         headers={"If-Match": '"0"'})
    assert response.status_code == 422
    fields = error_of(response)["fields"]
    assert {"annual_run_cost", "currency", "colour"} <= set(fields)
    response = owner.put(_url(system), {**CASE, "annual_run_cost": 1e13}, headers={"If-Match": '"0"'})
    assert response.status_code == 422 and "annual_run_cost" in error_of(response)["fields"]
    response = owner.request("PUT", _url(system), headers={"If-Match": '"0"'}, data='{"annual_run_cost": NaN}',
                             content_type="application/json")
    assert response.status_code == 400
    assert api_as("admin").get(_url(system)).get_json()["recorded"] is False


def test_the_gaps_follow_the_tier(session, people, api_as):
    system = make_system(session, people["owner"], kind="generative_assistant", autonomy="human_on_the_loop",
                         affects=["customers"], data_categories=["personal"], risk={"prohibited_practice": "none"})
    assert system.tier == "medium"
    owner = api_as("owner")
    gaps = owner.get(_url(system)).get_json()["gaps"]
    assert len(gaps) == 2 and any("run cost" in g for g in gaps) and any("maintenance" in g for g in gaps)
    owner.put(_url(system), CASE, headers={"If-Match": '"0"'})
    assert owner.get(_url(system)).get_json()["gaps"] == []


def test_a_stop_retires_the_pilot_once(session, people, api_as):
    system = make_system(session, people["owner"])
    officer = api_as("compliance")
    url = f"/api/v1/systems/{system.id}/stop"
    response = officer.post(url, {"reason": "performance", "lessons": LESSONS})
    assert response.status_code == 201, response.get_data(as_text=True)
    body = response.get_json()
    assert body["reason"] == "performance" and body["stage_before"] == "pilot" and body["lessons"] == LESSONS
    assert body["stopped_by"] == people["compliance"].label and body["note"] == ""
    assert response.headers["Location"].endswith(f"/systems/{system.id}/value-case")
    assert session.scalar(select(AISystem.stage).where(AISystem.id == system.id)) == Stage.RETIRED
    assert len(session.scalars(select(PilotStop).where(PilotStop.system_id == system.id)).all()) == 1
    session.commit()
    again = officer.post(url, {"reason": "performance", "lessons": LESSONS})
    assert again.status_code == 409 and "already stopped" in error_of(again)["message"]


def test_a_stop_is_refused_clearly(session, people, api_as):
    pilot = make_system(session, people["owner"])
    live = make_system(session, people["owner"], stage="production")
    owner = api_as("owner")
    response = owner.post(f"/api/v1/systems/{live.id}/stop", {"reason": "adoption", "lessons": LESSONS})
    assert response.status_code == 409 and "Only a pilot" in error_of(response)["message"]
    response = owner.post(f"/api/v1/systems/{pilot.id}/stop", {"reason": "other", "lessons": "short", "x": 1})
    assert response.status_code == 422
    assert "x" in error_of(response)["fields"]  # an unknown field is an error, never dropped
    response = owner.post(f"/api/v1/systems/{pilot.id}/stop", {"reason": "other", "lessons": "short"})
    assert response.status_code == 422 and {"note", "lessons"} <= set(error_of(response)["fields"])
    assert api_as("other_owner").post(f"/api/v1/systems/{pilot.id}/stop",
                                      {"reason": "adoption", "lessons": LESSONS}).status_code == 403
    assert session.scalar(select(AISystem.stage).where(AISystem.id == pilot.id)) == Stage.PILOT


def test_the_openapi_document_describes_the_value_routes(session, people, api_as):
    document = api_as("anonymous").get("/api/v1/openapi.json").get_json()
    paths = document["paths"]
    assert {"get", "put"} <= set(paths["/systems/{system_id}/value-case"])
    put = paths["/systems/{system_id}/value-case"]["put"]
    assert {"412", "428", "422"} <= set(put["responses"])
    stop = paths["/systems/{system_id}/stop"]["post"]
    assert {"201", "409", "422", "403"} <= set(stop["responses"])
    schemas = document["components"]["schemas"]
    assert "ValueCase" in schemas and "Stop" in schemas
    assert "annual_run_cost" in schemas["ValueCase"]["properties"]
