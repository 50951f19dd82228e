"""The review queue by system (``registry.review.services.queue_by_system``) and its page.

The service's rows and totals are checked against an independent computation in Python over the
ORM objects, so a wrong join or a wrong CASE in the SQL shows up as a difference."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from registry.controls.models import ControlAssessment
from registry.controls.services import add_evidence, assess_control, control_rows
from registry.db import utcnow
from registry.decisions.models import Decision
from registry.decisions.services import record_decision
from registry.enums import AnswerStatus, ControlStatus, IncidentStatus, Question, Severity
from registry.incidents.models import Incident
from registry.inventory.models import AISystem
from registry.monitoring.models import DriftAlert
from registry.readiness.models import ReadinessAnswer
from registry.readiness.services import save_answer, submit_answer
from registry.review.services import QueueFilters, queue_by_system
from tests.builders import accept_all_answers, complete_payloads, implement_all_controls, measured_metric
from tests.conftest import make_system, make_user
from tests.web.test_query_count import queries_for

LOW = {"kind": "predictive_model", "affects": ["internal_staff"], "data_categories": [], "autonomy": "human_in_the_loop",
       "risk": {"prohibited_practice": "none", "decision_domains": [], "legal_effect": False}}


def text_of(response) -> str:
    return re.sub(r"\s+", " ", response.get_data(as_text=True))


def submit_answers(session, people, system, questions=(Question.OUTCOME, Question.DRIFT)) -> None:
    metric = measured_metric(session, people["owner"], system)
    payloads = complete_payloads(system, people, [metric.id])
    for question in questions:
        save_answer(session, people["owner"], system.id, question, payloads[question])
        submit_answer(session, people["owner"], system.id, question, attest=True)
    session.commit()


def implement(session, owner, system, n: int) -> list:
    """``n`` required controls implemented with current evidence, not verified."""
    rows = [r for r in control_rows(session, system) if r.required][:n]
    for row in rows:
        assess_control(session, owner, system.id, row.control.id, {"status": "implemented"})
        add_evidence(session, owner, system.id, row.control.id,
                     {"description": f"Evidence {row.control.ref}", "url": f"https://wiki.test/{row.control.id}"})
    session.commit()
    return [r.control for r in rows]


def overdue_decision(session, people, system) -> None:
    accept_all_answers(session, people, system)
    implement_all_controls(session, people["owner"], system, verifier=people["compliance"])
    record_decision(session, people["compliance"], system.id, {
        "verdict": "go", "rationale": "Everything accepted and implemented; see the review notes."},
        now=datetime.now(UTC) - timedelta(days=800))
    session.commit()


@pytest.fixture
def portfolio(session, people):
    """Systems with each kind of work waiting, one with none, and one the officer is named on."""
    s = {
        "answers": make_system(session, people["owner"], name="Answers and controls", business_unit="Claims", **LOW),
        "due": make_system(session, people["owner"], name="Decision due", business_unit="Claims", **LOW),
        "overdue": make_system(session, people["owner"], name="Overdue re-review", business_unit="Pricing", **LOW),
        "verify": make_system(session, people["owner"], name="Only controls", business_unit="Pricing"),  # high tier
        "idle": make_system(session, people["owner"], name="Nothing waits", business_unit="Claims", **LOW),
        "named": make_system(session, people["owner"], name="Named on it", business_unit="Claims", **LOW),
    }
    submit_answers(session, people, s["answers"])
    implement(session, people["owner"], s["answers"], 3)
    accept_all_answers(session, people, s["due"])
    implement(session, people["owner"], s["due"], 1)
    overdue_decision(session, people, s["overdue"])
    implement(session, people["owner"], s["verify"], 2)
    submit_answers(session, people, s["named"])
    s["named"].technical_owner_id = people["compliance"].id
    session.commit()
    return s


def independent_queue(session, actor, today) -> dict[int, tuple]:
    """What waits per system, from the ORM objects in Python: (answers, to verify, due, overdue)."""
    out = {}
    for system in session.scalars(select(AISystem).where(AISystem.deleted_at.is_(None))).unique():
        if actor.id in system.named_user_ids():
            continue
        answers = session.scalars(select(ReadinessAnswer).where(ReadinessAnswer.system_id == system.id)).all()
        assessments = session.scalars(select(ControlAssessment)
                                      .where(ControlAssessment.system_id == system.id)).unique().all()
        decisions = session.scalars(select(Decision).where(Decision.system_id == system.id)).all()
        submitted = sum(1 for a in answers if a.status is AnswerStatus.SUBMITTED)
        to_verify = sum(1 for a in assessments if a.verified_at is None and a.status in (
            ControlStatus.IMPLEMENTED, ControlStatus.NOT_APPLICABLE, ControlStatus.WAIVED))
        accepted = sum(1 for a in answers if a.status is AnswerStatus.ACCEPTED) == len(Question)
        latest = max(decisions, key=lambda d: (d.decided_at, d.id)) if decisions else None
        due = accepted and latest is None
        overdue = latest is not None and latest.expires_on < today
        if submitted or to_verify or due or overdue:
            out[system.id] = (submitted, to_verify, due, overdue)
    return out


def test_the_queue_has_one_row_per_system_with_counts_that_match_an_independent_computation(session, people, portfolio):
    today = utcnow().date()
    queue = queue_by_system(session, people["compliance"], today)
    got = {r.id: (r.answers, r.to_verify, r.decision_due, r.overdue) for r in queue.rows}
    expected = independent_queue(session, people["compliance"], today)
    assert got == expected
    assert set(got) == {portfolio[k].id for k in ("answers", "due", "overdue", "verify")}  # not idle, not named
    assert got[portfolio["answers"].id] == (2, 3, False, False)
    assert got[portfolio["due"].id] == (0, 1, True, False)
    assert got[portfolio["overdue"].id] == (0, 0, False, True)
    # overdue re-reviews first, then decisions due, then the rest
    assert [r.id for r in queue.rows][:2] == [portfolio["overdue"].id, portfolio["due"].id]
    t = queue.totals
    assert (t.systems, t.answers, t.answer_systems, t.to_verify, t.verify_systems, t.due, t.overdue, t.matching) == (
        4, sum(v[0] for v in expected.values()), sum(1 for v in expected.values() if v[0]),
        sum(v[1] for v in expected.values()), sum(1 for v in expected.values() if v[1]),
        sum(v[2] for v in expected.values()), sum(v[3] for v in expected.values()), 4)
    assert queue.business_units == ["Claims", "Pricing"]
    # the officer named on "named" does not see it; another officer does
    other = make_user(session, "compliance")
    assert portfolio["named"].id in {r.id for r in queue_by_system(session, other, today).rows}


@pytest.mark.parametrize(("filters", "keys"), [
    (QueueFilters(business_unit="Pricing"), {"overdue", "verify"}),
    (QueueFilters(tier="high"), {"verify"}),
    (QueueFilters(waiting="verify"), {"answers", "due", "verify"}),
    (QueueFilters(waiting="answers"), {"answers"}),
    (QueueFilters(waiting="due"), {"due"}),
    (QueueFilters(waiting="overdue"), {"overdue"}),
    (QueueFilters(business_unit="Claims", waiting="verify"), {"answers", "due"}),
])
def test_the_filters_narrow_the_rows(session, people, portfolio, filters, keys):
    today = utcnow().date()
    queue = queue_by_system(session, people["compliance"], today, filters)
    assert {r.id for r in queue.rows} == {portfolio[k].id for k in keys}
    assert queue.totals.matching == len(keys)
    scoped = {sid: v for sid, v in independent_queue(session, people["compliance"], today).items()
              if (not filters.business_unit or session.get(AISystem, sid).business_unit == filters.business_unit)
              and (not filters.tier or session.get(AISystem, sid).tier.value == filters.tier)}
    # the cards count the business unit and tier chosen, whatever is waiting
    assert queue.totals.systems == len(scoped)
    assert queue.totals.to_verify == sum(v[1] for v in scoped.values())


def test_unknown_filter_values_are_dropped():
    f = QueueFilters.from_args({"tier": "<b>", "waiting": "everything", "page": "x", "business_unit": " Claims "})
    assert f == QueueFilters(business_unit="Claims")


def test_the_queue_page_links_each_system_to_the_exact_page(session, people, as_role, portfolio):
    officer = as_role("compliance")
    page = text_of(officer.get("/review"))
    a, due, over, ver = (portfolio[k] for k in ("answers", "due", "overdue", "verify"))
    # the name goes to the most urgent work; each count to its own page
    assert f'<a href="/systems/{over.id}/decisions">{over.name}</a>' in page
    assert f'<a href="/systems/{due.id}/decisions">{due.name}</a>' in page
    assert f'<a href="/systems/{a.id}/readiness">{a.name}</a>' in page
    assert f'<a href="/systems/{ver.id}/controls?status=to_verify">{ver.name}</a>' in page
    assert f'href="/systems/{a.id}/readiness">2 answers<' in page
    assert f'href="/systems/{a.id}/controls?status=to_verify">3 controls<' in page
    assert f'href="/systems/{due.id}/decisions">Decision due<' in page
    assert f'href="/systems/{over.id}/decisions" class="warn-text">Re-review overdue<' in page
    assert portfolio["idle"].name not in page and portfolio["named"].name not in page
    # overdue before due before the rest
    rows = page[page.index('id="systems"'):]
    assert rows.index(f">{over.name}</a>") < rows.index(f">{due.name}</a>") < rows.index(f">{a.name}</a>")
    # the home page's anchors are still there
    for anchor in ("answers", "verify", "due", "overdue", "changed", "overrides", "disagreements"):
        assert f'id="{anchor}"' in page
    assert re.search(r'id="verify" href="/review\?waiting=verify#systems"\s*><span class="figure">6</span> controls to '
                     r'verify <span class="small muted">in 3 systems', page)
    assert re.search(r'<span class="figure">1</span> decisions due', page)


def test_the_queue_page_filters(session, people, as_role, portfolio):
    officer = as_role("compliance")
    page = text_of(officer.get("/review?business_unit=Pricing&waiting=verify"))
    rows = page[page.index('id="systems"'):page.index('id="changed"')]
    assert f'>{portfolio["verify"].name}</a>' in rows and f'>{portfolio["overdue"].name}</a>' not in rows
    assert f'>{portfolio["answers"].name}</a>' not in rows
    assert '<option value="Pricing" selected>Pricing</option>' in page
    assert '<option value="verify" selected>Controls to verify</option>' in page
    empty = text_of(officer.get("/review?tier=unacceptable"))
    assert "Nothing waits for you with these filters." in empty


def test_the_queue_page_costs_the_same_whatever_the_number_of_systems(app, session, people, as_role):
    web = as_role("compliance")
    submit_answers(session, people, make_system(session, people["owner"], **LOW))
    queries_for(app, web, "/review")
    few = queries_for(app, web, "/review")
    for i in range(3):
        system = make_system(session, people["owner"], business_unit=f"Unit {i}", **LOW)
        submit_answers(session, people, system)
        implement(session, people["owner"], system, 2)
        accept_all_answers(session, people, make_system(session, people["owner"], **LOW))
    overdue_decision(session, people, make_system(session, people["owner"], **LOW))
    assert queries_for(app, web, "/review?business_unit=Unit+1") == few
    assert queries_for(app, web, "/review") == few


# -- bulk verification on a system's controls page -------------------------------------------------

def _verify_events(session, system_id):
    from registry.audit.models import AuditEvent

    return session.scalars(select(AuditEvent).where(AuditEvent.system_id == system_id,
                                                    AuditEvent.action == "control.verify")
                           .order_by(AuditEvent.seq)).all()


def _picks(page: str) -> dict[str, str]:
    return dict(re.findall(r'name="version-(\d+)" value="(\d+)"', page))


def test_an_officer_verifies_several_controls_with_one_note_each_audited(session, people, as_role):
    system = make_system(session, people["owner"], **LOW)
    officer = as_role("compliance")
    controls = implement(session, people["owner"], system, 3)
    url = f"/systems/{system.id}/controls"
    page = text_of(officer.get(url + "?status=to_verify"))
    versions = _picks(page)
    assert set(versions) == {str(c.id) for c in controls}
    assert 'id="bulk-verify"' in page and page.count('type="checkbox" form="bulk-verify"') == 3
    ticked = controls[:2]
    response = officer.client.post(f"{url}/verify", data={
        "csrf_token": officer.token(url), "control": [str(c.id) for c in ticked], "status": "to_verify",
        "note": "Checked against the Q2 evidence pack.", **{f"version-{c.id}": versions[str(c.id)] for c in ticked}})
    assert response.status_code == 303 and response.headers["Location"].endswith(f"{url}?status=to_verify")
    session.expire_all()
    verified = {a.control_id for a in session.scalars(select(ControlAssessment).where(
        ControlAssessment.system_id == system.id, ControlAssessment.verified_at.is_not(None)))}
    assert verified == {c.id for c in ticked}
    events = _verify_events(session, system.id)
    assert [e.after["control"] for e in events] == sorted((c.ref for c in ticked),
                                                         key=lambda ref: next(c.id for c in ticked if c.ref == ref))
    assert all(e.after["note"] == "Checked against the Q2 evidence pack." for e in events)
    after = text_of(officer.get(f"{url}?status=to_verify"))
    assert f"Verified 2 controls: {ticked[0].ref}, {ticked[1].ref}." in after
    assert set(_picks(after)) == {str(controls[2].id)}


def test_a_control_that_fails_a_check_is_left_and_named_while_the_others_are_verified(session, people, as_role):
    system = make_system(session, people["owner"], **LOW)
    officer = as_role("compliance")
    good, stale = implement(session, people["owner"], system, 2)
    url = f"/systems/{system.id}/controls"
    versions = _picks(officer.get(url).get_data(as_text=True))
    # meanwhile the owner changes one of them: the version the officer saw is out of date
    assess_control(session, people["owner"], system.id, stale.id, {"status": "implemented", "notes": "Changed"})
    session.commit()
    response = officer.client.post(f"{url}/verify", data={
        "csrf_token": officer.token(url), "control": [str(good.id), str(stale.id)],
        **{f"version-{c.id}": versions[str(c.id)] for c in (good, stale)}}, follow_redirects=True)
    page = text_of(response)
    assert f"Verified 1 control: {good.ref}." in page
    assert f"Not verified (1): {stale.ref}: Someone else changed this control" in page
    assert [e.after["control"] for e in _verify_events(session, system.id)] == [good.ref]
    assert "note" not in _verify_events(session, system.id)[0].after  # no note given, none recorded


def test_bulk_verification_with_nothing_ticked_says_so(session, people, as_role):
    system = make_system(session, people["owner"], **LOW)
    officer = as_role("compliance")
    implement(session, people["owner"], system, 1)
    url = f"/systems/{system.id}/controls"
    response = officer.client.post(f"{url}/verify", data={"csrf_token": officer.token(url)}, follow_redirects=True)
    assert "Select at least one control to verify." in text_of(response)
    assert _verify_events(session, system.id) == []


@pytest.mark.parametrize("who", ["owner", "admin", "named_officer"])
def test_only_an_officer_not_named_on_the_system_verifies_in_bulk(session, people, as_role, who):
    system = make_system(session, people["owner"], **LOW)
    browser = as_role("owner" if who == "owner" else "admin" if who == "admin" else "compliance")
    if who == "named_officer":
        system.technical_owner_id = people["compliance"].id
        session.commit()
    (control,) = implement(session, people["owner"], system, 1)
    url = f"/systems/{system.id}/controls"
    page = text_of(browser.get(url))
    assert 'id="bulk-verify"' not in page and 'type="checkbox"' not in page
    response = browser.client.post(f"{url}/verify", data={"csrf_token": browser.token(url), "control": str(control.id),
                                                          "version-1": "1"})
    assert response.status_code == 403
    assert _verify_events(session, system.id) == []


# -- a control's page: previous / next, and the forms open when there is nothing yet ------------------

def test_previous_and_next_walk_the_systems_controls_and_keep_the_filter(session, people, as_role):
    system = make_system(session, people["owner"], **LOW)
    required = [r.control for r in control_rows(session, system) if r.required]
    first, second, third = required[:3]
    assess_control(session, people["owner"], system.id, first.id, {"status": "implemented"})
    add_evidence(session, people["owner"], system.id, first.id, {"description": "e", "url": "https://e.test"})
    assess_control(session, people["owner"], system.id, third.id, {"status": "implemented"})
    add_evidence(session, people["owner"], system.id, third.id, {"description": "e", "url": "https://e.test"})
    session.commit()
    web = as_role("compliance")
    base = f"/systems/{system.id}/controls"
    page = text_of(web.get(f"{base}/{second.id}"))
    assert f'<a href="{base}/{first.id}" rel="prev">← Previous: {first.ref}</a>' in page
    assert f'<a href="{base}/{third.id}" rel="next">Next: {third.ref} →</a>' in page
    top = text_of(web.get(f"{base}/{first.id}"))
    assert 'rel="prev"' not in top and f'rel="next">Next: {second.ref}' in top
    # walking what waits for verification skips the controls that do not
    walk = text_of(web.get(f"{base}/{first.id}?status=to_verify"))
    assert f'<a href="{base}/{third.id}?status=to_verify" rel="next">Next: {third.ref} →</a>' in walk
    assert f'<a href="{base}?status=to_verify">Controls to verify</a>' in walk
    # verifying keeps the walk
    version = re.search(r'name="version" type="hidden" value="(\d+)"', walk).group(1)
    response = web.client.post(f"{base}/{first.id}/verify", data={"csrf_token": web.token(f"{base}/{first.id}"),
                                                                   "version": version, "status": "to_verify"})
    assert "Control verified." in text_of(web.get(response.headers["Location"]))
    assert response.headers["Location"].endswith(f"{base}/{first.id}?status=to_verify")
    last = text_of(web.get(f"{base}/{third.id}?status=to_verify"))
    assert "No other control waits for verification." in last and 'rel="prev"' not in last


def test_the_status_and_evidence_forms_are_open_only_while_there_is_none(session, people, as_role):
    owner = as_role("owner")
    system = make_system(session, people["owner"], **LOW)
    control = next(r.control for r in control_rows(session, system) if r.required)
    session.commit()
    url = f"/systems/{system.id}/controls/{control.id}"
    page = text_of(owner.get(url))
    assert '<details class="panel" open> <summary>Set the status</summary>' in page
    assert '<details class="panel" open> <summary>Attach evidence</summary>' in page
    assess_control(session, people["owner"], system.id, control.id, {"status": "implemented"})
    session.commit()
    page = text_of(owner.get(url))
    assert '<details class="panel" > <summary>Change the status</summary>' in page
    assert '<details class="panel" open> <summary>Attach evidence</summary>' in page
    add_evidence(session, people["owner"], system.id, control.id, {"description": "e", "url": "https://e.test"})
    session.commit()
    assert '<details class="panel" > <summary>Attach evidence</summary>' in text_of(owner.get(url))


def test_open_drift_alerts_and_serious_incidents_have_their_section(session, people, as_role):
    officer = as_role("compliance")
    drifting, burning, quiet, settled = (make_system(session, people["owner"], name=n)
                                         for n in ("Drifting model", "Burning agent", "Quiet model", "Settled bot"))
    metric = measured_metric(session, people["owner"], drifting)
    now = utcnow()
    session.add_all([
        DriftAlert(metric_id=metric.id, system_id=drifting.id, opened_at=now - timedelta(days=3), last_value=1.0,
                   last_observed_at=now, summary="Precision below its band"),
        Incident(system_id=burning.id, occurred_on=date(2026, 11, 1), severity=Severity.CRITICAL, title="Leak",
                 description="PII in answers"),
        Incident(system_id=burning.id, occurred_on=date(2026, 11, 2), severity=Severity.MAJOR, title="Slow",
                 description="Timeouts"),
        Incident(system_id=quiet.id, occurred_on=date(2026, 11, 2), severity=Severity.MINOR, title="Typo",
                 description="A typo"),
        Incident(system_id=settled.id, occurred_on=date(2026, 11, 2), severity=Severity.CRITICAL, title="Old",
                 description="Fixed", status=IncidentStatus.CLOSED),
    ])
    session.commit()
    rows = {r.name: r for r in queue_by_system(session, people["compliance"], utcnow().date()).monitoring}
    assert set(rows) == {"Drifting model", "Burning agent"}
    assert (rows["Burning agent"].critical, rows["Burning agent"].major, rows["Burning agent"].alerts) == (1, 1, 0)
    assert (rows["Drifting model"].alerts, rows["Drifting model"].critical) == (1, 0)
    assert list(rows) == ["Burning agent", "Drifting model"]  # critical incidents first
    page = text_of(officer.get("/review"))
    section = page[page.index('id="monitoring"'):page.index('id="changed"')]
    assert "1 open drift alert" in section and "1 open critical incident" in section
    assert "1 open major incident" in section and "Quiet model" not in section and "Settled bot" not in section
    assert f'href="/systems/{drifting.id}/monitoring"' in section and f'href="/systems/{burning.id}/incidents"' in section
