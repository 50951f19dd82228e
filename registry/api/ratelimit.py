"""Requests per API token per minute: a fixed window, counted in this process or, when Redis is
configured, in Redis (so that every worker of a deployment shares the count)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

WINDOW_SECONDS = 60


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    remaining: int
    retry_after: int  # seconds until the window resets


class MemoryLimiter:
    """Counts per key in this process (one web process, the tests)."""

    def __init__(self, window: int = WINDOW_SECONDS, clock=time.time):
        self.window, self.clock = window, clock
        self._counts: dict[str, tuple[int, int]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str, limit: int) -> Verdict:
        now = self.clock()
        window = int(now // self.window)
        with self._lock:
            if len(self._counts) > 10_000:  # forget finished windows
                self._counts = {k: v for k, v in self._counts.items() if v[0] == window}
            seen_window, count = self._counts.get(key, (window, 0))
            count = count + 1 if seen_window == window else 1
            self._counts[key] = (window, count)
        return _verdict(count, limit, now, self.window)


class RedisLimiter:
    """Counts per key in Redis: INCR of the window's key, which expires with the window."""

    def __init__(self, connection, window: int = WINDOW_SECONDS, clock=time.time):
        self.connection, self.window, self.clock = connection, window, clock

    def hit(self, key: str, limit: int) -> Verdict:
        now = self.clock()
        name = f"registry:api-rate:{key}:{int(now // self.window)}"
        pipe = self.connection.pipeline()
        pipe.incr(name)
        pipe.expire(name, self.window + 1)
        count = int(pipe.execute()[0])
        return _verdict(count, limit, now, self.window)


def _verdict(count: int, limit: int, now: float, window: int) -> Verdict:
    retry = max(1, int(window - now % window + 0.999))
    return Verdict(count <= limit, max(0, limit - count), retry)
