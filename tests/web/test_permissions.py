"""Role x route matrix: anonymous and every role against every route, with object-level rules.

Each cell says what the server must answer; a redirect to /login is how anonymous users
are turned away from pages.  Rows for POST routes send a valid CSRF token, so a 403 is
the permission check speaking, not CSRF.
"""

from __future__ import annotations

import pytest

from registry.auth.tokens import create_token
from registry.inventory.units import add_unit
from tests.conftest import make_system

ROLES = ["anonymous", "admin", "compliance", "owner", "other_owner", "executive"]
LOGIN = "login"

# route -> expected status per role (owner = the system's accountable owner).
MATRIX = {
    ("GET", "/"): {"anonymous": LOGIN, "admin": 200, "compliance": 200, "owner": 200, "other_owner": 200, "executive": 200},
    ("GET", "/systems"): {"anonymous": LOGIN, "admin": 200, "compliance": 200, "owner": 200, "other_owner": 200, "executive": 200},
    ("GET", "/systems/{id}"): {"anonymous": LOGIN, "admin": 200, "compliance": 200, "owner": 200, "other_owner": 200, "executive": 200},
    ("GET", "/systems/{id}/history"): {"anonymous": LOGIN, "admin": 200, "compliance": 200, "owner": 200, "other_owner": 200, "executive": 200},
    ("GET", "/systems/{id}/monitoring"): {"anonymous": LOGIN, "admin": 200, "compliance": 200, "owner": 200, "other_owner": 200, "executive": 200},
    # observations and drift: editors record and set rules (an empty form is a 422); owners, compliance, admins resolve
    ("POST", "/systems/{id}/monitoring/observations"): {"anonymous": LOGIN, "admin": 422, "compliance": 403, "owner": 422, "other_owner": 403, "executive": 403},
    ("POST", "/systems/{id}/monitoring/upload"): {"anonymous": LOGIN, "admin": 422, "compliance": 403, "owner": 422, "other_owner": 403, "executive": 403},
    ("POST", "/systems/{id}/monitoring/rule"): {"anonymous": LOGIN, "admin": 422, "compliance": 403, "owner": 422, "other_owner": 403, "executive": 403},
    ("POST", "/systems/{id}/monitoring/rule/delete"): {"anonymous": LOGIN, "admin": 422, "compliance": 403, "owner": 422, "other_owner": 403, "executive": 403},
    ("POST", "/systems/{id}/monitoring/resolve"): {"anonymous": LOGIN, "admin": 422, "compliance": 422, "owner": 422, "other_owner": 403, "executive": 403},
    ("GET", "/systems/{id}/incidents"): {"anonymous": LOGIN, "admin": 200, "compliance": 200, "owner": 200, "other_owner": 200, "executive": 200},
    # incidents: the system's owners, compliance officers and admins report and update them; everyone reads
    ("GET", "/systems/{id}/incidents/new"): {"anonymous": LOGIN, "admin": 200, "compliance": 200, "owner": 200, "other_owner": 403, "executive": 403},
    ("POST", "/systems/{id}/incidents/new"): {"anonymous": LOGIN, "admin": 422, "compliance": 422, "owner": 422, "other_owner": 403, "executive": 403},
    ("GET", "/systems/{id}/incidents/{incident}"): {"anonymous": LOGIN, "admin": 200, "compliance": 200, "owner": 200, "other_owner": 200, "executive": 200},
    ("POST", "/systems/{id}/incidents/{incident}"): {"anonymous": LOGIN, "admin": 422, "compliance": 422, "owner": 422, "other_owner": 403, "executive": 403},
    ("GET", "/systems/{id}/reliability"): {"anonymous": LOGIN, "admin": 200, "compliance": 200, "owner": 200, "other_owner": 200, "executive": 200},
    # reliability: owners, compliance officers and admins record trials and step rates (no file: 422; no steps:
    # nothing to change, back to the page); the gate, which can block GO, is for compliance (not named) and admins
    ("POST", "/systems/{id}/reliability/trials"): {"anonymous": LOGIN, "admin": 422, "compliance": 422, "owner": 422, "other_owner": 403, "executive": 403},
    ("POST", "/systems/{id}/reliability/steps"): {"anonymous": LOGIN, "admin": 302, "compliance": 302, "owner": 302, "other_owner": 403, "executive": 403},
    ("POST", "/systems/{id}/reliability/gate"): {"anonymous": LOGIN, "admin": 422, "compliance": 422, "owner": 403, "other_owner": 403, "executive": 403},
    ("GET", "/systems/{id}/value"): {"anonymous": LOGIN, "admin": 200, "compliance": 200, "owner": 200, "other_owner": 200, "executive": 200},
    # the value case: whoever edits the system; stopping a pilot: compliance, admins, the accountable owner (empty forms: 422)
    ("POST", "/systems/{id}/value"): {"anonymous": LOGIN, "admin": 422, "compliance": 403, "owner": 422, "other_owner": 403, "executive": 403},
    ("POST", "/systems/{id}/value/stop"): {"anonymous": LOGIN, "admin": 422, "compliance": 422, "owner": 422, "other_owner": 403, "executive": 403},
    ("GET", "/systems/new"): {"anonymous": LOGIN, "admin": 200, "compliance": 403, "owner": 200, "other_owner": 200, "executive": 403},
    ("POST", "/systems/new"): {"anonymous": LOGIN, "admin": 422, "compliance": 403, "owner": 422, "other_owner": 422, "executive": 403},
    ("GET", "/systems/{id}/edit"): {"anonymous": LOGIN, "admin": 200, "compliance": 403, "owner": 200, "other_owner": 403, "executive": 403},
    ("POST", "/systems/{id}/edit"): {"anonymous": LOGIN, "admin": 422, "compliance": 403, "owner": 422, "other_owner": 403, "executive": 403},
    ("POST", "/systems/{id}/tier"): {"anonymous": LOGIN, "admin": 403, "compliance": 302, "owner": 403, "other_owner": 403, "executive": 403},
    # a downward override proposed by another officer: a second compliance officer confirms it
    ("POST", "/systems/{id}/tier/confirm"): {"anonymous": LOGIN, "admin": 403, "compliance": 302, "owner": 403, "other_owner": 403, "executive": 403},
    ("GET", "/systems/{id}/metrics/new"): {"anonymous": LOGIN, "admin": 200, "compliance": 403, "owner": 200, "other_owner": 403, "executive": 403},
    ("POST", "/systems/{id}/metrics/new"): {"anonymous": LOGIN, "admin": 422, "compliance": 403, "owner": 422, "other_owner": 403, "executive": 403},
    ("POST", "/systems/{id}/delete"): {"anonymous": LOGIN, "admin": 302, "compliance": 403, "owner": 403, "other_owner": 403, "executive": 403},
    # importing an inventory: admins and compliance officers (a POST without a file is a 422)
    ("GET", "/imports"): {"anonymous": LOGIN, "admin": 200, "compliance": 200, "owner": 403, "other_owner": 403, "executive": 403},
    ("POST", "/imports"): {"anonymous": LOGIN, "admin": 422, "compliance": 422, "owner": 403, "other_owner": 403, "executive": 403},
    # personal API tokens: everyone signed in manages their own (a POST without a name is a 422)
    ("GET", "/settings/tokens"): {"anonymous": LOGIN, "admin": 200, "compliance": 200, "owner": 200, "other_owner": 200, "executive": 200},
    ("POST", "/settings/tokens"): {"anonymous": LOGIN, "admin": 422, "compliance": 422, "owner": 422, "other_owner": 422, "executive": 422},
    # the token is other_owner's: only they revoke it (others get a 404, as if it did not exist)
    ("POST", "/settings/tokens/{token}/revoke"): {"anonymous": LOGIN, "admin": 404, "compliance": 404, "owner": 404, "other_owner": 302, "executive": 404},
    ("GET", "/admin/users"): {"anonymous": LOGIN, "admin": 200, "compliance": 403, "owner": 403, "other_owner": 403, "executive": 403},
    ("POST", "/admin/users"): {"anonymous": LOGIN, "admin": 422, "compliance": 403, "owner": 403, "other_owner": 403, "executive": 403},
    ("POST", "/admin/users/{user}"): {"anonymous": LOGIN, "admin": 302, "compliance": 403, "owner": 403, "other_owner": 403, "executive": 403},
    # the list of business units: admins only (a POST without a name is a 422; rename and merge redirect back)
    ("GET", "/admin/units"): {"anonymous": LOGIN, "admin": 200, "compliance": 403, "owner": 403, "other_owner": 403, "executive": 403},
    ("POST", "/admin/units"): {"anonymous": LOGIN, "admin": 422, "compliance": 403, "owner": 403, "other_owner": 403, "executive": 403},
    ("POST", "/admin/units/{unit}/rename"): {"anonymous": LOGIN, "admin": 302, "compliance": 403, "owner": 403, "other_owner": 403, "executive": 403},
    ("POST", "/admin/units/merge"): {"anonymous": LOGIN, "admin": 302, "compliance": 403, "owner": 403, "other_owner": 403, "executive": 403},
    # readiness: owners draft, only the accountable owner submits, compliance reviews
    ("GET", "/systems/{id}/readiness"): {"anonymous": LOGIN, "admin": 200, "compliance": 200, "owner": 200, "other_owner": 200, "executive": 200},
    ("GET", "/systems/{id}/readiness/{key}"): {"anonymous": LOGIN, "admin": 200, "compliance": 200, "owner": 200, "other_owner": 200, "executive": 200},
    ("POST", "/systems/{id}/readiness/{key}"): {"anonymous": LOGIN, "admin": 302, "compliance": 403, "owner": 302, "other_owner": 403, "executive": 403},
    ("POST", "/systems/{id}/readiness/{key}/submit"): {"anonymous": LOGIN, "admin": 403, "compliance": 403, "owner": 422, "other_owner": 403, "executive": 403},
    ("POST", "/systems/{id}/readiness/{key}/review"): {"anonymous": LOGIN, "admin": 403, "compliance": 422, "owner": 403, "other_owner": 403, "executive": 403},
    # controls and evidence
    ("GET", "/systems/{id}/controls"): {"anonymous": LOGIN, "admin": 200, "compliance": 200, "owner": 200, "other_owner": 200, "executive": 200},
    ("GET", "/systems/{id}/controls/{control}"): {"anonymous": LOGIN, "admin": 200, "compliance": 200, "owner": 200, "other_owner": 200, "executive": 200},
    ("POST", "/systems/{id}/controls/{control}"): {"anonymous": LOGIN, "admin": 422, "compliance": 403, "owner": 422, "other_owner": 403, "executive": 403},
    ("POST", "/systems/{id}/controls/{control}/evidence"): {"anonymous": LOGIN, "admin": 422, "compliance": 403, "owner": 422, "other_owner": 403, "executive": 403},
    ("POST", "/systems/{id}/controls/{control}/verify"): {"anonymous": LOGIN, "admin": 403, "compliance": 303, "owner": 403, "other_owner": 403, "executive": 403},
    # several at once (nothing ticked here: the officer is sent back with a message)
    ("POST", "/systems/{id}/controls/verify"): {"anonymous": LOGIN, "admin": 403, "compliance": 303, "owner": 403, "other_owner": 403, "executive": 403},
    ("GET", "/systems/{id}/evidence/{evidence}"): {"anonymous": LOGIN, "admin": 200, "compliance": 200, "owner": 200, "other_owner": 200, "executive": 200},
    ("POST", "/systems/{id}/evidence/{evidence}/remove"): {"anonymous": LOGIN, "admin": 302, "compliance": 403, "owner": 302, "other_owner": 403, "executive": 403},
    # decisions: only a compliance officer not named on the system records one
    ("GET", "/systems/{id}/decisions"): {"anonymous": LOGIN, "admin": 200, "compliance": 200, "owner": 200, "other_owner": 200, "executive": 200},
    ("POST", "/systems/{id}/decisions"): {"anonymous": LOGIN, "admin": 403, "compliance": 422, "owner": 403, "other_owner": 403, "executive": 403},
    ("GET", "/systems/{id}/decisions/{decision}"): {"anonymous": LOGIN, "admin": 200, "compliance": 200, "owner": 200, "other_owner": 200, "executive": 200},
    # only the accountable owner acknowledges a decision
    ("POST", "/systems/{id}/decisions/{decision}/acknowledge"): {"anonymous": LOGIN, "admin": 403, "compliance": 403, "owner": 302, "other_owner": 403, "executive": 403},
    ("GET", "/systems/{id}/decisions/{decision}/snapshot.json"): {"anonymous": LOGIN, "admin": 200, "compliance": 200, "owner": 200, "other_owner": 200, "executive": 200},
    # exports: every role that reads the inventory
    ("GET", "/exports/systems.xlsx"): {"anonymous": LOGIN, "admin": 200, "compliance": 200, "owner": 200, "other_owner": 200, "executive": 200},
    ("GET", "/exports/systems.csv"): {"anonymous": LOGIN, "admin": 200, "compliance": 200, "owner": 200, "other_owner": 200, "executive": 200},
    # audit PDFs: compliance and executives any system, owners their own; verify and bulk export: compliance
    ("GET", "/systems/{id}/decisions/{decision}/audit.pdf"): {"anonymous": LOGIN, "admin": 403, "compliance": 200, "owner": 200, "other_owner": 403, "executive": 200},
    ("GET", "/reports/verify"): {"anonymous": LOGIN, "admin": 403, "compliance": 200, "owner": 403, "other_owner": 403, "executive": 403},
    ("POST", "/reports/verify"): {"anonymous": LOGIN, "admin": 403, "compliance": 422, "owner": 403, "other_owner": 403, "executive": 403},
    ("GET", "/reports/exports"): {"anonymous": LOGIN, "admin": 403, "compliance": 200, "owner": 403, "other_owner": 403, "executive": 403},
    ("POST", "/reports/exports"): {"anonymous": LOGIN, "admin": 403, "compliance": 422, "owner": 403, "other_owner": 403, "executive": 403},
    ("GET", "/reports/exports/{job}"): {"anonymous": LOGIN, "admin": 403, "compliance": 200, "owner": 403, "other_owner": 403, "executive": 403},
    ("GET", "/reports/exports/{job}/download"): {"anonymous": LOGIN, "admin": 403, "compliance": 302, "owner": 403, "other_owner": 403, "executive": 403},
    # the portfolio dashboard and its PDF: executives, compliance officers and admins
    ("GET", "/portfolio"): {"anonymous": LOGIN, "admin": 200, "compliance": 200, "owner": 403, "other_owner": 403, "executive": 200},
    ("GET", "/portfolio.pdf"): {"anonymous": LOGIN, "admin": 200, "compliance": 200, "owner": 403, "other_owner": 403, "executive": 200},
    ("GET", "/review"): {"anonymous": LOGIN, "admin": 200, "compliance": 200, "owner": 403, "other_owner": 403, "executive": 403},
    ("GET", "/healthz"): dict.fromkeys(ROLES, 200),
    # operators' probes and metrics: no login at all; /metrics is off (404) without METRICS_TOKEN (tests/web/test_ops.py)
    ("GET", "/readyz"): dict.fromkeys(ROLES, 200),
    ("GET", "/metrics"): dict.fromkeys(ROLES, 404),
    ("GET", "/login"): {"anonymous": 200, "admin": 302, "compliance": 302, "owner": 302, "other_owner": 302, "executive": 302},
}

