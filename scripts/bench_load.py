"""Load test: two gunicorn nodes on one PostgreSQL database and one Redis, 16 signed-in users for 60 s.

Loopback only and bounded in time.  It creates its own database (``benchload``, dropped and
created through the server's ``postgres`` database), migrates it, loads the demo portfolio and
2,000 synthetic systems, starts two gunicorn nodes on two free ports of 127.0.0.1 (same
``SECRET_KEY`` and ``AUDIT_KEY``, as behind a load balancer) and an RQ worker, then runs 16 users
(threads, each with its own cookie session, alternating between the two nodes request by request),
signed in as the demo roles would be:

- 8 product owners, each on systems only they edit here: read their system pages and history, edit
  the system (the form's ``version`` as read), edit a baseline metric, answer a readiness question;
  now and then two people edit the same system from the same version (the owner and the admin,
  ``ada.admin``, in a second session): the first save wins and the second must get 409;
- 4 compliance officers (the two demo officers, two sessions each): the review queue, verifying a
  control from it, decision pages, an audit PDF download now and then;
- 4 executives (the two demo executives, two sessions each): the portfolio, the inventory list and
  its pages, system pages;
- everyone searches the inventory.

An error is any 5xx, any unexpected status (a 4xx other than the expected 409s) or a failed request.
At the end: every successful edit's value is in the audit trail, no refused one is, the final
record holds the last successful write (no lost update), and ``registry audit verify`` passes.
Prints requests/s and p50/p95 per route and in total; exits 1 on any error or lost update.
A hard deadline (``BENCH_LOAD_DEADLINE``, 900 s) ends everything; the nodes, the worker and the
database are cleaned up on exit, Ctrl-C included.

  BENCH_LOAD_SECONDS 60   BENCH_LOAD_USERS 16   BENCH_LOAD_SYNTHETIC 2000   BENCH_LOAD_WORKERS 2 (per node)
  BENCH_LOAD_PG      postgresql+psycopg://postgres@127.0.0.1:5432/benchload
  BENCH_LOAD_REDIS   redis://127.0.0.1:6379/14 (flushed at the start)
  BENCH_LOAD_KEEP=1  keep the database afterwards
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, make_url, text  # noqa: E402
from sqlalchemy.pool import NullPool  # noqa: E402

SECONDS = float(os.environ.get("BENCH_LOAD_SECONDS", "60"))
USERS = int(os.environ.get("BENCH_LOAD_USERS", "16"))
SYNTHETIC = int(os.environ.get("BENCH_LOAD_SYNTHETIC", "2000"))
WORKERS = os.environ.get("BENCH_LOAD_WORKERS", "2")
DEADLINE = float(os.environ.get("BENCH_LOAD_DEADLINE", "900"))
PG_URL = os.environ.get("BENCH_LOAD_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/benchload")
REDIS_URL = os.environ.get("BENCH_LOAD_REDIS", "redis://127.0.0.1:6379/14")
KEEP = os.environ.get("BENCH_LOAD_KEEP") == "1"
PASSWORD = "readiness-demo-2026"
ADMIN = "ada.admin@northwind.example"
OFFICERS = ["mireille.duval@northwind.example", "tomasz.wieczorek@northwind.example"]
EXECUTIVES = ["henrik.lindqvist@northwind.example", "priya.raman@northwind.example"]
SEARCHES = ["chatbot", "claims", "fraud", "assistant", "scheduling", "contract", "parcel", "risk", "vendor", "agent"]
TIMEOUT = 120  # seconds per request (an audit PDF render is the slowest)

ENV = {
    **os.environ, "PYTHONPATH": str(ROOT), "DATABASE_URL": PG_URL, "REDIS_URL": REDIS_URL,
    "REGISTRY_ENV": "production", "SESSION_COOKIE_SECURE": "0",  # plain HTTP on loopback
    "SECRET_KEY": "bench-load-secret-key-0123456789abcdef0123456789",
    "AUDIT_KEY": "bench-load-audit-key-0123456789abcdef0123456789ab",
    "WEB_CONCURRENCY": WORKERS, "LOG_FORMAT": "text",
}
CLI = [sys.executable, "-c", "import sys; from registry.cli import main; sys.argv[0] = 'registry'; sys.exit(main())"]
_children: list[subprocess.Popen] = []


# -- processes ------------------------------------------------------------------------------------

def registry(*args: str, env: dict | None = None, timeout: float = 600) -> str:
    done = subprocess.run([*CLI, *args], env=env or ENV, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise SystemExit(f"registry {' '.join(args)} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return done.stdout + done.stderr


def start(args: list[str], log: Path, env: dict) -> subprocess.Popen:
    proc = subprocess.Popen(args, env=env, cwd=ROOT, stdout=log.open("wb"), stderr=subprocess.STDOUT,
                            start_new_session=True)  # its own process group: stopped as one below
    _children.append(proc)
    return proc


def stop_children() -> None:
    for proc in _children:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
    for proc in _children:
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
    _children.clear()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(base: str, proc: subprocess.Popen, log: Path, limit: float = 120) -> None:
    until = time.time() + limit
    while time.time() < until:
        if proc.poll() is not None:
            raise SystemExit(f"{base} exited ({proc.returncode}):\n{log.read_text(errors='replace')[-3000:]}")
        try:
            if requests.get(f"{base}/readyz", timeout=5).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise SystemExit(f"{base} not ready after {limit:.0f} s:\n{log.read_text(errors='replace')[-3000:]}")


# -- the database ---------------------------------------------------------------------------------

def _maintenance():
    return create_engine(make_url(PG_URL).set(database="postgres"), poolclass=NullPool, isolation_level="AUTOCOMMIT")


def recreate_database() -> None:
    name = make_url(PG_URL).database
    engine = _maintenance()
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()


def drop_database() -> None:
    engine = _maintenance()
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{make_url(PG_URL).database}" WITH (FORCE)'))
    engine.dispose()


def plan_owners() -> tuple[list[tuple[str, list[int]]], list[int]]:
    """The demo owners and the systems each one edits here (no two share one), and every system id."""
    from sqlalchemy import select

    from registry import create_app
    from registry.auth.models import User
    from registry.auth.permissions import can_edit_system
    from registry.enums import Role
    from registry.inventory.models import AISystem

    app = create_app({"DATABASE_URL": PG_URL, "SECRET_KEY": "plan", "AUDIT_KEY": ENV["AUDIT_KEY"], "REDIS_URL": None})
    with app.extensions["registry.sessions"][1]() as session:
        owners = list(session.scalars(select(User).where(User.role == Role.OWNER, User.email.like("%@northwind.example"))
                                      .order_by(User.id)))
        demo = list(session.scalars(select(AISystem).where(AISystem.id <= 30).order_by(AISystem.id)))
        all_ids = list(session.scalars(select(AISystem.id)))
        taken: set[int] = set()
        plan = []
        for owner in owners:
            mine = [s.id for s in demo if s.id not in taken and can_edit_system(owner, s)]
            if mine:
                taken.update(mine)
                plan.append((owner.email, mine))
    app.extensions["registry.engine"].dispose()
    return plan, all_ids


# -- HTML forms -----------------------------------------------------------------------------------

class Forms(HTMLParser):
    """Every <form>: action and fields as a browser would submit them (checked boxes and radios,
    selected options, textarea text), including fields outside it that name it with form=."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms: list[dict] = []
        self._form: dict | None = None
        self._by_id: dict[str, dict] = {}
        self._select: tuple[dict, str] | None = None
        self._select_first: str | None = None
        self._textarea: tuple[dict, str] | None = None

    def _target(self, attrs: dict) -> dict | None:
        return self._by_id.get(attrs["form"]) if attrs.get("form") else self._form

    def handle_starttag(self, tag, attrs):
        a = {k: (v or "") for k, v in attrs}
        if tag == "form":
            self._form = {"action": a.get("action"), "id": a.get("id"), "fields": [], "checkboxes": []}
            self.forms.append(self._form)
            if a.get("id"):
                self._by_id[a["id"]] = self._form
        elif tag == "input" and (form := self._target(a)) is not None and a.get("name"):
            kind = a.get("type", "text")
            if kind == "checkbox":
                form["checkboxes"].append((a["name"], a.get("value", "on")))
                if "checked" in a:
                    form["fields"].append((a["name"], a.get("value", "on")))
            elif kind == "radio":
                if "checked" in a:
                    form["fields"].append((a["name"], a.get("value", "")))
            elif kind not in ("submit", "button", "file"):
                form["fields"].append((a["name"], a.get("value", "")))
        elif tag == "select" and (form := self._target(a)) is not None:
            self._select, self._select_first = (form, a.get("name", "")), None
        elif tag == "option" and self._select is not None:
            value = a.get("value", "")
            if self._select_first is None:
                self._select_first = value
            if "selected" in a:
                self._select[0]["fields"].append((self._select[1], value))
                self._select_first = "\0picked"
        elif tag == "textarea" and (form := self._target(a)) is not None:
            self._textarea = (form, a.get("name", ""))
            form.setdefault("textareas", {})[a.get("name", "")] = int(a.get("maxlength") or 100_000)
            form["fields"].append((a.get("name", ""), ""))

    def handle_data(self, data):
        if self._textarea is not None:
            form, name = self._textarea
            last = form["fields"].pop()
            form["fields"].append((name, last[1] + data))

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        elif tag == "select" and self._select is not None:
            if self._select_first not in (None, "\0picked"):
                self._select[0]["fields"].append((self._select[1], self._select_first))
            self._select = None
        elif tag == "textarea" and self._textarea is not None:
            form, name = self._textarea
            value = form["fields"].pop()[1]
            # A browser drops the one line break right after <textarea> (the template's "\r\n" or "\n").
            form["fields"].append((name, value.removeprefix("\r\n") if value.startswith("\r\n")
                                   else value.removeprefix("\n")))
            self._textarea = None


