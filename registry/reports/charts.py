"""Chart data for server-side SVG (the page and the PDF draw the same picture)."""

from __future__ import annotations


def metric_rows(metrics: list[dict]) -> list[dict]:
    """Baseline against target per metric, each row on its own scale (units differ).

    ``baseline_pct`` and ``target_pct`` are bar lengths in percent of the row's larger value;
    rows missing both values are listed with no bars.
    """
    rows = []
    for m in metrics:
        baseline, target = m.get("baseline"), m.get("target")
        values = [abs(v) for v in (baseline, target) if isinstance(v, int | float)]
        top = max(values) if values else 0
        rows.append({
            "name": m.get("metric") or "", "unit": m.get("unit") or "", "direction": m.get("direction") or "",
            "baseline": baseline, "target": target,
            "baseline_pct": round(abs(baseline) / top * 100, 1) if top and baseline is not None else 0,
            "target_pct": round(abs(target) / top * 100, 1) if top and target is not None else 0,
        })
    return rows
