"""The demo tells the same story whenever it is loaded, and its audit trail reads in time order,
each event dated with the record it describes."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta

import pytest
import yaml
from sqlalchemy import select

from registry.audit.models import AuditEvent
from registry.auth.models import User
from registry.controls.models import ControlAssessment, Evidence
from registry.decisions.models import Decision
from registry.decisions.services import assess_system
from registry.enums import Question
from registry.errors import ValidationFailed
from registry.inventory.models import AISystem, StageChange
from registry.readiness.models import ReadinessAnswer
from registry.seed.demo import load_demo, read_demo
from registry.seed.demo_dates import PLACEHOLDER, Shift
from registry.seed.demo_readiness import read_readiness

AS_OF = date(2026, 11, 29)


@pytest.mark.parametrize(("today", "written", "expected"), [
    (AS_OF, "{{29 January 2027}} {{Q1 2026}}", "29 January 2027 Q1 2026"),
    (AS_OF + timedelta(days=29), "{{2027-01-29}}, {{Jan–Mar 2026}}", "2027-02-27, Jan–Mar 2026"),  # not a whole month yet
    (AS_OF + timedelta(days=30), "{{Jan–Mar 2026}}, {{Sep 2026}}, {{2026-12}}", "Feb–Apr 2026, Oct 2026, 2027-01"),
    (AS_OF + timedelta(days=30), "{{May 2025}}, {{April–May 2025}}", "June 2025, May–June 2025"),
    (date(2027, 3, 15), "{{Nov–Dec 2026}} {{Oct 2025–Jan 2026}}", "Feb–Mar 2027 Jan–Apr 2026"),
    (date(2027, 3, 15), "{{Q4 2026}} {{H2 2026}} {{FY 2026}} {{2026}}", "Q1 2027 H2 2026 FY 2026 2026"),
    (date(2026, 10, 1), "{{18 December 2026}} {{Q1 2026}} {{2026}}", "20 October 2026 Q4 2025 2025"),  # earlier: rounded down
    (date(2028, 11, 29), "{{January-October 2024}} MV-{{2024-12}} HR-2026-114", "January-October 2026 MV-2026-12 HR-2026-114"),
])
def test_demo_dates_move_from_as_of_to_the_load_day(today, written, expected):
    assert Shift.between(AS_OF, today).apply(written) == expected
    assert Shift.between(AS_OF, today).apply({"on": [AS_OF]}) == {"on": [today]}


@pytest.mark.parametrize("written", ["{{Sept 2026}}", "{{H3 2026}}", "{{March}}", "{{next week}}", "{{Jan–Mar}}"])
def test_an_unreadable_demo_date_fails_loudly(written):
    with pytest.raises(ValidationFailed, match=re.escape(written)):
        Shift(10, 0).apply(written)


def _texts(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _texts(v)
    elif isinstance(value, list):
        for v in value:
            yield from _texts(v)


# Years in the demo's text that are facts, not dates of its story: they do not move.
FIXED_YEARS = ("readiness-demo-2026", "HR-2026-114", "reworked in 2024")


def test_every_date_of_the_story_in_the_demo_text_moves_with_it():
    for data in (read_demo(), read_readiness()):
        assert isinstance(data["as_of"], date)
        for text in _texts(data):
            bare = PLACEHOLDER.sub("", text)
            for fixed in FIXED_YEARS:
                bare = bare.replace(fixed, "")
            assert not re.search(r"(?<![\d,.])(19|20)\d\d(?![\d,.%])", bare), text


def _at(day: date) -> datetime:
    return datetime.combine(day, time(0, tzinfo=UTC))


def _story(session, today: date) -> dict:
    """What the demo says, measured from the load day: verdicts, recommendations and blockers
    today, and when everything happened or falls due."""
    start = _at(today)
    systems = {s.id: s.name for s in session.scalars(select(AISystem))}
    states = {name: assess_system(session, session.get(AISystem, sid), today=today) for sid, name in systems.items()}
    rehearsals = {systems[a.system_id]: (today - date.fromisoformat(a.content["last_rehearsal"])).days
                  for a in session.scalars(select(ReadinessAnswer).where(ReadinessAnswer.question == Question.ROLLBACK))
                  if a.content.get("last_rehearsal")}
    return {
        "states": {name: (st.decision and st.decision.verdict.value, st.recommendation.verdict.value,
                          sorted(b.rule for b in st.recommendation.blockers)) for name, st in states.items()},
        "decisions": sorted((systems[d.system_id], d.verdict.value, d.decided_at - start, (d.expires_on - today).days)
                            for d in session.scalars(select(Decision))),
        "rehearsal_ages": rehearsals,
        "registered": sorted((s.name, s.created_at - start) for s in session.scalars(select(AISystem))),
        "re_reviews": sorted((s.name, s.re_review_required_at - start) for s in session.scalars(select(AISystem))
                             if s.re_review_required_at),
        "stages": sorted((systems[c.system_id], c.entered_at - start) for c in session.scalars(select(StageChange))),
        "metrics": sorted((s.name, m.name, (today - m.measured_on).days) for s in session.scalars(select(AISystem))
                          for m in s.metrics if m.measured_on),
        "answers": sorted((systems[a.system_id], a.question.value, a.status.value, a.updated_at - start,
                           a.reviewed_at and a.reviewed_at - start) for a in session.scalars(select(ReadinessAnswer))),
        "assessments": sorted((systems[a.system_id], a.control_id, a.status.value, a.updated_at - start,
                               a.due_on and (a.due_on - today).days, a.verified_at and a.verified_at - start)
                              for a in session.scalars(select(ControlAssessment))),
        "evidence": sorted(((today - e.collected_on).days, e.added_at - start, e.kind.value)
                           for e in session.scalars(select(Evidence))),
    }


def test_the_demo_tells_the_same_story_whenever_it_is_loaded(session):
    stories = []
    for today in (AS_OF, AS_OF + timedelta(days=137), AS_OF - timedelta(days=45)):
        load_demo(session, today=today)
        stories.append(_story(session, today))
        assert not any("{{" in (e.summary + e.record) for e in session.scalars(select(AuditEvent)))
        session.rollback()
    first = stories[0]
    assert first["decisions"] and first["rehearsal_ages"] and first["evidence"]
    assert {verdict for verdict, _, _ in first["states"].values()} >= {"go", "conditional_go", "no_go", None}
    for story in stories[1:]:
        for key in first:
            assert story[key] == first[key], key


def test_demo_audit_events_are_in_time_order_and_dated_with_their_records(session, demo_portfolio):
    events = list(session.scalars(select(AuditEvent).order_by(AuditEvent.seq)))
    assert events
    for before, after in zip(events, events[1:], strict=False):
        assert before.when <= after.when, (before.seq, before.action, after.seq, after.action)
    by_entity = {}
    for e in events:
        by_entity[(e.action, e.entity_id)] = e.when  # the latest of each
    for user in session.scalars(select(User)):
        assert by_entity[("user.create", str(user.id))] == user.created_at
    for system in session.scalars(select(AISystem)):
        assert by_entity[("system.create", str(system.id))] == system.created_at
        assert all(m.measured_on is None or m.measured_on <= system.created_at.date() for m in system.metrics)
    for evidence in session.scalars(select(Evidence)):
        assert by_entity[("evidence.add", str(evidence.id))] == evidence.added_at
        assert evidence.collected_on <= evidence.added_at.date()
    for assessment in session.scalars(select(ControlAssessment).where(ControlAssessment.verified_at.is_not(None))):
        assert by_entity[("control.verify", str(assessment.id))] == assessment.verified_at
    for answer in session.scalars(select(ReadinessAnswer).where(ReadinessAnswer.reviewed_at.is_not(None))):
        assert by_entity[(f"readiness.{'accept' if answer.status.value == 'accepted' else 'return'}",
                          str(answer.id))] == answer.reviewed_at
    for decision in session.scalars(select(Decision)):
        assert by_entity[("decision.record", str(decision.id))] == decision.decided_at
        trail = decision.snapshot["audit_trail"]
        assert all(e["at"] <= decision.decided_at.isoformat(timespec="seconds") for e in trail)
    # the past is dated in the past; the hashed record keeps when each event was really written
    dated = [e for e in events if "written_at" in e.data]
    assert dated and all(e.when < datetime.fromisoformat(e.data["written_at"]) for e in dated)



def test_readiness_work_before_the_system_was_registered_fails_loudly(session, tmp_path):
    early = {"as_of": AS_OF, "systems": {"Refund desk agent": {"decision": {  # registered after its 2026-03-20 baseline
        "verdict": "no_go", "by": "mireille.duval@northwind.example", "at": date(2026, 2, 2), "rationale": "Too early."}}}}
    path = tmp_path / "readiness.yaml"
    path.write_text(yaml.safe_dump(early, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ValidationFailed, match="Refund desk agent.*2026-02-02 15:00 would come after one dated 2026-03-21"):
        load_demo(session, readiness_path=path, today=AS_OF)
