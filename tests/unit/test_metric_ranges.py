"""Baseline metrics take values a measurement can have, with a clear message per field; numbers
are shown at a sensible precision."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from registry.errors import ValidationFailed
from registry.inventory.services import add_metric
from registry.templating import format_number as _fmt_number
from tests.conftest import make_system

GOOD = {"name": "Precision", "unit": "%", "baseline": 61.5, "measured_on": "2026-01-10", "target": 80,
        "direction": "higher"}


@pytest.mark.parametrize(("change", "field", "message"), [
    ({"baseline": 1e308, "unit": "EUR"}, "baseline", "At most a trillion"),
    ({"baseline": -99_999_999_999}, "baseline", "A percentage between −1,000 and 1,000"),
    ({"target": 1001}, "target", "A percentage between"),
    ({"baseline": float("inf")}, "baseline", ""),
    ({"baseline": float("nan")}, "baseline", ""),
    ({"measured_on": "1900-01-01"}, "measured_on", "A date from 2000-01-01 on."),
    ({"measured_on": (date.today() + timedelta(days=2)).isoformat()}, "measured_on", "cannot be measured in the future"),
])
def test_values_a_measurement_cannot_have_are_refused_by_field(session, people, change, field, message):
    system = make_system(session, people["owner"])
    with pytest.raises(ValidationFailed) as err:
        add_metric(session, people["owner"], system.id, {**GOOD, **change})
    assert field in err.value.errors and message in " ".join(err.value.errors[field])


def test_sensible_values_are_kept(session, people):
    system = make_system(session, people["owner"])
    metric = add_metric(session, people["owner"], system.id, {**GOOD, "baseline": -100, "target": 250})
    assert (metric.baseline_value, metric.target_value) == (-100, 250)
    money = add_metric(session, people["owner"], system.id, {**GOOD, "unit": "EUR", "baseline": 999_999_999_999})
    assert money.baseline_value == 999_999_999_999


@pytest.mark.parametrize(("value", "shown"), [
    (61.5, "61.5"), (1200, "1,200"), (0.000123, "0.000123"), (0.5, "0.5"), (1234.5678, "1,234.57"),
    (999_999_999_999, "999,999,999,999"), (1e300, "1e+300"), (0.00001234, "1.23e-05"), (None, "—"),
])
def test_numbers_are_shown_at_a_sensible_precision(value, shown):
    assert _fmt_number(value) == shown
