"""Readiness, controls and decision pages through the test client, CSRF on."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from registry.controls.models import Evidence
from registry.controls.services import control_rows
from registry.decisions.models import Decision
from registry.decisions.services import record_decision
from registry.enums import AnswerStatus, Question
from registry.files.models import Blob
from registry.inventory.services import override_tier
from registry.readiness.models import ReadinessAnswer
from tests.builders import accept_all_answers, implement_all_controls, measured_metric
from tests.conftest import make_system, make_user

LOW = {"kind": "predictive_model", "affects": ["internal_staff"], "data_categories": [], "autonomy": "human_in_the_loop",
       "risk": {"prohibited_practice": "none", "decision_domains": [], "legal_effect": False}}


def text_of(response) -> str:
    return re.sub(r"\s+", " ", response.get_data(as_text=True))


def words_of(response) -> str:
    """The page's text without tags."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))).replace(" :", ":")


def test_the_owners_readiness_page_says_what_is_missing(session, people, as_role):
    system = make_system(session, people["owner"])
    page = text_of(as_role("owner").get(f"/systems/{system.id}/readiness"))
    assert "0 of 5 accepted" in page
    assert "Record at least one baseline metric on the system page, then link it here." in page
    assert "Name the owner of the human review queue (a person)." in page
    assert "Rehearse the rollback and record the date of the last rehearsal." in page
    assert "Recommendation now: <span class=\"badge verdict-no_go\">NO-GO</span>" in page


def test_save_submit_return_resubmit_accept_through_the_forms(session, people, as_role):
    system = make_system(session, people["owner"])
    url = f"/systems/{system.id}/readiness/rollback"
    owner, officer = as_role("owner"), as_role("compliance")
    form = {"kill_switch": "Flag claims.triage off", "mode_full": "Ranked", "mode_degraded": "Rules",
            "mode_minimal": "FIFO", "mode_offline": "Banner", "fallback_process": "Work by arrival time",
            "time_to_pause_minutes": "5", "last_rehearsal": "2026-10-01", "version": "0"}
    response = owner.post(url, form)
    assert response.status_code == 302
    page = text_of(owner.get(url))
    assert "Saved your answer to “Rollback” as a draft." in page and "Submit “Rollback”" in page
    token_page = owner.get(url).get_data(as_text=True)
    version = re.search(r'name="version" type="hidden" value="(\d+)"', token_page).group(1)
    # without the attestation: refused, nothing changes
    response = owner.post(f"{url}/submit", {"version": version}, token_from=url)
    assert response.status_code == 422 and "Confirm that you attest this answer personally." in text_of(response)
    assert session.scalar(select(ReadinessAnswer.status)) is AnswerStatus.DRAFT
    session.commit()  # end the test's own transaction (SQLite has one writer at a time); commit keeps objects loaded
    assert owner.post(f"{url}/submit", {"version": version, "attest": "y"}, token_from=url).status_code == 302
    # compliance returns it, a comment is required
    page = text_of(officer.get(url))
    assert "Review this answer" in page and "attest personally" in page
    version = re.search(r'name="version" type="hidden" value="(\d+)"', officer.get(url).get_data(as_text=True)).group(1)
    response = officer.post(f"{url}/review", {"outcome": "return", "comment": "", "version": version}, token_from=url)
    assert response.status_code == 422 and "a returned answer needs a comment" in text_of(response)
    response = officer.post(f"{url}/review", {"outcome": "return", "comment": "Rehearse the degraded mode too.",
                                              "version": version}, token_from=url)
    assert response.status_code == 302
    page = words_of(owner.get(f"/systems/{system.id}/readiness"))
    assert "Returned by Cora Compliance: Rehearse the degraded mode too." in page