def forms_of(html: str) -> list[dict]:
    parser = Forms()
    parser.feed(html)
    return parser.forms


def form_with(html: str, field_name: str) -> dict | None:
    return next((f for f in forms_of(html) if any(n == field_name for n, _ in f["fields"])), None)


def set_field(fields: list[tuple[str, str]], name: str, value: str) -> list[tuple[str, str]]:
    return [(n, value if n == name else v) for n, v in fields]


# -- the users ------------------------------------------------------------------------------------

@dataclass
class Tally:
    samples: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: list[str] = field(default_factory=list)
    conflicts: int = 0  # 409s from the deliberate stale edits
    concurrent: int = 0  # 409s of ordinary edits (another save came in between)
    stale_saved: list[str] = field(default_factory=list)  # a stale edit that was saved: a lost update
    edits: dict[int, list[str]] = field(default_factory=lambda: defaultdict(list))  # system id -> saved values
    refused: list[str] = field(default_factory=list)  # values of edits answered 409
    metric_edits: dict[int, list[str]] = field(default_factory=lambda: defaultdict(list))
    lock: threading.Lock = field(default_factory=threading.Lock)


NUMBER = re.compile(r"/\d+")


def route_of(method: str, path: str) -> str:
    path, _, query = path.partition("?")
    path = NUMBER.sub("/<id>", path)
    path = re.sub(r"/readiness/[a-z_]+$", "/readiness/<key>", path)
    keys = sorted(k.split("=")[0] for k in query.split("&") if k)
    return f"{method} {path}" + (f"?{'&'.join(k + '=' for k in keys)}" if keys else "")


