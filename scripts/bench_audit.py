"""Audited writes per second with 1 and with 8 concurrent writers, on SQLite and on PostgreSQL.

Each writer is a process of its own (no shared GIL) with its own app and sessions, and does real
audited writes through the services for ``BENCH_AUDIT_SECONDS`` (20 s by default): an edit of one
of its own systems (``update_system``, one transaction, one ``system.update`` event each).  Reports
writes/s, p50/p95 latency per write, and around the chain lock: how long a write waited for it and
how long it held it (from the moment it had it to the end of its commit, when it is released), and
the lock's utilisation (the time it was held over the run's wall time: near 100 % means the lock is
the bottleneck and more writers cannot go faster).  ``wait max`` shows starvation: SQLite's busy
handler polls with growing sleeps instead of queueing, so a writer can wait far longer than the
percentiles suggest while the others take turns.

The chain lock is PostgreSQL's transaction advisory lock (``registry.audit.chain.lock_chain``);
on SQLite the database's own write lock, taken at ``BEGIN IMMEDIATE``, serialises every write
transaction, chain or not.  Both are timed from the statements themselves (a cursor event).

Afterwards ``registry audit verify`` must pass on the database (links, hashes, signatures,
checkpoints) and the chain must have exactly one new event per successful write.

  BENCH_AUDIT_BACKENDS  sqlite,postgresql (default both)
  BENCH_AUDIT_WRITERS   1,8 (default: one run with 1 writer, one with 8)
  BENCH_AUDIT_SECONDS   20
  BENCH_AUDIT_PG        postgresql+psycopg://postgres@127.0.0.1:5432/benchaudit (created and dropped
                        through the server's ``postgres`` database)
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, event, make_url, select, text  # noqa: E402
from sqlalchemy.pool import NullPool  # noqa: E402

BACKENDS = os.environ.get("BENCH_AUDIT_BACKENDS", "sqlite,postgresql").split(",")
WRITERS = [int(n) for n in os.environ.get("BENCH_AUDIT_WRITERS", "1,8").split(",")]
SECONDS = float(os.environ.get("BENCH_AUDIT_SECONDS", "20"))
PG_URL = os.environ.get("BENCH_AUDIT_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/benchaudit")
AUDIT_KEY = "bench-audit-key-0123456789abcdef0123456789abcdef"
SYSTEMS_PER_WRITER = 4  # each writer edits its own systems in turn: no row conflicts between writers
LOCK_STATEMENTS = ("SELECT pg_advisory_xact_lock", "BEGIN IMMEDIATE")


def app_config(url: str) -> dict:
    return {"DATABASE_URL": url, "SECRET_KEY": "bench", "AUDIT_KEY": AUDIT_KEY, "REDIS_URL": None}


# -- the database --------------------------------------------------------------------------------

def _maintenance(url: str):
    return create_engine(make_url(url).set(database="postgres"), poolclass=NullPool, isolation_level="AUTOCOMMIT")


def create_database(backend: str, folder: Path) -> str:
    from registry.migrate import upgrade

    if backend == "sqlite":
        url = f"sqlite:///{folder / 'benchaudit.sqlite3'}"
    else:
        url = PG_URL
        name = make_url(url).database
        engine = _maintenance(url)
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        engine.dispose()
    upgrade(url)
    return url


def drop_database(backend: str, url: str) -> None:
    if backend == "postgresql":
        engine = _maintenance(url)
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))
        engine.dispose()


def seed(url: str, systems: int) -> tuple[int, list[int]]:
    """An admin (who may edit any system) and ``systems`` synthetic systems; (admin id, system ids)."""
    from registry import create_app
    from registry.auth.services import create_user
    from registry.controls.catalogue import load_default_catalogues
    from registry.inventory.models import AISystem
    from registry.seed.synthetic import seed_synthetic

    app = create_app(app_config(url))
    with app.extensions["registry.sessions"][0]() as session:
        load_default_catalogues(session)
        session.commit()
        seed_synthetic(session, systems)
        admin = create_user(session, None, email="bench-admin@example.test", name="Bench Admin", role="admin",
                            password="benchmark-password-123")
        session.commit()
        ids = list(session.scalars(select(AISystem.id).order_by(AISystem.id)))
        admin_id = admin.id
    app.extensions["registry.engine"].dispose()
    return admin_id, ids


def event_count(url: str) -> int:
    engine = create_engine(url, poolclass=NullPool)
    with engine.connect() as conn:
        n = conn.scalar(text("SELECT count(*) FROM audit_events"))
    engine.dispose()
    return n


# -- one writer (a process) ----------------------------------------------------------------------

def writer(url: str, admin_id: int, system_ids: list[int], n: int, ready, go, out) -> None:
    """Build the app, say so on ``ready``, wait for ``go``, then edit ``system_ids`` in turn for SECONDS;
    put (latencies, lock waits, lock holds, errors, conflicts, elapsed) on ``out``."""
    from registry import create_app
    from registry.auth.models import User
    from registry.errors import Conflict
    from registry.inventory.models import AISystem
    from registry.inventory.services import system_payload, update_system

    app = create_app(app_config(url))
    factory = app.extensions["registry.sessions"][0]
    engine = app.extensions["registry.engine"]
    marks: dict[str, float] = {}

    @event.listens_for(engine, "before_cursor_execute")
    def _before(conn, cursor, statement, params, context, executemany):
        if statement.startswith(LOCK_STATEMENTS) and "asked" not in marks:
            marks["asked"] = time.perf_counter()

    @event.listens_for(engine, "after_cursor_execute")
    def _after(conn, cursor, statement, params, context, executemany):
        if statement.startswith(LOCK_STATEMENTS) and "got" not in marks:
            marks["got"] = time.perf_counter()

    latencies, waits, holds, errors, conflicts = [], [], [], [], 0
    i = 0
    ready.put(n)
    go.wait()
    began = time.perf_counter()
    deadline = began + SECONDS
    while time.perf_counter() < deadline:
        sid = system_ids[i % len(system_ids)]
        marks.clear()
        started = time.perf_counter()
        try:
            with factory() as session:
                actor = session.get(User, admin_id)
                system = session.get(AISystem, sid)
                payload = system_payload(system) | {"decisions_influenced": f"writer {n} edit {i}"}
                update_system(session, actor, sid, payload, expected_version=system.version)
                session.commit()
        except Conflict:
            conflicts += 1  # never expected: each writer has its own systems
        except Exception as exc:  # noqa: BLE001 - reported (and failing the run) by the parent
            errors.append(f"{type(exc).__name__}: {exc}"[:300])
        else:
            done = time.perf_counter()
            latencies.append(done - started)
            if "got" in marks:
                waits.append(marks["got"] - marks["asked"])
                holds.append(done - marks["got"])
        i += 1
    elapsed = time.perf_counter() - began
    engine.dispose()
    out.put((latencies, waits, holds, errors, conflicts, elapsed))


# -- one run ---------------------------------------------------------------------------------------

def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, int(round(q * len(ordered))) - 1))] if ordered else float("nan")


def run(url: str, admin_id: int, ids: list[int], writers: int) -> dict:
    ctx = mp.get_context("spawn")
    out, ready, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    before = event_count(url)
    procs = [ctx.Process(target=writer, args=(url, admin_id, ids[n * SYSTEMS_PER_WRITER:(n + 1) * SYSTEMS_PER_WRITER],
                                              n, ready, go, out), daemon=True) for n in range(writers)]
    for p in procs:
        p.start()
    waiting = len(procs)  # every writer imports and builds its app first: then they start together
    while waiting:
        try:
            ready.get(timeout=1)
            waiting -= 1
        except queue.Empty:
            if any(p.exitcode not in (None, 0) for p in procs):
                raise SystemExit("a writer process failed to start (see its traceback above)") from None
    go.set()
    results = [out.get(timeout=SECONDS + 120) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    latencies = [x for r in results for x in r[0]]
    waits = [x for r in results for x in r[1]]
    holds = [x for r in results for x in r[2]]
    errors = [x for r in results for x in r[3]]
    conflicts = sum(r[4] for r in results)
    elapsed = max(r[5] for r in results)
    added = event_count(url) - before
    return {"writers": writers, "writes": len(latencies), "per_s": len(latencies) / elapsed,
            "p50": statistics.median(latencies) if latencies else float("nan"), "p95": pct(latencies, 0.95),
            "wait_p50": statistics.median(waits) if waits else float("nan"), "wait_p95": pct(waits, 0.95),
            "wait_max": max(waits, default=float("nan")),
            "hold_p50": statistics.median(holds) if holds else float("nan"), "hold_p95": pct(holds, 0.95),
            "utilisation": sum(holds) / elapsed, "errors": errors, "conflicts": conflicts,
            "events_added": added}


def verify(url: str) -> tuple[bool, str]:
    """``registry audit verify`` on the database, as an operator would run it."""
    env = {**os.environ, "DATABASE_URL": url, "AUDIT_KEY": AUDIT_KEY, "PYTHONPATH": str(ROOT)}
    env.pop("REDIS_URL", None)
    cli = "import sys; from registry.cli import main; sys.argv[0] = 'registry'; sys.exit(main())"
    done = subprocess.run([sys.executable, "-c", cli, "audit", "verify"], env=env, capture_output=True,
                          text=True, cwd=ROOT, timeout=300)
    return done.returncode == 0, (done.stdout + done.stderr).strip()


def main() -> int:
    failed = False
    print(f"Audit chain under concurrent writers: {', '.join(map(str, WRITERS))} writer process(es), "
          f"{SECONDS:.0f} s each, on {', '.join(BACKENDS)} ({os.cpu_count()} cores; load average "
          f"{os.getloadavg()[0]:.2f} at the start)")
    header = (f"{'backend':<11} {'writers':>7} {'writes':>7} {'writes/s':>9} {'p50 ms':>7} {'p95 ms':>7} "
              f"{'wait p50':>9} {'wait p95':>9} {'wait max':>9} {'hold p50':>9} {'hold p95':>9} {'lock busy':>9}")
    print(header)
    rows = []
    for backend in BACKENDS:
        folder = Path(tempfile.mkdtemp(prefix="registry-bench-audit-"))
        url = create_database(backend, folder)
        try:
            admin_id, ids = seed(url, SYSTEMS_PER_WRITER * max(WRITERS))
            for writers in WRITERS:
                r = run(url, admin_id, ids, writers)
                rows.append((backend, r))
                line = (f"{backend:<11} {writers:>7} {r['writes']:>7} {r['per_s']:>9.1f} {ms(r['p50']):>7} "
                        f"{ms(r['p95']):>7} {ms(r['wait_p50']):>9} {ms(r['wait_p95']):>9} {ms(r['wait_max']):>9} "
                        f"{ms(r['hold_p50']):>9} "
                        f"{ms(r['hold_p95']):>9} {r['utilisation']:>8.0%}")
                print(line, flush=True)
                if r["errors"] or r["conflicts"]:
                    failed = True
                    print(f"  {len(r['errors'])} errors, {r['conflicts']} conflicts; first: {r['errors'][:3]}")
                if r["events_added"] != r["writes"]:
                    failed = True
                    print(f"  {r['events_added']} events added for {r['writes']} writes: expected one each")
            ok, said = verify(url)
            print(f"  {backend}: registry audit verify: {said.splitlines()[-1] if said else '(no output)'}")
            failed |= not ok
        finally:
            drop_database(backend, url)
            shutil.rmtree(folder, ignore_errors=True)
    by = {(b, r["writers"]): r for b, r in rows}
    for backend in BACKENDS:
        if (backend, 1) in by and (backend, max(WRITERS)) in by and max(WRITERS) > 1:
            one, many = by[(backend, 1)], by[(backend, max(WRITERS))]
            print(f"{backend}: {max(WRITERS)} writers do {many['per_s'] / one['per_s']:.2f}x the writes/s of 1; "
                  f"the chain lock is held {many['utilisation']:.0%} of the time with {max(WRITERS)}")
    print("FAILED" if failed else "OK: every write succeeded, one event each, and the chain verifies")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