def test_a_stale_review_form_is_a_conflict(session, people, as_role):
    system = make_system(session, people["owner"])
    from registry.readiness.services import save_answer, submit_answer
    from tests.builders import complete_payloads

    metric = measured_metric(session, people["owner"], system)
    save_answer(session, people["owner"], system.id, "drift", complete_payloads(system, people, [metric.id])[Question.DRIFT])
    answer = submit_answer(session, people["owner"], system.id, "drift", attest=True)
    session.commit()
    response = as_role("compliance").post(f"/systems/{system.id}/readiness/drift/review",
                                          {"outcome": "accept", "version": str(answer.version - 1)}, token_from="/systems")
    assert response.status_code == 409 and "Reload the page" in text_of(response)


def test_bad_question_input_is_a_422_and_keeps_nothing(session, people, as_role):
    system = make_system(session, people["owner"])
    web = as_role("owner")
    url = f"/systems/{system.id}/readiness/human_workflow"
    response = web.post(url, {"automate_at": "50", "suggest_at": "90", "reviewer_capacity_per_day": "-4", "version": "0"})
    assert response.status_code == 422
    assert session.scalar(select(func.count(ReadinessAnswer.id))) == 0
    session.commit()
    response = web.post(f"/systems/{system.id}/readiness/ownership",
                        {"performance_owner": "ghost@example.test", "version": "0"})
    assert response.status_code == 422 and "Not a valid choice" in text_of(response)
    assert web.get(f"/systems/{system.id}/readiness/sixth").status_code == 404


def _control(session, system):
    control = next(r.control for r in control_rows(session, system) if r.required)
    session.commit()  # release SQLite's write lock before the app writes
    return control


def test_uploading_evidence_stores_it_in_the_file_store_and_serves_it_back(app, session, people, as_role):
    system = make_system(session, people["owner"])
    control = _control(session, system)
    web = as_role("owner")
    url = f"/systems/{system.id}/controls/{control.id}"
    pdf = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
    response = web.post(f"{url}/evidence", {"description": "Red-team report", "file": (io.BytesIO(pdf), "red team.pdf")},
                        token_from=url, content_type="multipart/form-data")
    assert response.status_code == 302, text_of(response)[:500]
    evidence = session.scalar(select(Evidence))
    assert evidence.sha256 == __import__("hashlib").sha256(pdf).hexdigest()
    session.commit()
    page = text_of(web.get(url))
    assert evidence.sha256 in page and "red team.pdf" in page
    download = as_role("executive").get(f"/systems/{system.id}/evidence/{evidence.id}")
    assert download.data == pdf and download.headers["Content-Disposition"].startswith("attachment")
    assert "sandbox" in download.headers["Content-Security-Policy"]
    assert download.headers["X-Content-Type-Options"] == "nosniff" and "no-cache" in download.headers["Cache-Control"]
    assert download.headers["Content-Type"] == "application/pdf" and download.headers["Content-Length"] == str(len(pdf))
    assert 'filename="red team.pdf"' in download.headers["Content-Disposition"]
    assert evidence.stored_name is None and session.get(Blob, evidence.sha256).size_bytes == len(pdf)


def test_refused_uploads_say_why_and_leave_nothing(app, session, people, as_role):
    system = make_system(session, people["owner"])
    control = _control(session, system)
    web = as_role("owner")
    url = f"/systems/{system.id}/controls/{control.id}"
    cases = [
        ((io.BytesIO(b"MZ\x90\x00"), "tool.exe"), "Upload one of: .csv, .docx"),
        ((io.BytesIO(b"\x89PNG\r\n\x1a\n0000"), "report.pdf"), "named as a PDF document but its content is a PNG image"),
        ((io.BytesIO(b"%PDF-1.4" + b"0" * (11 * 1024 * 1024)), "huge.pdf"), "at most 10 MB"),
    ]
    for upload, message in cases:
        response = web.post(f"{url}/evidence", {"description": "x", "file": upload}, token_from=url,
                            content_type="multipart/form-data")
        assert response.status_code == 422 and message in text_of(response), message
    assert session.scalar(select(func.count(Evidence.id))) == 0
    assert session.scalar(select(func.count()).select_from(Blob)) == 0
    session.commit()
    too_big = web.post(f"{url}/evidence", {"description": "x", "file": (io.BytesIO(b"0" * (21 * 1024 * 1024)), "a.pdf")},
                       token_from=url, content_type="multipart/form-data")
    assert too_big.status_code == 413


