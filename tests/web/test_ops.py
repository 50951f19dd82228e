"""Operators' endpoints and request bookkeeping: /healthz, /readyz, /metrics, X-Request-ID and the
JSON request log (registry/ops/)."""

from __future__ import annotations

import json
import logging
import re

import pytest
from flask import g
from sqlalchemy import create_engine, func, select

from registry import create_app
from registry.audit.models import AuditEvent
from registry.ops import health
from registry.ops.logs import APP_LOGGER, JsonFormatter, configure
from tests.conftest import TEST_AUDIT_KEY, make_system

TOKEN = "metrics-token-for-tests"
DEAD_REDIS = "redis://127.0.0.1:1/0"
HEX_ID = re.compile(r"[0-9a-f]{32}")


def scrape(client, token: str = TOKEN) -> str:
    response = client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.content_type.startswith("text/plain; version=0.0.4")
    return response.get_data(as_text=True)


def sample(text: str, series: str) -> float | None:
    """The value of one exact series (``name{labels}``) in an exposition, None when absent."""
    for line in text.splitlines():
        name, _, value = line.rpartition(" ")
        if name == series:
            return float(value)
    return None


@pytest.fixture
def metrics_on(app, monkeypatch):
    monkeypatch.setitem(app.config, "METRICS_TOKEN", TOKEN)


# /healthz: liveness only


def test_healthz_answers_without_database_login_or_cookie(app, web, people, as_role, monkeypatch):
    signed_in = as_role("owner")
    monkeypatch.setitem(app.extensions, "registry.engine", create_engine("sqlite:////nonexistent/dir/x.sqlite3"))
    monkeypatch.setitem(app.extensions, "registry.sessions", (None, None))  # any database access would fail
    for client in (web, signed_in):
        response = client.get("/healthz")
        assert response.status_code == 200 and response.get_json() == {"status": "ok"}
        assert "Set-Cookie" not in response.headers


# /readyz


def test_readyz_ok_when_database_at_head_and_redis_not_configured(web):
    response = web.get("/readyz")
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {"status": "ready",
                                   "checks": {"database": "ok", "migrations": "ok", "redis": "not configured"}}
    assert "Set-Cookie" not in response.headers