FORM_DATA = {
    "/systems/{id}/tier": {"tier": "high", "reason": "Matrix test"},
    "/systems/{id}/tier/confirm": {"tier": "low"},
    "/systems/{id}/readiness/{key}": {"version": "0"},
    "/systems/{id}/readiness/{key}/submit": {"version": "0"},
    "/systems/{id}/readiness/{key}/review": {"outcome": "accept", "version": "0"},
    "/systems/{id}/controls/{control}/verify": {"version": "1"},
    "/admin/users/{user}": {"u{user}-role": "owner", "u{user}-active": "y"},
    "/admin/units/{unit}/rename": {"name": "Matrix unit renamed"},
    "/admin/units/merge": {"source": "Matrix unit", "target": "{unit_b}"},
}

CELLS = [(method, route, role, expected) for (method, route), row in MATRIX.items() for role, expected in row.items()]


@pytest.mark.parametrize(("method", "route", "role", "expected"), CELLS,
                         ids=[f"{m} {r} as {role}" for m, r, role, _ in CELLS])
def test_role_route_matrix(app, session, people, as_role, method, route, role, expected):
    system = make_system(session, people["owner"])
    target = people["other_owner"]
    ids = {"id": system.id, "user": target.id, "key": "outcome"}
    if "{control}" in route or "{evidence}" in route:
        ids["control"], ids["evidence"] = _control_with_evidence(app, session, people["owner"], system)
    if "{decision}" in route:
        ids["decision"] = _decision(session, people["compliance"], system)
    if route.endswith("/tier/confirm"):
        _proposed_override(session, system)
    if "{incident}" in route:
        ids["incident"] = _incident(session, system)
    if "{job}" in route:
        ids["job"] = _export_job(session, people["compliance"], system)
    if route.startswith("/admin/units"):
        ids["unit"], ids["unit_b"] = (add_unit(session, None, name).id for name in ("Matrix unit", "Matrix unit B"))
        session.commit()
    if "{token}" in route:
        ids["token"] = create_token(session, None, target, "Matrix").token.id
        session.commit()
    url = route.format(**ids)
    browser = as_role(role)
    if method == "GET":
        response = browser.get(url)
    else:
        data = {k.format(user=target.id): v.format(**ids) for k, v in FORM_DATA.get(route, {}).items()}
        data["csrf_token"] = browser.token("/login" if role == "anonymous" else "/systems")
        if route.endswith(("/delete", "/tier/confirm")):
            data["version"] = str(system.version)
        response = browser.client.post(url, data=data)
    if expected == LOGIN:
        assert response.status_code == 302 and "/login" in response.headers["Location"]
    else:
        assert response.status_code == expected, response.get_data(as_text=True)[:300]


