"""Role x route matrix of the JSON API: no token and every role against every route, with the
object-level rules (owner = the system's accountable owner; other_owner owns something else).

Write rows send a body and the right If-Match, so that a 403 is the permission check speaking and
an allowed role gets past it (to a 2xx, or a 422 for the deliberately incomplete bodies)."""

from __future__ import annotations

import io

import pytest

from registry.controls.evidence_store import evidence_store
from registry.controls.services import add_evidence, control_rows
from registry.decisions.services import record_decision
from registry.incidents.services import report_incident
from registry.inventory.services import add_metric
from tests.api.conftest import error_of
from tests.api.test_monitoring_api import drift_alert
from tests.conftest import make_system

ROLES = ["anonymous", "admin", "compliance", "owner", "other_owner", "executive"]
ALL = dict.fromkeys(ROLES[1:], 200)
EDITORS_OK = {"admin": 200, "owner": 200, "compliance": 403, "other_owner": 403, "executive": 403}
EDITORS_422 = {"admin": 422, "owner": 422, "compliance": 403, "other_owner": 403, "executive": 403}
INCIDENT_422 = {"admin": 422, "owner": 422, "compliance": 422, "other_owner": 403, "executive": 403}

# (method, route) -> (body, If-Match key or None, expected status per role; anonymous is always 401)
MATRIX = {
    ("GET", "/api/v1/systems"): (None, None, ALL),
    ("POST", "/api/v1/systems"): ({}, None, {"admin": 422, "owner": 422, "other_owner": 422, "compliance": 403,
                                              "executive": 403}),
    ("GET", "/api/v1/systems/{id}"): (None, None, ALL),
    ("PUT", "/api/v1/systems/{id}"): ({}, "system", EDITORS_422),
    ("PATCH", "/api/v1/systems/{id}"): ({"stage": "production"}, "system", EDITORS_OK),
    ("GET", "/api/v1/systems/{id}/risk"): (None, None, ALL),
    ("PUT", "/api/v1/systems/{id}/risk"): ({"profiling": True}, "system", EDITORS_OK),
    ("GET", "/api/v1/systems/{id}/metrics"): (None, None, ALL),
    ("POST", "/api/v1/systems/{id}/metrics"): ({}, None, EDITORS_422),
    ("GET", "/api/v1/systems/{id}/metrics/{metric}"): (None, None, ALL),
    ("PUT", "/api/v1/systems/{id}/metrics/{metric}"): ({}, "metric", EDITORS_422),
    ("DELETE", "/api/v1/systems/{id}/metrics/{metric}"): (None, "metric", {**EDITORS_OK, "admin": 204, "owner": 204}),
    ("GET", "/api/v1/systems/{id}/readiness"): (None, None, ALL),
    ("GET", "/api/v1/systems/{id}/readiness/{question}"): (None, None, ALL),
    ("PUT", "/api/v1/systems/{id}/readiness/{question}"): ({"business_outcome": "Faster claims"}, "answer",
                                                             EDITORS_OK),
    # only the accountable owner submits (the answer is not written yet: 422 for them)
    ("POST", "/api/v1/systems/{id}/readiness/{question}/submit"): ({"attest": True}, "answer", {
        "admin": 403, "owner": 422, "compliance": 403, "other_owner": 403, "executive": 403}),
    ("GET", "/api/v1/systems/{id}/controls"): (None, None, ALL),
    ("GET", "/api/v1/systems/{id}/controls/{control}"): (None, None, ALL),
    ("PUT", "/api/v1/systems/{id}/controls/{control}"): ({"status": "implemented"}, "control", EDITORS_OK),
    ("POST", "/api/v1/systems/{id}/controls/{control}/evidence"): (
        {"description": "Runbook", "url": "https://wiki.example.test/runbook"}, None,
        {**EDITORS_OK, "admin": 201, "owner": 201}),
    ("GET", "/api/v1/systems/{id}/decisions"): (None, None, ALL),
    ("GET", "/api/v1/systems/{id}/decisions/{decision}"): (None, None, ALL),
    ("GET", "/api/v1/systems/{id}/decisions/{decision}/snapshot"): (None, None, ALL),
    ("GET", "/api/v1/review"): (None, None, {"admin": 200, "compliance": 200, "owner": 403, "other_owner": 403,
                                             "executive": 403}),
    ("GET", "/api/v1/portfolio"): (None, None, {"admin": 200, "compliance": 200, "executive": 200, "owner": 403,
                                                "other_owner": 403}),
    ("GET", "/api/v1/audit-events"): (None, None, {"admin": 200, "compliance": 200, "owner": 403,
                                                   "other_owner": 403, "executive": 403}),
    ("GET", "/api/v1/audit-events?system_id={id}"): (None, None, ALL),
    # a file of a layout nobody saved: past the permission check, the mapping is what is missing
    ("POST", "/api/v1/imports"): ("file", None, {"admin": 422, "compliance": 422, "owner": 403, "other_owner": 403,
                                                  "executive": 403}),
    # observations and drift (issue 16): editors record and set rules; owners, compliance and admins resolve
    ("POST", "/api/v1/systems/{id}/observations"): ({"observations": [
        {"metric_id": "{metric}", "value": 91, "observed_at": "2026-10-01"}]}, None, EDITORS_OK),
    ("POST", "/api/v1/observations"): ({"observations": [
        {"metric_id": "{metric}", "value": 91, "observed_at": "2026-10-01"}]}, None,
        {**EDITORS_OK, "compliance": 422, "other_owner": 422, "executive": 422}),  # not theirs: an unknown metric
    ("GET", "/api/v1/systems/{id}/observations"): (None, None, ALL),
    ("GET", "/api/v1/systems/{id}/metrics/{metric}/drift-rule"): (None, None, ALL),
    ("PUT", "/api/v1/systems/{id}/metrics/{metric}/drift-rule"): ({"reference": "baseline", "band_kind": "absolute",
                                                                   "below": 2}, None, EDITORS_OK),
    ("DELETE", "/api/v1/systems/{id}/metrics/{metric}/drift-rule"): (None, None,
                                                                     {**EDITORS_OK, "admin": 204, "owner": 204}),
    ("GET", "/api/v1/systems/{id}/drift-alerts"): (None, None, ALL),
    ("POST", "/api/v1/systems/{id}/drift-alerts/{alert}/resolve"): ({"note": "Checked: label noise."}, None, {
        "admin": 200, "compliance": 200, "owner": 200, "other_owner": 403, "executive": 403}),
    # the value case (issue 16): whoever edits the system; a stop: compliance, admins, the accountable owner
    ("GET", "/api/v1/systems/{id}/value-case"): (None, None, ALL),
    ("PUT", "/api/v1/systems/{id}/value-case"): ({"maintenance_team": "Claims ML team"}, "value", EDITORS_OK),
    ("POST", "/api/v1/systems/{id}/stop"): ({}, None, {"admin": 422, "compliance": 422, "owner": 422,
                                                      "other_owner": 403, "executive": 403}),
    # incidents and reliability (issue 16): owners, compliance, admins report incidents and record trials; the
    # gate, which can block GO, is for compliance officers not named on the system and admins
    ("GET", "/api/v1/systems/{id}/incidents"): (None, None, ALL),
    ("POST", "/api/v1/systems/{id}/incidents"): ({}, None, INCIDENT_422),
    ("GET", "/api/v1/systems/{id}/incidents/{incident}"): (None, None, ALL),
    ("PUT", "/api/v1/systems/{id}/incidents/{incident}"): ({}, "incident", INCIDENT_422),
    ("POST", "/api/v1/systems/{id}/trials"): ({"trials": [{"task_id": "refund", "trial": 1, "passed": True}]}, None,
                                              {**INCIDENT_422, "admin": 200, "compliance": 200, "owner": 200}),
    ("GET", "/api/v1/systems/{id}/reliability"): (None, None, ALL),
    ("PUT", "/api/v1/systems/{id}/reliability/gate"): ({"k": 2, "threshold": 0.5}, None, {
        "admin": 200, "compliance": 200, "owner": 403, "other_owner": 403, "executive": 403}),
    ("GET", "/api/v1/openapi.json"): (None, None, {**ALL, "anonymous": 200}),
    ("GET", "/api/v1/docs"): (None, None, {**ALL, "anonymous": 200}),
}