def test_the_controls_page_groups_by_function_and_counts_statuses(session, people, as_role):
    system = make_system(session, people["owner"], **LOW)
    page = text_of(as_role("executive").get(f"/systems/{system.id}/controls"))
    assert "16 controls apply to this low-tier predictive model" in page
    for function in ("GOVERN", "MAP", "MEASURE", "MANAGE"):
        assert f">{function} <span" in page
    assert "GOVERN 1.6" in page and "GOVERN 1.2" not in page  # 1.2 is medium and up
    page = text_of(as_role("owner").get(f"/systems/{system.id}/controls/{_control(session, system).id}"))
    assert "Guidance from the NIST AI RMF Playbook" in page and "Set the status" in page  # not started: the form is open


def test_recording_a_decision_through_the_form(session, people, as_role):
    system = make_system(session, people["owner"], **LOW)
    accept_all_answers(session, people, system)
    implement_all_controls(session, people["owner"], system, verifier=people["compliance"])
    officer = as_role("compliance")
    url = f"/systems/{system.id}/decisions"
    page = text_of(officer.get(url))
    assert "Recommendation for this review: <span class=\"badge verdict-go\">GO</span>" in page and "Record a decision" in page
    basis = re.search(r'name="basis" type="hidden" value="([0-9a-f]+)"', officer.get(url).get_data(as_text=True)).group(1)
    response = officer.post(url, {"verdict": "conditional_go", "rationale": "Fine.", "conditions": "", "basis": basis})
    assert response.status_code == 422
    page = text_of(response)
    assert "A CONDITIONAL GO needs at least one condition" in page and "explain why" in page
    assert session.scalar(select(func.count(Decision.id))) == 0
    session.commit()
    response = officer.post(url, {"verdict": "go", "rationale": "All answers accepted; controls verified.",
                                  "conditions": "Review drift monthly", "basis": basis})
    assert response.status_code == 302
    page = text_of(as_role("owner").get(url))
    assert "Current decision: <span class=\"badge verdict-go\">GO</span>" in page
    assert "Review drift monthly" in page and "Record a decision" not in page
    snapshot = as_role("executive").get(response.headers["Location"] + "/snapshot.json")
    decision = session.scalar(select(Decision))
    assert snapshot.headers["X-Snapshot-SHA256"] == decision.snapshot_sha256
    assert snapshot.get_json()["decision"]["verdict"] == "go"
    assert "Not yet acknowledged by the accountable owner" in page


def test_the_owner_acknowledges_a_decision_on_its_page(session, people, as_role):
    system = make_system(session, people["owner"], **LOW)
    decision = record_decision(session, people["compliance"], system.id, {
        "verdict": "no_go", "rationale": "Nothing is ready yet.", "conditions": ""})
    session.commit()
    url = f"/systems/{system.id}/decisions/{decision.id}"
    officer, owner = as_role("compliance"), as_role("owner")
    page = text_of(officer.get(url))
    assert "Pending: the accountable owner named in the decision (Olu Owner" in page and 'id="acknowledge"' not in page
    assert officer.post(url + "/acknowledge", {}, token_from=url).status_code == 403
    page = text_of(owner.get(url))
    assert 'id="acknowledge"' in page
    response = owner.post(url + "/acknowledge", {}, token_from=url)
    assert response.status_code == 302
    page = text_of(owner.get(url))
    assert "Acknowledged by Olu Owner" in page and 'id="acknowledge"' not in page
    assert "Acknowledged by the accountable owner, Olu Owner" in text_of(owner.get(f"/systems/{system.id}/decisions"))
    assert owner.post(url + "/acknowledge", {}, token_from=url).status_code == 409


