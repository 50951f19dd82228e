"""The audit PDF: contents from the snapshot, PDF/A with the embedded snapshot, verification, safety, limits."""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import re
import shutil
import subprocess
import threading
from collections import Counter
from datetime import timedelta

import pytest
from pypdf import PdfReader, PdfWriter
from sqlalchemy import func, select

from registry.audit.services import canonical_json
from registry.config import load_config
from registry.decisions.models import Decision
from registry.decisions.services import record_decision
from registry.enums import Question
from registry.inventory.services import assessment_for
from registry.reports.render import PackagedAssetFetcher, RenderError, render_pdf
from registry.reports.services import (
    RenderLimits,
    document_id,
    ensure_report,
    render_decision_pdf,
    report_html,
    summarise_blockers,
    text_direction,
)
from registry.reports.verify import record_status, verify_pdf
from tests.builders import accept_all_answers, implement_all_controls
from tests.conftest import make_system

LOW = {"kind": "predictive_model", "affects": ["internal_staff"], "data_categories": [], "autonomy": "human_in_the_loop",
       "risk": {"prohibited_practice": "none", "decision_domains": [], "legal_effect": False}}
RATIONALE = "All five answers accepted; every required control implemented with current evidence."


def _decide(session, people, rationale=RATIONALE, **overrides):
    system = make_system(session, people["owner"], **{**LOW, **overrides})
    accept_all_answers(session, people, system)
    implement_all_controls(session, people["owner"], system, verifier=people["compliance"])
    decision = record_decision(session, people["compliance"], system.id, {
        "verdict": "conditional_go", "rationale": rationale,
        "conditions": "Monthly drift review with the claims lead\nRe-run the rollback drill"})
    session.commit()
    return system, decision


@pytest.fixture
def decided(session, people):
    return _decide(session, people)


def _text(pdf: bytes) -> list[str]:
    """Each page's text (poppler's pdftotext: a fraction of pypdf's time on these 20-page reports)."""
    return _pdftotext(pdf).split("\f")[:-1]


def test_the_pdf_carries_everything_an_auditor_needs(session, people, decided):
    system, decision = decided
    report = ensure_report(session, decision)
    session.commit()
    pages = _text(report.pdf)
    text = "\n".join(pages)
    assert report.page_count == len(pages) >= 8
    assert "CONDITIONAL GO" in pages[0] and system.name in pages[0]
    assert document_id(decision) in pages[0] and decision.snapshot_sha256 in pages[0]
    for question in Question:
        assert question.label in text, question
    for control in decision.snapshot["controls"]:
        assert control["ref"] in text
    assert "Monthly drift review with the claims lead" in text
    assert "Claims triaged within 24 hours" in text  # the baseline metric, in the table and the chart
    for number, page in enumerate(pages, start=1):
        assert f"Page {number} of {len(pages)}" in page
        assert f"Snapshot SHA-256 {decision.snapshot_sha256}" in page
        assert f"Document {document_id(decision)}" in page
    # sections in the order the issue lists them
    order = ["Executive summary", "System profile", "Scaling-readiness answers", "Baseline metrics", "Controls",
             "Evidence index", "Audit trail excerpt", "Sign-off"]
    positions = [text.index(heading) for heading in order]
    assert positions == sorted(positions)
    # nothing that did not happen: the owner's acknowledgement is pending at issue, never "Acknowledged"
    required = len(decision.snapshot["controls"])
    assert f"{required} of {required} required controls verified" in pages[0]
    summary = text[text.index("Executive summary"):text.index("System profile")]
    assert f"{required} of {required} required controls verified" in summary
    assert "Owner acknowledgement: pending at issue" in text and "Acknowledged" not in text


