"""Control catalogues as data, applicability by tier and kind, assessments, evidence and verification."""

from __future__ import annotations

import io
import zipfile
from datetime import date, timedelta

import pytest
import yaml
from sqlalchemy import func, select

from registry.audit.models import AuditEvent
from registry.controls.applicability import active_controls, required_controls
from registry.controls.catalogue import CATALOGUE_DIR, load_catalogue, read_catalogue
from registry.controls.evidence_store import EvidenceStore
from registry.controls.models import Control, ControlAssessment, Evidence, Framework
from registry.controls.services import add_evidence, assess_control, control_rows, verify_control
from registry.db import utcnow
from registry.enums import ControlStatus
from registry.errors import PermissionDenied, ValidationFailed
from registry.files.models import Blob
from registry.files.store import FileStore
from registry.inventory.services import override_tier
from tests.conftest import make_system

NIST = CATALOGUE_DIR / "nist-ai-rmf-1.0.yaml"
LOW = {"kind": "predictive_model", "affects": ["internal_staff"], "data_categories": [], "autonomy": "human_in_the_loop",
       "risk": {"prohibited_practice": "none", "decision_domains": [], "legal_effect": False}}


def test_the_nist_catalogue_has_the_72_official_subcategories():
    controls = read_catalogue(NIST)["controls"]
    refs = [c["ref"] for c in controls]
    assert len(refs) == 72 == len(set(refs))
    per_function = {f: sum(1 for c in controls if c["function"] == f) for f in ("GOVERN", "MAP", "MEASURE", "MANAGE")}
    assert per_function == {"GOVERN": 19, "MAP": 18, "MEASURE": 22, "MANAGE": 13}
    assert refs[0] == "GOVERN 1.1" and refs[-1] == "MANAGE 4.3"
    by_ref = {c["ref"]: c for c in controls}
    assert by_ref["GOVERN 1.1"]["text"] == ("Legal and regulatory requirements involving AI are understood, managed, "
                                            "and documented.")
    assert "context-specific" in by_ref["MAP 1.1"]["text"] and "contextspecific" not in by_ref["MAP 1.1"]["text"]
    assert all(c["guidance"] for c in controls), "every NIST control shows Playbook guidance"


@pytest.mark.parametrize(("tier", "count"), [("low", 16), ("medium", 41), ("high", 72), ("unacceptable", 0)])
def test_nist_applicability_by_tier(session, people, tier, count):
    system = make_system(session, people["owner"], **LOW)
    if tier != "low":
        override_tier(session, people["compliance"], system.id, tier, "Test")
    nist = [c for c in required_controls(session, system) if c.framework.key == "nist-ai-rmf-1.0"]
    assert len(nist) == count
    assert len(required_controls(session, system)) == count  # a predictive model gets no GenAI controls


def test_generative_systems_also_get_the_failure_modes_and_genai_risks(session, people):
    system = make_system(session, people["owner"], **(LOW | {"kind": "generative_assistant"}))
    keys = {}
    for control in required_controls(session, system):
        keys.setdefault(control.framework.key, []).append(control.ref)
    assert len(keys["production-failure-modes"]) == 7  # multi-step reasoning is for agents only
    assert "GAI-CONFABULATION" in keys["nist-ai-600-1"]
    agent = make_system(session, people["owner"], **(LOW | {"kind": "agent"}))
    refs = [c.ref for c in required_controls(session, agent)]
    assert "FM-8" in refs


def test_the_low_subset_is_nested_in_medium_and_high(session):
    for control in active_controls(session):
        if "low" in control.tiers:
            assert {"medium", "high"} <= set(control.tiers), control.ref
        if "medium" in control.tiers:
            assert "high" in control.tiers, control.ref


def test_a_tier_change_recomputes_the_set_and_keeps_recorded_assessments(session, people):
    system = make_system(session, people["owner"], **LOW)
    override_tier(session, people["compliance"], system.id, "high", "Feeds hiring decisions")
    high_only = next(c for c in required_controls(session, system) if "medium" not in c.tiers)
    assess_control(session, people["owner"], system.id, high_only.id, {"status": "in_progress", "due_on": None})
    session.commit()
    override_tier(session, people["compliance"], system.id, "low", "Back to internal use")
    session.commit()
    rows = {r.control.id: r for r in control_rows(session, system)}
    assert rows[high_only.id].required is False and rows[high_only.id].status is ControlStatus.IN_PROGRESS
    override_tier(session, people["compliance"], system.id, "high", "Hiring again")
    rows = {r.control.id: r for r in control_rows(session, system)}
    assert rows[high_only.id].required and rows[high_only.id].status is ControlStatus.IN_PROGRESS