def test_the_review_queue_lists_what_waits(session, people, as_role):
    system = make_system(session, people["owner"], **LOW)
    accept_all_answers(session, people, system)
    control = _control(session, system)
    from registry.controls.services import add_evidence, assess_control

    assess_control(session, people["owner"], system.id, control.id, {"status": "implemented"})
    add_evidence(session, people["owner"], system.id, control.id, {"description": "x", "url": "https://x.test"})
    session.commit()
    page = text_of(as_role("compliance").get("/review"))
    assert f'href="/systems/{system.id}/controls?status=to_verify">1 control<' in page  # grouped by system
    assert f'<a href="/systems/{system.id}/decisions">{system.name}</a>' in page  # decision due
    assert re.search(r'<span class="figure">0</span> answers to review', page)


def test_a_decision_on_facts_that_changed_since_the_page_was_opened_is_refused(session, people, as_role):
    from registry.controls.services import assess_control

    system = make_system(session, people["owner"], **LOW)
    accept_all_answers(session, people, system)
    rows = implement_all_controls(session, people["owner"], system, verifier=people["compliance"])
    officer = as_role("compliance")
    url = f"/systems/{system.id}/decisions"
    page = officer.get(url).get_data(as_text=True)
    basis = re.search(r'name="basis" type="hidden" value="([0-9a-f]+)"', page).group(1)
    # meanwhile the owner sets a control back to not started
    assess_control(session, people["owner"], system.id, rows[0].control.id, {"status": "not_started"})
    session.commit()
    response = officer.post(url, {"verdict": "go", "rationale": "Everything was in order when I looked.",
                                  "basis": basis}, token_from=url)
    assert response.status_code == 409 and "changed since you opened this page" in text_of(response)
    assert session.scalar(select(func.count(Decision.id))) == 0
    session.commit()
    fresh = re.search(r'name="basis" type="hidden" value="([0-9a-f]+)"', response.get_data(as_text=True)).group(1)
    assert fresh != basis


def test_the_decision_page_shows_one_recommendation_when_the_re_review_is_overdue(session, people, as_role):
    """Header and form agree: the overdue re-review that the new decision resolves is explained, not counted."""
    system = make_system(session, people["owner"], **LOW)
    accept_all_answers(session, people, system)
    implement_all_controls(session, people["owner"], system, verifier=people["compliance"])
    record_decision(session, people["compliance"], system.id, {
        "verdict": "go", "rationale": "Everything accepted and implemented; see the review notes."},
        now=datetime.now(UTC) - timedelta(days=800))
    session.commit()
    page = text_of(as_role("compliance").get(f"/systems/{system.id}/decisions"))
    go = '<span class="badge verdict-go">GO</span>'
    assert f"Recommendation for this review: {go}" in page
    assert page.count("Recommendation for this review:") == 2 and "Recommendation now:" not in page  # header + section
    assert 'id="not-counted"' in page and "has passed" in page
    assert f"For this review the recommendation is {go}" in page and "NO-GO" not in page.split('id="rec-h"')[1].split("</section>")[0]


def test_the_review_queue_lists_overrides_to_confirm_and_leaves_out_systems_you_are_named_on(session, people, as_role):
    system = make_system(session, people["owner"])  # high tier
    named = make_system(session, people["owner"], name="Named system")
    accept_all_answers(session, people, named)  # a decision is due on it
    second = make_user(session, "compliance", email="second@example.test", name="Sam Second")
    named.technical_owner_id = second.id  # Sam is named on it: not theirs to decide
    session.commit()
    override_tier(session, people["compliance"], system.id, "low", "Only sorts claims for adjusters.")
    session.commit()
    from tests.conftest import Browser

    sam = Browser(as_role("anonymous").client.application.test_client())
    sam.login("second@example.test")
    page = text_of(sam.get("/review"))
    overrides = page[page.index('id="overrides"'):]
    assert f'<a href="/systems/{system.id}#risk-tier">{system.name}</a>' in overrides
    assert "Only sorts claims for adjusters." in overrides
    assert f"/systems/{named.id}/decisions" not in page  # named on it: left out, as the page says
    proposer = text_of(as_role("compliance").get("/review"))
    assert "No tier override waits for confirmation." in proposer  # not the one who proposed it
    assert f"/systems/{named.id}/decisions" in proposer
