"""pass@1, pass^k and compounded success, with the expected values worked out by hand here."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from registry.reliability.passk import (
    MAX_K,
    TaskTally,
    compounded,
    curve,
    gate_met,
    pass_at_1,
    pass_hat_k,
    tally,
    task_pass_hat,
)


def test_twenty_steps_at_95_percent_succeed_end_to_end_about_36_percent_of_the_time():
    # 0.95^20 = exp(20 ln 0.95) = exp(20 × -0.0512933) = exp(-1.025866) = 0.358486
    assert compounded([0.95] * 20) == pytest.approx(0.358486, abs=1e-6)
    assert compounded([0.9, 0.5]) == pytest.approx(0.45)
    assert compounded([]) is None
    with pytest.raises(ValueError):
        compounded([0.9, 1.2])


def test_a_task_that_never_succeeds_is_zero_for_every_k_and_one_that_always_does_is_one():
    never, always = TaskTally("never", 8, 0), TaskTally("always", 8, 8)
    assert [v for _, v in curve([never])] == [0.0] * 8
    assert [v for _, v in curve([always])] == [1.0] * 8


def test_the_mixed_example_by_hand():
    task = TaskTally("refund", 5, 3)
    # C(3,1)/C(5,1) = 3/5; C(3,2)/C(5,2) = 3/10; C(3,3)/C(5,3) = 1/10; C(3,4) = 0; C(5,5)... all 0 after
    assert task_pass_hat(task, 1) == pytest.approx(0.6)
    assert task_pass_hat(task, 2) == pytest.approx(0.3)
    assert task_pass_hat(task, 3) == pytest.approx(0.1)
    assert task_pass_hat(task, 4) == 0 and task_pass_hat(task, 5) == 0
    assert task_pass_hat(task, 6) is None  # five trials say nothing about six tries


def test_fewer_trials_than_k_is_not_enough_trials_for_the_whole_curve_from_that_k():
    tasks = [TaskTally("a", 8, 6), TaskTally("b", 3, 3)]
    values = dict(curve(tasks))
    assert all(values[k] is not None for k in (1, 2, 3))
    assert all(values[k] is None for k in range(4, MAX_K + 1))
    assert pass_hat_k([], 1) is None and pass_at_1([]) is None


def test_averaging_over_tasks_by_hand():
    tasks = tally([("a", True), ("a", True), ("a", False), ("a", True),  # n=4, c=3
                   ("b", False), ("b", True), ("b", False), ("b", False)])  # n=4, c=1
    assert tasks == [TaskTally("a", 4, 3), TaskTally("b", 4, 1)]
    # pass^1: (3/4 + 1/4) / 2 = 0.5;  pass^2: (C(3,2)/C(4,2) + 0) / 2 = (3/6) / 2 = 0.25
    # pass^3: (C(3,3)/C(4,3) + 0) / 2 = (1/4) / 2 = 0.125;  pass^4: 0
    assert pass_at_1(tasks) == pytest.approx(0.5)
    assert pass_hat_k(tasks, 2) == pytest.approx(0.25)
    assert pass_hat_k(tasks, 3) == pytest.approx(0.125)
    assert pass_hat_k(tasks, 4) == 0


def test_the_gate_compares_pass_k_with_the_threshold():
    tasks = [TaskTally("a", 4, 3), TaskTally("b", 4, 1)]
    assert gate_met(tasks, 2, 0.25) == (True, pytest.approx(0.25))
    assert gate_met(tasks, 2, 0.26) == (False, pytest.approx(0.25))
    assert gate_met(tasks, 5, 0.1) == (False, None)  # not enough trials is never "met"
    with pytest.raises(ValueError):
        task_pass_hat(tasks[0], 0)


tallies = st.lists(st.integers(1, 40).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n))), min_size=1,
                   max_size=12)


@given(tallies)
def test_pass_k_never_increases_with_k_and_stays_between_0_and_1(pairs):
    tasks = [TaskTally(f"t{i}", n, c) for i, (n, c) in enumerate(pairs)]
    values = [v for _, v in curve(tasks)]
    numbers = [v for v in values if v is not None]
    assert all(0 <= v <= 1 for v in numbers)
    assert all(later <= earlier for earlier, later in zip(numbers, numbers[1:], strict=False))
    # once not enough trials, never a number again (k only grows)
    first_none = next((i for i, v in enumerate(values) if v is None), len(values))
    assert all(v is None for v in values[first_none:])
    assert first_none == min(min(n for n, _ in pairs), MAX_K)


@given(st.lists(st.floats(0, 1), min_size=1, max_size=50))
def test_compounded_is_the_product_and_never_above_the_weakest_step(rates):
    total = compounded(rates)
    assert 0 <= total <= min(rates) + 1e-12
    assert total == pytest.approx(math.prod(rates))
