"""The API's other resources, each through its service: metrics, readiness answers, controls and
evidence, decisions and snapshots, the review queue, the portfolio, the audit trail, imports;
the rate limit; and the description and docs page covering every route."""

from __future__ import annotations

import io
from datetime import timedelta

from sqlalchemy import func, select

from registry.api.ratelimit import MemoryLimiter
from registry.audit.models import AuditEvent
from registry.controls.services import control_rows
from registry.db import utcnow
from registry.decisions.services import record_decision
from registry.files.models import Blob
from registry.imports.services import save_mapping
from registry.inventory.models import AISystem
from tests.api.conftest import error_of
from tests.builders import accept_all_answers, complete_payloads, measured_metric
from tests.conftest import make_system, make_user


def _actions(session) -> list[tuple[str, int | None]]:
    session.expire_all()
    actions = [(e.action, e.actor_id) for e in session.scalars(select(AuditEvent).order_by(AuditEvent.seq))]
    session.commit()  # end the test's transaction: the API may write next
    return actions


def test_metrics_crud_with_etags(session, people, api_as):
    system = make_system(session, people["owner"])
    api = api_as("owner")
    base = f"/api/v1/systems/{system.id}/metrics"
    created = api.post(base, {"name": "Accuracy", "unit": "%", "baseline": 91.5, "measured_on": "2026-01-31",
                              "target": 95, "direction": "higher"})
    assert created.status_code == 201, created.get_json()
    metric = created.get_json()
    assert metric["baseline"] == 91.5 and metric["measured_on"] == "2026-01-31"
    url = f"{base}/{metric['id']}"
    etag = api.get(url).headers["ETag"]
    assert etag == created.headers["ETag"]
    future = api.put(url, {**{k: metric[k] for k in ("name", "unit", "baseline", "target", "direction")},
                           "measured_on": (utcnow().date() + timedelta(days=3)).isoformat()},
                     headers={"If-Match": etag})
    assert future.status_code == 422 and "measured_on" in error_of(future)["fields"]
    changed = api.put(url, {"name": "Accuracy", "unit": "%", "baseline": 92, "measured_on": "2026-02-28",
                            "direction": "higher"}, headers={"If-Match": etag})
    assert changed.status_code == 200 and changed.get_json()["baseline"] == 92.0 and changed.get_json()["target"] is None
    assert api.delete(url, headers={"If-Match": etag}).status_code == 412  # the metric changed since
    assert api.delete(url).status_code == 428
    assert api.delete(url, headers={"If-Match": changed.headers["ETag"]}).status_code == 204
    assert api.get(base).get_json() == {"items": []}
    assert [a for a, _ in _actions(session) if a.startswith("metric.")] == ["metric.create", "metric.update",
                                                                            "metric.delete"]


def test_readiness_answer_saved_then_submitted_by_the_accountable_owner(session, people, api_as):
    system = make_system(session, people["owner"])
    metric = measured_metric(session, people["owner"], system)
    session.commit()
    payload = complete_payloads(system, people, [metric.id])
    api = api_as("owner")
    url = f"/api/v1/systems/{system.id}/readiness/ownership"
    listing = api.get(f"/api/v1/systems/{system.id}/readiness").get_json()["items"]
    assert [i["question"] for i in listing] == ["outcome", "ownership", "drift", "human_workflow", "rollback"]
    assert all(i["status"] is None and i["version"] == 0 and i["missing"] for i in listing)
    saved = api.put(url, payload[next(q for q in payload if q.value == "ownership")], headers={"If-Match": '"0"'})
    body = saved.get_json()
    assert saved.status_code == 200, body
    assert body["status"] == "draft" and body["missing"] == [] and saved.headers["ETag"] == '"1"'
    assert body["content"]["performance_owner"] == "owner@example.test"  # people by email, as sent
    unknown = api.put(url, {"perfomance_owner": "owner@example.test"}, headers={"If-Match": '"1"'})
    assert error_of(unknown)["fields"] == {"perfomance_owner": ["Unknown field."]}
    not_attested = api.post(f"{url}/submit", {"attest": False}, headers={"If-Match": '"1"'})
    assert not_attested.status_code == 422 and "attest" in error_of(not_attested)["fields"]
    assert api_as("admin").post(f"{url}/submit", {"attest": True}, headers={"If-Match": '"1"'}).status_code == 403
    submitted = api.post(f"{url}/submit", {"attest": True}, headers={"If-Match": '"1"'})
    assert submitted.status_code == 200 and submitted.get_json()["status"] == "submitted"
    assert "attest personally" in submitted.get_json()["attestation"]
    assert api.post(f"{url}/submit", {"attest": True}, headers={"If-Match": '"1"'}).status_code == 412


