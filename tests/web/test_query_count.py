"""List pages cost a constant number of queries, whatever the number of rows."""

from __future__ import annotations

import pytest
from sqlalchemy import event

from tests.conftest import make_system


class QueryCounter:
    def __init__(self, engine):
        self.engine, self.count = engine, 0

    def __enter__(self):
        event.listen(self.engine, "before_cursor_execute", self._hit)
        return self

    def __exit__(self, *exc):
        event.remove(self.engine, "before_cursor_execute", self._hit)

    def _hit(self, *args, **kwargs):
        self.count += 1


def queries_for(app, browser, url) -> int:
    with QueryCounter(app.extensions["registry.engine"]) as counter:
        assert browser.get(url).status_code == 200
    return counter.count


@pytest.mark.parametrize("url", ["/systems", "/systems?per_page=100&sort=owner", "/systems?data=personal&q=claims", "/"])
def test_constant_query_count(app, session, people, as_role, url):
    web = as_role("owner")
    make_system(session, people["owner"])
    few = queries_for(app, web, url)
    for i in range(40):
        make_system(session, people["owner"] if i % 2 else people["other_owner"], technical_owner=people["admin"].email,
                    business_unit=f"Unit {i % 7}",
                    metrics=[{"name": "Accuracy", "unit": "%", "baseline": 90, "measured_on": "2026-01-01",
                              "direction": "higher"}])
    many = queries_for(app, web, url)
    assert many == few, f"{url}: {few} queries with 1 system, {many} with 41"


def test_system_page_query_count_does_not_grow_with_metrics(app, session, people, as_role):
    web = as_role("owner")
    system = make_system(session, people["owner"])
    few = queries_for(app, web, f"/systems/{system.id}")
    metrics = [{"name": f"M{i}", "unit": "%", "baseline": i, "measured_on": "2026-01-01", "direction": "higher"}
               for i in range(15)]
    bigger = make_system(session, people["owner"], metrics=metrics)
    assert queries_for(app, web, f"/systems/{bigger.id}") == few


@pytest.mark.parametrize("suffix", ["", "/readiness", "/controls", "/decisions"])
def test_system_pages_cost_the_same_with_answers_controls_and_evidence(app, session, people, as_role, suffix):
    """A system with all five answers, every control implemented with evidence and a decision
    costs no more queries than an empty one (evidence and reviewers are loaded in bulk)."""
    from registry.decisions.services import record_decision
    from tests.builders import accept_all_answers, implement_all_controls

    empty = make_system(session, people["owner"])
    full = make_system(session, people["owner"])
    accept_all_answers(session, people, full)
    implement_all_controls(session, people["owner"], full, verifier=people["compliance"])
    record_decision(session, people["compliance"], full.id, {"verdict": "go", "rationale": "All clear, verified."})
    session.commit()
    web = as_role("owner")
    queries_for(app, web, f"/systems/{empty.id}{suffix}")  # warm caches
    few = queries_for(app, web, f"/systems/{empty.id}{suffix}")
    many = queries_for(app, web, f"/systems/{full.id}{suffix}")
    assert many <= few + 3, f"{suffix}: {few} queries for an empty system, {many} for a complete one"


def test_review_queue_query_count_is_constant(app, session, people, as_role):
    from tests.builders import accept_all_answers

    web = as_role("compliance")
    few = queries_for(app, web, "/review")
    for _ in range(3):
        accept_all_answers(session, people, make_system(session, people["owner"]))
    assert queries_for(app, web, "/review") == few