class User:
    def __init__(self, n: int, email: str, nodes: list[str], tally: Tally, until: float):
        self.n, self.email, self.nodes, self.tally, self.until = n, email, nodes, tally, until
        self.http = requests.Session()
        self.turn = n % len(nodes)
        self.rng = random.Random(n)
        self.count = 0

    def node(self) -> str:
        self.turn = (self.turn + 1) % len(self.nodes)
        return self.nodes[self.turn]

    def call(self, method: str, path: str, expect: tuple[int, ...] = (200,), data=None, *, route: str | None = None,
             ok_also: tuple[int, ...] = ()) -> requests.Response | None:
        url = self.node() + path
        started = time.perf_counter()
        try:
            response = self.http.request(method, url, data=data, allow_redirects=False, timeout=TIMEOUT)
        except requests.RequestException as exc:
            with self.tally.lock:
                self.tally.errors.append(f"{self.email} {method} {path}: {type(exc).__name__}: {exc}"[:300])
            return None
        elapsed = time.perf_counter() - started
        with self.tally.lock:
            self.tally.samples[route or route_of(method, path)].append(elapsed)
            if response.status_code not in expect + ok_also:
                self.tally.errors.append(f"{self.email} {method} {path} on {url.split('/')[2]}: {response.status_code} "
                                         f"{response.text[:200]!r}")
        return response if response.status_code in expect + ok_also else None

    def page(self, path: str) -> str | None:
        response = self.call("GET", path)
        return response.text if response is not None else None

    def login(self) -> bool:
        html = self.page("/login")
        form = html and form_with(html, "email")
        if not form:
            return False
        fields = set_field(set_field(form["fields"], "email", self.email), "password", PASSWORD)
        return self.call("POST", "/login", (302,), fields) is not None

    def alive(self) -> bool:
        return time.time() < self.until

    def search(self) -> None:
        self.page(f"/systems?q={self.rng.choice(SEARCHES)}")

    def run(self) -> None:
        raise NotImplementedError