def test_controls_status_and_evidence_by_link_and_by_file(app, session, people, api_as):
    system = make_system(session, people["owner"])
    control = next(r.control for r in control_rows(session, system) if r.required)
    session.commit()
    api = api_as("owner")
    listing = api.get(f"/api/v1/systems/{system.id}/controls").get_json()["items"]
    assert listing and all(c["required"] for c in listing) and listing[0]["status"] == "not_started"
    url = f"/api/v1/systems/{system.id}/controls/{control.id}"
    assert api.get(url).headers["ETag"] == '"0"'
    na = api.put(url, {"status": "not_applicable"}, headers={"If-Match": '"0"'})
    assert error_of(na)["fields"] == {"na_reason": ["Say why this control does not apply to the system."]}
    done = api.put(url, {"status": "implemented", "notes": "Runbook in the wiki"}, headers={"If-Match": '"0"'})
    assert done.status_code == 200 and done.get_json()["status"] == "implemented" and done.headers["ETag"] == '"2"'
    link = api.post(f"{url}/evidence", {"description": "Runbook", "url": "https://wiki.example.test/runbook"})
    assert link.status_code == 201 and link.get_json()["kind"] == "link" and link.get_json()["stale"] is False
    upload = api.post(f"{url}/evidence", content_type="multipart/form-data",
                      data={"description": "Red-team report", "file": (io.BytesIO(b"%PDF-1.4 report"), "report.pdf")})
    assert upload.status_code == 201, upload.get_json()
    assert upload.get_json()["file_name"] == "report.pdf" and len(upload.get_json()["sha256"]) == 64
    session.expire_all()
    blobs_before = set(session.scalars(select(Blob.sha256)))
    session.commit()
    disguised = api.post(f"{url}/evidence", content_type="multipart/form-data",
                         data={"description": "Not a PDF", "file": (io.BytesIO(b"\x89PNG\r\n\x1a\nxx"), "x.pdf")})
    assert disguised.status_code == 422 and "file" in error_of(disguised)["fields"]
    both = api.post(f"{url}/evidence", {"description": "Nothing attached"})
    assert both.status_code == 422 and "url" in error_of(both)["fields"]
    evidence = api.get(url).get_json()["evidence"]
    assert [e["description"] for e in evidence] == ["Runbook", "Red-team report"]
    session.expire_all()
    assert set(session.scalars(select(Blob.sha256))) == blobs_before  # the refused file is not kept
    session.commit()
    compliance = api_as("compliance").put(url, {"status": "in_progress"}, headers={"If-Match": '"2"'})
    assert compliance.status_code == 403


def test_decisions_recommendation_and_snapshot(session, people, api_as):
    system = make_system(session, people["owner"])
    decision = record_decision(session, people["compliance"], system.id,
                               {"verdict": "no_go", "rationale": "Nothing is answered yet."})
    session.commit()
    api = api_as("executive")
    listing = api.get(f"/api/v1/systems/{system.id}/decisions").get_json()
    assert listing["recommendation"]["verdict"] == "no_go" and listing["recommendation"]["blockers"]
    assert [(d["id"], d["verdict"], d["current"]) for d in listing["items"]] == [(decision.id, "no_go", True)]
    one = api.get(f"/api/v1/systems/{system.id}/decisions/{decision.id}").get_json()
    assert one["decided_by"].startswith("Cora Compliance") and one["acknowledged_at"] is None
    snap = api.get(f"/api/v1/systems/{system.id}/decisions/{decision.id}/snapshot").get_json()
    assert snap["sha256"] == decision.snapshot_sha256 and snap["snapshot"]["system"]["name"] == system.name
    assert ("decision.export_snapshot", people["executive"].id) in _actions(session)
    other = make_system(session, people["other_owner"])
    assert api.get(f"/api/v1/systems/{other.id}/decisions/{decision.id}").status_code == 404


def test_review_queue_leaves_out_systems_the_officer_is_named_on(session, people, api_as):
    system = make_system(session, people["owner"])
    accept_all_answers(session, people, system)
    queue = api_as("compliance").get("/api/v1/review").get_json()
    assert [(r["system_id"], r["tier"]) for r in queue["decisions_due"]] == [(system.id, "high")]
    named = make_system(session, people["owner"], technical_owner=people["compliance"].email)
    accept_all_answers(session, {**people, "compliance": make_user(session, "compliance")}, named)
    assert [r["system_id"] for r in api_as("admin").get("/api/v1/review").get_json()["decisions_due"]] == sorted(
        [system.id, named.id])
    assert all(r["system_id"] != named.id for r in api_as("compliance").get("/api/v1/review").get_json()["decisions_due"])


def test_portfolio_figures_with_filters(session, people, api_as):
    make_system(session, people["owner"], stage="production")
    make_system(session, people["owner"], stage="pilot")
    api = api_as("executive")
    figures = api.get("/api/v1/portfolio").get_json()
    assert figures["total"] == 2 and figures["by_stage"] == {"production": 1, "pilot": 1}
    assert figures["decisions"]["undecided"] == 2
    assert api.get("/api/v1/portfolio?stage=pilot").get_json()["total"] == 1
    assert api.get("/api/v1/portfolio?q=x").status_code == 400  # not a portfolio filter


