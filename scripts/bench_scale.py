"""Scale benchmark (issue 17): 100,000 synthetic systems on PostgreSQL, measured over HTTP.

    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/bench100k .venv/bin/python scripts/bench_scale.py

Creates the database named by ``DATABASE_URL`` afresh (through the server's ``postgres``
maintenance database; a database of that name is dropped first), migrates it, loads the control
catalogue and seeds ``--systems`` synthetic systems (readiness answers, control assessments,
decisions, stage history, audit events, the state cache), timing the seeding.  Then serves the app
with gunicorn (3 workers, a free loopback port) and measures, over HTTP, p50/p95 of ``--runs``
requests and the response size of: the inventory list (plain, searched, a deep page sorted by
tier), the system page (random systems), the review queue as a compliance officer and the
portfolio dashboard as an executive.  Prints a table; drops the database at the end unless
``--keep``.

Refuses SQLite, and a database not named ``bench…`` (``test``, ``postgres``, anything that may
hold data) unless ``--force``.  Targets: seeding <= 60 s, every page p95 <= 250 ms.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import logging
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, func, make_url, select, table  # noqa: E402

from registry import create_app  # noqa: E402
from registry.audit.services import verify_chain  # noqa: E402
from registry.auth.services import create_user  # noqa: E402
from registry.controls.catalogue import load_default_catalogues  # noqa: E402
from registry.db import analyze  # noqa: E402
from registry.inventory.models import AISystem  # noqa: E402
from registry.migrate import upgrade  # noqa: E402
from registry.seed.synthetic import seed_synthetic  # noqa: E402

PASSWORD = "benchmark-password-123"
EXECUTIVE, OFFICER = "bench.executive@example.test", "bench.officer@example.test"
TARGET_SEED_S, TARGET_P95_MS = 60, 250


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--systems", type=int, default=int(os.environ.get("BENCH_SYSTEMS", "100000")))
    parser.add_argument("--runs", type=int, default=int(os.environ.get("BENCH_RUNS", "50")))
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--force", action="store_true", help="run on a database not named bench… (it is dropped)")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    return parser.parse_args(argv)


def refusal(url: str | None, force: bool) -> str | None:
    """Why the benchmark must not run on ``url`` (None: it may)."""
    if not url:
        return "set DATABASE_URL to a PostgreSQL database for the benchmark (e.g. …/bench100k)"
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        return "the scale benchmark runs on PostgreSQL only (DATABASE_URL names another database)"
    name = parsed.database or ""
    if not name:
        return "DATABASE_URL names no database"
    if name in ("postgres", "template0", "template1"):
        return f"refusing to drop and recreate the server's {name!r} database"
    if not name.startswith("bench") and not force:
        return f"the database {name!r} is dropped and recreated: name it bench… or pass --force"
    return None


def _maintenance(url: str):
    return create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")


def create_database(url: str) -> None:
    name = make_url(url).database
    engine = _maintenance(url)
    with engine.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    engine.dispose()


def drop_database(url: str) -> None:
    engine = _maintenance(url)
    with engine.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')
    engine.dispose()


def seed(url: str, systems: int) -> tuple[float, list[int], dict[str, int]]:
    """Migrate, load the catalogue, seed, verify the audit chain; returns (seconds to seed, the
    systems' ids, row counts)."""
    upgrade(url)
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench-scale"})
    write, _read = app.extensions["registry.sessions"]
    with write() as session:
        load_default_catalogues(session)
        session.commit()
        started = time.perf_counter()
        seed_synthetic(session, systems)
        session.commit()
        analyze(app.extensions["registry.engine"])
        seconds = time.perf_counter() - started
        create_user(session, None, email=EXECUTIVE, name="Bench Executive", role="executive", password=PASSWORD)
        create_user(session, None, email=OFFICER, name="Bench Officer", role="compliance", password=PASSWORD)
        session.commit()
        ids = list(session.scalars(select(AISystem.id).order_by(AISystem.id)))
    # Not part of the seeding time: what autovacuum does soon after any bulk load, and what lets the
    # counts and the dashboard read the covering indexes alone (the visibility map).
    started = time.perf_counter()
    with app.extensions["registry.engine"].connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM (ANALYZE)")
    print(f"VACUUM (ANALYZE) after seeding: {time.perf_counter() - started:.1f} s (not counted in the seeding time)")
    with write() as session:
        counts = {name: session.scalar(select(func.count()).select_from(table(name)))
                  for name in ("control_assessments", "readiness_answers", "decisions", "system_blockers",
                               "audit_events")}
        started = time.perf_counter()
        report = verify_chain(session)
    print(f"audit chain after seeding: {report.checked:,} events {'verified' if report.ok else 'BROKEN'} "
          f"in {time.perf_counter() - started:.1f} s")
    if not report.ok:
        raise SystemExit(f"the seeded audit chain does not verify: {report}")
    app.extensions["registry.engine"].dispose()
    return seconds, ids, counts


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(url: str, port: int, workers: int) -> subprocess.Popen:
    env = {**os.environ, "DATABASE_URL": url, "SECRET_KEY": "bench-scale-secret", "REGISTRY_ENV": "development",
           "LOG_LEVEL": "WARNING"}
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-w", str(workers), "-b", f"127.0.0.1:{port}", "--timeout", "120",
         "registry.wsgi:app"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2).read()
            return server
        except OSError:
            if server.poll() is not None:
                raise SystemExit(f"gunicorn stopped: {server.stderr.read().decode()[-2000:]}") from None
            time.sleep(0.3)
    server.terminate()
    raise SystemExit("gunicorn did not answer /healthz within 60 s")