def _control_with_evidence(app, session, owner, system) -> tuple[int, int]:
    import io

    from registry.controls.evidence_store import evidence_store
    from registry.controls.services import add_evidence, control_rows

    control = next(r.control for r in control_rows(session, system) if r.required)
    stored = evidence_store(session).save(session, io.BytesIO(b"matrix evidence\n"), "note.txt")
    evidence = add_evidence(session, owner, system.id, control.id, {"description": "Matrix"}, stored=stored)
    session.commit()
    return control.id, evidence.id


def _decision(session, officer, system) -> int:
    from registry.decisions.services import record_decision

    decision = record_decision(session, officer, system.id, {"verdict": "no_go", "rationale": "Not ready: matrix."})
    session.commit()
    return decision.id


def _incident(session, system) -> int:
    from registry.incidents.services import report_incident

    incident = report_incident(session, None, system.id, {"title": "Matrix", "occurred_on": "2026-11-01",
                                                          "severity": "minor", "description": "Matrix test."})
    session.commit()
    return incident.id


def _proposed_override(session, system) -> None:
    from registry.inventory.services import override_tier
    from tests.conftest import make_user

    override_tier(session, make_user(session, "compliance"), system.id, "low", "Matrix: lower it.")
    session.commit()


def _export_job(session, officer, system) -> int:
    """A queued bulk export of the officer's (never run here)."""
    from registry.inventory.queries import InventoryFilters
    from registry.reports.bulk import create_job

    _decision(session, officer, system)
    job = create_job(session, officer, InventoryFilters(), backend="thread")
    session.commit()
    return job.id


