"""Prometheus metrics in the text exposition format, written by hand (a few counters, one histogram,
a few gauges).  Counts are kept in this process: with several gunicorn workers each worker has its
own, and a scrape sees the worker that answered it (see README, Operations)."""

from __future__ import annotations

import threading
from collections import defaultdict

from rq import Queue
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from registry.audit.models import AuditEvent
from registry.imports.runner import QUEUE_NAME as IMPORT_QUEUE
from registry.ops.health import redis_client
from registry.reports.bulk import QUEUE_NAME as EXPORT_QUEUE

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}
QUEUES = (EXPORT_QUEUE, IMPORT_QUEUE)  # the RQ queues `registry report worker` serves
UNMATCHED = "unmatched"  # a path no route matched (404s): one label, whatever the path


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(**labels: str) -> str:
    return "{" + ",".join(f'{k}="{_label(v)}"' for k, v in labels.items()) + "}"


def _number(value: float) -> str:
    return repr(float(value)) if isinstance(value, float) else str(value)


class RequestMetrics:
    """Request counts by (route, method, status class) and a latency histogram per route.  The
    route is the URL rule (``/systems/<int:system_id>``), never the raw path, so ids do not
    multiply the series."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, str, str], int] = defaultdict(int)
        self._buckets: dict[str, list[int]] = {}
        self._sums: dict[str, float] = defaultdict(float)
        self._totals: dict[str, int] = defaultdict(int)

    def observe(self, route: str | None, method: str, status: int, seconds: float) -> None:
        route = route or UNMATCHED
        method = method if method in METHODS else "OTHER"
        with self._lock:
            self._counts[(route, method, f"{status // 100}xx")] += 1
            buckets = self._buckets.setdefault(route, [0] * len(BUCKETS))
            for i, bound in enumerate(BUCKETS):
                if seconds <= bound:
                    buckets[i] += 1
            self._sums[route] += seconds
            self._totals[route] += 1

    def lines(self) -> list[str]:
        with self._lock:
            counts = sorted(self._counts.items())
            histograms = sorted((r, list(b), self._sums[r], self._totals[r]) for r, b in self._buckets.items())
        out = ["# HELP registry_http_requests_total HTTP requests answered by this process.",
               "# TYPE registry_http_requests_total counter"]
        out += [f"registry_http_requests_total{_labels(route=r, method=m, status=s)} {n}" for (r, m, s), n in counts]
        out += ["# HELP registry_http_request_duration_seconds Time to answer a request, by route.",
                "# TYPE registry_http_request_duration_seconds histogram"]
        for route, buckets, total_seconds, total in histograms:
            for bound, n in zip(BUCKETS, buckets, strict=True):
                out.append(f"registry_http_request_duration_seconds_bucket{_labels(route=route, le=repr(bound))} {n}")
            out.append(f"registry_http_request_duration_seconds_bucket{_labels(route=route, le='+Inf')} {total}")
            out.append(f"registry_http_request_duration_seconds_sum{_labels(route=route)} {total_seconds!r}")
            out.append(f"registry_http_request_duration_seconds_count{_labels(route=route)} {total}")
        return out


def audit_chain_length(engine: Engine) -> int:
    """The newest audit event's sequence number (0 for an empty trail): one indexed MAX."""
    with engine.connect() as conn:
        return int(conn.scalar(select(func.coalesce(func.max(AuditEvent.seq), 0))) or 0)


def queue_depths(redis_url: str) -> dict[str, int]:
    connection = redis_client(redis_url)
    return {name: Queue(name, connection=connection).count for name in QUEUES}


def gauge(name: str, help_text: str, values: dict[str, int] | int, label: str = "") -> list[str]:
    out = [f"# HELP {name} {help_text}", f"# TYPE {name} gauge"]
    if isinstance(values, dict):
        out += [f"{name}{_labels(**{label: key})} {_number(v)}" for key, v in sorted(values.items())]
    else:
        out.append(f"{name} {_number(values)}")
    return out


def exposition(requests: RequestMetrics, engine: Engine, redis_url: str | None) -> str:
    """The whole scrape.  A part that cannot be read (database or Redis down) is left out and
    counted in ``registry_scrape_errors``; the scrape itself always answers."""
    out = requests.lines()
    errors: dict[str, int] = {}
    try:
        out += gauge("registry_audit_chain_length", "Sequence number of the newest audit event.",
                     audit_chain_length(engine))
    except Exception:  # noqa: BLE001 - a scrape reports, never fails
        errors["audit"] = 1
    if redis_url:
        try:
            depths = queue_depths(redis_url)
            up = 1
        except Exception:  # noqa: BLE001
            depths, up = {}, 0
            errors["redis"] = 1
        out += gauge("registry_redis_up", "Whether Redis answered this scrape.", up)
        if depths:
            out += gauge("registry_job_queue_depth", "Jobs waiting in each RQ queue.", depths, "queue")
    out += gauge("registry_scrape_errors", "Parts of this scrape that could not be read.",
                 {part: errors.get(part, 0) for part in ("audit", "redis")}, "part")
    return "\n".join(out) + "\n"