class Client:
    """A signed-in browser: cookies, and the CSRF token of the login form."""

    def __init__(self, base: str, email: str):
        self.base = base
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        page = self.opener.open(f"{base}/login").read().decode()
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
        body = urllib.parse.urlencode({"email": email, "password": PASSWORD, "csrf_token": token}).encode()
        landed = self.opener.open(f"{base}/login", data=body)
        if "/login" in landed.geturl():
            raise SystemExit(f"could not sign in as {email}")

    def get(self, path: str) -> tuple[float, int]:
        started = time.perf_counter()
        with self.opener.open(f"{self.base}{path}") as response:
            size = len(response.read())
            status = response.status
        elapsed = (time.perf_counter() - started) * 1000
        if status != 200:
            raise SystemExit(f"{path}: HTTP {status}")
        return elapsed, size


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(round(0.95 * len(ordered))) - 1)]


def measure(client: Client, paths, runs: int) -> tuple[float, float, float]:
    """p50 and p95 in ms over ``runs`` requests (after 3 to warm each worker), and the mean size in KB."""
    pick = paths if callable(paths) else (lambda: paths)
    for _ in range(3):
        client.get(pick())
    times, sizes = [], []
    for _ in range(runs):
        elapsed, size = client.get(pick())
        times.append(elapsed)
        sizes.append(size)
    return (*percentiles(times), statistics.mean(sizes) / 1024)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    url = os.environ.get("DATABASE_URL")
    why = refusal(url, args.force)
    if why:
        print(f"bench_scale: {why}", file=sys.stderr)
        return 2
    logging.basicConfig(format="  %(message)s")
    logging.getLogger("registry.seed.synthetic").setLevel(logging.INFO)  # the seeding's phases
    load = os.getloadavg()[0]
    print(f"Scale benchmark: {args.systems:,} systems on {make_url(url).render_as_string(hide_password=True)}, "
          f"{args.runs} requests per figure, gunicorn {args.workers} workers; {os.cpu_count()} CPUs, "
          f"load average {load:.1f} at the start")
    create_database(url)
    server = None
    try:
        seconds, ids, counts = seed(url, args.systems)
        print(f"seeding {args.systems:,} systems: {seconds:.1f} s (target <= {TARGET_SEED_S} s); rows: "
              + ", ".join(f"{table} {n:,}" for table, n in counts.items()))
        port = free_port()
        server = serve(url, port, args.workers)
        base = f"http://127.0.0.1:{port}"
        executive, officer = Client(base, EXECUTIVE), Client(base, OFFICER)
        rng = random.Random(17)
        deep = max(1, (len(ids) // 25) * 3 // 4)  # three quarters of the way through, 25 a page
        figures = [
            ("inventory list", executive, "/systems"),
            ("inventory list, search q=claims", executive, "/systems?q=claims"),
            ("inventory list, search q=route planner #12", executive, "/systems?q=route+planner+%2312"),
            (f"inventory list, page {deep:,} sorted by -tier", executive, f"/systems?page={deep}&sort=-tier"),
            ("system page (random systems)", executive, lambda: f"/systems/{rng.choice(ids)}"),
            ("review queue (compliance officer)", officer, "/review"),
            ("portfolio dashboard (executive)", executive, "/portfolio"),
        ]
        rows = []
        for label, client, paths in figures:
            rows.append((label, *measure(client, paths, args.runs)))
        print(f"\n{'figure':48} {'p50 ms':>8} {'p95 ms':>8} {'KB':>8}")
        for label, p50, p95, kb in rows:
            print(f"{label:48} {p50:8.1f} {p95:8.1f} {kb:8.1f}")
        worst = max(p95 for _label, _p50, p95, _kb in rows)
        met = seconds <= TARGET_SEED_S and worst <= TARGET_P95_MS
        print(f"\ntargets: seeding {seconds:.1f} <= {TARGET_SEED_S} s, worst page p95 {worst:.1f} <= "
              f"{TARGET_P95_MS} ms: {'MET' if met else 'NOT MET'} (load average now {os.getloadavg()[0]:.1f})")
        return 0 if met else 1
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        if not args.keep:
            drop_database(url)
            print(f"dropped the database {make_url(url).database!r}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