def test_the_pdf_is_pdf_a_with_the_snapshot_embedded_and_metadata_set(session, people, decided):
    _system, decision = decided
    pdf = render_decision_pdf(decision).pdf
    reader = PdfReader(io.BytesIO(pdf))
    embedded = reader.attachments["snapshot.json"][0]
    assert json.loads(embedded) == decision.snapshot
    assert hashlib.sha256(embedded).hexdigest() == decision.snapshot_sha256
    xmp = reader.xmp_metadata.stream.get_data().decode()
    assert 'pdfaid:part="3"' in xmp and 'pdfaid:conformance="U"' in xmp
    assert reader.trailer["/Root"]["/Lang"] == "en"
    meta = reader.metadata
    assert decision.snapshot["system"]["name"] in meta.title
    assert meta.author == people["compliance"].label
    assert document_id(decision) in meta.subject
    # every font is embedded (PDF/A) and is one of the app's packaged fonts
    fonts = set()
    for page in reader.pages:
        for font in page["/Resources"]["/Font"].values():
            font = font.get_object()
            descriptor = font["/DescendantFonts"][0].get_object()["/FontDescriptor"] if "/DescendantFonts" in font else font["/FontDescriptor"]
            assert "/FontFile2" in descriptor or "/FontFile3" in descriptor or "/FontFile" in descriptor
            fonts.add(str(font["/BaseFont"]).split("+")[-1])
    assert fonts and fonts <= {"Registry-Sans", "Registry-Sans-Bold", "Registry-Sans-Italic", "Registry-Mono"}, fonts


def test_rendering_the_same_snapshot_twice_gives_the_same_bytes(session, people, decided):
    _system, decision = decided
    assert render_decision_pdf(decision).pdf == render_decision_pdf(decision).pdf


def test_the_stored_pdf_is_issued_once_and_served_identically(session, people, decided):
    _system, decision = decided
    first = ensure_report(session, decision)
    session.commit()
    again = ensure_report(session, decision)
    assert again.id == first.id and again.pdf == first.pdf
    assert first.sha256 == hashlib.sha256(first.pdf).hexdigest() and first.size_bytes == len(first.pdf)


def test_verify_accepts_the_issued_pdf(session, people, decided):
    _system, decision = decided
    report = ensure_report(session, decision)
    session.commit()
    result = verify_pdf(session, report.pdf)
    assert result.authentic, result.checks
    assert result.decision_id == decision.id and result.document_id == report.document_id
    assert result.verdict.startswith("AUTHENTIC AND UNALTERED")


def _replace_attachment(pdf: bytes, data: bytes) -> bytes:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
    names = writer._root_object["/Names"]["/EmbeddedFiles"]["/Names"]
    spec = names[1].get_object()
    stream = spec["/EF"]["/F"].get_object()
    stream.set_data(data)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_verify_fails_when_one_byte_of_the_embedded_snapshot_changes(session, people, decided):
    _system, decision = decided
    report = ensure_report(session, decision)
    session.commit()
    original = PdfReader(io.BytesIO(report.pdf)).attachments["snapshot.json"][0]
    tampered_json = original.replace(b'"verdict":"conditional_go"', b'"verdict":"conditional_gO"', 1)
    assert tampered_json != original and len(tampered_json) == len(original)
    result = verify_pdf(session, _replace_attachment(report.pdf, tampered_json))
    assert not result.authentic
    failed = [c for c in result.checks if not c.ok]
    assert failed[0].label == "Embedded snapshot matches the printed hash"
    assert result.verdict.startswith("NOT VERIFIED")


def test_verify_fails_when_the_printed_hash_differs_from_the_embedded_snapshot(session, people, decided):
    _system, decision = decided
    ensure_report(session, decision)
    session.commit()
    forged_hash = "0" * 64
    html = report_html(decision.id, decision.snapshot, forged_hash, document_id(decision))
    forged = render_pdf(html, attachments=[("snapshot.json", canonical_json(decision.snapshot).encode(), "x")]).pdf
    result = verify_pdf(session, forged)
    assert not result.authentic
    assert [c.label for c in result.checks if not c.ok] == ["Embedded snapshot matches the printed hash"]