def test_readyz_503_when_database_is_not_at_head(web, monkeypatch):
    monkeypatch.setattr(health, "head_revisions", lambda: frozenset({"9999_future"}))
    response = web.get("/readyz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["failed"] == ["migrations"] and "head is 9999_future" in body["checks"]["migrations"]


def test_readyz_503_when_redis_configured_but_unreachable(app, web, monkeypatch):
    monkeypatch.setitem(app.config, "REDIS_URL", DEAD_REDIS)
    response = web.get("/readyz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["failed"] == ["redis"] and body["checks"]["redis"].startswith("unreachable")
    assert body["checks"]["database"] == "ok"


def test_readyz_503_not_500_when_database_unreachable(app, web, monkeypatch):
    monkeypatch.setitem(app.extensions, "registry.engine", create_engine("sqlite:////nonexistent/dir/x.sqlite3"))
    response = web.get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["failed"] == ["database", "migrations"]


# /metrics


def test_metrics_is_off_without_a_token(web):
    response = web.get("/metrics")
    assert response.status_code == 404 and "registry_" not in response.get_data(as_text=True)


def test_metrics_public_when_asked(app, web, monkeypatch):
    monkeypatch.setitem(app.config, "METRICS_PUBLIC", True)
    assert web.get("/metrics").status_code == 200


@pytest.mark.usefixtures("metrics_on")
def test_metrics_refuses_a_missing_or_wrong_token(web):
    assert web.get("/metrics").status_code == 401
    wrong = web.get("/metrics", headers={"Authorization": "Bearer not-the-token"})
    assert wrong.status_code == 401 and wrong.headers["WWW-Authenticate"].startswith("Bearer")
    assert "registry_" not in wrong.get_data(as_text=True)
    assert web.get("/metrics", headers={"Authorization": f"Basic {TOKEN}"}).status_code == 401


@pytest.mark.usefixtures("metrics_on")
def test_metrics_count_requests_by_route_and_report_the_audit_chain(session, people, as_role, web):
    system = make_system(session, people["owner"])
    owner = as_role("owner")
    series = 'registry_http_requests_total{route="/systems/<int:system_id>",method="GET",status="2xx"}'
    before = sample(scrape(web), series) or 0
    assert owner.get(f"/systems/{system.id}").status_code == 200
    assert owner.get(f"/systems/{system.id}").status_code == 200
    assert owner.get("/systems/999999").status_code == 404
    text = scrape(web)
    assert sample(text, series) == before + 2  # the URL rule, not /systems/1: ids do not make series
    assert f'route="/systems/{system.id}"' not in text
    assert sample(text, 'registry_http_requests_total{route="/systems/<int:system_id>",method="GET",status="4xx"}')
    assert sample(text, 'registry_http_request_duration_seconds_count{route="/systems/<int:system_id>"}') >= 2
    assert sample(text, 'registry_http_request_duration_seconds_bucket{route="/systems/<int:system_id>",le="+Inf"}')
    newest = session.scalar(select(func.max(AuditEvent.seq)))
    assert newest and sample(text, "registry_audit_chain_length") == newest
    assert "registry_job_queue_depth" not in text  # no Redis configured


@pytest.mark.usefixtures("metrics_on")
def test_metrics_answer_when_redis_is_down(app, web, monkeypatch):
    monkeypatch.setitem(app.config, "REDIS_URL", DEAD_REDIS)
    text = scrape(web)
    assert sample(text, "registry_redis_up") == 0
    assert sample(text, 'registry_scrape_errors{part="redis"}') == 1


# request id and logs


def test_request_id_is_echoed_when_sane_and_generated_otherwise(web):
    assert web.get("/healthz", headers={"X-Request-ID": "lb-7f3a.trace_01"}).headers["X-Request-ID"] \
        == "lb-7f3a.trace_01"
    generated = [web.get("/healthz", headers=h).headers["X-Request-ID"]
                 for h in ({}, {"X-Request-ID": "has spaces"}, {"X-Request-ID": "x" * 65}, {"X-Request-ID": "a\"b"})]
    assert all(HEX_ID.fullmatch(r) for r in generated) and len(set(generated)) == 4
    assert HEX_ID.fullmatch(web.get("/no/such/page").headers["X-Request-ID"])


def test_each_request_logs_its_route_status_and_user_id(people, as_role, caplog):
    owner = as_role("owner")
    with caplog.at_level(logging.INFO, logger="registry.request"):
        owner.get("/systems", headers={"X-Request-ID": "req-42"})
    record = next(r for r in caplog.records if r.name == "registry.request" and r.request_id == "req-42")
    assert (record.method, record.route, record.path, record.status) == ("GET", "/systems", "/systems", 200)
    assert record.user_id == people["owner"].id and record.duration_ms >= 0


@pytest.fixture
def json_app(app):
    json_app = create_app({"DATABASE_URL": app.config["DATABASE_URL"], "TESTING": True, "SECRET_KEY": "test-secret",
                           "AUDIT_KEY": TEST_AUDIT_KEY, "LOG_FORMAT": "json", "REDIS_URL": None})
    yield json_app
    json_app.extensions["registry.engine"].dispose()
    configure("text", lambda: None)  # the other tests' logging as it was


def test_json_log_line_per_request(json_app, caplog):
    handlers = [h for h in logging.getLogger(APP_LOGGER).handlers if isinstance(h.formatter, JsonFormatter)]
    assert len(handlers) == 1  # LOG_FORMAT=json installed exactly one JSON handler
    with caplog.at_level(logging.INFO, logger="registry.request"):
        response = json_app.test_client().get("/healthz?probe=1", headers={"X-Request-ID": "trace-9"})
    record = next(r for r in caplog.records if r.name == "registry.request")
    line = json.loads(handlers[0].format(record))
    assert {"time", "level", "request_id", "method", "route", "path", "status", "duration_ms"} <= set(line)
    assert line["request_id"] == "trace-9" == response.headers["X-Request-ID"]
    assert (line["level"], line["method"], line["route"], line["path"], line["status"]) == \
        ("INFO", "GET", "/healthz", "/healthz", 200)
    assert "user_id" not in line and "email" not in line  # nobody signed in; never an email


def test_application_errors_carry_the_request_id(json_app, caplog):
    handler = next(h for h in logging.getLogger(APP_LOGGER).handlers if isinstance(h.formatter, JsonFormatter))
    with json_app.test_request_context("/systems"), caplog.at_level(logging.ERROR, logger=APP_LOGGER):
        g.request_id = "err-1"
        json_app.logger.error("Unhandled error")
    record = next(r for r in caplog.records if r.getMessage() == "Unhandled error")
    assert record.request_id == "err-1"
    assert json.loads(handler.format(record))["request_id"] == "err-1"
