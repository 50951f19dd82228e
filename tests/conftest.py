"""Fixtures: one migrated database per run, emptied after each test; builders; a CSRF-aware client.

DATABASE_URL selects the backend exactly as in production: unset means a SQLite file in
a temporary folder; a postgresql+psycopg URL means that server (its public schema is
dropped and migrated afresh at the start of the run).
"""

from __future__ import annotations

import re
from itertools import count

import pytest
from sqlalchemy import text

from registry import create_app
from registry.auth.models import User
from registry.auth.services import create_user
from registry.controls.catalogue import load_default_catalogues
from registry.db import Base
from registry.inventory.services import create_system
from registry.migrate import fresh_database
from registry.models import import_all

import_all()
PASSWORD = "correct horse battery staple"
_counter = count(1)


@pytest.fixture(scope="session")
def database_url(tmp_path_factory) -> str:
    return fresh_database(str(tmp_path_factory.mktemp("db") / "test.sqlite3"))


CATALOGUE_TABLES = {"frameworks", "controls"}


@pytest.fixture(scope="session")
def app(database_url, tmp_path_factory):
    app = create_app({"DATABASE_URL": database_url, "TESTING": True, "TESTING_CHEAP_PASSWORDS": True,
                      "SECRET_KEY": "test-secret", "WTF_CSRF_ENABLED": True,
                      "EVIDENCE_DIR": str(tmp_path_factory.mktemp("evidence")),
                      "EXPORT_DIR": str(tmp_path_factory.mktemp("exports")), "REDIS_URL": None})
    with app.extensions["registry.sessions"][0]() as s:
        load_default_catalogues(s)  # kept across tests (see _empty_database); its audit events are not
        s.execute(text("DELETE FROM audit_events"))
        s.commit()
    yield app
    app.extensions["registry.engine"].dispose()


@pytest.fixture(autouse=True)
def _empty_database(request):
    """Every test starts and ends with empty tables (cheap: the tables are small)."""
    yield
    if "app" not in request.fixturenames:
        return
    app = request.getfixturevalue("app")
    engine = app.extensions["registry.engine"]
    with engine.begin() as conn:
        tables = [t for t in Base.metadata.sorted_tables if t.name not in CATALOGUE_TABLES]
        if engine.dialect.name == "postgresql":
            names = ", ".join(t.name for t in tables)
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            # Recorded decisions refuse DELETE (a trigger); PostgreSQL's TRUNCATE skips it, SQLite needs it lifted.
            conn.execute(text("DROP TRIGGER IF EXISTS decisions_no_delete"))
            for table in reversed(tables):
                conn.execute(table.delete())
            conn.execute(text("CREATE TRIGGER decisions_no_delete BEFORE DELETE ON decisions BEGIN SELECT "
                              "RAISE(ABORT, 'recorded decisions cannot be changed or deleted'); END"))


@pytest.fixture
def session(app):
    factory = app.extensions["registry.sessions"][0]
    with factory() as s:
        yield s
        s.rollback()


def make_user(session, role: str = "owner", *, email: str | None = None, name: str | None = None,
              password: str = PASSWORD) -> User:
    n = next(_counter)
    user = create_user(session, None, email=email or f"{role}{n}@example.test", name=name or f"{role.title()} Person {n}",
                       role=role, password=password)
    session.commit()
    return user


def system_payload(owner: User, **overrides) -> dict:
    payload = {
        "name": f"Claims triage model {next(_counter)}",
        "purpose": "Ranks incoming insurance claims so adjusters see urgent ones first.",
        "business_process": "Claims handling",
        "business_unit": "Claims & Insurance",
        "accountable_owner": owner.email,
        "technical_owner": None,
        "sourcing": "in_house",
        "kind": "predictive_model",
        "stage": "pilot",
        "affects": ["customers"],
        "decisions_influenced": "Order in which claims are handled",
        "autonomy": "human_in_the_loop",
        "data_categories": ["personal", "financial"],
        "risk": {"prohibited_practice": "none", "decision_domains": ["insurance"], "legal_effect": False},
        "metrics": [],
    }
    payload.update(overrides)
    return payload


def make_system(session, owner: User, **overrides):
    system = create_system(session, None, system_payload(owner, **overrides))
    session.commit()
    return system


@pytest.fixture
def people(session) -> dict[str, User]:
    """One account per role, plus a second owner."""
    return {
        "admin": make_user(session, "admin", email="admin@example.test", name="Ada Admin"),
        "compliance": make_user(session, "compliance", email="compliance@example.test", name="Cora Compliance"),
        "owner": make_user(session, "owner", email="owner@example.test", name="Olu Owner"),
        "other_owner": make_user(session, "owner", email="other@example.test", name="Otto Other"),
        "executive": make_user(session, "executive", email="exec@example.test", name="Eve Executive"),
    }


CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def csrf_from(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "no CSRF token on the page"
    return match.group(1)


class Browser:
    """The Flask test client plus the CSRF dance a real browser does."""

    def __init__(self, client):
        self.client = client

    def get(self, url, **kw):
        return self.client.get(url, **kw)

    def token(self, url: str = "/login") -> str:
        return csrf_from(self.client.get(url).get_data(as_text=True))

    def post(self, url, data=None, *, token_from: str | None = None, **kw):
        data = dict(data or {})
        data.setdefault("csrf_token", self.token(token_from or url))
        return self.client.post(url, data=data, **kw)

    def login(self, email: str, password: str = PASSWORD):
        response = self.post("/login", {"email": email, "password": password})
        assert response.status_code == 302, response.get_data(as_text=True)[:500]
        return response


@pytest.fixture
def web(app):
    return Browser(app.test_client())


@pytest.fixture
def as_role(app, people):
    """as_role('owner') -> a Browser signed in with that role."""

    def _login(role: str) -> Browser:
        browser = Browser(app.test_client())
        if role != "anonymous":
            browser.login(people[role].email)
        return browser

    return _login