class Owner(User):
    def __init__(self, *args, systems: list[int], partner: User):
        super().__init__(*args)
        self.systems, self.partner = systems, partner

    def token(self, what: str) -> str:
        self.count += 1
        return f"load {what} u{self.n} #{self.count}"

    def edit_system(self, sid: int) -> None:
        html = self.page(f"/systems/{sid}/edit")
        form = html and form_with(html, "version")
        if not form:
            return
        value = self.token("edit")
        # 409: someone saved the system since the form was read (an officer's verification bumps its
        # version too): refused, as it must be, and not an error.
        response = self.call("POST", f"/systems/{sid}/edit", (302,),
                             set_field(form["fields"], "decisions_influenced", value), ok_also=(409,))
        with self.tally.lock:
            if response is not None and response.status_code == 302:
                self.tally.edits[sid].append(value)
            elif response is not None:
                self.tally.concurrent += 1
                self.tally.refused.append(value)

    def stale_pair(self, sid: int) -> None:
        """The owner and the admin read the same version; the owner saves first; the admin's save
        of the stale version must be refused with 409."""
        mine = self.page(f"/systems/{sid}/edit")
        theirs = self.partner.page(f"/systems/{sid}/edit")
        mine_form, their_form = mine and form_with(mine, "version"), theirs and form_with(theirs, "version")
        if not mine_form or not their_form or dict(mine_form["fields"])["version"] != dict(their_form["fields"])["version"]:
            return  # cannot stage it (an error is already counted, or another save came in between)
        value = self.token("first")
        response = self.call("POST", f"/systems/{sid}/edit", (302,),
                             set_field(mine_form["fields"], "decisions_influenced", value), ok_also=(409,))
        with self.tally.lock:
            if response is None or response.status_code == 409:
                self.tally.concurrent += response is not None
                self.tally.refused.append(value)
                return
            self.tally.edits[sid].append(value)
        stale = self.token("stale")
        response = self.partner.call("POST", f"/systems/{sid}/edit", (409,),
                                     set_field(their_form["fields"], "decisions_influenced", stale),
                                     route="POST /systems/<id>/edit (stale: 409)", ok_also=(302,))
        with self.tally.lock:
            if response is not None and response.status_code == 409:
                self.tally.conflicts += 1
                self.tally.refused.append(stale)
            elif response is not None:
                self.tally.stale_saved.append(f"system {sid}: a save from a stale version was accepted ({stale})")
                self.tally.edits[sid].append(stale)

    def edit_metric(self, sid: int) -> None:
        html = self.page(f"/systems/{sid}")
        links = sorted(set(re.findall(rf'href="(/systems/{sid}/metrics/(\d+)/edit)"', html or "")))
        if not links:
            return
        path, metric_id = self.rng.choice(links)
        page = self.page(path)
        form = page and form_with(page, "source")
        if not form:
            return
        value = self.token("metric")
        if self.call("POST", path, (302,), set_field(form["fields"], "source", value)) is not None:
            with self.tally.lock:
                self.tally.metric_edits[int(metric_id)].append(value)

    def answer_readiness(self, sid: int) -> None:
        html = self.page(f"/systems/{sid}/readiness")
        keys = sorted(set(re.findall(rf'href="/systems/{sid}/readiness/([a-z_]+)"', html or "")))
        if not keys:
            return
        path = f"/systems/{sid}/readiness/{self.rng.choice(keys)}"
        page = self.page(path)
        # the save form (the page may also hold the submit-for-review form, with a version too)
        form = page and next((f for f in forms_of(page) if f["action"] == path), None)
        if not form:
            return
        # The answer as it stands with this user's mark appended to its last text box.
        fields = form["fields"]
        boxes = form.get("textareas", {})
        if boxes:
            name = list(boxes)[-1]  # the last is free text (the first may be a list, one item a line)
            mark = f" [{self.token('answer')}]"
            current = re.sub(r" \[load .*?\]$", "", dict(fields)[name])
            fields = set_field(fields, name, current[:boxes[name] - len(mark)] + mark)
        self.call("POST", path, (302, 303), fields, ok_also=(409,))

    def run(self) -> None:
        if not self.login() or not self.partner.login():
            return
        while self.alive():
            sid = self.rng.choice(self.systems)
            pick = self.rng.random()
            if pick < 0.25:
                self.page(f"/systems/{sid}")
            elif pick < 0.40:
                self.edit_system(sid)
            elif pick < 0.50:
                self.edit_metric(sid)
            elif pick < 0.60:
                self.answer_readiness(sid)
            elif pick < 0.80:
                self.search()
            elif pick < 0.90:
                self.page(f"/systems/{sid}/history")
            else:
                self.stale_pair(sid)


