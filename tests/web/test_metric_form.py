"""The metric form says what is wrong with an impossible value, beside the field, and keeps the page whole."""

from __future__ import annotations

import re

from tests.conftest import make_system


def test_an_impossible_value_is_a_field_error_on_the_form(session, people, as_role):
    owner = as_role("owner")
    system = make_system(session, people["owner"])
    url = f"/systems/{system.id}/metrics/new"
    form = {"name": "Precision", "unit": "%", "baseline": "1e308", "measured_on": "1900-01-01", "target": "80",
            "direction": "higher"}
    response = owner.post(url, form)
    page = re.sub(r"\s+", " ", response.get_data(as_text=True))
    assert response.status_code == 422
    assert "A percentage between −1,000 and 1,000: check the value." in page
    assert "A date from 2000-01-01 on." in page
    assert 'value="1e308"' in page or 'value="1e+308"' in page  # the input is kept to correct
