"""How an answer reads on pages, snapshots and PDFs: a field nobody filled in is "not answered"."""

from __future__ import annotations

import pytest

from registry.enums import Question
from registry.errors import ValidationFailed
from registry.inventory.schemas import load_or_raise
from registry.readiness.questions import NOT_ANSWERED, AnswerContext, describe, missing_parts
from registry.readiness.schemas import HumanWorkflowSchema


@pytest.mark.parametrize("question", list(Question))
def test_an_empty_answer_reads_not_answered_everywhere(question):
    rows = describe(question, {}, AnswerContext())
    assert rows and all(value == NOT_ANSWERED for _label, value in rows), rows


def test_never_automate_is_an_explicit_choice():
    ctx = AnswerContext()
    assert dict(describe(Question.HUMAN_WORKFLOW, {"automate_at": None}, ctx))["Automate"] == NOT_ANSWERED
    assert dict(describe(Question.HUMAN_WORKFLOW, {"never_automate": True}, ctx))["Automate"] == \
        "never (a person confirms every output)"
    assert dict(describe(Question.HUMAN_WORKFLOW, {"automate_at": 92}, ctx))["Automate"] == "confidence ≥ 92%"
    assert any("never automate" in m for m in missing_parts(Question.HUMAN_WORKFLOW, {"suggest_at": 50}, ctx))
    assert not any("never automate" in m
                   for m in missing_parts(Question.HUMAN_WORKFLOW, {"never_automate": True, "suggest_at": 50}, ctx))
    with pytest.raises(ValidationFailed):
        load_or_raise(HumanWorkflowSchema(), {"automate_at": 90, "never_automate": True})


def test_a_rollback_never_rehearsed_is_not_answered_not_never():
    rows = dict(describe(Question.ROLLBACK, {"kill_switch": "Flag in the admin console"}, AnswerContext()))
    assert rows["Last rehearsal"] == NOT_ANSWERED and rows["Kill switch"] == "Flag in the admin console"
    assert rows["Time to pause"] == NOT_ANSWERED