class Officer(User):
    def run(self) -> None:
        if not self.login():
            return
        while self.alive():
            pick = self.rng.random()
            if pick < 0.25:
                self.page("/review")
            elif pick < 0.45:
                self.verify_one()
            elif pick < 0.75:
                self.decision_page(pdf=False)
            elif pick < 0.80:
                self.decision_page(pdf=True)
            else:
                self.search()

    def verify_one(self) -> None:
        html = self.page("/review?waiting=verify")
        lists = sorted(set(re.findall(r'href="(/systems/(\d+)/controls\?status=to_verify)"', html or "")))
        if not lists:
            return
        path, sid = self.rng.choice(lists)
        page = self.page(path)
        form = page and next((f for f in forms_of(page) if (f["action"] or "").endswith("/controls/verify")), None)
        if not form or not form["checkboxes"]:
            return
        _name, control = self.rng.choice(form["checkboxes"])
        fields = [(n, v) for n, v in form["fields"] if not n.startswith("version-") or n == f"version-{control}"]
        fields += [("control", control), ("note", f"Checked under load by user {self.n}")]
        self.call("POST", f"/systems/{sid}/controls/verify", (302, 303), fields)

    def decision_page(self, *, pdf: bool) -> None:
        sid = self.rng.randint(1, 30)
        html = self.page(f"/systems/{sid}/decisions")
        decisions = sorted(set(re.findall(rf'href="/systems/{sid}/decisions/(\d+)"', html or "")))
        if not decisions:
            return
        did = self.rng.choice(decisions)
        if pdf:
            response = self.call("GET", f"/systems/{sid}/decisions/{did}/audit.pdf")
            if response is not None and not response.content.startswith(b"%PDF"):
                with self.tally.lock:
                    self.tally.errors.append(f"{self.email}: audit.pdf of decision {did} is not a PDF")
        else:
            self.page(f"/systems/{sid}/decisions/{did}")


