"""Fixtures: a migrated database per worker, emptied after each test; the demo portfolio on request;
builders; a CSRF-aware client.

DATABASE_URL selects the backend exactly as in production: unset means a SQLite file in a
temporary folder; a postgresql+psycopg URL means that server, where the suite creates its own
databases next to the one named (``test_gw0``, ``test_tpl_base``…; see tests/databases.py).
The migrated database and the demo portfolio are each built once per run and copied after that.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from itertools import count
from pathlib import Path

import pytest
from sqlalchemy import text

from registry import create_app
from registry.auth.models import User
from registry.auth.services import create_user
from registry.controls.catalogue import load_default_catalogues
from registry.inventory.services import create_system
from registry.models import import_all
from registry.seed.demo import load_demo
from tests.databases import WorkerDatabases, databases_for, tampering, worker_id

import_all()
PASSWORD = "correct horse battery staple"
TEST_AUDIT_KEY = "test-audit-key-0123456789abcdef0123456789abcdef"
_counter = count(1)


# The longest tests (tens of seconds each on a loaded machine) run first.  pytest-xdist's worksteal
# hands each worker a contiguous share of the collection and steals from the end of a share, so a
# long test left near an end can keep one worker busy while the other idles.  These use
# function-scoped fixtures only (no module-scoped one is set up twice by the move).
RUN_FIRST = (
    "tests/unit/test_report_cli.py::test_demo_decisions_have_pdfs_and_the_report_commands_work",
    "tests/unit/test_demo_dates.py::test_the_demo_tells_the_same_story_whenever_it_is_loaded",
    "tests/unit/test_concurrency.py::test_concurrent_writers_all_succeed_and_chain_stays_linear",
    "tests/web/test_portfolio_pages.py::test_every_figure_matches_on_a_synthetic_portfolio_with_filters",
    "tests/api/test_fuzz.py::test_fuzz_finds_no_server_error_and_no_response_outside_the_description",
)


def pytest_collection_modifyitems(config, items):
    rank = {nodeid: n for n, nodeid in enumerate(RUN_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid, len(rank)))  # stable: the rest keep their order


@pytest.fixture(scope="session")
def databases(tmp_path_factory) -> WorkerDatabases:
    own = tmp_path_factory.getbasetemp()
    shared = own.parent if worker_id() != "serial" else own  # xdist workers share their run's folder
    dbs = databases_for(shared, tmp_path_factory.mktemp("db"))
    yield dbs
    if hasattr(dbs, "close"):
        dbs.close()


@pytest.fixture(scope="session")
def database_url(databases) -> str:
    return databases.url


@pytest.fixture(scope="session")
def app(databases, tmp_path_factory):
    app = create_app({"DATABASE_URL": databases.url, "TESTING": True, "TESTING_CHEAP_PASSWORDS": True,
                      "SECRET_KEY": "test-secret", "WTF_CSRF_ENABLED": True, "AUDIT_KEY": TEST_AUDIT_KEY,
                      "EVIDENCE_DIR": str(tmp_path_factory.mktemp("evidence")),
                      "EXPORT_DIR": str(tmp_path_factory.mktemp("exports")), "REDIS_URL": None,
                      "IMPORT_DIR": str(tmp_path_factory.mktemp("imports"))})
    databases.bind(app.extensions["registry.engine"])

    def build_base() -> dict:
        with app.extensions["registry.sessions"][0]() as s:
            load_default_catalogues(s)  # kept across tests (see _database); its audit events are not
            with tampering(s):  # the catalogues' events are not kept (the append-only trigger lifted)
                s.execute(text("DELETE FROM audit_events"))
                s.execute(text("DELETE FROM audit_checkpoints"))
            s.commit()
        return {}

    databases.start(build_base)
    yield app
    app.extensions["registry.engine"].dispose()


@dataclass(frozen=True)
class DemoPortfolio:
    counts: dict[str, int]  # what load_demo returned (its evidence files are in the database's file store)


def _load_demo(app):
    def build(_unused_dir: Path) -> dict:  # the demo's evidence files go to the file store, in the database
        with app.extensions["registry.sessions"][0]() as s:
            counts = load_demo(s)
            s.commit()
        return counts

    return build


@pytest.fixture(autouse=True)
def _database(request):
    """Tests that use the database get it as migrated (catalogues loaded, nothing else), or with the
    demo portfolio when they ask for ``demo_portfolio``; it is emptied again after the test."""
    if "app" not in request.fixturenames:
        yield None
        return
    app = request.getfixturevalue("app")
    databases: WorkerDatabases = request.getfixturevalue("databases")
    demo = None
    if "demo_portfolio" in request.fixturenames:  # before any other fixture opens a connection
        counts, _ = databases.restore_demo(_load_demo(app))
        demo = DemoPortfolio(counts)
    yield demo
    databases.empty()


@pytest.fixture
def demo_portfolio(_database) -> DemoPortfolio:
    """The demo portfolio (``load_demo``), loaded once per run and copied into this test's database.

    Its evidence files are blobs in the database's file store, copied with it.  The test may write:
    the database is emptied afterwards as always."""
    return _database


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


def worker_redis_url() -> str:
    """A Redis database of this pytest-xdist worker's own (gw0 → 10 … gw3 → 13, one process → 14),
    so that tests running on two workers at once never flush each other's queues."""
    worker = worker_id()
    return f"redis://127.0.0.1:6379/{10 + int(worker[2:]) if worker.startswith('gw') else 14}"


def redis_or_skip(url: str) -> None:
    """Empty ``url``'s database; without a Redis server skip, except under CI (.ci/run starts one),
    where the real-queue paths must run."""
    from redis import Redis
    from redis.exceptions import ConnectionError as RedisDown

    try:
        Redis.from_url(url).flushdb()
    except RedisDown:
        if os.environ.get("CI") == "true":
            pytest.fail("no Redis server on 127.0.0.1:6379 under CI (.ci/run starts one when redis-server is installed)")
        pytest.skip("no Redis server on 127.0.0.1:6379 (the RQ path needs one)")


class _NoThreads(list):
    def append(self, thread):
        raise AssertionError("with REDIS_URL set no job runs on a thread")


@pytest.fixture
def rq_only(app, monkeypatch) -> str:
    """REDIS_URL set to this worker's own, emptied Redis database, and any job started on a thread
    fails the test (with Redis, every long job goes to RQ).  Yields the URL."""
    from redis import Redis

    from registry.reports import queue

    url = worker_redis_url()
    redis_or_skip(url)
    monkeypatch.setattr(queue, "_threads", _NoThreads())
    monkeypatch.setitem(app.config, "REDIS_URL", url)
    yield url
    Redis.from_url(url).flushdb()


@pytest.fixture
def s3_client(monkeypatch):
    """An in-process S3 (moto) holding an empty bucket ``registry`` in eu-west-1; yields its boto3 client."""
    moto = pytest.importorskip("moto")
    import boto3

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    with moto.mock_aws():
        client = boto3.client("s3", region_name="eu-west-1")
        client.create_bucket(Bucket="registry", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        yield client
