"""The monitoring tab through the test client with CSRF on: forms, CSV upload, resolving, the chart."""

from __future__ import annotations

import io
import re
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

from registry.enums import ObservationSource
from registry.inventory.models import AISystem
from registry.inventory.services import add_metric
from registry.monitoring.chart import chart_from_snapshot
from registry.monitoring.models import DriftAlert, Observation
from registry.monitoring.services import monitoring_snapshot, record_observations, set_drift_rule
from tests.conftest import make_system


@pytest.fixture
def world(session, people):
    system = make_system(session, people["owner"])
    metric = add_metric(session, people["owner"], system.id, {"name": "Fraud precision", "unit": "%", "baseline": 92,
                                                              "measured_on": "2026-01-01", "target": 95,
                                                              "direction": "higher"})
    session.commit()
    # plain ids: a test's rollback expires ORM objects, and reloading one would hold SQLite's write lock
    return SimpleNamespace(id=system.id), SimpleNamespace(id=metric.id)


def _count(session):
    session.rollback()
    count = session.scalar(select(func.count(Observation.id)))
    session.rollback()  # end the write transaction: the test client writes next (SQLite has one writer)
    return count


def test_chart_has_a_point_per_observation_and_marks_breaches(session, as_role, world):
    system, metric = world
    set_drift_rule(session, None, system.id, metric.id, {"reference": "baseline", "band_kind": "absolute",
                                                         "below": 4, "above": 8, "consecutive": 2})
    rows = [{"metric_id": metric.id, "value": v, "observed_at": f"2026-10-{d:02d}"}
            for d, v in enumerate([91, 70, 72, 90, 60], start=1)]
    record_observations(session, None, system.id, rows, ObservationSource.DEMO)
    session.commit()
    html = as_role("executive").get(f"/systems/{system.id}/monitoring").get_data(as_text=True)
    svg = re.search(r'<svg[^>]*class="chart drift-chart".*?</svg>', html, re.S).group(0)
    assert 'role="img"' in svg and "<title" in svg and "<desc" in svg
    assert svg.count('class="breach"') == 3 and svg.count('class="observation"') == 2
    assert 'class="band"' in svg and 'class="baseline"' in svg and 'class="target"' in svg
    assert "var(" not in svg and "<script" not in svg
    assert "2026-10-02 70 (breach)" in svg
    assert "Band: 88–100 %" in html  # the rule in words
    assert "Resolve alert" not in html  # an executive may not resolve


def test_add_one_observation_and_a_bad_one(session, as_role, world):
    system, metric = world
    owner = as_role("owner")
    url = f"/systems/{system.id}/monitoring/observations"
    good = owner.post(url, {"metric_id": metric.id, "value": "91.5", "observed_at": "2026-10-02"},
                      token_from=f"/systems/{system.id}/monitoring")
    assert good.status_code == 303
    bad = owner.post(url, {"metric_id": metric.id, "value": "91.5", "observed_at": "2099-01-01"},
                     token_from=f"/systems/{system.id}/monitoring")
    assert bad.status_code == 422 and "in the future" in bad.get_data(as_text=True)
    assert _count(session) == 1


def test_without_csrf_nothing_is_written(session, as_role, world):
    system, metric = world
    response = as_role("owner").client.post(f"/systems/{system.id}/monitoring/observations",
                                            data={"metric_id": metric.id, "value": "1", "observed_at": "2026-10-02"})
    assert response.status_code == 400 and _count(session) == 0


def _upload(browser, system, text: str):
    return browser.post(f"/systems/{system.id}/monitoring/upload",
                        {"file": (io.BytesIO(text.encode()), "observations.csv")},
                        token_from=f"/systems/{system.id}/monitoring", content_type="multipart/form-data")


def test_csv_upload_good_and_bad(session, as_role, world):
    system, metric = world
    owner = as_role("owner")
    good = _upload(owner, system, "Metric,VALUE,Observed_At,note\nfraud precision,91,2026-10-01,\n"
                                  f"{metric.id},90.5,2026-10-02T08:00:00Z,weekly run\n")
    assert good.status_code == 303 and _count(session) == 2
    bad = _upload(owner, system, "metric,value,observed_at\nFraud precision,abc,2026-10-03\n"
                                 "Recall,90,2026-10-04\nFraud precision,90,2026-10-05\n")
    page = bad.get_data(as_text=True)
    assert bad.status_code == 422
    assert "Row 2, value" in page and "Row 3, metric" in page and "no metric called “Recall”" in page
    assert _count(session) == 2  # nothing half-written
    wrong = _upload(owner, system, "name,amount\nx,1\n")
    assert wrong.status_code == 422 and "missing: metric, value, observed_at" in wrong.get_data(as_text=True)
    huge = _upload(owner, system, "metric,value,observed_at,note\nFraud precision,90,2026-10-06,\"" + "x" * 140_000 + "\"\n")
    assert huge.status_code == 422 and "cannot be read as CSV" in huge.get_data(as_text=True)
    assert _count(session) == 2


