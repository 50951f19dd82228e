"""Stopping a pilot: who may, only a pilot, the reason and lessons it needs, the move to retired through
the ordinary edit (stage history, audit), the stop's record kept, and the counts by reason."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from registry.audit.models import AuditEvent
from registry.enums import Stage, StopReason
from registry.errors import Conflict, PermissionDenied, ValidationFailed
from registry.inventory.models import AISystem, StageChange
from registry.inventory.services import delete_system, system_payload, update_system
from registry.value import services
from registry.value.models import PilotStop
from tests.conftest import make_system, make_user

LESSONS = "The claims data had 30 % missing adjuster codes; fix the source before any retry."


def _stop(session, actor, system, reason="data_quality", lessons=LESSONS, **kw):
    return services.stop_pilot(session, actor, system.id, reason, lessons, **kw)


def _actions(session, system_id: int) -> list[str]:
    return list(session.scalars(select(AuditEvent.action).where(AuditEvent.system_id == system_id)
                                .order_by(AuditEvent.seq)))


@pytest.mark.parametrize("role", ["compliance", "owner", "admin"])
def test_compliance_the_accountable_owner_and_admins_may_stop_a_pilot(session, people, role):
    system = make_system(session, people["owner"])
    stop = _stop(session, people[role], system)
    session.commit()
    assert stop.stopped_by_id == people[role].id
    assert session.get(AISystem, system.id).stage == Stage.RETIRED


@pytest.mark.parametrize("role", ["executive", "other_owner"])
def test_others_may_not(session, people, role):
    system = make_system(session, people["owner"])
    with pytest.raises(PermissionDenied):
        _stop(session, people[role], system)


def test_the_technical_owner_may_not(session, people):
    tech = make_user(session, "owner")
    system = make_system(session, people["owner"], technical_owner=tech.email)
    with pytest.raises(PermissionDenied, match="accountable owner"):
        _stop(session, tech, system)
    session.rollback()
    assert session.get(AISystem, system.id).stage == Stage.PILOT


def test_the_stop_retires_the_system_through_the_ordinary_edit(session, people):
    officer = people["compliance"]
    system = make_system(session, people["owner"])
    version = system.version
    when = datetime(2026, 11, 20, 10, 30, tzinfo=UTC)
    stop = _stop(session, officer, system, reason=StopReason.COSTS_ABOVE_VALUE, now=when, note="GPU bill")
    session.commit()
    fresh = session.get(AISystem, system.id)
    assert fresh.stage == Stage.RETIRED and fresh.version > version
    stays = list(session.scalars(select(StageChange).where(StageChange.system_id == system.id)
                                 .order_by(StageChange.id)))
    assert [(s.from_stage, s.stage) for s in stays] == [(None, Stage.PILOT), (Stage.PILOT, Stage.RETIRED)]
    assert stays[-1].entered_at.replace(tzinfo=UTC) == when and stays[0].left_at is not None
    # the row, kept and readable
    row = session.scalar(select(PilotStop).where(PilotStop.system_id == system.id))
    assert row.id == stop.id and row.reason is StopReason.COSTS_ABOVE_VALUE
    assert row.lessons == LESSONS and row.note == "GPU bill" and row.stage_before is Stage.PILOT
    assert row.stopped_by.email == officer.email
    # audited: the edit (stage) then the stop, in one transaction
    actions = _actions(session, system.id)
    assert actions[-2:] == ["system.update", "system.stop"]
    event = session.scalar(select(AuditEvent).where(AuditEvent.system_id == system.id,
                                                    AuditEvent.action == "system.stop"))
    assert event.after["stop_reason"] == "costs_above_value" and event.after["lessons"] == LESSONS
    assert event.after["stage"] == "Retired" and event.before == {"stage": "Pilot"}
    assert "Costs exceed the business value" in event.summary
    edit = session.scalar(select(AuditEvent).where(AuditEvent.system_id == system.id,
                                                   AuditEvent.action == "system.update"))
    assert edit.before == {"stage": "Pilot"} and edit.after == {"stage": "Retired"}


def test_the_record_is_kept_and_read_back(session, people):
    system = make_system(session, people["owner"])
    _stop(session, people["owner"], system, reason="adoption")
    session.commit()
    [stop] = services.stops_for(session, system.id)
    assert stop.reason is StopReason.ADOPTION and stop.stopped_by.label == people["owner"].label
    assert session.get(AISystem, system.id).deleted_at is None


@pytest.mark.parametrize("stage", ["idea", "production"])
def test_only_a_pilot_is_stopped(session, people, stage):
    system = make_system(session, people["owner"], stage=stage)
    with pytest.raises(Conflict, match="Only a pilot can be stopped"):
        _stop(session, people["compliance"], system)
    session.rollback()
    assert session.scalars(select(PilotStop)).all() == []


def test_a_second_stop_is_refused(session, people):
    system = make_system(session, people["owner"])
    _stop(session, people["owner"], system)
    session.commit()
    with pytest.raises(Conflict, match="already stopped"):
        _stop(session, people["compliance"], system, reason="performance")
    session.rollback()
    assert len(services.stops_for(session, system.id)) == 1


def test_a_pilot_moved_back_from_retired_may_be_stopped_again(session, people):
    owner = people["owner"]
    system = make_system(session, owner)
    _stop(session, owner, system)
    session.commit()
    current = session.get(AISystem, system.id)
    update_system(session, owner, system.id, {**system_payload(current), "stage": "pilot"},
                  expected_version=current.version)
    session.commit()
    _stop(session, owner, system, reason="performance")
    session.commit()
    assert [s.reason for s in services.stops_for(session, system.id)] == [StopReason.PERFORMANCE,
                                                                          StopReason.DATA_QUALITY]


@pytest.mark.parametrize(("reason", "lessons", "note", "field"), [
    ("data_quality", "too short", "", "lessons"),
    ("data_quality", "..... ----- ..... ----- ..... -----", "", "lessons"),
    ("data_quality", "", "", "lessons"),
    ("data_quality", None, "", "lessons"),
    ("other", LESSONS, "   ", "note"),
    ("bored", LESSONS, "", "reason"),
    (None, LESSONS, "", "reason"),
    ("data_quality", "x" * 8001, "", "lessons"),
])
def test_the_reason_and_real_lessons_are_required(session, people, reason, lessons, note, field):
    system = make_system(session, people["owner"])
    with pytest.raises(ValidationFailed) as err:
        services.stop_pilot(session, people["compliance"], system.id, reason, lessons, note=note)
    assert field in err.value.errors
    session.rollback()
    assert session.get(AISystem, system.id).stage == Stage.PILOT
    assert "system.stop" not in _actions(session, system.id)


def test_other_with_a_note_is_accepted(session, people):
    system = make_system(session, people["owner"])
    stop = _stop(session, people["compliance"], system, reason="other", note="The vendor went bankrupt.")
    assert stop.reason is StopReason.OTHER and stop.note == "The vendor went bankrupt."


def test_stops_by_reason_counts_and_lists_them(session, people):
    owner = people["owner"]
    reasons = ["data_quality", "adoption", "data_quality", "performance"]
    systems = []
    for reason in reasons:
        system = make_system(session, owner)
        _stop(session, people["compliance"], system, reason=reason)
        systems.append(system)
    make_system(session, owner)  # a pilot still running
    session.commit()
    delete_system(session, people["admin"], systems[-1].id)  # deleted: not counted
    session.commit()
    summary = services.stops_by_reason(session)
    assert summary.counts == {StopReason.DATA_QUALITY: 2, StopReason.COSTS_ABOVE_VALUE: 0,
                              StopReason.ADOPTION: 1, StopReason.PERFORMANCE: 0, StopReason.OTHER: 0}
    assert summary.total == 3
    assert sorted(r.system_id for r in summary.stops) == sorted(s.id for s in systems[:3])
    assert {r.stopped_by for r in summary.stops} == {people["compliance"].name}
    assert all(r.lessons == LESSONS for r in summary.stops)
    assert len(services.stops_by_reason(session, limit=2).stops) == 2
    only = select(AISystem.id).where(AISystem.id == systems[1].id)
    assert services.stops_by_reason(session, only).counts[StopReason.ADOPTION] == 1
    assert services.stops_by_reason(session, only).total == 1


def test_the_seeder_stops_a_pilot_without_a_person_on_the_day_it_says(session, people):
    system = make_system(session, people["owner"])
    when = datetime(2026, 10, 2, 10, 0, tzinfo=UTC)
    stop = _stop(session, None, system, reason="costs_above_value", now=when)
    session.commit()
    assert stop.stopped_by_id is None and stop.stopped_at.replace(tzinfo=UTC) == when
    assert session.get(AISystem, system.id).stage == Stage.RETIRED
    assert _actions(session, system.id)[-1] == "system.stop"