def test_every_route_is_in_the_matrix(app):
    """A new route must be added to the matrix above (static files excepted)."""
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        path = str(rule.rule)
        for old, new in (("<int:system_id>", "{id}"), ("<int:user_id>", "{user}"), ("<key>", "{key}"),
                         ("<int:control_id>", "{control}"), ("<int:evidence_id>", "{evidence}"),
                         ("<int:decision_id>", "{decision}"), ("<int:job_id>", "{job}"),
                         ("<int:token_id>", "{token}"), ("<int:unit_id>", "{unit}"),
                         ("<int:incident_id>", "{incident}")):
            path = path.replace(old, new)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            routes.add((method, path))
    covered = set(MATRIX) | {("GET", "/logout"), ("POST", "/logout"), ("POST", "/login"), ("GET", "/favicon.ico"),
                             ("GET", "/systems/{id}/metrics/<int:metric_id>/edit"),
                             ("POST", "/systems/{id}/metrics/<int:metric_id>/edit"),
                             ("POST", "/systems/{id}/metrics/<int:metric_id>/delete")}
    # an upload is its uploader's alone: tests/web/test_import_upload.py checks these per role
    covered |= {("GET", "/imports/<staged_id>"), ("GET", "/imports/<staged_id>/mapping"),
                ("POST", "/imports/<staged_id>/mapping"), ("GET", "/imports/<staged_id>/problems.csv"),
                ("POST", "/imports/<staged_id>/commit")}
    # an inventory workbook job is its requester's alone: tests/web/test_export_jobs.py checks these per role
    covered |= {("POST", "/exports/systems.xlsx"), ("GET", "/exports/jobs/{job}"),
                ("GET", "/exports/jobs/{job}/download")}
    # the JSON API has its own matrix (bearer tokens, JSON errors): tests/api/test_matrix.py
    assert {r for r in routes if not r[1].startswith("/api/")} - covered == set()


