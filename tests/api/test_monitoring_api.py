"""The JSON API of observations and drift: batches (idempotent, all or nothing), paging, rules, alerts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from registry.enums import ObservationSource
from registry.inventory.services import add_metric
from registry.monitoring.models import DriftAlert, Observation
from registry.monitoring.services import record_observations, set_drift_rule
from tests.api.conftest import error_of
from tests.conftest import make_system


def drift_alert(session, system, metric) -> DriftAlert:
    """An open alert on ``metric`` (a rule of ±1 around its baseline, then one value far off)."""
    set_drift_rule(session, None, system.id, metric.id, {"reference": "baseline", "band_kind": "absolute",
                                                         "below": 1, "above": 1})
    record_observations(session, None, system.id, [{"metric_id": metric.id, "value": -500,
                                                    "observed_at": "2026-09-01"}], ObservationSource.DEMO)
    session.flush()
    return session.scalars(select(DriftAlert).where(DriftAlert.metric_id == metric.id)).one()


@pytest.fixture
def world(session, people):
    system = make_system(session, people["owner"])
    metric = add_metric(session, people["owner"], system.id, {"name": "Accuracy", "unit": "%", "baseline": 90,
                                                              "measured_on": "2026-01-01", "direction": "higher"})
    session.commit()
    return system, metric


def _batch(metric, n, value=91.0, start=datetime(2026, 10, 1, tzinfo=UTC)):
    return {"observations": [{"metric_id": metric.id, "value": value,
                              "observed_at": (start + timedelta(minutes=i)).isoformat()} for i in range(n)]}


def test_a_batch_is_counted_and_idempotent(session, api_as, world):
    system, metric = world
    api = api_as("owner")
    url = f"/api/v1/systems/{system.id}/observations"
    first = api.post(url, _batch(metric, 2000))
    assert first.status_code == 200, first.get_data(as_text=True)[:300]
    assert first.get_json() == {"created": 2000, "unchanged": 0, "corrected": 0, "alerts_opened": 0}
    again = api.post(url, _batch(metric, 2000))
    assert again.get_json()["unchanged"] == 2000
    assert session.scalar(select(func.count(Observation.id))) == 2000


def test_a_bad_row_refuses_the_whole_batch_with_its_index(session, api_as, world):
    system, metric = world
    body = _batch(metric, 3)
    body["observations"][1]["value"] = "NaN"
    body["observations"][2]["observed_at"] = "yesterday"
    response = api_as("owner").post(f"/api/v1/systems/{system.id}/observations", body)
    assert response.status_code == 422
    fields = error_of(response)["fields"]
    assert set(fields) == {"observations.1.value", "observations.2.observed_at"}
    assert session.scalar(select(func.count(Observation.id))) == 0


def test_more_than_ten_thousand_is_refused(api_as, world):
    system, metric = world
    response = api_as("owner").post(f"/api/v1/systems/{system.id}/observations", _batch(metric, 10_001))
    assert response.status_code == 422 and "observations" in error_of(response)["fields"]


def test_observations_page_by_cursor(api_as, world):
    system, metric = world
    api = api_as("owner")
    api.post(f"/api/v1/systems/{system.id}/observations", _batch(metric, 5))
    page = api.get(f"/api/v1/systems/{system.id}/observations?limit=3").get_json()
    assert len(page["items"]) == 3 and page["next_after_id"] == page["items"][-1]["id"]
    rest = api.get(f"/api/v1/systems/{system.id}/observations?limit=3&after_id={page['next_after_id']}").get_json()
    assert len(rest["items"]) == 2 and rest["next_after_id"] is None
    bad = api.get(f"/api/v1/systems/{system.id}/observations?since=soon")
    assert bad.status_code == 400 and "since" in error_of(bad)["fields"]


def test_rule_then_breaches_open_an_alert_that_needs_a_note(api_as, world):
    system, metric = world
    api = api_as("owner")
    rule_url = f"/api/v1/systems/{system.id}/metrics/{metric.id}/drift-rule"
    assert api.get(rule_url).status_code == 404
    put = api.put(rule_url, {"reference": "baseline", "band_kind": "relative", "below": 0.05, "consecutive": 2})
    assert put.status_code == 200 and put.get_json()["low"] == pytest.approx(85.5) and put.get_json()["high"] is None
    result = api.post(f"/api/v1/systems/{system.id}/observations", _batch(metric, 2, value=70)).get_json()
    assert result["alerts_opened"] == 1
    (alert,) = api.get(f"/api/v1/systems/{system.id}/drift-alerts").get_json()["items"]
    assert alert["status"] == "open" and alert["breaches"] == 2 and "is below its floor of 85.5 %" in alert["summary"]
    resolve = f"/api/v1/systems/{system.id}/drift-alerts/{alert['id']}/resolve"
    assert api.post(resolve, {}).status_code == 422
    assert api.post(resolve, {"note": "  "}).status_code == 422
    done = api.post(resolve, {"note": "Retrained."})
    assert done.status_code == 200 and done.get_json()["resolved_by"] == "owner@example.test"
    assert api.post(resolve, {"note": "Again"}).status_code == 422


def test_a_rule_around_a_missing_target_is_a_422(api_as, world):
    system, metric = world
    response = api_as("admin").put(f"/api/v1/systems/{system.id}/metrics/{metric.id}/drift-rule",
                                   {"reference": "target", "band_kind": "absolute", "below": 1})
    assert response.status_code == 422 and "reference" in error_of(response)["fields"]


def test_the_bulk_endpoint_takes_several_systems(session, people, api_as, world):
    system, metric = world
    other = make_system(session, people["owner"])
    second = add_metric(session, people["owner"], other.id, {"name": "Recall", "unit": "%", "baseline": 80,
                                                             "measured_on": "2026-01-01", "direction": "higher"})
    session.commit()
    body = {"observations": [*_batch(metric, 3)["observations"], *_batch(second, 4)["observations"]]}
    response = api_as("owner").post("/api/v1/observations", body)
    assert response.get_json()["created"] == 7
    refused = api_as("other_owner").post("/api/v1/observations", body)
    assert refused.status_code == 422 and "observations.0.metric" in error_of(refused)["fields"]


@pytest.mark.parametrize("moment", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_a_moment_beyond_the_calendar_is_a_422_not_a_500(session, api_as, world, moment):
    system, metric = world
    body = {"observations": [{"metric_id": metric.id, "value": 90.0, "observed_at": moment}]}
    response = api_as("owner").post(f"/api/v1/systems/{system.id}/observations", body)
    assert response.status_code == 422 and response.get_json()["error"]["fields"]
    listing = api_as("owner").get(f"/api/v1/systems/{system.id}/observations?since={moment.replace('+', '%2B')}")
    assert listing.status_code in (400, 422)
    assert session.scalar(select(func.count(Observation.id))) == 0
