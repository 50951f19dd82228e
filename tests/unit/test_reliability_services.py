"""Recording trials (all or nothing, idempotent, corrections), the gate, step rates and the summary."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from registry.audit.models import AuditEvent
from registry.errors import PermissionDenied, ValidationFailed
from registry.reliability.models import EvalTrial
from registry.reliability.services import (
    clear_gate,
    compounded_sentence,
    parse_step_rates,
    read_trials_csv,
    record_trials,
    reliability_summary,
    set_gate,
    set_step_rates,
)
from tests.conftest import make_system


def _rows(task: str, outcomes: str) -> list[dict]:
    """'1101' -> trials 1..4 of the task, passed where 1."""
    return [{"task_id": task, "trial": i, "passed": o == "1"} for i, o in enumerate(outcomes, start=1)]


def _count(session, system_id: int) -> int:
    return session.scalar(select(func.count()).select_from(EvalTrial).where(EvalTrial.system_id == system_id))


def _events(session, action: str) -> list[AuditEvent]:
    return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)))


def test_trials_are_recorded_once_then_unchanged_then_corrected(session, people):
    system = make_system(session, people["owner"], kind="agent")
    first = record_trials(session, people["owner"], system.id, _rows("refund", "11100") + _rows("lookup", "1111"))
    session.commit()
    assert (first.added, first.corrected, first.unchanged) == (9, 0, 0)
    again = record_trials(session, people["owner"], system.id, _rows("refund", "11100"))
    session.commit()
    assert (again.added, again.corrected, again.unchanged) == (0, 0, 5) and not again.changed
    fixed = record_trials(session, people["owner"], system.id, [{"task_id": "refund", "trial": "5", "passed": "pass"}])
    session.commit()
    assert (fixed.added, fixed.corrected) == (0, 1) and _count(session, system.id) == 9
    events = _events(session, "reliability.trials")
    assert len(events) == 2  # the upload that changed nothing is not an event
    assert events[0].after["trials_added"] == 9 and events[0].after["tasks"] == 2
    assert events[1].after == {"trials_added": 0, "trials_corrected": 1, "trials_unchanged": 0, "tasks": 1,
                                "source": "API"}


def test_one_bad_row_refuses_the_whole_upload_naming_each_bad_row(session, people):
    system = make_system(session, people["owner"])
    rows = _rows("refund", "111") + [{"task_id": "", "trial": 1, "passed": True},
                                     {"task_id": "x", "trial": 0, "passed": True},
                                     {"task_id": "x", "trial": 2.5, "passed": "maybe"},
                                     {"task_id": "refund", "trial": 1, "passed": False}]
    with pytest.raises(ValidationFailed) as err:
        record_trials(session, people["owner"], system.id, rows)
    session.rollback()
    assert set(err.value.errors) == {"row 4", "row 5", "row 6", "row 7"}
    assert err.value.errors["row 4"] == ["task_id is missing."]
    assert "whole number of 1 or more" in err.value.errors["row 5"][0]
    assert len(err.value.errors["row 6"]) == 2 and "not “maybe”" in err.value.errors["row 6"][1]
    assert "also row 1, with the other outcome" in err.value.errors["row 7"][0]
    assert "4 rows cannot be recorded, so nothing was" in err.value.message
    assert _count(session, system.id) == 0 and _events(session, "reliability.trials") == []


def test_too_many_trials_and_none_are_refused(session, people):
    system = make_system(session, people["owner"])
    with pytest.raises(ValidationFailed, match="At most 10,000"):
        record_trials(session, None, system.id, _rows("t", "1" * 10_001))
    with pytest.raises(ValidationFailed, match="no trials"):
        record_trials(session, None, system.id, [])


@pytest.mark.parametrize(("role", "allowed"), [("owner", True), ("compliance", True), ("admin", True),
                                               ("other_owner", False), ("executive", False)])
def test_who_records_trials_and_who_sets_the_gate(session, people, role, allowed):
    system = make_system(session, people["owner"])
    if allowed:
        record_trials(session, people[role], system.id, _rows("t", "1"))
    else:
        with pytest.raises(PermissionDenied):
            record_trials(session, people[role], system.id, _rows("t", "1"))
    gate_allowed = role in ("compliance", "admin")  # the owner who wants the GO does not set its bar
    if gate_allowed:
        set_gate(session, people[role], system.id, 2, 0.5)
    else:
        with pytest.raises(PermissionDenied):
            set_gate(session, people[role], system.id, 2, 0.5)
    session.rollback()


def test_summary_per_task_overall_and_the_gate(session, people):
    system = make_system(session, people["owner"], kind="agent")
    summary = reliability_summary(session, system.id)
    assert summary.tasks == [] and summary.pass_at_1 is None and summary.gate.status == "no_gate"
    assert summary.gate.text == "No gate set." and summary.compounded is None
    set_gate(session, people["compliance"], system.id, 3, 0.15)
    assert reliability_summary(session, system.id).gate.text.endswith("no trials recorded yet, so it cannot be met.")
    # refund: n=5, c=3 -> 0.6, 0.3, 0.1, 0, 0; lookup: n=4, c=4 -> 1, 1, 1, 1
    record_trials(session, people["owner"], system.id, _rows("refund", "10110") + _rows("lookup", "1111"))
    session.commit()
    summary = reliability_summary(session, system.id)
    refund = next(t for t in summary.tasks if t.task_id == "refund")
    assert (refund.trials, refund.passed, refund.pass_at_1) == (5, 3, 0.6)
    assert [v for _, v in refund.curve][:5] == pytest.approx([0.6, 0.3, 0.1, 0, 0])
    assert [v for _, v in refund.curve][5:] == [None, None, None]
    # overall: (0.6 + 1) / 2 = 0.8, (0.3 + 1) / 2 = 0.65, (0.1 + 1) / 2 = 0.55, (0 + 1) / 2 = 0.5, then lookup n=4 < 5
    assert [v for _, v in summary.curve][:4] == pytest.approx([0.8, 0.65, 0.55, 0.5])
    assert [v for _, v in summary.curve][4:] == [None] * 4
    assert summary.gate.status == "met" and summary.gate.measured == pytest.approx(0.55)
    set_gate(session, people["compliance"], system.id, 3, 0.6)
    gate = reliability_summary(session, system.id).gate
    assert gate.status == "not_met" and gate.text == "Gate pass^3 ≥ 60%: not met, measured 55%."
    set_gate(session, people["compliance"], system.id, 6, 0.1)
    gate = reliability_summary(session, system.id).gate
    assert gate.status == "not_enough_trials" and gate.measured is None and "at least 6 trials" in gate.text
    clear_gate(session, people["admin"], system.id)
    session.commit()
    assert reliability_summary(session, system.id).gate.status == "no_gate"
    texts = [(e.before, e.after) for e in _events(session, "reliability.gate")]
    assert texts[0] == ({"release_gate": "no gate set"}, {"release_gate": "pass^3 ≥ 15%"})
    assert texts[-1] == ({"release_gate": "pass^6 ≥ 10%"}, {"release_gate": "no gate set"})


@pytest.mark.parametrize(("k", "threshold", "field"), [(0, 0.5, "k"), (9, 0.5, "k"), (2, 1.5, "threshold"),
                                                        (2, float("nan"), "threshold"), (2, None, "_schema")])
def test_a_bad_gate_is_refused(session, people, k, threshold, field):
    system = make_system(session, people["owner"])
    with pytest.raises(ValidationFailed) as err:
        set_gate(session, people["admin"], system.id, k, threshold)
    assert field in err.value.errors


def test_step_rates_their_sentence_and_the_parser(session, people):
    # 0.95^20 = 0.358486 -> 35.8%
    assert compounded_sentence([0.95] * 20) == "20 steps at 95% each succeed end to end 35.8% of the time"
    assert parse_step_rates("0.95 × 20") == [0.95] * 20 == parse_step_rates("95% x 20")
    assert parse_step_rates("0.99, 0.95; 90%") == [0.99, 0.95, 0.9] and parse_step_rates("  ") == []
    for bad in ("0.95 × 0", "1.2, 0.9", "ninety", "0.9 × 5000"):
        with pytest.raises(ValueError):
            parse_step_rates(bad)
    system = make_system(session, people["owner"], kind="agent")
    set_step_rates(session, people["owner"], system.id, [0.9, 0.5])
    session.commit()
    summary = reliability_summary(session, system.id)
    assert summary.compounded == pytest.approx(0.45) and summary.step_rates == [0.9, 0.5]
    assert summary.gate.status == "no_gate"  # step rates alone set no gate
    [event] = _events(session, "reliability.steps")
    assert event.after == {"step_rates": "90%, 50%", "compounded_success": "45%"}
    with pytest.raises(ValidationFailed):
        set_step_rates(session, people["owner"], system.id, [0.5, 2])


def test_the_csv_reader_takes_headers_in_any_case_and_says_what_is_missing():
    rows = read_trials_csv(b"\xef\xbb\xbfTask_ID,Trial,PASSED,notes\nrefund,1,yes,ok\n\nrefund,2,fail,\n")
    assert rows == [{"task_id": "refund", "trial": "1", "passed": "yes"},
                    {"task_id": "refund", "trial": "2", "passed": "fail"}]
    with pytest.raises(ValidationFailed, match="lacks the column passed"):
        read_trials_csv(b"task_id,trial\nrefund,1\n")
    with pytest.raises(ValidationFailed, match="not UTF-8"):
        read_trials_csv(b"task_id,trial,passed\n\xff\xfe,1,1\n")
    with pytest.raises(ValidationFailed, match="empty"):
        read_trials_csv(b"")