def test_rule_form_relative_in_per_cent(session, as_role, world):
    system, metric = world
    response = as_role("owner").post(f"/systems/{system.id}/monitoring/rule", {
        "metric_id": metric.id, f"m{metric.id}-reference": "target", f"m{metric.id}-band_kind": "relative",
        f"m{metric.id}-below": "5", f"m{metric.id}-above": "", f"m{metric.id}-min_observations": "3",
        f"m{metric.id}-consecutive": "2"}, token_from=f"/systems/{system.id}/monitoring")
    assert response.status_code == 303
    page = as_role("owner").get(f"/systems/{system.id}/monitoring").get_data(as_text=True)
    assert "Band: at least 90.25 %" in page and "after 2 breaches in a row, once 3 observations" in page
    empty = as_role("owner").post(f"/systems/{system.id}/monitoring/rule", {
        "metric_id": metric.id, f"m{metric.id}-reference": "baseline", f"m{metric.id}-band_kind": "absolute",
        f"m{metric.id}-min_observations": "1", f"m{metric.id}-consecutive": "1"},
        token_from=f"/systems/{system.id}/monitoring")
    assert empty.status_code == 422 and "Give a bound below the reference" in empty.get_data(as_text=True)


def test_resolve_needs_a_note(session, as_role, world):
    system, metric = world
    officer, stranger = as_role("compliance"), as_role("other_owner")  # signed in before the rollbacks below
    set_drift_rule(session, None, system.id, metric.id, {"reference": "baseline", "band_kind": "absolute",
                                                         "below": 1, "above": 1})
    record_observations(session, None, system.id, [{"metric_id": metric.id, "value": 50,
                                                    "observed_at": "2026-10-01"}], ObservationSource.DEMO)
    session.commit()
    alert_id = session.scalar(select(DriftAlert.id))
    session.rollback()
    url, back = f"/systems/{system.id}/monitoring/resolve", f"/systems/{system.id}/monitoring"
    empty = officer.post(url, {"alert_id": alert_id, "note": " "}, token_from=back)
    assert empty.status_code == 422
    session.rollback()
    assert session.get(DriftAlert, alert_id).status.value == "open"
    session.rollback()
    done = officer.post(url, {"alert_id": alert_id, "note": "Checked the labels; a feed outage."}, token_from=back)
    assert done.status_code == 303
    session.rollback()
    assert session.get(DriftAlert, alert_id).status.value == "resolved"
    session.rollback()
    assert stranger.post(url, {"alert_id": alert_id, "note": "x"}, token_from=back).status_code == 403


def test_overview_links_to_monitoring_with_counts(session, as_role, world):
    system, metric = world
    record_observations(session, None, system.id, [{"metric_id": metric.id, "value": 90,
                                                    "observed_at": "2026-10-01"}], ObservationSource.DEMO)
    session.commit()
    owner = as_role("owner")
    html = owner.get(f"/systems/{system.id}").get_data(as_text=True)
    assert "Monitoring: 1 observation, no drift rule" in html  # watched by nobody: said so, not "0 alerts"
    set_drift_rule(session, None, system.id, metric.id, {"reference": "baseline", "band_kind": "absolute",
                                                         "below": 4, "above": None})
    session.commit()
    assert "Monitoring: 1 observation, 0 open alerts" in owner.get(f"/systems/{system.id}").get_data(as_text=True)


def test_drift_question_links_to_the_structured_rules(session, as_role, world):
    system, metric = world
    set_drift_rule(session, None, system.id, metric.id, {"reference": "baseline", "band_kind": "absolute",
                                                         "below": 4, "above": None, "consecutive": 3})
    session.commit()
    html = as_role("owner").get(f"/systems/{system.id}/readiness/drift").get_data(as_text=True)
    assert "Drift rules of the baseline metrics" in html and "Set drift rules" in html
    assert "Band: at least 88 %" in html and f'href="/systems/{system.id}/monitoring"' in html


def test_the_chart_macro_draws_a_snapshot_entry(app, session, world):
    system, metric = world
    set_drift_rule(session, None, system.id, metric.id, {"reference": "baseline", "band_kind": "absolute",
                                                         "below": 4, "above": 8})
    record_observations(session, None, system.id, [{"metric_id": metric.id, "value": v, "observed_at": f"2026-10-0{d}"}
                                                   for d, v in ((1, 91), (2, 70))], ObservationSource.DEMO)
    (entry,) = monitoring_snapshot(session, session.get(AISystem, system.id))
    session.rollback()
    with app.test_request_context():
        macro = app.jinja_env.get_template("monitoring/_chart.html").module.drift_chart
        svg = str(macro("snap", entry, chart_from_snapshot(entry), entry["band"]))
    assert "Baseline 92%; target 95%; band 88 to 100." in svg and svg.count('class="breach"') == 1
