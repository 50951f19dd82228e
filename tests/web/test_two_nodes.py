"""Proof that web nodes keep no state of their own: two app processes (gunicorn) on one PostgreSQL
and one Redis, and a separate RQ worker process.

Evidence uploaded through one node is downloaded through the other, byte for byte; a bulk export of
audit PDFs asked for on one node is built by the worker and downloaded from the other.
"""

from __future__ import annotations

import csv
import io
import os
import re
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
import requests
from sqlalchemy import select

from registry.decisions.services import record_decision
from registry.reports.models import DecisionReport
from tests.conftest import PASSWORD, TEST_AUDIT_KEY, make_system, redis_or_skip, worker_redis_url

ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = worker_redis_url()
NO_GO = {"verdict": "no_go", "rationale": "Not ready: the five answers are still missing."}

pytestmark = pytest.mark.skipif(not os.environ.get("DATABASE_URL", "").startswith("postgresql"),
                                reason="two nodes share a PostgreSQL server (run with DATABASE_URL=postgresql+psycopg://…)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(database_url: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EVIDENCE_", "EXPORT_", "IMPORT_"))}
    # Each node gets its own (empty) folders: anything kept on a node's disk would not be seen by the other.
    env.update({"DATABASE_URL": database_url, "REDIS_URL": REDIS_URL, "SECRET_KEY": "two-nodes-secret",
                "AUDIT_KEY": TEST_AUDIT_KEY, "REGISTRY_ENV": "development", "SESSION_COOKIE_SECURE": "0",
                "PYTHONPATH": str(ROOT)})
    return env


class Node:
    def __init__(self, database_url: str, folder: Path, name: str):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = _env(database_url)
        for setting in ("EVIDENCE_DIR", "EXPORT_DIR", "IMPORT_DIR"):
            env[setting] = str(folder / name / setting.lower())
        self.log = folder / f"{name}.log"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{self.port}", "--workers", "1",
             "--timeout", "120", "registry.wsgi:app"],
            cwd=ROOT, env=env, stdout=self.log.open("w"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"node {name} exited: {self.log.read_text()[-2000:]}")
            try:
                if requests.get(self.url + "/healthz", timeout=10).status_code == 200:
                    return
            except (requests.ConnectionError, requests.Timeout):
                time.sleep(0.2)
        raise AssertionError(f"node {name} did not start: {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()


@pytest.fixture
def nodes(database_url, tmp_path):
    redis_or_skip(REDIS_URL)
    started = []
    try:
        started.append(Node(database_url, tmp_path, "a"))
        started.append(Node(database_url, tmp_path, "b"))
        yield started
    finally:
        for node in started:
            node.stop()


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)


def _sign_in(node: Node, email: str, http: requests.Session | None = None) -> requests.Session:
    http = http or requests.Session()
    token = _csrf(http.get(node.url + "/login").text)
    response = http.post(node.url + "/login", data={"csrf_token": token, "email": email, "password": PASSWORD},
                         allow_redirects=False)
    assert response.status_code == 302, response.text[:500]
    return http


def test_evidence_uploaded_through_one_node_is_downloaded_through_the_other(nodes, session, people):
    node_a, node_b = nodes
    system = make_system(session, people["owner"])
    session.commit()
    owner = _sign_in(node_a, people["owner"].email)
    controls = owner.get(f"{node_a.url}/systems/{system.id}/controls").text
    control_id = int(re.search(rf'/systems/{system.id}/controls/(\d+)', controls).group(1))
    page_url = f"{node_a.url}/systems/{system.id}/controls/{control_id}"
    data = b"%PDF-1.4\n" + os.urandom(300_000) + b"\n%%EOF\n"
    response = owner.post(f"{page_url}/evidence", data={
        "csrf_token": _csrf(owner.get(page_url).text), "description": "Red-team report, two nodes",
        "url": "", "collected_on": ""}, files={"file": ("red-team.pdf", data, "application/pdf")},
        allow_redirects=False)
    assert response.status_code == 302, response.text[:800]

    # The same person, signed in on the other node (the session cookie is signed with the shared key).
    on_b = requests.Session()
    on_b.cookies.update(owner.cookies)
    page = on_b.get(f"{node_b.url}/systems/{system.id}/controls/{control_id}").text
    link = re.search(rf'/systems/{system.id}/evidence/(\d+)', page)
    assert link, "node b does not list the evidence uploaded through node a"
    download = on_b.get(f"{node_b.url}{link.group(0)}")
    assert download.status_code == 200 and download.content == data


def test_a_bulk_export_asked_for_on_one_node_is_built_by_the_worker_and_downloaded_from_the_other(
        nodes, session, people, database_url, tmp_path):
    node_a, node_b = nodes
    decision = record_decision(session, people["compliance"], make_system(session, people["owner"]).id, NO_GO)
    session.commit()
    officer = _sign_in(node_a, people["compliance"].email)
    response = officer.post(f"{node_a.url}/reports/exports", allow_redirects=False,
                            data={"csrf_token": _csrf(officer.get(f"{node_a.url}/reports/exports").text)})
    assert response.status_code == 302, response.text[:800]
    job_path = response.headers["Location"].replace(node_a.url, "")
    job_id = int(job_path.rstrip("/").split("/")[-1])

    worker_log = tmp_path / "worker.log"
    env = _env(database_url)
    env["EXPORT_DIR"] = str(tmp_path / "worker-exports")
    worker = subprocess.run([sys.executable, "-m", "registry.cli", "worker", "--burst"], cwd=ROOT, env=env,
                            stdout=worker_log.open("w"), stderr=subprocess.STDOUT, timeout=300)
    assert worker.returncode == 0, worker_log.read_text()[-2000:]

    on_b = requests.Session()
    on_b.cookies.update(officer.cookies)
    page = on_b.get(f"{node_b.url}/reports/exports/{job_id}").text
    assert "Ready: 1 of 1 PDFs" in page, page[:2000]
    download = on_b.get(f"{node_b.url}/reports/exports/{job_id}/download")
    assert download.status_code == 200 and download.headers["Content-Type"].startswith("application/zip")
    archive = zipfile.ZipFile(io.BytesIO(download.content))
    manifest = list(csv.DictReader(io.StringIO(archive.read("manifest.csv").decode("utf-8-sig"))))
    assert [int(r["decision_id"]) for r in manifest] == [decision.id]
    session.commit()
    stored = session.scalar(select(DecisionReport).where(DecisionReport.decision_id == decision.id))
    assert archive.read(manifest[0]["file"]) == stored.pdf
