"""The drift rule: band arithmetic, min_observations, runs of breaches, and alerts through the database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from registry.enums import AlertStatus, ObservationSource
from registry.inventory.models import AISystem
from registry.inventory.services import add_metric, update_metric
from registry.monitoring import drift
from registry.monitoring.chart import build_chart, chart_from_snapshot
from registry.monitoring.drift import Band, band_around, breaches_in, judge
from registry.monitoring.models import DriftAlert
from registry.monitoring.services import (
    monitoring_snapshot,
    recent_series,
    record_observations,
    resolve_alert,
    set_drift_rule,
)
from tests.conftest import make_system

T0 = datetime(2026, 10, 1, tzinfo=UTC)


def _points(values):
    return [(T0 + timedelta(days=i), v) for i, v in enumerate(values)]


BAND = Band(88, 100)


def _alert(values, band=BAND, min_observations=1, consecutive=1, **kw):
    return judge(breaches_in(_points(values), band, min_observations), consecutive, **kw)


def test_band_absolute_and_relative():
    assert band_around(90, "absolute", 2, 3) == Band(88, 93)
    assert band_around(90, "relative", 0.1, None) == Band(81.0, None)
    assert band_around(-50, "relative", 0.1, 0.2) == Band(-55.0, -40.0)  # a fraction of |reference|
    assert band_around(90, "absolute", None, 0) == Band(None, 90)


def test_edges_are_in_band_and_missing_side_is_unbounded():
    band = Band(88, None)
    assert band.contains(88) and band.contains(1e9) and not band.contains(87.999)


def test_min_observations_delays_breaches():
    assert [b.number for b in breaches_in(_points([50, 50, 50, 95]), Band(88, 100), 3)] == [3]
    assert _alert([50, 50, 95], min_observations=4) is None


def test_one_off_noise_is_ignored_with_consecutive():
    assert _alert([95, 50, 95, 50, 95], consecutive=2) is None
    verdict = _alert([95, 50, 50, 95], consecutive=2)
    assert verdict.opened_at == T0 + timedelta(days=1) and verdict.breaches == 2 and verdict.in_a_row


def test_open_alert_counts_later_breaches_and_in_band_does_not_resolve():
    verdict = _alert([50, 95, 60], consecutive=1)
    assert verdict.opened_at == T0 and verdict.breaches == 2 and verdict.last_value == 60 and not verdict.in_a_row
    again = _alert([50, 95, 60, 95], open_since=T0)
    assert again.breaches == 2 and again.last_observed_at == T0 + timedelta(days=2)


def test_after_resolution_only_later_breaches_open_a_new_alert():
    values = [50, 50, 95, 50, 50]
    assert _alert(values, consecutive=2, resolved_up_to=T0 + timedelta(days=1)).opened_at == T0 + timedelta(days=3)
    assert _alert(values, consecutive=3, resolved_up_to=T0 + timedelta(days=1)) is None


@settings(max_examples=150, deadline=None)
@given(st.lists(st.floats(min_value=0, max_value=200), min_size=1, max_size=40), st.integers(1, 6), st.integers(1, 6))
def test_raising_consecutive_never_opens_an_alert_that_a_lower_one_would_not(values, low, extra):
    """More breaches in a row needed: an alert opens no earlier, and only if the lower count opens one."""
    lenient, strict = _alert(values, consecutive=low), _alert(values, consecutive=low + extra)
    if strict is not None:
        assert lenient is not None and lenient.opened_at <= strict.opened_at


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(min_value=-1e6, max_value=1e6), min_size=1, max_size=30),
       st.floats(min_value=-1e3, max_value=1e3), st.floats(0, 10), st.floats(0, 10))
def test_every_breach_is_outside_the_band(values, reference, below, above):
    band = band_around(reference, "relative", below, above)
    found = {b.number for b in breaches_in(_points(values), band, 1)}
    assert found == {n for n, v in enumerate(values, start=1) if not band.contains(v)}


# -- through the database: the SQL applies the same arithmetic --------------------------------------

@pytest.fixture
def metric(session, people):
    system = make_system(session, people["owner"])
    metric = add_metric(session, people["owner"], system.id, {"name": "Fraud precision", "unit": "%", "baseline": 92,
                                                              "measured_on": "2026-01-01", "target": 95,
                                                              "direction": "higher"})
    session.commit()
    return metric


def _send(session, metric, values, start=T0, actor=None):
    rows = [{"metric_id": metric.id, "value": v, "observed_at": (start + timedelta(days=i)).isoformat()}
            for i, v in enumerate(values)]
    result = record_observations(session, actor, metric.system_id, rows, ObservationSource.DEMO,
                                 now=datetime(2026, 11, 29, tzinfo=UTC))
    session.commit()
    return result


def _alerts(session, metric):
    return list(session.scalars(select(DriftAlert).where(DriftAlert.metric_id == metric.id).order_by(DriftAlert.id)))


def test_alert_opens_once_updates_and_survives_in_band(session, metric):
    set_drift_rule(session, None, metric.system_id, metric.id, {"reference": "baseline", "band_kind": "absolute",
                                                                 "below": 4, "above": 8, "consecutive": 3})
    session.commit()
    _send(session, metric, [91, 70, 71, 72])  # band 88–100
    (alert,) = _alerts(session, metric)
    assert alert.status is AlertStatus.OPEN and alert.opened_at == T0 + timedelta(days=1) and alert.breaches == 3
    assert "below the band 88–100 %" in alert.summary and "3 breaches in a row since 2026-10-02" in alert.summary
    _send(session, metric, [90, 60], start=T0 + timedelta(days=4))  # in band, then a breach
    (alert,) = _alerts(session, metric)
    assert alert.status is AlertStatus.OPEN and alert.breaches == 4 and alert.last_value == 60


def test_resolve_then_a_new_run_reopens(session, metric, people):
    set_drift_rule(session, None, metric.system_id, metric.id, {"reference": "target", "band_kind": "relative",
                                                                 "below": 0.05, "above": None, "consecutive": 2})
    session.commit()
    _send(session, metric, [80, 80])  # band from 90.25 up
    (alert,) = _alerts(session, metric)
    resolve_alert(session, people["owner"], metric.system_id, alert.id, "Retrained on October data.")
    session.commit()
    _send(session, metric, [80], start=T0 + timedelta(days=2))
    assert len(_alerts(session, metric)) == 1  # one breach after resolution is not yet a run
    _send(session, metric, [80], start=T0 + timedelta(days=3))
    first, second = _alerts(session, metric)
    assert first.status is AlertStatus.RESOLVED and second.status is AlertStatus.OPEN
    assert second.opened_at == T0 + timedelta(days=2)


def test_sql_and_python_agree_on_the_breaches(session, metric):
    values = [92, 88, 87.99, 100, 100.01, 50, 95]
    set_drift_rule(session, None, metric.system_id, metric.id, {"reference": "baseline", "band_kind": "absolute",
                                                                 "below": 4, "above": 8, "min_observations": 2})
    session.commit()
    _send(session, metric, values)
    sql = [row.n for row in session.execute(drift._breach_query([metric.id]))]
    assert sql == [b.number for b in breaches_in(_points(values), Band(88, 100), 2)] == [3, 5, 6]


def test_recompute_all_is_idempotent(session, metric):
    set_drift_rule(session, None, metric.system_id, metric.id, {"reference": "baseline", "band_kind": "absolute",
                                                                 "below": 1, "above": 1})
    session.commit()
    _send(session, metric, [50, 60])
    outcome = drift.recompute_all(session)
    session.commit()
    assert not outcome.opened and not outcome.updated and len(_alerts(session, metric)) == 1


def test_the_snapshot_draws_the_same_chart(session, metric):
    set_drift_rule(session, None, metric.system_id, metric.id, {"reference": "baseline", "band_kind": "absolute",
                                                                 "below": 4, "above": 8})
    session.commit()
    _send(session, metric, [91, 70, 95])
    (entry,) = monitoring_snapshot(session, session.get(AISystem, metric.system_id))
    assert entry["band"] == [88, 100] and [o[2] for o in entry["observations"]] == [False, True, False]
    drawn = chart_from_snapshot(entry)
    live = build_chart(_points([91, 70, 95]), unit="%", baseline=92, target=95, band=Band(88, 100),
                       breaches={T0 + timedelta(days=1)})
    assert drawn.points == live.points and len(drawn.breaches) == 1 and drawn.band_top == live.band_top


def test_moving_the_baseline_moves_the_band_and_judges_again_at_once(session, metric, people):
    set_drift_rule(session, None, metric.system_id, metric.id, {"reference": "baseline", "band_kind": "absolute",
                                                                 "below": 1, "above": 1})
    session.commit()
    _send(session, metric, [92])
    assert _alerts(session, metric) == []
    update_metric(session, people["owner"], metric.system_id, metric.id,
                  {"name": "Fraud precision", "unit": "%", "baseline": 50, "measured_on": "2026-01-01", "target": 95,
                   "direction": "higher"})
    session.commit()
    (alert,) = _alerts(session, metric)  # 92 is now above the band 49–51, without a new observation
    assert alert.status is AlertStatus.OPEN and "above the band 49–51 %" in alert.summary


def test_a_long_series_is_cut_in_sql_and_its_older_observations_still_count(session, metric):
    set_drift_rule(session, None, metric.system_id, metric.id, {"reference": "baseline", "band_kind": "absolute",
                                                                 "below": 4, "min_observations": 8})
    session.commit()
    _send(session, metric, [91, 92, 93, 94, 95, 70, 96, 60, 97, 50])
    (points, earlier), = recent_series(session, metric.system_id, 4).values()
    assert earlier == 6 and [v for _at, v in points] == [96, 60, 97, 50]
    # positions 8 and 10 breach (min 8 observations): the cut-off tail knows its place
    assert [b.number for b in breaches_in(points, Band(88, None), 8, earlier)] == [8, 10]
    (entry,) = monitoring_snapshot(session, session.get(AISystem, metric.system_id))
    assert entry["observations_total"] == 10
