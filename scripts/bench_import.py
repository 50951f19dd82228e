"""Import benchmark: the 2025 US federal inventory (3,611 rows) and a 10,000-row file of the same
layout, read, planned and committed into a fresh database, then imported again (nothing changes).

Targets (issue 14): 10,000 rows validated and committed in <= 3 s on SQLite; the federal file in
<= 5 s.  The federal file comes from FEDERAL_AI_INVENTORY_CSV or ../shared/reference.
"""

from __future__ import annotations

import csv
import io
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from registry import create_app  # noqa: E402
from registry.imports.reader import read_table  # noqa: E402
from registry.imports.services import commit_import, plan_import, resolve_mapping  # noqa: E402
from registry.migrate import fresh_database  # noqa: E402

FEDERAL = Path(os.environ.get("FEDERAL_AI_INVENTORY_CSV",
                              ROOT.parent / "shared" / "reference" / "2025_individually_reported_AI_use_cases.csv"))


def ten_thousand(data: bytes) -> bytes:
    """The federal rows repeated with distinct ids (and names) up to 10,000 rows."""
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    for i in range(10_000):
        row = dict(rows[i % len(rows)])
        row["id"] = f"BENCH-{i:05d}"
        row["use_case_name"] = f"{row['use_case_name'][:250]} ({i})"
        writer.writerow(row)
    return out.getvalue().encode("utf-8")


def run(app, data: bytes, name: str) -> tuple[float, float, dict]:
    write, _read = app.extensions["registry.sessions"]
    with app.app_context(), write() as session:
        started = time.perf_counter()
        table = read_table(data, name)
        mapping, layout = resolve_mapping(session, table, None)
        plan = plan_import(session, table, mapping, layout=layout)
        counts = commit_import(session, None, plan, only_valid=True, actor_label="bench")
        session.commit()
        first = time.perf_counter() - started
        started = time.perf_counter()
        again = plan_import(session, read_table(data, name), mapping, layout=layout)
        second = time.perf_counter() - started
        assert again.counts["create"] == again.counts["update"] == 0, again.counts
    return first, second, counts


def main() -> int:
    if not FEDERAL.exists():
        print(f"import benchmark skipped: {FEDERAL} not found")
        return 0
    data = FEDERAL.read_bytes()
    results = {}
    for label, payload, name in (("federal 2025 (3,611 rows)", data, FEDERAL.name),
                                 ("10,000 rows", ten_thousand(data), "ten-thousand.csv")):
        url = fresh_database(f"{tempfile.mkdtemp(prefix='registry-bench-import-')}/bench.sqlite3")
        app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench"})
        first, second, counts = run(app, payload, name)
        app.extensions["registry.engine"].dispose()
        results[label] = first
        print(f"import {label}: read, planned and committed in {first:.2f} s ({counts['created']:,} created, "
              f"{counts['skipped']} skipped); the same file again planned in {second:.2f} s, nothing to change")
    ok = results["federal 2025 (3,611 rows)"] <= 5 and results["10,000 rows"] <= 3
    print(f"targets: federal file {results['federal 2025 (3,611 rows)']:.2f} ≤ 5 s, 10,000 rows "
          f"{results['10,000 rows']:.2f} ≤ 3 s: {'MET' if ok else 'NOT MET'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
