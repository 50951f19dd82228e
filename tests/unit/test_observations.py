"""Recording observations: idempotent batches, corrections, all or nothing, one audit event, permissions,
and re-review of a decided system in production when an alert opens."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from marshmallow import ValidationError
from sqlalchemy import func, select

from registry.audit.models import AuditEvent
from registry.decisions.services import record_decision
from registry.enums import ObservationSource
from registry.errors import PermissionDenied, ValidationFailed
from registry.inventory.models import AISystem
from registry.inventory.services import add_metric
from registry.monitoring.models import DriftAlert, Observation
from registry.monitoring.schemas import ObservationSchema
from registry.monitoring.services import record_observations, resolve_alert, set_drift_rule
from tests.conftest import make_system

NOW = datetime(2026, 11, 29, 12, tzinfo=UTC)


@pytest.fixture
def world(session, people):
    system = make_system(session, people["owner"])
    metric = add_metric(session, people["owner"], system.id, {"name": "Accuracy", "unit": "%", "baseline": 90,
                                                              "measured_on": "2026-01-01", "direction": "higher"})
    session.commit()
    return system, metric


def _rows(n=3, value=91.0):
    return [{"metric": "accuracy", "value": value, "observed_at": f"2026-10-{i + 1:02d}"} for i in range(n)]


def _events(session, system):
    return session.scalar(select(func.count(AuditEvent.id)).where(AuditEvent.system_id == system.id,
                                                                  AuditEvent.action == "observations.record"))


def test_a_batch_is_idempotent_and_audited_once(session, people, world):
    system, _ = world
    first = record_observations(session, people["owner"], system.id, _rows(), ObservationSource.API, now=NOW)
    session.commit()
    again = record_observations(session, people["owner"], system.id, _rows(), ObservationSource.API, now=NOW)
    session.commit()
    assert first == {"created": 3, "unchanged": 0, "corrected": 0, "alerts_opened": 0}
    assert again == {"created": 0, "unchanged": 3, "corrected": 0, "alerts_opened": 0}
    assert session.scalar(select(func.count(Observation.id))) == 3
    assert _events(session, system) == 2  # one per call, not one per observation


def test_a_different_value_is_a_correction(session, people, world):
    system, _ = world
    record_observations(session, people["owner"], system.id, _rows(), ObservationSource.API, now=NOW)
    result = record_observations(session, people["owner"], system.id, _rows(2, 80.0), ObservationSource.CSV, now=NOW)
    session.commit()
    assert result["corrected"] == 2 and result["created"] == 0
    assert sorted(session.scalars(select(Observation.value))) == [80.0, 80.0, 91.0]


def test_one_bad_row_writes_nothing_and_names_every_bad_row(session, people, world):
    system, _ = world
    rows = [*_rows(2), {"metric": "Latency", "value": 1, "observed_at": "2026-10-05"},
            {"metric": "Accuracy", "value": "high", "observed_at": "2030-01-01"},
            {"metric_id": 1, "value": 1, "observed_at": "1999-12-31", "surprise": 1}]
    with pytest.raises(ValidationFailed) as caught:
        record_observations(session, people["owner"], system.id, rows, ObservationSource.API, now=NOW)
    session.rollback()
    errors = caught.value.errors
    assert "no metric called “Latency”" in errors["observations.2.metric"][0]
    assert "observations.3.value" in errors and "observations.4.surprise" in errors
    assert caught.value.status == 422
    assert session.scalar(select(func.count(Observation.id))) == 0


def test_the_future_is_refused_but_a_minute_of_clock_skew_is_not(session, people, world):
    system, _ = world
    rows = [{"metric": "Accuracy", "value": 1, "observed_at": "2026-11-29T12:00:50Z"}]
    assert record_observations(session, None, system.id, rows, "demo", now=NOW)["created"] == 1
    with pytest.raises(ValidationFailed):
        record_observations(session, None, system.id, [{**rows[0], "observed_at": "2026-11-29T12:05:00Z"}], "demo",
                            now=NOW)


@pytest.mark.parametrize("role", ["compliance", "other_owner", "executive"])
def test_only_editors_record(session, people, world, role):
    system, _ = world
    with pytest.raises(PermissionDenied):
        record_observations(session, people[role], system.id, _rows(), ObservationSource.API, now=NOW)


def test_the_owner_resolves_but_an_executive_does_not_and_a_note_is_needed(session, people, world):
    system, metric = world
    set_drift_rule(session, people["owner"], system.id, metric.id, {"reference": "baseline", "band_kind": "absolute",
                                                                     "below": 1, "above": None})
    record_observations(session, people["owner"], system.id, _rows(1, 50.0), ObservationSource.API, now=NOW)
    session.commit()
    alert = session.scalars(select(DriftAlert)).one()
    with pytest.raises(PermissionDenied):
        resolve_alert(session, people["executive"], system.id, alert.id, "Fine")
    with pytest.raises(ValidationFailed):
        resolve_alert(session, people["compliance"], system.id, alert.id, "   ")
    resolve_alert(session, people["compliance"], system.id, alert.id, "Label noise; rechecked.")
    session.commit()
    assert session.scalar(select(func.count(AuditEvent.id)).where(AuditEvent.action == "drift_alert.resolve")) == 1


def test_an_alert_on_a_decided_production_system_flags_re_review(session, people, world):
    system, metric = world
    system = session.get(AISystem, system.id)
    system.stage = "production"
    session.commit()
    record_decision(session, people["compliance"], system.id, {"verdict": "no_go", "rationale": "Not ready."})
    set_drift_rule(session, people["owner"], system.id, metric.id, {"reference": "baseline", "band_kind": "relative",
                                                                     "below": 0.05, "above": None, "consecutive": 2})
    session.commit()
    result = record_observations(session, people["owner"], system.id, _rows(2, 70.0), ObservationSource.API, now=NOW)
    session.commit()
    session.refresh(system)
    assert result["alerts_opened"] == 1
    assert system.re_review_required_at is not None
    assert any("Drift alert" in r and "Accuracy" in r for r in system.re_review_reasons)


def test_a_pilot_is_not_flagged(session, people, world):
    system, metric = world
    record_decision(session, people["compliance"], system.id, {"verdict": "no_go", "rationale": "Not ready."})
    set_drift_rule(session, people["owner"], system.id, metric.id, {"reference": "baseline", "band_kind": "absolute",
                                                                     "below": 1, "above": 1})
    record_observations(session, people["owner"], system.id, _rows(1, 70.0), ObservationSource.API, now=NOW)
    session.commit()
    session.refresh(system)
    assert system.re_review_required_at is None


@pytest.mark.parametrize(("payload", "field"), [
    ({"reference": "baseline", "band_kind": "absolute"}, "below"),
    ({"reference": "target", "band_kind": "absolute", "below": 1}, "reference"),
    ({"reference": "baseline", "band_kind": "relative", "below": 11}, "below"),
    ({"reference": "baseline", "band_kind": "absolute", "below": 1, "consecutive": 101}, "consecutive"),
    ({"reference": "baseline", "band_kind": "absolute", "below": 1, "min_observations": 0}, "min_observations"),
])
def test_a_rule_that_says_nothing_is_refused(session, people, world, payload, field):
    system, metric = world
    with pytest.raises(ValidationFailed) as caught:
        set_drift_rule(session, people["owner"], system.id, metric.id, payload)
    assert field in caught.value.errors


ROW = st.fixed_dictionaries({"value": st.one_of(st.floats(allow_nan=True), st.integers(), st.text(max_size=3),
                                                 st.booleans()),
                             "observed_at": st.one_of(st.sampled_from(["2026-10-01", "2026-10-01T08:00:00Z",
                                                                       "1999-12-31", "2099-01-01", "soon", ""]),
                                                      st.integers())},
                            optional={"metric_id": st.one_of(st.integers(-1, 2**32), st.booleans(), st.text(max_size=2)),
                                      "metric": st.text(max_size=3), "note": st.text(max_size=3),
                                      "extra": st.integers()})


@settings(max_examples=300, deadline=None)
@given(ROW)
def test_the_fast_row_check_never_accepts_what_the_schema_refuses(raw):
    schema = ObservationSchema(now=NOW)
    try:
        expected = schema.load(raw)
    except ValidationError:
        expected = None
    try:
        got = schema.load_row(raw)
    except ValidationError:
        got = None
    assert got == expected
