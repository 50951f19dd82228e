"""Personal API tokens: stored hashed, shown once, audited; created and revoked on the settings page
and with `registry tokens`; a revoked or expired token, or one of an inactive account, is a 401;
a signed-in browser session never authenticates the API."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from registry.audit.models import AuditEvent
from registry.auth.models import ApiToken
from registry.auth.services import update_user
from registry.auth.tokens import create_token, hash_token, revoke_token
from registry.cli import main
from registry.db import utcnow
from registry.errors import NotFound, ValidationFailed
from tests.api.conftest import ApiClient, error_of, make_token


def _events(session, action: str) -> list[AuditEvent]:
    session.expire_all()
    return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)))


def test_a_token_is_stored_hashed_shown_once_and_its_creation_audited(session, people):
    created = create_token(session, people["owner"], people["owner"], "  MLOps pipeline  ")
    session.commit()
    row = session.scalars(select(ApiToken)).one()
    assert created.secret.startswith("rr_") and len(created.secret) > 40
    assert row.token_hash == hash_token(created.secret) and created.secret not in (row.token_hash, row.prefix)
    assert row.prefix == created.secret[:10] and row.name == "MLOps pipeline"
    [event] = _events(session, "token.create")
    assert event.actor_id == people["owner"].id and row.prefix in event.summary
    assert created.secret not in event.record  # the secret is in no audit record


def test_token_rules(session, people):
    with pytest.raises(ValidationFailed) as err:
        create_token(session, None, people["owner"], " ", expires_on=utcnow().date() - timedelta(days=1))
    assert set(err.value.errors) == {"name", "expires_on"}
    with pytest.raises(Exception, match="create their own"):
        create_token(session, people["admin"], people["owner"], "for someone else")
    token = create_token(session, None, people["owner"], "mine").token
    session.commit()
    with pytest.raises(NotFound):  # nobody revokes another person's token on the page
        revoke_token(session, people["other_owner"], token.id)


def test_the_token_acts_as_its_user_and_records_its_use(app, session, people):
    secret = make_token(session, people["owner"])
    response = ApiClient(app.test_client(), secret).get("/api/v1/systems")
    assert response.status_code == 200 and response.get_json()["total"] == 0
    session.expire_all()
    assert session.scalars(select(ApiToken)).one().last_used_at is not None


@pytest.mark.parametrize("how", ["revoked", "expired", "inactive account", "unknown", "malformed header"])
def test_tokens_that_do_not_work_are_401(app, session, people, how):
    secret = make_token(session, people["owner"])
    token = session.scalars(select(ApiToken)).one()
    headers = None
    if how == "revoked":
        revoke_token(session, None, token.id)
    elif how == "expired":
        token.expires_on = utcnow().date() - timedelta(days=1)
    elif how == "inactive account":
        update_user(session, people["admin"], people["owner"].id, active=False)
    elif how == "unknown":
        secret = secret[:-4] + "AAAA"
    else:
        headers = {"Authorization": f"Token {secret}"}
    session.commit()
    response = ApiClient(app.test_client(), secret).get("/api/v1/systems", headers=headers)
    assert response.status_code == 401
    assert error_of(response)["code"] == "unauthorized"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_token_still_works_on_its_last_day(app, session, people):
    secret = make_token(session, people["owner"], expires_on=utcnow().date())
    assert ApiClient(app.test_client(), secret).get("/api/v1/systems").status_code == 200


def test_a_signed_in_browser_session_does_not_authenticate_the_api(as_role):
    browser = as_role("admin")
    assert browser.get("/systems").status_code == 200  # signed in on the pages
    listing = browser.get("/api/v1/systems")
    assert listing.status_code == 401 and error_of(listing)["code"] == "unauthorized"
    created = browser.client.post("/api/v1/systems", json={"name": "x"})
    assert created.status_code == 401  # not a CSRF error, not a create: the cookie counts for nothing
    assert "Set-Cookie" not in listing.headers


def test_settings_page_creates_a_token_shows_it_once_and_revokes_it(app, session, people, as_role):
    browser = as_role("owner")
    page = browser.get("/settings/tokens")
    assert page.status_code == 200 and "You have no API tokens" in page.get_data(as_text=True)
    created = browser.post("/settings/tokens", {"name": "Ticketing sync", "expires_on": ""})
    html = created.get_data(as_text=True)
    assert created.status_code == 201 and created.headers["Cache-Control"] == "no-store"
    secret = html.split('id="new-token">')[1].split("<")[0]
    assert secret.startswith("rr_")
    assert ApiClient(app.test_client(), secret).get("/api/v1/systems").status_code == 200
    listing = browser.get("/settings/tokens").get_data(as_text=True)
    assert "Ticketing sync" in listing and secret not in listing and secret[:10] in listing
    token = session.scalars(select(ApiToken)).one()
    session.commit()  # the test's transaction ends before the page writes
    revoked = browser.post(f"/settings/tokens/{token.id}/revoke", token_from="/settings/tokens")
    assert revoked.status_code == 302
    assert ApiClient(app.test_client(), secret).get("/api/v1/systems").status_code == 401
    assert [e.actor_id for e in _events(session, "token.revoke")] == [people["owner"].id]


def test_every_page_links_to_the_tokens_page(as_role):
    html = as_role("executive").get("/systems").get_data(as_text=True)
    assert 'href="/settings/tokens"' in html


def test_settings_page_needs_csrf_and_a_name(session, as_role):
    browser = as_role("owner")
    forged = browser.client.post("/settings/tokens", data={"name": "Forged"})
    assert forged.status_code == 400  # CSRFProtect refuses it before the view
    nameless = browser.post("/settings/tokens", {"name": ""})
    assert nameless.status_code == 422 and "Name the token." in nameless.get_data(as_text=True)
    assert session.scalars(select(ApiToken)).all() == []


def test_nobody_revokes_someone_elses_token_on_the_page(session, people, as_role):
    make_token(session, people["owner"])
    token = session.scalars(select(ApiToken)).one()
    session.commit()
    browser = as_role("other_owner")
    response = browser.post(f"/settings/tokens/{token.id}/revoke", token_from="/settings/tokens")
    assert response.status_code == 404
    session.expire_all()
    assert session.get(ApiToken, token.id).revoked_at is None


def test_cli_creates_lists_and_revokes_tokens(app, session, people):
    runner = app.test_cli_runner()
    result = runner.invoke(main, ["tokens", "create", "--email", "OWNER@example.test", "--name", "Pipeline",
                                  "--expires", (utcnow().date() + timedelta(days=30)).isoformat()])
    assert result.exit_code == 0, result.output
    secret = result.stdout.strip().splitlines()[-1]
    assert secret.startswith("rr_")
    assert ApiClient(app.test_client(), secret).get("/api/v1/systems").status_code == 200
    listing = runner.invoke(main, ["tokens", "list"])
    assert "owner@example.test\tPipeline\t" + secret[:10] in listing.output and secret not in listing.output
    token_id = listing.output.split("\t")[0]
    revoked = runner.invoke(main, ["tokens", "revoke", token_id])
    assert revoked.exit_code == 0 and "Revoked" in revoked.output
    assert ApiClient(app.test_client(), secret).get("/api/v1/systems").status_code == 401
    [created_event] = _events(session, "token.create")
    assert created_event.actor_id is None and "registry tokens create" in created_event.actor_label
    session.commit()
    assert runner.invoke(main, ["tokens", "create", "--email", "nobody@example.test", "--name", "x"]).exit_code == 2
    assert runner.invoke(main, ["tokens", "create", "--email", "owner@example.test", "--name", "x",
                                "--expires", "2001-01-01"]).exit_code == 2