@pytest.mark.parametrize("role", ["compliance", "other_owner", "executive"])
def test_metric_edit_and_delete_object_rules(session, people, as_role, role):
    from registry.inventory.services import add_metric

    system = make_system(session, people["owner"])
    metric = add_metric(session, people["owner"], system.id, {"name": "Accuracy", "unit": "%", "baseline": 90,
                                                              "measured_on": "2026-01-01", "direction": "higher"})
    session.commit()
    browser = as_role(role)
    base = f"/systems/{system.id}/metrics/{metric.id}"
    assert browser.get(f"{base}/edit").status_code == 403
    token = browser.token("/systems")
    assert browser.client.post(f"{base}/delete", data={"csrf_token": token}).status_code == 403
    assert as_role("owner").get(f"{base}/edit").status_code == 200


def test_executive_sees_no_write_controls(session, people, as_role):
    system = make_system(session, people["owner"])
    browser = as_role("executive")
    listing = browser.get("/systems").get_data(as_text=True)
    page = browser.get(f"/systems/{system.id}").get_data(as_text=True)
    assert "Register a system" not in listing
    for control in ("Edit</a>", "Add a metric", "Override the tier", "Delete "):
        assert control not in page


@pytest.mark.parametrize("url", ["/systems/99999999999999999999", "/systems/2147483648/decisions",
                                 "/systems/1/decisions/99999999999999999999"])
def test_an_id_too_large_for_the_database_is_a_404_not_a_500(as_role, url):
    assert as_role("compliance").get(url).status_code == 404


@pytest.mark.parametrize("url", ["/systems/99999999999999999999/tier/confirm",
                                 "/systems/1/decisions/99999999999999999999/acknowledge"])
def test_posting_to_an_id_too_large_is_a_404_not_a_500(as_role, url):
    browser = as_role("compliance")
    response = browser.client.post(url, data={"csrf_token": browser.token("/systems"), "tier": "low", "version": "1"})
    assert response.status_code == 404
