"""A metric's chart as numbers: observations, baseline, target and band scaled to an SVG's box, so the
Jinja macro (``templates/monitoring/_chart.html``) only draws.  Pure: no database, no Flask."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime

from registry.monitoring.drift import Band
from registry.templating import format_number

WIDTH, HEIGHT = 640, 240
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 16, 40  # room for the axes' labels


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    value: float
    observed_at: datetime
    breach: bool


@dataclass
class Chart:
    width: int
    height: int
    points: list[Point]
    unit: str
    baseline_y: float | None = None
    target_y: float | None = None
    band_top: float | None = None  # the band as a rectangle (y of its upper and lower edge, clipped)
    band_bottom: float | None = None
    x_ticks: list[tuple[float, str]] = field(default_factory=list)
    y_ticks: list[tuple[float, str]] = field(default_factory=list)
    plot: tuple[float, float, float, float] = (LEFT, TOP, WIDTH - RIGHT, HEIGHT - BOTTOM)

    @property
    def breaches(self) -> list[Point]:
        return [p for p in self.points if p.breach]

    @property
    def line(self) -> str:
        return " ".join(f"{p.x:.1f},{p.y:.1f}" for p in self.points)


def _nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    span = high - low
    raw = span / max(count - 1, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next((m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw), raw)
    first = (low // step) * step
    ticks, value = [], first
    while value <= high + step * 1e-9 and len(ticks) < 12:
        if value >= low - step * 1e-9:
            ticks.append(round(value, 10))
        value += step
    return ticks


def build_chart(points: list[tuple[datetime, float]], *, unit: str, baseline: float | None, target: float | None,
                band: Band | None, breaches: set[datetime] | None = None, width: int = WIDTH,
                height: int = HEIGHT) -> Chart:
    """``points`` (observed_at, value) in any order; ``breaches``: the moments that breach (from
    ``drift.breaches_in``, so the chart marks exactly what the rule counts)."""
    ordered = sorted(points, key=lambda p: p[0])
    breaches = breaches or set()
    values = [v for _, v in ordered] + [v for v in (baseline, target) if v is not None]
    if band is not None:
        values += [v for v in (band.low, band.high) if v is not None]
    left, top, right, bottom = LEFT, TOP, width - RIGHT, height - BOTTOM
    chart = Chart(width, height, [], unit, plot=(left, top, right, bottom))
    if not values:
        return chart
    low, high = min(values), max(values)
    pad = (high - low) * 0.08 or (abs(high) * 0.1 or 1.0)
    low, high = low - pad, high + pad

    def y_of(value: float) -> float:
        return bottom - (value - low) / (high - low) * (bottom - top)

    if ordered:
        start, end = ordered[0][0], ordered[-1][0]
        span = (end - start).total_seconds()

        def x_of(moment: datetime) -> float:
            return (left + right) / 2 if span == 0 else left + (moment - start).total_seconds() / span * (right - left)

        chart.points = [Point(round(x_of(at), 1), round(y_of(v), 1), v, at, at in breaches) for at, v in ordered]
        ticks = [ordered[0][0]] if span == 0 else [start + (end - start) * i / 3 for i in range(4)]
        chart.x_ticks = [(round(x_of(t), 1), t.date().isoformat()) for t in ticks]
    chart.baseline_y = round(y_of(baseline), 1) if baseline is not None else None
    chart.target_y = round(y_of(target), 1) if target is not None else None
    if band is not None:
        chart.band_top = round(y_of(band.high), 1) if band.high is not None else top
        chart.band_bottom = round(y_of(band.low), 1) if band.low is not None else bottom
    chart.y_ticks = [(round(y_of(v), 1), format_number(v)) for v in _nice_ticks(low, high)]
    return chart


def chart_from_snapshot(entry: dict, **kw) -> Chart:
    """The chart of one ``monitoring_snapshot`` entry (the audit PDF draws it from the decision's snapshot)."""
    points = [(datetime.fromisoformat(at), value) for at, value, _breach in entry.get("observations", [])]
    breaches = {datetime.fromisoformat(at) for at, _value, breach in entry.get("observations", []) if breach}
    band = Band(*entry["band"]) if entry.get("band") else None
    return build_chart(points, unit=entry.get("unit", ""), baseline=entry.get("baseline"), target=entry.get("target"),
                       band=band, breaches=breaches, **kw)