CELLS = [(method, route, role) for (method, route) in MATRIX for role in ROLES]


def _world(app, session, people) -> tuple[dict, dict]:
    system = make_system(session, people["owner"])
    metric = add_metric(session, people["owner"], system.id, {"name": "Accuracy", "unit": "%", "baseline": 90,
                                                              "measured_on": "2026-01-01", "direction": "higher"})
    control = next(r.control for r in control_rows(session, system) if r.required)
    stored = evidence_store(session).save(session, io.BytesIO(b"matrix evidence\n"), "note.txt")
    add_evidence(session, people["owner"], system.id, control.id, {"description": "Matrix"}, stored=stored)
    decision = record_decision(session, people["compliance"], system.id,
                               {"verdict": "no_go", "rationale": "Not ready: matrix."})
    alert = drift_alert(session, system, metric)
    incident = report_incident(session, None, system.id, {"title": "Matrix", "occurred_on": "2026-11-01",
                                                          "severity": "minor", "description": "Matrix test."})
    session.commit()
    ids = {"id": system.id, "metric": metric.id, "control": control.id, "decision": decision.id,
           "question": "outcome", "alert": alert.id, "incident": incident.id}
    return ids, {}


@pytest.mark.parametrize(("method", "route", "role"), CELLS, ids=[f"{m} {r} as {role}" for m, r, role in CELLS])
def test_api_role_route_matrix(app, session, people, api_as, method, route, role):
    body, match, expected = MATRIX[(method, route)]
    ids, _ = _world(app, session, people)
    url = route.format(**ids)
    api = api_as(role)
    headers = {}
    if match is not None:
        reader = api_as("admin")  # read the ETag with a token that may (the role under test may not)
        etag_url = {"system": f"/api/v1/systems/{ids['id']}",
                    "metric": f"/api/v1/systems/{ids['id']}/metrics/{ids['metric']}",
                    "answer": f"/api/v1/systems/{ids['id']}/readiness/outcome",
                    "control": f"/api/v1/systems/{ids['id']}/controls/{ids['control']}",
                    "value": f"/api/v1/systems/{ids['id']}/value-case",
                    "incident": f"/api/v1/systems/{ids['id']}/incidents/{ids['incident']}"}[match]
        headers["If-Match"] = reader.get(etag_url).headers["ETag"]
    if body == "file":
        response = api.request(method, url, headers=headers, content_type="multipart/form-data",
                               data={"file": (io.BytesIO(b"Colour,Flavour\nred,sweet\n"), "odd.csv")})
    else:
        response = api.request(method, url, _fill(body, ids), headers=headers)
    want = expected.get(role, 401)
    assert response.status_code == want, response.get_data(as_text=True)[:400]
    if want >= 400:
        assert error_of(response)["code"]


def _fill(body, ids):
    """The body with "{metric}"-style placeholders replaced by the world's ids."""
    if isinstance(body, dict):
        return {k: _fill(v, ids) for k, v in body.items()}
    if isinstance(body, list):
        return [_fill(v, ids) for v in body]
    if isinstance(body, str) and body.startswith("{") and body.endswith("}") and body[1:-1] in ids:
        return ids[body[1:-1]]
    return body


def test_every_api_route_is_in_the_matrix(app):
    routes = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/"):
            continue
        path = rule.rule
        for old, new in (("<int:system_id>", "{id}"), ("<int:metric_id>", "{metric}"),
                         ("<int:control_id>", "{control}"), ("<int:decision_id>", "{decision}"),
                         ("<int:alert_id>", "{alert}"), ("<int:incident_id>", "{incident}")):
            path = path.replace(old, new)
        path = path.split("<any(")[0] + "{question}" + path.split(":question>")[1] if "<any(" in path else path
        routes |= {(m, path) for m in rule.methods - {"HEAD", "OPTIONS"}}
    covered = {(m, r.split("?")[0]) for m, r in MATRIX}
    assert routes == covered