def test_a_second_framework_is_a_data_change(session, people, tmp_path):
    """ISO/IEC 42001 Annex A ships as data; loading it adds controls without code."""
    framework, counts = load_catalogue(session, None, CATALOGUE_DIR / "available" / "iso-42001-2023-annex-a.yaml")
    assert counts == {"added": 38, "updated": 0, "retired": 0}
    try:
        system = make_system(session, people["owner"], **LOW)
        override_tier(session, people["compliance"], system.id, "medium", "Test")
        iso = [c.ref for c in required_controls(session, system) if c.framework_id == framework.id]
        assert len(iso) == 38 and "A.6.2.6" in iso
        # a smaller custom catalogue: two controls, one only for agents touching personal data
        custom = tmp_path / "eu-ai-act-duties.yaml"
        custom.write_text(yaml.safe_dump({
            "framework": {"key": "eu-ai-act-duties", "name": "EU AI Act duties (sample)"},
            "controls": [
                {"ref": "ART-50", "function": "TRANSPARENCY", "title": "People are told they talk to an AI.",
                 "tiers": ["low", "medium", "high"], "kinds": ["generative_assistant", "agent"]},
                {"ref": "ART-10", "function": "DATA", "title": "Training data is governed.",
                 "tiers": ["high"], "data": ["personal"]},
            ]}), encoding="utf-8")
        eu, _ = load_catalogue(session, None, custom)
        bot = make_system(session, people["owner"], **(LOW | {"kind": "generative_assistant"}))
        assert [c.ref for c in required_controls(session, bot) if c.framework_id == eu.id] == ["ART-50"]
        # reloading without a control retires it; assessments of it survive
        custom.write_text(yaml.safe_dump({"framework": {"key": "eu-ai-act-duties", "name": "EU AI Act duties"},
                                          "controls": [{"ref": "ART-10", "function": "DATA", "title": "T",
                                                        "tiers": ["high"]}]}), encoding="utf-8")
        _, counts = load_catalogue(session, None, custom)
        assert counts == {"added": 0, "updated": 1, "retired": 1}
    finally:
        session.rollback()


@pytest.mark.parametrize(("content", "problem"), [
    ("framework: {key: x, name: X}\ncontrols: []\n", "controls"),
    ("framework: {key: 'Bad Key', name: X}\ncontrols: [{ref: A, function: F, title: T, tiers: [low]}]\n", "framework"),
    ("framework: {key: x, name: X}\ncontrols: [{ref: A, function: F, title: T, tiers: [extreme]}]\n", "controls"),
    ("framework: {key: x, name: X}\ncontrols: [{ref: A, function: F, title: T, tiers: [low]},"
     " {ref: A, function: F, title: T, tiers: [low]}]\n", "controls"),
    ("{{{ not yaml", None),
])
def test_a_malformed_catalogue_is_refused_whole(session, tmp_path, content, problem):
    path = tmp_path / "bad.yaml"
    path.write_text(content, encoding="utf-8")
    before = session.scalar(select(func.count(Control.id)))
    with pytest.raises(ValidationFailed) as err:
        load_catalogue(session, None, path)
    if problem:
        assert problem in err.value.errors
    session.rollback()
    assert session.scalar(select(func.count(Control.id))) == before
    assert session.scalar(select(Framework.id).where(Framework.key == "x")) is None


# -- assessments ---------------------------------------------------------------------------------

@pytest.fixture
def system(session, people):
    return make_system(session, people["owner"])


@pytest.fixture
def control(session, system):
    return next(r.control for r in control_rows(session, system) if r.required)


def test_status_rules(session, people, system, control):
    with pytest.raises(ValidationFailed) as err:
        assess_control(session, people["owner"], system.id, control.id, {"status": "not_applicable"})
    assert "na_reason" in err.value.errors
    with pytest.raises(ValidationFailed) as err:
        assess_control(session, people["owner"], system.id, control.id,
                       {"status": "in_progress", "due_on": (date.today() - timedelta(days=3)).isoformat()})
    assert "due_on" in err.value.errors
    with pytest.raises(PermissionDenied):
        assess_control(session, people["compliance"], system.id, control.id, {"status": "implemented"})
    with pytest.raises(PermissionDenied):
        assess_control(session, people["other_owner"], system.id, control.id, {"status": "implemented"})
    a = assess_control(session, people["owner"], system.id, control.id, {"status": "not_applicable", "na_reason": "No users"})
    assert a.status is ControlStatus.NOT_APPLICABLE and a.na_reason == "No users" and a.due_on is None


