"""Fixtures for the JSON API: a personal token per role and a client that sends it."""

from __future__ import annotations

import json

import pytest

from registry.api.ratelimit import MemoryLimiter
from registry.auth.tokens import create_token


@pytest.fixture(autouse=True)
def _fresh_rate_limits(app):
    """Each test starts with no request counted: token ids restart with the emptied database, so
    the counts of earlier tests (same ids, same minute) would otherwise carry over."""
    app.extensions["registry.api_limiter"] = MemoryLimiter()
    yield
    app.extensions.pop("registry.api_limiter", None)


class ApiClient:
    """The Flask test client with a bearer token (or none) and JSON bodies."""

    def __init__(self, client, token: str | None):
        self.client = client
        self.token = token

    def _headers(self, headers: dict | None) -> dict:
        out = dict(headers or {})
        if self.token is not None:
            out.setdefault("Authorization", f"Bearer {self.token}")
        return out

    def request(self, method: str, url: str, json_body=None, *, headers=None, **kw):
        if json_body is not None:
            kw["data"] = json.dumps(json_body)
            kw["content_type"] = "application/json"
        return self.client.open(url, method=method, headers=self._headers(headers), **kw)

    def get(self, url, **kw):
        return self.request("GET", url, **kw)

    def post(self, url, json_body=None, **kw):
        return self.request("POST", url, json_body, **kw)

    def put(self, url, json_body=None, **kw):
        return self.request("PUT", url, json_body, **kw)

    def patch(self, url, json_body=None, **kw):
        return self.request("PATCH", url, json_body, **kw)

    def delete(self, url, **kw):
        return self.request("DELETE", url, **kw)


def make_token(session, user, name: str = "test tool", **kw) -> str:
    created = create_token(session, None, user, name, **kw)
    session.commit()
    return created.secret


@pytest.fixture
def api_as(app, session, people):
    """api_as('owner') -> an ApiClient with a token of that person ('anonymous': no token)."""

    def _client(role: str) -> ApiClient:
        token = None if role == "anonymous" else make_token(session, people[role])
        return ApiClient(app.test_client(), token)

    return _client


def error_of(response) -> dict:
    """The error body, checked to have the API's one shape."""
    body = response.get_json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "fields"}, body
    return body["error"]
