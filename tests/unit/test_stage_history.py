"""Stage history is dated when the move happened: an edit told its time, an import, and the demo's
stage moves, so the funnel's median days in each stage come from real stays."""

from __future__ import annotations

import statistics
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from registry.audit.models import AuditEvent
from registry.db import utcnow
from registry.enums import Stage
from registry.errors import ValidationFailed
from registry.imports.services import commit_import, plan_import
from registry.inventory.models import AISystem, StageChange
from registry.inventory.services import update_system
from registry.portfolio.services import portfolio_figures, portfolio_filters
from registry.seed.demo import read_demo, registered_at, stage_moves
from registry.seed.replay import moment
from tests.conftest import make_system, system_payload
from tests.unit.test_imports import SIMPLE, _row, _table


def _stays(session, system_id: int) -> list[tuple]:
    return [(c.from_stage, c.stage, c.entered_at, c.left_at, c.days_in_stage) for c in session.scalars(
        select(StageChange).where(StageChange.system_id == system_id).order_by(StageChange.id))]


def test_an_edit_told_its_time_dates_the_stage_move_then(session, people):
    owner = people["owner"]
    system = make_system(session, owner, stage="idea")
    session.commit()
    entered = _stays(session, system.id)[0][2]
    moved_at = entered + timedelta(days=10, hours=6)
    update_system(session, owner, system.id, {**system_payload(owner), "stage": "pilot"},
                  expected_version=system.version, now=moved_at)
    session.commit()
    (_, first, _, left, days), (before, second, began, still, none) = _stays(session, system.id)
    assert (first, left, days) == (Stage.IDEA, moved_at, 10.25)
    assert (before, second, began, still, none) == (Stage.IDEA, Stage.PILOT, moved_at, None, None)
    # Outside the edit the wall clock dates a move again.
    update_system(session, owner, system.id, {**system_payload(owner), "stage": "production"},
                  expected_version=system.version)
    session.commit()
    assert abs(_stays(session, system.id)[-1][2] - utcnow()) < timedelta(minutes=5)


def test_an_import_opens_a_stay_for_each_new_record_and_moves_a_changed_stage(session, people):
    first_day = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    commit_import(session, None, plan_import(session, _table(_row("R1", "Claims triage", Status="Trial")), SIMPLE,
                                             layout="register"), now=first_day)
    session.commit()
    system = session.scalar(select(AISystem).where(AISystem.name == "Claims triage"))
    assert _stays(session, system.id) == [(None, Stage.PILOT, first_day, None, None)]
    later = first_day + timedelta(days=45)
    commit_import(session, None, plan_import(session, _table(_row("R1", "Claims triage", Status="Live")), SIMPLE,
                                             layout="register"), now=later)
    session.commit()
    assert _stays(session, system.id) == [(None, Stage.PILOT, first_day, later, 45.0),
                                          (Stage.PILOT, Stage.PRODUCTION, later, None, None)]
    # An unchanged re-import moves nothing.
    commit_import(session, None, plan_import(session, _table(_row("R1", "Claims triage", Status="Live")), SIMPLE,
                                             layout="register"), now=later + timedelta(days=1))
    session.commit()
    assert len(_stays(session, system.id)) == 2


def test_demo_stage_moves_are_dated_on_their_day_and_the_funnel_medians_show(session, demo_portfolio, people):
    demo = {entry["name"]: entry for entry in read_demo()["systems"]}
    shift = session.scalar(select(AISystem.created_at).order_by(AISystem.created_at)).date() - min(
        registered_at(e).date() for e in demo.values())  # the demo's dates move to the day it was loaded
    stays: dict[Stage, list[float]] = {}
    moved = 0
    for system in session.scalars(select(AISystem)):
        entry = demo[system.name]
        history = entry.get("stage_history") or []
        recorded = _stays(session, system.id)
        stopped = ["retired"] if entry.get("stop") else []  # a stopped pilot is retired, its record kept
        assert [r[1].value for r in recorded] == [step["stage"] for step in history] + [entry["stage"]] + stopped
        for step, (_, _, _, left, days) in zip(history, recorded, strict=False):
            assert left.date() == step["left_on"] + shift
            stays.setdefault(Stage(step["stage"]), []).append(days)
        if entry.get("stop"):  # the stop ended its last stay (in pilot) on the stop's day
            stays.setdefault(Stage(entry["stage"]), []).append(recorded[-2][4])
            assert recorded[-2][3].date() == entry["stop"]["date"] + shift
        moved += len(history)
        for (_, _, _, left, _), (_, _, entered, _, _) in zip(recorded, recorded[1:], strict=False):
            assert left == entered
    assert moved >= 10
    # Each move is an ordinary audited edit by the accountable owner, dated when it happened.
    edits = session.scalars(select(AuditEvent).where(AuditEvent.action == "system.update")).all()
    stops = sum(1 for entry in demo.values() if entry.get("stop"))
    assert stops == 2
    assert sum(1 for e in edits if "stage" in (e.data.get("after") or {})) == moved + stops
    funnel = {step["stage"]: step["median_days"] for step in portfolio_figures(session, people["executive"], portfolio_filters(MultiDict())).funnel}
    for stage, days in stays.items():
        assert funnel[stage] == round(statistics.median(days), 1)
    assert funnel[Stage.IDEA] is not None and funnel[Stage.PILOT] is not None


@pytest.mark.parametrize(("history", "message"), [
    ([{"stage": "pilot", "left_on": date(2026, 5, 1)}], "from 'pilot' to 'pilot', the same stage"),
    ([{"stage": "idea", "left_on": date(2026, 1, 1)}], "left 'idea' on 2026-01-01, not after 2026-03-01"),
    ([{"stage": "idea", "left_on": date(2026, 5, 1)}, {"stage": "piloting", "left_on": date(2026, 6, 1)}],
     "'piloting' is not a stage"),
    ([{"stage": "idea", "left_on": date(2026, 12, 1)}], "not before 2026-11-29, the day the demo is loaded"),
    ([{"stage": "idea", "left_on": "soon"}], "'soon' is not a date"),
])
def test_a_wrong_stage_history_is_refused_with_its_reason(history, message):
    entry = {"name": "Refund desk agent", "stage": "pilot", "stage_history": history}
    with pytest.raises(ValidationFailed, match=message.replace("(", r"\(")):
        stage_moves(entry, moment(date(2026, 3, 1), datetime.min.time().replace(tzinfo=UTC)), date(2026, 11, 29))
