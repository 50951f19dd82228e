"""Sign-in, sign-out, CSRF, session cookie, lockout, idle timeout."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from registry.audit.models import AuditEvent
from tests.conftest import PASSWORD, make_user


def actions(session):
    session.expire_all()
    return [e.action for e in session.scalars(select(AuditEvent).order_by(AuditEvent.seq))]


def test_sign_in_shows_the_home_page_for_the_role(web, people):
    response = web.login("owner@example.test")
    assert response.headers["Location"] == "/"
    page = web.get("/").get_data(as_text=True)
    assert "Your AI systems" in page and "Olu Owner" in page


def test_session_cookie_is_httponly_and_lax(web, people):
    response = web.login("owner@example.test")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_secure_cookie_in_production_config(monkeypatch):
    from registry.config import ConfigError, load_config

    monkeypatch.setenv("REGISTRY_ENV", "production")
    monkeypatch.delenv("SECRET_KEY", raising=False)
    try:
        load_config()
        raise AssertionError("production without SECRET_KEY must refuse to start")
    except ConfigError:
        pass
    monkeypatch.setenv("SECRET_KEY", "x" * 40)
    monkeypatch.setenv("AUDIT_KEY", "y" * 40)
    config = load_config()
    assert config["SESSION_COOKIE_SECURE"] is True and config["SESSION_COOKIE_HTTPONLY"] is True


def test_wrong_password_is_refused_audited_and_keeps_email(web, people, session):
    response = web.post("/login", {"email": "owner@example.test", "password": "wrong password!!"})
    assert response.status_code == 401
    page = response.get_data(as_text=True)
    assert "Email or password is not correct." in page
    assert 'value="owner@example.test"' in page
    assert "login.failed" in actions(session)


def test_login_without_csrf_token_is_rejected(app, people):
    client = app.test_client()
    response = client.post("/login", data={"email": "owner@example.test", "password": PASSWORD})
    assert response.status_code == 400
    assert "CSRF" in response.get_data(as_text=True)


def test_failed_sign_ins_lock_the_account(web, people, session, app, monkeypatch):
    monkeypatch.setitem(app.config, "ADMIN_CONTACT", "the IT service desk (it-help@example.test)")
    pages = [web.post("/login", {"email": "owner@example.test", "password": "nope nope nope"}) for _ in range(5)]
    assert [p.status_code for p in pages] == [401] * 5
    texts = [" ".join(p.get_data(as_text=True).split()) for p in pages]
    assert "One more failed attempt" not in texts[2]
    assert "One more failed attempt locks sign-in for 15 minutes." in texts[3]  # warned at the last attempt
    assert "Sign-in is now locked for 15 minutes; ask the IT service desk (it-help@example.test) for help." in texts[4]
    response = web.post("/login", {"email": "owner@example.test", "password": PASSWORD})
    assert response.status_code == 429
    assert ("Too many failed sign-ins. Try again in 15 minutes, or ask the IT service desk (it-help@example.test) "
            "for help.") in " ".join(response.get_data(as_text=True).split())
    assert "login.blocked" in actions(session)
    # another account from another address is not affected
    other = web.client.application.test_client()
    assert other.post("/login", data={}).status_code == 400


def test_failed_sign_ins_from_one_address_are_limited_across_accounts(app, people, session):
    app.config["LOGIN_MAX_FAILURES_PER_ADDRESS"] = 3
    try:
        from tests.conftest import Browser

        web = Browser(app.test_client())
        for i in range(3):
            web.post("/login", {"email": f"guess{i}@example.test", "password": "nope nope nope"})
        response = web.post("/login", {"email": "owner@example.test", "password": PASSWORD})
        assert response.status_code == 429
    finally:
        app.config["LOGIN_MAX_FAILURES_PER_ADDRESS"] = 20


def test_login_starts_a_new_session(web, people):
    with web.client.session_transaction() as sess:
        sess["planted"] = "by an attacker"
    web.login("owner@example.test")
    with web.client.session_transaction() as sess:
        assert "planted" not in sess
        assert sess.permanent


def test_logout_needs_post_and_ends_the_session(web, people, session):
    web.login("owner@example.test")
    assert "Sign out now" in web.get("/logout").get_data(as_text=True)  # GET only asks
    assert web.get("/systems").status_code == 200
    response = web.post("/logout", token_from="/systems")
    assert response.status_code == 302
    assert web.get("/systems").status_code == 302
    assert "logout" in actions(session)


def test_idle_session_expires(app, web, people):
    web.login("owner@example.test")
    assert web.get("/systems").status_code == 200
    idle = app.permanent_session_lifetime + timedelta(seconds=5)
    with web.client.session_transaction() as sess:
        sess["seen"] = int(sess["seen"] - idle.total_seconds())
    response = web.get("/systems")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")


def test_role_change_signs_the_person_out(web, people, session):
    from registry.auth.services import update_user

    web.login("owner@example.test")
    update_user(session, people["admin"], people["owner"].id, role="executive")
    session.commit()
    assert web.get("/systems").status_code == 302


def test_open_redirect_is_refused(web, people):
    response = web.post("/login?next=https://evil.example/", {"email": "owner@example.test", "password": PASSWORD},
                        token_from="/login")
    assert response.headers["Location"] == "/"


def test_inactive_account_cannot_sign_in(web, session, people):
    from registry.auth.services import update_user

    user = make_user(session, "owner", email="leaver@example.test")
    update_user(session, people["admin"], user.id, active=False)
    session.commit()
    assert web.post("/login", {"email": "leaver@example.test", "password": PASSWORD}).status_code == 401


def test_production_hash_parameters_meet_owasp():
    from registry.auth.passwords import STRONG

    assert STRONG.type.name == "ID"
    assert STRONG.memory_cost >= 19 * 1024 and STRONG.time_cost >= 2


def test_a_cookie_saved_before_sign_out_no_longer_works(app, web, people):
    """Sign-out ends the session on the server, not only in the browser that signed out."""
    web.login("owner@example.test")
    saved = web.client.get_cookie(app.config["SESSION_COOKIE_NAME"]).value
    assert web.post("/logout", token_from="/systems").status_code == 302
    replay = app.test_client()
    replay.set_cookie(app.config["SESSION_COOKIE_NAME"], saved)
    response = replay.get("/systems")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")


def test_an_admin_creates_an_account_on_the_page(web, people, session):
    web.login("admin@example.test")
    response = web.post("/admin/users", {"email": "New.Person@Example.com", "name": "New Person",
                                         "role": "compliance", "password": "a-long-enough-passphrase-42"})
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    bad = web.post("/admin/users", {"email": "not-an-email", "name": "X", "role": "owner",
                                    "password": "a-long-enough-passphrase-42"})
    assert bad.status_code == 422 and "Invalid email address." in bad.get_data(as_text=True)
    session.expire_all()
    from registry.auth.models import User

    created = session.scalar(select(User).where(User.email == "new.person@example.com"))
    assert created is not None and created.role.value == "compliance" and "user.create" in actions(session)
    session.commit()


def test_nobody_changes_their_own_role_so_the_last_admin_stays(web, people, session):
    """Nobody changes their own role or deactivates themselves, so a demotion or deactivation is
    always by another active admin, who remains: the last active admin cannot be demoted."""
    admin = people["admin"]
    web.login("admin@example.test")
    for data, message in (({f"u{admin.id}-role": "compliance", f"u{admin.id}-active": "y"}, "Nobody changes their own role"),
                          ({f"u{admin.id}-role": "admin"}, "cannot deactivate your own account")):
        response = web.post(f"/admin/users/{admin.id}", data, token_from="/admin/users")
        assert response.status_code == 422 and message in response.get_data(as_text=True)
    session.expire_all()
    fresh = session.get(type(admin), admin.id)
    assert fresh.role.value == "admin" and fresh.is_active
    other = make_user(session, "admin", email="other.admin@example.test")
    session.commit()
    response = web.post(f"/admin/users/{other.id}", {f"u{other.id}-role": "owner", f"u{other.id}-active": "y"},
                        token_from="/admin/users")
    assert response.status_code == 302  # another admin's role: allowed