class Executive(User):
    def __init__(self, *args, system_ids: list[int]):
        super().__init__(*args)
        self.system_ids = system_ids

    def run(self) -> None:
        if not self.login():
            return
        while self.alive():
            pick = self.rng.random()
            if pick < 0.30:
                self.page("/portfolio")
            elif pick < 0.50:
                self.page("/systems")
            elif pick < 0.60:
                self.page(f"/systems?page={self.rng.randint(2, 40)}")
            elif pick < 0.80:
                self.page(f"/systems/{self.rng.choice(self.system_ids)}")
            else:
                self.search()


# -- checks after the run -------------------------------------------------------------------------

def check_no_lost_update(tally: Tally) -> list[str]:
    """Each saved value is in the audit trail and no refused one is; each record ends with its last save."""
    problems = list(tally.stale_saved)
    engine = create_engine(PG_URL, poolclass=NullPool)
    with engine.connect() as conn:
        audited = set()
        for (record,) in conn.execute(text("SELECT record FROM audit_events WHERE action = 'system.update' "
                                           "AND record LIKE '%load %'")):
            after = json.loads(record.split("\n", 2)[2]).get("after") or {}
            value = after.get("decisions_influenced")
            if value:
                audited.add(value)
        for sid, values in tally.edits.items():
            final = conn.execute(text("SELECT decisions_influenced FROM ai_systems WHERE id = :i"), {"i": sid}).scalar()
            if final != values[-1]:
                problems.append(f"system {sid}: holds {final!r}, the last save was {values[-1]!r}")
            missing = [v for v in values if v not in audited]
            if missing:
                problems.append(f"system {sid}: saved edits missing from the audit trail: {missing[:3]}")
        leaked = [v for v in tally.refused if v in audited]
        if leaked:
            problems.append(f"refused edits found in the audit trail: {leaked[:3]}")
        for metric_id, values in tally.metric_edits.items():
            final = conn.execute(text("SELECT source FROM baseline_metrics WHERE id = :i"), {"i": metric_id}).scalar()
            if final != values[-1]:
                problems.append(f"metric {metric_id}: holds {final!r}, the last save was {values[-1]!r}")
    engine.dispose()
    return problems


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, int(round(q * len(ordered))) - 1))]


def report(tally: Tally, elapsed: float) -> None:
    total = [x for v in tally.samples.values() for x in v]
    print(f"\n{'route':<58} {'requests':>8} {'req/s':>7} {'p50 ms':>8} {'p95 ms':>8}")
    for route, samples in sorted(tally.samples.items(), key=lambda kv: -len(kv[1])):
        print(f"{route[:58]:<58} {len(samples):>8} {len(samples) / elapsed:>7.1f} "
              f"{statistics.median(samples) * 1000:>8.1f} {pct(samples, 0.95) * 1000:>8.1f}")
    if total:
        print(f"{'all routes':<58} {len(total):>8} {len(total) / elapsed:>7.1f} "
              f"{statistics.median(total) * 1000:>8.1f} {pct(total, 0.95) * 1000:>8.1f}")


# -- main -----------------------------------------------------------------------------------------

def worker_command() -> list[str]:
    """``registry worker`` where it exists, else ``registry report worker``."""
    commands = registry("--help")
    return [*CLI, "worker"] if re.search(r"^\s+worker\b", commands, re.M) else [*CLI, "report", "worker"]


def main() -> int:
    hard_stop = threading.Timer(DEADLINE, lambda: os.kill(os.getpid(), signal.SIGTERM))
    hard_stop.daemon = True
    hard_stop.start()
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    logs = Path(os.environ.get("BENCH_LOAD_LOGS", "/tmp")) / f"registry-bench-load-{os.getpid()}"
    logs.mkdir(parents=True, exist_ok=True)
    try:
        return run(logs)
    except KeyboardInterrupt:
        print("Stopped (Ctrl-C or the hard deadline): cleaning up.", file=sys.stderr)
        return 130
    finally:
        stop_children()
        if not KEEP:
            try:
                drop_database()
            except Exception as exc:  # noqa: BLE001 - cleanup: say so, do not hide the run's result
                print(f"could not drop the database: {exc}", file=sys.stderr)


