"""Replaying the demo's past work in date order, through the ordinary services.

Each piece of demo work is a *strand*: a generator that yields the time of its next step and,
when resumed, takes that step (a service call dated then) and plans the next one.  ``Replay``
runs the steps of every strand in time order, ties in the order they were scheduled, so the
audit chain (ordered by sequence number) is in time order too: an event is never dated before
the one appended ahead of it.  A step may schedule further strands (a system's readiness work
once it is registered); their first step must not be dated before it.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta

from registry.errors import DomainError, ValidationFailed

Strand = Iterator[datetime]
WORK_STARTS, WORK_ENDS = time(9, 30, tzinfo=UTC), time(18, 30, tzinfo=UTC)


def moment(day: date, at: time) -> datetime:
    return datetime.combine(day, at)


class Track:
    """The clock of one strand of work: each step a little after the previous one, never before
    what it depends on, in working hours, and always before ``end`` (the decision, or the load day)."""

    def __init__(self, start: datetime, end: datetime):
        self.t, self.end = start, end

    def at(self, gap: timedelta = timedelta(minutes=5), not_before: datetime | None = None) -> datetime:
        self.t = max(self.t + gap, not_before or self.t)
        if self.t.timetz() > WORK_ENDS:
            self.t = datetime.combine(self.t.date() + timedelta(days=1), WORK_STARTS)
        elif self.t.timetz() < WORK_STARTS:
            self.t = datetime.combine(self.t.date(), WORK_STARTS)
        if self.t >= self.end:
            raise ValidationFailed(f"the work it depends on (dated up to {self.t:%Y-%m-%d %H:%M}) does not fit "
                                   f"before {self.end:%Y-%m-%d %H:%M}, the decision or the day the demo is loaded.")
        return self.t


@contextmanager
def _named(label: str):
    """Errors of a strand's step name the entry it comes from."""
    try:
        yield
    except DomainError as err:
        raise ValidationFailed(f"{label}: {err.message}", errors=err.errors) from err
    except (KeyError, TypeError, ValueError) as err:
        raise ValidationFailed(f"{label}: malformed entry ({err!r}).") from err


class Replay:
    def __init__(self, start: datetime):
        self.now = start  # the time of the last step taken
        self._queue: list[tuple[datetime, int, str, Strand]] = []
        self._waiting: list[tuple[str, Strand]] = []
        self._order = itertools.count()

    def schedule(self, strand: Strand, label: str) -> None:
        """Add a strand (``label`` names it in errors); it starts once the current step is taken."""
        self._waiting.append((label, strand))

    def run(self) -> None:
        self._admit()
        while self._queue:
            when, _, label, strand = heapq.heappop(self._queue)
            self.now = when
            self._advance(label, strand)
            self._admit()

    def _admit(self) -> None:
        while self._waiting:  # a strand may schedule others as it starts
            self._advance(*self._waiting.pop(0))

    def _advance(self, label: str, strand: Strand) -> None:
        """Take the strand's pending step (if it has one) and queue its next."""
        with _named(label):
            when = next(strand, None)
        if when is None:
            return
        if when < self.now:
            raise ValidationFailed(f"{label}: a step dated {when:%Y-%m-%d %H:%M} would come after one dated "
                                   f"{self.now:%Y-%m-%d %H:%M} that it depends on (its registration, or the "
                                   "step before it).")
        heapq.heappush(self._queue, (when, next(self._order), label, strand))
