"""Browser fixtures: a live server on the test database, and a headless Chromium driven by Playwright.

The server runs the session's ``app`` (tests/conftest.py) in a background thread, so rows made
with ``session``, ``people`` and ``make_system`` are what the browser sees; the autouse
``_database`` fixture still empties the tables after every test (and ``demo_portfolio`` works here too).

Chromium is Debian's (/usr/bin/chromium), not Playwright's download.  Without it the tests are
skipped with a visible reason, except under CI (CI=true), where a missing browser is a failure.
"""

from __future__ import annotations

import os
import re
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from tests.conftest import PASSWORD

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TIMEOUT_MS = 10_000  # fail fast: every page here answers in milliseconds
_reports = pytest.StashKey[dict[str, pytest.TestReport]]()


# -- marking and failure reports ------------------------------------------------------------

def pytest_collection_modifyitems(config, items):
    """Every test in this folder drives a real browser: mark it so ``-m "not browser"`` skips it."""
    for item in items:
        if HERE in Path(item.path).resolve().parents:
            item.add_marker(pytest.mark.browser)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the item, so the ``page`` fixture knows whether the test failed."""
    report = yield
    item.stash.setdefault(_reports, {})[report.when] = report
    return report


# -- Chromium and Playwright ----------------------------------------------------------------

def _find_chromium() -> str | None:
    for candidate in ("/usr/bin/chromium", shutil.which("chromium")):
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = _find_chromium()
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail("Chromium is missing under CI (expected /usr/bin/chromium): "
                        "install it (apt-get install chromium) in the CI image; the browser tests must run there.")
        pytest.skip("Chromium not installed: apt-get install chromium to run the browser tests")
    return path


@pytest.fixture(scope="session")
def _playwright():
    from playwright.sync_api import sync_playwright

    manager = sync_playwright()
    playwright = manager.start()
    yield playwright
    manager.__exit__(None, None, None)


@pytest.fixture(scope="session")
def browser(chromium_path, _playwright):
    browser = _playwright.chromium.launch(executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


def _artifact_name(nodename: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", nodename).strip("_") or "test"


@pytest.fixture
def page(request, browser, live_server):
    """A fresh context and page per test (no cookies carried over); a screenshot if the test fails.

    Uncaught page errors, Content-Security-Policy violations and 5xx responses fail the test at
    teardown: a blocked style or a server error is a bug that an assertion on text may not notice.
    """
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=live_server)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    problems: list[str] = []
    failed = False
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on("console", lambda msg: problems.append(f"console {msg.type}: {msg.text}")
            if msg.type == "error" and "Content Security Policy" in msg.text else None)
    page.on("response", lambda resp: problems.append(f"HTTP {resp.status} from {resp.request.method} {resp.url}")
            if resp.status >= 500 else None)
    try:
        yield page
        reports = request.node.stash.get(_reports, {})
        failed = any(r.failed for r in reports.values())
        if failed and not page.is_closed():
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / f"{_artifact_name(request.node.name)}.png"), full_page=True)
    finally:
        context.close()
    if problems and not failed:
        pytest.fail("The browser reported problems:\n" + "\n".join(problems), pytrace=False)


# -- the live server ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def live_server(app) -> Iterator[str]:
    """The test app on 127.0.0.1:<free port>, in a thread; yields the base URL (no trailing slash)."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


# -- helpers --------------------------------------------------------------------------------

def login(page, base_url: str, email: str, password: str = PASSWORD) -> None:
    """Sign in through the form, as a person would, and wait until the home page has loaded."""
    page.goto(f"{base_url}/login")
    page.locator("#email").fill(email)
    page.locator("#password").fill(password)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()
    if "/login" in page.url:
        raise AssertionError(f"sign-in as {email} failed: {page.locator('main').inner_text()[:300]}")