def run(logs: Path) -> int:
    import redis

    print(f"Load test: 2 gunicorn nodes x {WORKERS} workers, {USERS} users for {SECONDS:.0f} s, PostgreSQL "
          f"{make_url(PG_URL).database}, Redis {REDIS_URL} ({os.cpu_count()} cores; load average "
          f"{os.getloadavg()[0]:.2f})")
    started = time.perf_counter()
    recreate_database()
    redis.Redis.from_url(REDIS_URL).flushdb()
    registry("db", "upgrade")
    registry("seed", "--demo", env={**ENV, "REGISTRY_ENV": "development"})  # production refuses demo data
    registry("seed", "--synthetic", str(SYNTHETIC), env={**ENV, "REGISTRY_ENV": "development"})
    print(f"database ready (demo portfolio + {SYNTHETIC:,} synthetic systems) in {time.perf_counter() - started:.0f} s")
    plan, all_ids = plan_owners()

    nodes = []
    for name in ("a", "b"):
        port = free_port()
        log = logs / f"node-{name}.log"
        proc = start([sys.executable, "-m", "gunicorn", "--config", str(ROOT / "gunicorn.conf.py"),
                      "--bind", f"127.0.0.1:{port}"], log, {**ENV, "PORT": str(port)})
        nodes.append((f"http://127.0.0.1:{port}", proc, log))
    worker = worker_command()
    start(worker, logs / "worker.log", ENV)
    for base, proc, log in nodes:
        wait_ready(base, proc, log)
    bases = [b for b, _, _ in nodes]
    print(f"nodes {', '.join(bases)} ready; worker: registry {' '.join(worker[3:])}; logs in {logs}")

    tally = Tally()
    until = time.time() + SECONDS
    users: list[User] = []
    owners = plan[:USERS // 2]
    for email, systems in owners:
        n = len(users)
        partner = User(100 + n, ADMIN, bases, tally, until)
        users.append(Owner(n, email, bases, tally, until, systems=systems, partner=partner))
    for i in range((USERS - len(users)) // 2):
        users.append(Officer(len(users), OFFICERS[i % len(OFFICERS)], bases, tally, until))
    while len(users) < USERS:
        users.append(Executive(len(users), EXECUTIVES[len(users) % len(EXECUTIVES)], bases, tally, until,
                               system_ids=all_ids))
    threads = [threading.Thread(target=u.run, name=u.email, daemon=True) for u in users]
    began = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=SECONDS + TIMEOUT + 30)
    elapsed = time.perf_counter() - began
    roles = defaultdict(int)
    for u in users:
        roles[type(u).__name__] += 1
    print(f"{len(users)} users ({', '.join(f'{n} {r.lower()}s' for r, n in roles.items())}) for {elapsed:.1f} s")
    report(tally, elapsed)
    stop_children()

    problems = check_no_lost_update(tally)
    saved = sum(len(v) for v in tally.edits.values())
    print(f"\nsystem edits saved: {saved}; metric edits saved: {sum(len(v) for v in tally.metric_edits.values())}; "
          f"stale edits refused with 409: {tally.conflicts} staged, {tally.concurrent} concurrent; lost updates: {len(problems)}; errors: {len(tally.errors)}")
    verified = subprocess.run([*CLI, "audit", "verify"], env=ENV, cwd=ROOT, capture_output=True, text=True, timeout=300)
    print(f"registry audit verify: {(verified.stdout + verified.stderr).strip().splitlines()[-1]}")
    for problem in problems[:10]:
        print(f"LOST UPDATE: {problem}")
    for error in tally.errors[:15]:
        print(f"ERROR: {error}")
    failed = bool(tally.errors or problems or verified.returncode != 0 or tally.conflicts == 0)
    if tally.conflicts == 0:
        print("FAILED: no stale edit was staged, so lost updates were not tested")
    print("FAILED" if failed else "OK: 0 errors, 0 lost updates, the audit chain verifies")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