def test_verification_needs_fresh_evidence_and_is_cleared_by_a_change(app, session, people, system, control):
    assess_control(session, people["owner"], system.id, control.id, {"status": "implemented"})
    with pytest.raises(ValidationFailed):
        verify_control(session, people["compliance"], system.id, control.id)
    old = (utcnow().date() - timedelta(days=400)).isoformat()
    add_evidence(session, people["owner"], system.id, control.id, {"description": "Old", "url": "https://x.test/a",
                                                                    "collected_on": old})
    with pytest.raises(ValidationFailed, match="current evidence"):
        verify_control(session, people["compliance"], system.id, control.id)
    add_evidence(session, people["owner"], system.id, control.id, {"description": "New", "url": "https://x.test/b"})
    with pytest.raises(PermissionDenied):
        verify_control(session, people["owner"], system.id, control.id)
    a = verify_control(session, people["compliance"], system.id, control.id)
    assert a.verified_by_id == people["compliance"].id
    a = assess_control(session, people["owner"], system.id, control.id, {"status": "in_progress", "due_on": None})
    assert a.verified_at is None


def test_now_dates_the_control_work_and_its_audit_events(session, people, system, control):
    assessed, added, verified = (utcnow().replace(microsecond=0) - timedelta(days=d) for d in (9, 8, 2))
    assess_control(session, people["owner"], system.id, control.id, {"status": "implemented"}, now=assessed)
    evidence = add_evidence(session, people["owner"], system.id, control.id,
                            {"description": "Report", "url": "https://x.test/r", "collected_on": None}, now=added)
    a = verify_control(session, people["compliance"], system.id, control.id, now=verified)
    assert (evidence.added_at, a.verified_at) == (added, verified)
    events = session.scalars(select(AuditEvent).where(AuditEvent.system_id == system.id,
                                                      AuditEvent.action.in_(["control.assess", "evidence.add",
                                                                             "control.verify"]))).all()
    assert {e.action: e.when for e in events} == {
        "control.assess": assessed, "evidence.add": added, "control.verify": verified}
    assert all("written_at" in e.data for e in events)


def test_links_must_be_web_links_and_exactly_one_of_file_or_link(session, people, system, control):
    for url in ("javascript:alert(1)", "file:///etc/passwd", "ftp://x.test/a"):
        with pytest.raises(ValidationFailed):
            add_evidence(session, people["owner"], system.id, control.id, {"description": "x", "url": url})
    with pytest.raises(ValidationFailed):
        add_evidence(session, people["owner"], system.id, control.id, {"description": "x"})
    with pytest.raises(ValidationFailed):
        add_evidence(session, people["owner"], system.id, control.id,
                     {"description": "x", "url": "https://x.test", "collected_on": "2999-01-01"})
    session.rollback()
    assert session.scalar(select(func.count(Evidence.id))) == 0
    assert session.scalar(select(func.count(ControlAssessment.id))) == 0


# -- the evidence store --------------------------------------------------------------------------

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def _docx() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("word/document.xml", "<w:document/>")
    return buf.getvalue()


@pytest.mark.parametrize(("name", "data"), [
    ("report.pdf", PDF), ("chart.png", PNG), ("notes.txt", "Prüfbericht ✓\n".encode()), ("data.csv", b"a,b\n1,2\n"),
    ("policy.docx", _docx()), ("photo.JPG", b"\xff\xd8\xff\xe0" + b"\x00" * 20),
])
def test_accepted_files_are_stored_with_their_hash(session, name, data):
    import hashlib

    store = EvidenceStore(FileStore(), max_bytes=1024 * 1024)
    stored = store.save(session, io.BytesIO(data), name)
    session.commit()
    assert stored.sha256 == hashlib.sha256(data).hexdigest() and stored.size_bytes == len(data)
    assert store.files.read(session, stored.sha256) == data


@pytest.mark.parametrize(("name", "data", "message"), [
    ("big.pdf", PDF + b"x" * 2048, "at most"),
    ("empty.pdf", b"", "empty"),
    ("tool.exe", b"MZ\x90\x00", "Upload one of"),
    ("page.html", b"<html><script>alert(1)</script>", "Upload one of"),
    ("image.svg", b"<svg onload=alert(1)>", "Upload one of"),
    ("report.pdf", PNG, "its content is a PNG image"),
    ("chart.png", PDF, "its content is a PDF document"),
    ("notes.txt", b"<!DOCTYPE html><html><script>x</script>", "does not contain"),
    ("binary.txt", b"\x00\x01\x02garbage", "does not contain"),
    ("fake.docx", b"PK\x03\x04not really a zip", "does not contain"),
    ("../../etc/passwd", b"root:x:0:0", "Upload one of"),
])
def test_refused_files_leave_nothing_behind(session, name, data, message):
    store = EvidenceStore(FileStore(), max_bytes=1024)
    with pytest.raises(ValidationFailed) as err:
        store.save(session, io.BytesIO(data), name)
    assert message in " ".join(err.value.errors.get("file", [])), err.value.errors
    assert session.scalar(select(func.count()).select_from(Blob)) == 0
