"""pass@1, pass^k and compounded step success: pure arithmetic, no database.

pass^k is the chance that *all* k independent tries of a task succeed (the release gate of
shared/seeds/003), estimated without bias from n recorded trials with c successes per task as
C(c, k) / C(n, k), averaged over the tasks.  A task with fewer than k trials says nothing about
k tries: when any task has n < k the figure is "not enough trials" (None), never a number.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from math import comb, prod

MAX_K = 8


@dataclass(frozen=True)
class TaskTally:
    task_id: str
    trials: int
    passed: int


def tally(trials: Iterable[tuple[str, bool]]) -> list[TaskTally]:
    """(task id, passed) per trial → one tally per task, in task order."""
    counts: dict[str, list[int]] = {}
    for task_id, passed in trials:
        entry = counts.setdefault(task_id, [0, 0])
        entry[0] += 1
        entry[1] += 1 if passed else 0
    return [TaskTally(task, n, c) for task, (n, c) in sorted(counts.items())]


def task_pass_hat(task: TaskTally, k: int) -> float | None:
    """C(c, k) / C(n, k) for one task, or None when it has fewer than k trials."""
    if k < 1:
        raise ValueError("k must be at least 1")
    if task.trials < k:
        return None
    return comb(task.passed, k) / comb(task.trials, k)


def pass_hat_k(tasks: Sequence[TaskTally], k: int) -> float | None:
    """pass^k over the tasks (the mean of each task's estimate); None without tasks or when a
    task has fewer than k trials."""
    if not tasks:
        return None
    per_task = [task_pass_hat(t, k) for t in tasks]
    if any(v is None for v in per_task):
        return None
    return sum(per_task) / len(per_task)


def pass_at_1(tasks: Sequence[TaskTally]) -> float | None:
    """The mean per-task success rate (pass^1)."""
    return pass_hat_k(tasks, 1)


def curve(tasks: Sequence[TaskTally], max_k: int = MAX_K) -> list[tuple[int, float | None]]:
    """(k, pass^k) for k = 1..max_k."""
    return [(k, pass_hat_k(tasks, k)) for k in range(1, max_k + 1)]


def compounded(step_rates: Sequence[float]) -> float | None:
    """The chance that a workflow of these independent steps succeeds end to end (their product):
    0.95 per step over 20 steps is about 0.36."""
    if not step_rates:
        return None
    if any(not 0 <= r <= 1 for r in step_rates):
        raise ValueError("a step's success rate is between 0 and 1")
    return prod(step_rates)


def meets(measured: float | None, threshold: float) -> bool:
    """The release gate's one comparison: a measured pass^k reaches the threshold (not enough
    trials never does); a hair of float rounding is not a miss."""
    return measured is not None and measured >= threshold - 1e-12


def gate_met(tasks: Sequence[TaskTally], k: int, threshold: float) -> tuple[bool, float | None]:
    """Whether pass^k reaches the threshold, and the measured figure (None: not enough trials)."""
    measured = pass_hat_k(tasks, k)
    return meets(measured, threshold), measured
