"""The OMB practices, waivers and declared determinations on the pages, through the test client (CSRF on)."""

from __future__ import annotations

import re
from datetime import date, timedelta

from sqlalchemy import select

from registry.controls.models import Control, ControlAssessment
from registry.enums import ControlStatus
from tests.conftest import make_system

MOTOR_PRINCIPAL = {"kind": "predictive_model", "affects": ["customers"], "data_categories": [],
                   "autonomy": "human_in_the_loop",
                   "risk": {"prohibited_practice": "none", "decision_domains": ["other_insurance"],
                            "legal_effect": True, "decision_role": "principal"}}


def text_of(response) -> str:
    return re.sub(r"\s+", " ", response.get_data(as_text=True))


def _control(session, ref):
    control = session.scalar(select(Control).where(Control.ref == ref))
    session.commit()  # release SQLite's write lock before the app writes
    return control


def test_a_practice_page_says_why_it_applies_and_records_a_waiver(session, people, as_role):
    system = make_system(session, people["owner"], **MOTOR_PRINCIPAL)
    practice = _control(session, "OMB-4(b)(vi)")
    url = f"/systems/{system.id}/controls/{practice.id}"
    web, officer = as_role("owner"), as_role("compliance")
    page = text_of(web.get(url))
    assert "Required because the system is OMB M-25-21 high-impact (or not yet determined), whatever its tier." in page
    assert "Covered in the NIST AI RMF by MEASURE 3.3, MANAGE 4.1, GOVERN 5.1." in page
    assert 'value="waived"' in page and "Waiver granted by" in page
    # Incomplete: each missing part named, nothing saved.
    response = web.post(url, {"status": "waived", "version": "0"}, token_from=url)
    assert response.status_code == 422
    page = text_of(response)
    assert "Say why the practice is waived." in page and "A waiver needs an expiry date." in page
    assert session.scalar(select(ControlAssessment).where(ControlAssessment.system_id == system.id)) is None
    session.commit()
    expires = date.today() + timedelta(days=60)
    response = web.post(url, {"status": "waived", "version": "0", "waiver_reason": "Appeals run through the ombudsman",
                              "waiver_granted_by": "Chief AI Officer", "waiver_expires_on": expires.isoformat()},
                        token_from=url)
    assert response.status_code == 302, text_of(response)[:400]
    session.expire_all()
    a = session.scalar(select(ControlAssessment).where(ControlAssessment.system_id == system.id))
    assert (a.status, a.waiver_granted_by, a.waiver_expires_on) == (ControlStatus.WAIVED, "Chief AI Officer", expires)
    session.commit()
    page = text_of(web.get(url))
    assert "Appeals run through the ombudsman" in page and f"{expires.isoformat()}" in page
    assert "Verify OMB-4(b)(vi)" in text_of(officer.get(url))


def test_a_nist_control_offers_no_waiver_and_the_service_refuses_one(session, people, as_role):
    system = make_system(session, people["owner"], **MOTOR_PRINCIPAL)
    nist = _control(session, "GOVERN 1.1")
    url = f"/systems/{system.id}/controls/{nist.id}"
    web = as_role("owner")
    page = text_of(web.get(url))
    assert 'value="waived"' not in page and "Waiver granted by" not in page
    response = web.post(url, {"status": "waived", "version": "0", "waiver_reason": "r", "waiver_granted_by": "CAIO",
                              "waiver_expires_on": (date.today() + timedelta(days=5)).isoformat()}, token_from=url)
    assert response.status_code == 422 and "GOVERN 1.1 cannot be waived" in text_of(response)


def test_the_system_page_and_the_queue_show_a_disagreeing_declaration(session, people, as_role):
    declared = {"high_impact": False, "regime": "omb_m_25_21", "justification": "A person checks every price.",
                "source": "Pricing committee"}
    system = make_system(session, people["owner"], **(MOTOR_PRINCIPAL | {"declared": declared}))
    executive, officer = as_role("executive"), as_role("compliance")
    session.commit()
    page = text_of(executive.get(f"/systems/{system.id}"))
    assert ("Declared determination</dt><dd>No, under OMB M-25-21 high-impact (Pricing committee): "
            "“A person checks every price.”" in page)
    assert "The declared determination disagrees with the rules." in page
    assert ("Declared not high-impact (OMB M-25-21 high-impact), computed high-impact: a principal basis for "
            "decisions about people in other insurance" in page)
    queue = text_of(officer.get("/review"))
    assert re.search(r'<span class="figure">1</span> declared determinations the rules disagree with', queue)
    assert f'href="/systems/{system.id}#determination-disagrees">{system.name}</a>' in queue
    assert "Pricing committee" in queue