def test_verify_fails_for_a_flipped_byte_anywhere_and_for_non_pdfs(session, people, decided):
    _system, decision = decided
    report = ensure_report(session, decision)
    session.commit()
    damaged = bytearray(report.pdf)
    damaged[len(damaged) // 2] ^= 0x01
    assert not verify_pdf(session, bytes(damaged)).authentic
    junk = verify_pdf(session, b"not a pdf at all")
    assert not junk.authentic and "not a readable PDF" in junk.checks[0].detail
    bare = render_pdf("<html><body><p>Looks official</p></body></html>").pdf
    assert "no embedded snapshot.json" in verify_pdf(session, bare).checks[0].detail


def test_verify_fails_when_the_registry_never_issued_the_document(session, people, decided):
    """A PDF rendered outside the registry from a copied snapshot: checks 1–2 pass, the record check fails."""
    _system, decision = decided
    html = report_html(decision.id, decision.snapshot, decision.snapshot_sha256, document_id(decision))
    copy = render_pdf(html, attachments=[("snapshot.json", canonical_json(decision.snapshot).encode(), "x")]).pdf
    result = verify_pdf(session, copy)  # no report was ever stored for this decision
    assert [c.ok for c in result.checks] == [True, True, False]
    assert "has issued no document" in result.checks[-1].detail


class _Recorder(http.server.BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self):  # noqa: N802
        _Recorder.hits.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def listener():
    _Recorder.hits = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_hostile_user_text_is_shown_as_text_and_fetches_nothing(session, people, listener):
    hostile_name = f'<img src="file:///etc/passwd"> Evil <b>model</b> url({listener}/name)'
    purpose = (f'<style>@import url("{listener}/import.css");</style><link rel="stylesheet" href="{listener}/x.css">'
               f'<div style="background: url({listener}/bg.png)">x</div> ' + "A" * 3500)
    huge = "W" * 8000  # one unbroken 8,000-character word in the rationale
    system, decision = _decide(session, people, name=hostile_name[:200], purpose=purpose, rationale=huge)
    assert decision.rationale == huge
    html = report_html(decision.id, decision.snapshot, decision.snapshot_sha256, document_id(decision))
    assert "<img src=" not in html and "&lt;img src=&#34;file:///etc/passwd&#34;&gt;" in html
    pdf = render_decision_pdf(decision).pdf
    text = "\n".join(_text(pdf))
    assert '<img src="file:///etc/passwd">' in text  # shown as text
    assert "root:x:0:0" not in text
    assert _Recorder.hits == []


def test_the_url_fetcher_serves_packaged_assets_only(listener):
    fetcher = PackagedAssetFetcher()
    base = "https://assets.registry.invalid/static/"
    assert fetcher.fetch(base + "pdf/report.css").read().startswith(b"/*")
    for url in ["file:///etc/passwd", f"{listener}/x.png", "https://example.com/a.css", "data:text/css,body{}",
                base + "../registry/config.py", base + "registry.css", base + "pdf/../../README.md",
                base + "fonts/%2e%2e/x.ttf", "ftp://127.0.0.1/x"]:
        with pytest.raises(ValueError):
            fetcher.fetch(url)
    assert len(fetcher.refused) == 9


def test_even_raw_hostile_html_renders_without_fetching(listener):
    html = (f'<html><head><link rel="stylesheet" href="{listener}/a.css"><style>@import url({listener}/b.css);'
            f'body {{ background: url({listener}/c.png) }}</style></head><body>'
            f'<img src="file:///etc/passwd"><img src="{listener}/d.png"><iframe src="{listener}/e"></iframe>'
            f'<object data="{listener}/f"></object><img src="FILE:///etc/passwd"><link rel="attachment" href="{listener}/g">'
            f'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="10" height="10">'
            f'<image href="file:///etc/passwd" width="5" height="5"/><use xlink:href="{listener}/h.svg#x"/></svg>'
            f'<img src="data:image/svg+xml,&lt;svg xmlns=%22http://www.w3.org/2000/svg%22&gt;&lt;image href=%22{listener}/i%22/&gt;&lt;/svg&gt;">'
            f'<p>Still renders</p></body></html>')
    pdf = render_pdf(html, variant=None).pdf
    assert pdf.startswith(b"%PDF") and "Still renders" in _text(pdf)[0]
    assert _Recorder.hits == []


def test_rendering_that_takes_too_long_is_stopped_with_a_message():
    slow = "<html><body>" + "<table>" + "<tr><td>cell</td><td>cell</td></tr>" * 40000 + "</table></body></html>"
    with pytest.raises(RenderError, match="longer than 0.5 seconds"):
        render_pdf(slow, timeout=0.5)


def test_rendering_that_needs_too_much_memory_is_stopped_with_a_message():
    # 20 MB of text: WeasyPrint's own copy of the document outgrows 8 MB as soon as it reads it (a
    # tree of 200,000 paragraphs breaks the limit too, but only after seconds of parsing).  Without
    # the limit this render would run far past the timeout, which would fail here with another message.
    big = "<html><body><p>" + "word " * 4_000_000 + "</p></body></html>"
    # The render raises MemoryError in the child.  Reporting it needs memory as well, so the child may
    # die before it can send its message; the parent then reports that it stopped (run_limited's EOF
    # case).  Either way the message names memory; any other failure ("could not be produced (…)", a
    # timeout) is a bug and fails here.
    with pytest.raises(RenderError) as caught:
        render_pdf(big, max_memory_mb=8, timeout=120)
    assert str(caught.value) in ("The PDF needed more than 8 MB of memory and was stopped.",
                                 "The PDF stopped unexpectedly (it may have run out of memory).")


def test_a_quoted_document_id_or_hash_in_user_text_does_not_confuse_verification(session, people):
    quoting = ("Supersedes the earlier review; see Document RR-000003-ABCDEF12 and its Snapshot SHA-256 "
               + "ab" * 32 + " for the history.")
    _system, decision = _decide(session, people, rationale=quoting)
    report = ensure_report(session, decision)
    session.commit()
    result = verify_pdf(session, report.pdf)
    assert result.authentic, result.checks


def test_no_transaction_is_open_while_a_pdf_renders(session, people, decided, monkeypatch):
    """SQLite has one writer: holding its lock through a one-second render would stall every other writer."""
    from registry.reports import services

    _system, decision = decided
    seen = []
    real = services.render_decision_pdf

    def spy(d, limits):
        seen.append(session.in_transaction())
        return real(d, limits)

    monkeypatch.setattr(services, "render_decision_pdf", spy)
    session.scalar(select(func.count()).select_from(Decision))  # the caller has a transaction open
    services.ensure_report(session, decision)
    session.commit()
    assert seen == [False]


def test_reading_a_pdf_is_bounded_in_time(session, people, decided):
    from registry.reports.verify import read_pdf_limited

    _system, decision = decided
    pdf = ensure_report(session, decision).pdf
    session.commit()
    with pytest.raises(ValueError, match="could not be checked: Reading the PDF took longer than"):
        read_pdf_limited(pdf, timeout=0.001)
    assert read_pdf_limited(pdf).snapshot_bytes is not None


def test_verify_never_crashes_and_never_passes_a_damaged_file(session, people, decided):
    """Flip, cut or overwrite bytes all over the file: always a plain NOT VERIFIED, never an exception."""
    import random

    _system, decision = decided
    report = ensure_report(session, decision)
    session.commit()
    rng = random.Random(20261123)
    for _ in range(12):
        data = bytearray(report.pdf)
        kind = rng.choice(["flip", "cut", "zero"])
        at = rng.randrange(len(data))
        if kind == "flip":
            data[at] ^= 1 << rng.randrange(8)
        elif kind == "cut":
            del data[at:]
        else:
            data[at:at + 64] = bytes(64)
        result = verify_pdf(session, bytes(data))
        assert not result.authentic and result.verdict.startswith("NOT VERIFIED")


def test_the_snapshot_and_the_pdf_carry_the_eu_ai_act_class_and_the_omb_flag(session, people):
    system, decision = _decide(session, people, affects=["customers"], kind="generative_assistant")
    classes = assessment_for(system)
    assert decision.snapshot["tier"]["eu_ai_act_class"] == classes.eu_ai_act_class != ""
    assert decision.snapshot["tier"]["omb_m_25_21_high_impact"] is classes.omb_high_impact
    text = " ".join(" ".join(_text(ensure_report(session, decision).pdf)).split())
    # (labels and values of the facts list come out of the PDF's text in columns, not pairs)
    assert "EU AI Act" in text and " ".join(classes.eu_ai_act_class.split()) in text
    assert "OMB M-25-21 high-impact" in text


def test_a_superseded_pdf_is_authentic_and_says_superseded(session, people, decided):
    system, first = decided
    old_pdf = ensure_report(session, first).pdf
    session.commit()
    assert verify_pdf(session, old_pdf).status == "current"
    second = record_decision(session, people["compliance"], system.id, {
        "verdict": "no_go", "rationale": "The vendor contract lapsed; pause until it is renewed and re-reviewed."})
    session.commit()
    new_report = ensure_report(session, second)
    session.commit()
    result = verify_pdf(session, old_pdf)
    assert result.authentic and result.status == "superseded"
    assert f"superseded by decision #{second.id} (document {new_report.document_id})" in result.status_text
    assert result.verdict.startswith("AUTHENTIC AND UNALTERED") and "Record status: superseded" in result.verdict
    assert verify_pdf(session, new_report.pdf).status == "current"


def test_a_pdf_past_its_re_review_date_says_so(session, people, decided):
    _system, decision = decided
    status, text = record_status(session, decision, today=decision.expires_on + timedelta(days=1))
    assert status == "expired" and f"past its re-review date {decision.expires_on.isoformat()}" in text
    assert record_status(session, decision, today=decision.expires_on)[0] == "current"


def test_each_check_line_states_its_own_outcome(session, people, decided):
    _system, decision = decided
    report = ensure_report(session, decision)
    session.commit()
    passed = verify_pdf(session, report.pdf).checks
    assert passed[1].detail.startswith("The embedded snapshot hashes to") and ", but" not in passed[1].detail
    assert passed[3].detail.startswith("This file's SHA-256 equals the issued PDF's")
    copy = _replace_attachment(report.pdf, canonical_json(decision.snapshot).encode("utf-8"))  # same snapshot, new bytes
    assert copy != report.pdf
    failed = verify_pdf(session, copy).checks
    assert [c.ok for c in failed] == [True, True, True, False]
    assert failed[-1].detail.startswith("This file differs from the issued PDF: its SHA-256 is")


# Text in other scripts, the NO-GO summary, empty sections, the organisation name (issue 15).

CHINESE, JAPANESE, ARABIC, HINDI, EMOJI = "风险评估系统", "リスク評価", "نظام تقييم المخاطر", "मूल्यांकन प्रणाली", "🚀"
BIDI_CONTROLS = dict.fromkeys(map(ord, "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f"))
NOTO_FAMILIES = ("Noto Sans CJK SC", "Noto Sans Arabic", "Noto Sans Devanagari", "Noto Color Emoji")


def _noto_installed() -> bool:
    if not shutil.which("fc-list"):
        return False
    families = subprocess.run(["fc-list", ":", "family"], capture_output=True, text=True).stdout
    return all(family in families for family in NOTO_FAMILIES)


needs_noto = pytest.mark.skipif(
    not _noto_installed() or not shutil.which("pdftotext"),
    reason="the Noto fonts (Debian: fonts-noto-core, fonts-noto-cjk, fonts-noto-color-emoji) or pdftotext are "
           "not installed here; scripts/test, scripts/run and .ci/run install the fonts (scripts/_fonts.sh)")


def _pdftotext(pdf: bytes, *args: str) -> str:
    out = subprocess.run(["pdftotext", *args, "-", "-"], input=pdf, capture_output=True, check=True).stdout
    return out.decode(errors="replace").translate(BIDI_CONTROLS)


@needs_noto
def test_names_and_rationales_in_any_script_appear_in_the_pdf_and_arabic_reads_right_to_left(session, people):
    name = f"{CHINESE} {ARABIC} {HINDI} {EMOJI}"
    rationale = f"{ARABIC} للعملاء جاهز.\n{CHINESE}：{JAPANESE}。\n{HINDI} {EMOJI}"
    _system, decision = _decide(session, people, rationale=rationale, name=name, business_unit="وحدة المطالبات")
    pdf = ensure_report(session, decision).pdf
    session.commit()
    pages = _pdftotext(pdf).split("\f")
    for text in (CHINESE, JAPANESE, ARABIC, HINDI, EMOJI):
        assert text in pages[0] + pages[1], text  # the cover's name, the summary's rationale
    assert all(text in pages[2] for text in (CHINESE, ARABIC, HINDI, "وحدة المطالبات"))  # the system profile
    # The rationale starts in Arabic, so its paragraph reads right to left: its first word is the
    # rightmost of the line, against the right margin (pdftotext -bbox gives glyphs in visual order).
    words = re.findall(r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="[\d.]+">([^<]*)</word>',
                       _pdftotext(pdf, "-bbox", "-f", "2", "-l", "2"))
    body = [(float(x0), float(x1), text[::-1]) for x0, y0, x1, text in words if float(y0) > 100]
    first = next(w for w in body if w[2] == "نظام")
    second = next(w for w in body if w[2] == "تقييم" and abs(w[1] - first[0]) < 10)
    right_margin = 595.28 - 18 / 25.4 * 72
    assert abs(first[1] - right_margin) < 2 and second[1] < first[0]
    assert 'dir="rtl"' in report_html(decision.id, decision.snapshot, decision.snapshot_sha256, document_id(decision))
    # Latin text stays in the packaged fonts: the emoji font never takes the digits.
    fonts = subprocess.run(["pdffonts", "-l", "1", "-"], input=pdf, capture_output=True).stdout.decode() \
        if shutil.which("pdffonts") else ""
    assert not fonts or "Registry-Sans" in fonts


def test_the_direction_of_user_text_is_that_of_its_first_strong_character():
    assert text_direction("نظام 2") == "rtl" and text_direction("  «עברית» and English") == "rtl"
    assert text_direction("Claims نظام") == "ltr" and text_direction("风险") == "ltr" and text_direction("") == "ltr"
    assert text_direction("2024 — 🚀") == "ltr"


def _undecided_no_go(session, people, **overrides):
    system = make_system(session, people["owner"], **{**LOW, **overrides})
    decision = record_decision(session, people["compliance"], system.id, {
        "verdict": "no_go", "rationale": "Nothing is ready: no answers, no controls, no baseline."})
    session.commit()
    return system, decision


def test_a_no_go_summary_counts_open_items_by_kind_and_the_appendix_lists_every_one(session, people):
    _system, decision = _undecided_no_go(session, people)
    blockers = decision.snapshot["recommendation"]["blockers"]
    controls = decision.snapshot["controls"]
    # Independently: a blocker about a control names "<ref> (", a question blocker is the answer rule.
    by_function = Counter(next(c["function"] for c in controls if f"{c['ref']} (" in b["message"])
                          for b in blockers if any(f"{c['ref']} (" in b["message"] for c in controls))
    questions = sum(b["rule"] == "answer_not_accepted" for b in blockers)
    rules = len(blockers) - questions - sum(by_function.values())
    assert questions == 5 and len(by_function) >= 3 and rules >= 1 and len(blockers) > 20
    report = ensure_report(session, decision)
    session.commit()
    pages = [" ".join(p.split()) for p in _pdftotext(report.pdf, "-layout").split("\f")] \
        if shutil.which("pdftotext") else [" ".join(p.split()) for p in _text(report.pdf)]
    summary = next(p for p in pages if "1. Executive summary" in p)
    assert f"{len(blockers)} items blocked GO" in summary
    assert f"Readiness questions not accepted {questions} 0" in summary
    for function, n in by_function.items():
        assert f"{function} {n} 0" in summary, function
    assert "No measured baseline metric 1 0" in summary
    assert "Blocks GO:" not in summary  # the items themselves are in the appendix
    appendix = " ".join(pages[next(i for i, p in enumerate(pages) if "Appendix A. Open items" in p):])
    for b in blockers:
        assert " ".join(b["message"].split())[:60] in appendix, b["message"]
    assert appendix.count("Blocks GO:") == len(blockers)
    # the footer of the last page still carries what verification reads
    assert verify_pdf(session, report.pdf).authentic


def test_blockers_are_grouped_by_question_control_function_and_rule():
    snapshot = {"controls": [{"ref": "GOVERN 1.1", "function": "GOVERN"}, {"ref": "GOVERN 1.10", "function": "GOVERN"},
                             {"ref": "MAP 1.1", "function": "MAP"}],
                "recommendation": {"blockers": [
                    {"rule": "answer_not_accepted", "severity": "blocking", "message": "Readiness question “Drift” …"},
                    {"rule": "control_not_started", "severity": "blocking", "message": "Required control MAP 1.1 (x) …"},
                    {"rule": "control_in_progress", "severity": "condition", "message": "Implement GOVERN 1.10 (y) by …"},
                    {"rule": "control_overdue", "severity": "blocking", "message": "Required control GOVERN 1.1 (z) …"},
                    {"rule": "no_baseline", "severity": "blocking", "message": "No baseline metric …"},
                    {"rule": "controls_unverified", "severity": "condition", "message": "Verify 2 required controls…"}]}}
    groups = [(g["kind"], g["area"], g["blocking"], g["conditions"]) for g in summarise_blockers(snapshot)]
    assert groups == [("question", "Readiness questions not accepted", 1, 0), ("control", "GOVERN", 1, 1),
                      ("control", "MAP", 1, 0), ("rule", "No measured baseline metric", 1, 0),
                      ("rule", "Required controls not yet verified", 0, 1)]


def test_an_empty_section_takes_a_line_not_a_page(session, people):
    _system, decision = _decide(session, people)
    full = _text(ensure_report(session, decision).pdf)
    _system, bare = _undecided_no_go(session, people)
    assert not bare.snapshot["metrics"] and bare.snapshot["controls"]
    pages = _text(ensure_report(session, bare).pdf)
    session.commit()
    assert len(pages) < len(full) + 6
    metrics = next(p for p in pages if "4. Baseline metrics" in p)
    assert "No metrics recorded" in metrics
    # the empty section shares its page with the next section (or the end of the one before)
    assert "5. Controls" in metrics or list(Question)[-1].label in metrics
    evidence = next(p for p in pages if "6. Evidence index" in p)
    assert "No evidence recorded" in evidence and bare.snapshot["controls"][-1]["ref"] in evidence
    # while a section with content starts a page of its own
    assert not any("4. Baseline metrics" in p and ("5. Controls" in p or "3. Scaling" in p) for p in full)


def test_the_organisation_name_is_printed_recorded_with_the_pdf_and_kept_when_the_setting_changes(session, people,
                                                                                                   decided):
    _system, decision = decided
    assert load_config({"AUDIT_KEY": "k" * 32})["ORGANISATION_NAME"] == ""
    named = RenderLimits.from_config({"ORGANISATION_NAME": "Ministry of Examples 示例部"})
    report = ensure_report(session, decision, named)
    session.commit()
    assert report.organisation_name == "Ministry of Examples 示例部"
    pages = _pdftotext(report.pdf).split("\f")[:-1]
    assert pages[0].lstrip().startswith("Ministry of Examples 示例部\n")  # the cover's first line
    assert all("Ministry of Examples" in page for page in pages) and len(pages) == report.page_count  # every footer
    # The setting changes: the issued PDF stays as issued, still verifies, and renders again byte for byte.
    renamed = RenderLimits.from_config({"ORGANISATION_NAME": "Renamed Agency"})
    again = ensure_report(session, decision, renamed)
    assert again.pdf == report.pdf and verify_pdf(session, report.pdf).authentic
    assert render_decision_pdf(decision, renamed, organisation_name=report.organisation_name).pdf == report.pdf
    assert "Renamed Agency" in _pdftotext(render_decision_pdf(decision, renamed).pdf)


def test_without_an_organisation_name_the_cover_invents_none(session, people, decided, monkeypatch):
    _system, decision = decided
    monkeypatch.setenv("ORGANISATION_NAME", "  Spaced   Out  ")
    assert load_config({"AUDIT_KEY": "k" * 32})["ORGANISATION_NAME"] == "Spaced Out"
    html = report_html(decision.id, decision.snapshot, decision.snapshot_sha256, document_id(decision))
    assert 'class="organisation' not in html
    report = ensure_report(session, decision)
    session.commit()
    assert report.organisation_name == ""
    assert _pdftotext(report.pdf).lstrip().startswith("READINESS REGISTRY")