def test_audit_events_paged_and_by_system(session, people, api_as):
    first = make_system(session, people["owner"])
    make_system(session, people["owner"])
    api = api_as("compliance")
    page = api.get("/api/v1/audit-events?per_page=1").get_json()
    assert page["per_page"] == 1 and page["total"] >= 2 and len(page["items"]) == 1
    newest = page["items"][0]["seq"]
    assert api.get("/api/v1/audit-events?per_page=1&page=2").get_json()["items"][0]["seq"] < newest
    own = api_as("owner").get(f"/api/v1/audit-events?system_id={first.id}").get_json()["items"]
    assert [(e["action"], e["system_id"]) for e in own] == [("system.create", first.id)]
    assert own[0]["after"]["name"] == first.name
    assert api_as("owner").get("/api/v1/audit-events").status_code == 403
    assert api.get("/api/v1/audit-events?system_id=999999").status_code == 404


HEADER = "Ref,System,What it does,Team,Owner,Status,Type\r\n"
MAPPING = {"columns": {"name": "System", "purpose": "What it does", "business_unit": "Team", "external_id": "Ref",
                       "contact": "Owner", "stage": "Status", "kind": "Type"},
           "values": {"stage": {"Live": "production", "Trial": "pilot"}}, "key": ["Ref"], "fallback_key": ["System"]}


def _upload(api, text: str, **form):
    return api.post("/api/v1/imports", content_type="multipart/form-data",
                    data={**form, "file": (io.BytesIO(text.encode()), "register.csv")})


def test_imports_plan_commit_and_reimport_like_the_command_line(session, people, api_as):
    save_mapping(session, None, "register", HEADER.strip().split(","), MAPPING)
    session.commit()
    api, officer = api_as("compliance"), people["compliance"].id
    text = HEADER + "R1,Claims bot,Ranks claims,Claims,owner@example.test,Live,Predictive model\r\n" \
                    "R2,Broken,Does things,Ops,ops@example.test,Sunsetting,Agent\r\n"
    dry = _upload(api, text, mapping="register", dry_run="true").get_json()
    assert dry["committed"] is False and dry["counts"]["create"] == 1 and dry["counts"]["errors"] == 1
    assert any(p["row"] == 3 and p["column"] == "Status" and p["severity"] == "error" for p in dry["problems"])
    refused = _upload(api, text, mapping="register")
    assert refused.status_code == 422 and "row 3" in error_of(refused)["message"]
    assert session.scalar(select(func.count(AISystem.id))) == 0
    session.commit()  # the test's transaction ends before the API writes
    done = _upload(api, text, mapping="register", only_valid="true").get_json()
    assert done["committed"] is True and done["result"]["created"] == 1 and done["result"]["skipped"] == 1
    again = _upload(api, text, mapping="register", only_valid="true").get_json()
    assert again["committed"] is True and again["result"]["created"] == 0  # matched on its key
    commit = [e for e in _actions(session) if e[0] == "import.commit"]
    assert commit and all(actor == officer for _, actor in commit)
    unknown = _upload(api, "Colour,Flavour\r\nred,sweet\r\n")
    assert unknown.status_code == 422 and "mapping" in error_of(unknown)["fields"]
    assert _upload(api, text, mapping="register", colour="red").status_code == 422  # unknown form field
    assert _upload(api_as("owner"), text, mapping="register").status_code == 403


def test_rate_limit_per_token_with_retry_after(app, session, people, api_as, monkeypatch):
    monkeypatch.setitem(app.config, "API_RATE_LIMIT", 3)
    monkeypatch.setitem(app.extensions, "registry.api_limiter", MemoryLimiter())
    api, other = api_as("owner"), api_as("executive")
    assert [api.get("/api/v1/systems").status_code for _ in range(3)] == [200, 200, 200]
    limited = api.get("/api/v1/systems")
    assert limited.status_code == 429 and error_of(limited)["code"] == "rate_limited"
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert other.get("/api/v1/systems").status_code == 200  # counted per token


def test_memory_limiter_window_resets():
    now = [120.0]
    limiter = MemoryLimiter(clock=lambda: now[0])
    assert [limiter.hit("t", 2).allowed for _ in range(3)] == [True, True, False]
    assert limiter.hit("t", 2).retry_after == 60
    now[0] = 180.0
    assert limiter.hit("t", 2).allowed


def test_every_route_is_described_and_on_the_docs_page(app, web):
    document = web.get("/api/v1/openapi.json").get_json()
    assert document["openapi"] == "3.1.0" and document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    described = {(m.upper(), "/api/v1" + p) for p, ops in document["paths"].items() for m in ops}
    docs = web.get("/api/v1/docs")
    html = docs.get_data(as_text=True)
    assert docs.status_code == 200 and "cdn" not in html.lower() and "<script" not in html
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/"):
            continue
        path = rule.rule.replace("<int:", "{").replace(">", "}").replace("_id}", "_id}")
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            if "<any(" in rule.rule:  # one described path per question
                assert any(m == method and p.startswith(rule.rule.split("<any(")[0].replace("<int:", "{")
                                                        .replace(">", "}")) for m, p in described)
                continue
            assert (method, path) in described, (method, path)
            assert f"{method} {path}" in html
    schema = document["components"]["schemas"]["System"]
    assert "data_categories" in schema["properties"] and "accountable_owner" in schema["required"]
    assert "Unknown field" not in html and "SystemRecord" in html
