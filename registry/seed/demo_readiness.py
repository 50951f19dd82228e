"""The demo readiness state (seed_data/demo_readiness.yaml), replayed through the ordinary services.

For each system the file names, once the demo portfolio has registered it: saves, submits and
reviews readiness answers, assesses controls with evidence (links, and a few small files),
verifies them, records go / no-go decisions in the past and makes material changes after a
decision.  Nothing is written around the services, so permissions, completeness rules and
the audit chain apply exactly as they do for people using the application.

Each step is dated when it plausibly happened, and so is its audit event (the services take
``now``): for a decided system, answers from about four weeks before the decision, controls
and evidence about two weeks before (never before the evidence was collected), verification
a few days before; for an undecided system the same rhythm, ending before the load day.  The
steps are strands for ``registry.seed.replay``, which runs every system's steps in date order.
The dates are deterministic: the file's dates moved to the load day (``demo_dates``), and a
per-system offset derived from its name.

The file is data; this module is generic.  It refuses an entry that would tell an
inconsistent story — a GO the recommendation does not support, evidence collected after the
decision that cites it, a control the system does not need — naming the system, so a demo
edit that breaks the story fails loudly instead of loading quietly.
"""

from __future__ import annotations

import io
import re
import textwrap
import zlib
from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.auth.models import User
from registry.config import ROOT
from registry.controls.evidence_store import EvidenceStore
from registry.controls.services import (
    add_evidence,
    assess_control,
    assessments_for,
    control_rows,
    is_stale,
    verify_control,
)
from registry.db import evidence_max_age_days
from registry.decisions.services import acknowledge_decision, assess_system, record_decision
from registry.enums import ControlStatus, Question, Verdict
from registry.errors import ValidationFailed
from registry.inventory.models import AISystem
from registry.inventory.services import system_payload, update_system
from registry.readiness.schemas import SCHEMAS
from registry.readiness.services import review_answer, save_answer, submit_answer
from registry.seed.demo_dates import day_of
from registry.seed.replay import WORK_STARTS, Strand, Track, moment

READINESS_FILE = ROOT / "seed_data" / "demo_readiness.yaml"

ANSWER_STATES = ("draft", "submitted", "accepted", "returned")
# Keys of an answer entry that describe its lifecycle, not its content.
FLOW_KEYS = {"status", "saved_by", "reviewed_by", "comment", "returned_before", "metrics"}
CONTROL_KEYS = {"status", "due_on", "na_reason", "notes", "collected_on", "evidence", "waiver_reason",
                "waiver_granted_by", "waiver_expires_on"}
# What a generated evidence link is called, by the catalogue function of its control.
EVIDENCE_KIND = {
    "GOVERN": "Policy, RACI and sign-off record",
    "MAP": "Context and impact assessment",
    "MEASURE": "Test and measurement report",
    "MANAGE": "Runbook and monitoring record",
    "PRODUCTION FAILURE MODES": "Failure-mode test results and mitigation",
    "GENAI RISKS (NIST AI 600-1)": "GenAI risk review and suggested-action record",
}
DECISION_HOUR = time(15, 0, tzinfo=UTC)  # a decision given as a bare date was taken at 15:00 UTC
ACK_HOUR = time(9, 30, tzinfo=UTC)  # an owner's acknowledgement given as a bare date: 09:30 UTC
CHANGE_HOUR = time(11, 0, tzinfo=UTC)  # a change after a decision, given as a bare date, was made at 11:00 UTC
# When the work before a decision (or before the load day, for an undecided system) began, per strand.
ANSWERS_BEFORE = timedelta(days=28)
CONTROLS_BEFORE = timedelta(days=14)
VERIFY_BEFORE = timedelta(days=3)
DONE_BY = time(17, 0, tzinfo=UTC)  # something dated by day only (a rehearsal, evidence) was done by then


def read_readiness(path: Path = READINESS_FILE) -> dict:
    with path.open(encoding="utf-8") as fh:
        data = yaml.load(fh, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) or {}
    if not isinstance(data.get("systems"), dict):
        raise ValidationFailed(f"{path.name}: expected a mapping 'systems' keyed by system name.")
    return data


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def minimal_pdf(title: str, lines: list[str]) -> bytes:
    """A one-page PDF (Helvetica, WinAnsi) with a title and wrapped lines: small but valid.
    Meant for a few short paragraphs; longer text runs off the page."""
    ascii_map = str.maketrans({"–": "-", "—": "-", "’": "'", "‘": "'", "“": '"', "”": '"', "≥": ">=",
                               "≤": "<=", "→": "->", "×": "x", "…": "...", "€": "EUR "})

    def text(s: str) -> str:
        s = s.translate(ascii_map).encode("latin-1", "replace").decode("latin-1")
        return "(" + s.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") + ")"

    ops = ["BT", "/F1 14 Tf", "18 TL", "56 786 Td"]
    for n, part in enumerate(textwrap.wrap(title, 64)):
        ops.append(f"{'T* ' if n else ''}{text(part)} Tj")
    ops += ["/F1 10 Tf", "14 TL", "T*"]
    for line in lines:
        for part in textwrap.wrap(line, 96) or [""]:
            ops.append(f"T* {text(part)} Tj")
    stream = "\n".join([*ops, "ET"]).encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 4 0 R >> >> "
        b"/Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def _plain(value: Any) -> Any:
    """YAML dates as ISO strings, recursively: the service schemas read strings."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _moment(value: Any, hour: time, what: str) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return moment(day_of(value, what), hour)


def _done_by(day: date) -> datetime:
    return moment(day, DONE_BY)


class DemoReadiness:
    """Turns the readiness entry of a registered demo system into strands of dated steps."""

    def __init__(self, session: Session, store: EvidenceStore, today: date):
        self.session = session
        self.store = store
        self.today = today
        self.end = moment(today, time(0, tzinfo=UTC))  # undecided systems' work ends before the load day
        self.users = {u.email: u for u in session.scalars(select(User))}
        self.counts: Counter[str] = Counter()

    # -- helpers ---------------------------------------------------------------------------
    def user(self, email: str, what: str) -> User:
        user = self.users.get((email or "").strip().lower())
        if user is None:
            raise ValidationFailed(f"{what}: {email!r} is not a demo account.")
        return user

    # -- one system ------------------------------------------------------------------------
    def strands(self, system: AISystem, entry: dict) -> list[Strand]:
        reviewer = self.user(entry["reviewer"], "reviewer") if entry.get("reviewer") else None
        decision = entry.get("decision")
        decided_at = _moment(decision["at"], DECISION_HOUR, "decision 'at'") if decision else None
        if decided_at and decided_at.date() >= self.today:
            raise ValidationFailed(f"the decision date {decided_at.date()} is not in the past.")
        answers = entry.get("answers") or {}
        unknown = set(answers) - set(Question.values())
        if unknown:
            raise ValidationFailed(f"unknown readiness questions: {', '.join(sorted(unknown))}.")
        if entry.get("after_decision") and not decision:
            raise ValidationFailed("'after_decision' needs a recorded decision first.")
        # Deterministic dates: the strands start a few days apart from one system to the next.
        end = decided_at or self.end
        salt = zlib.crc32(system.name.encode("utf-8"))
        day0 = moment(end.date() - timedelta(days=salt % 4), WORK_STARTS) + timedelta(minutes=salt % 90)
        strands = [  # the questions in the order they are asked, a day apart
            self.answer(system, question, dict(answers[question.value] or {}), reviewer, decided_at,
                        Track(day0 - ANSWERS_BEFORE + timedelta(days=n), end))
            for n, question in enumerate(Question) if question.value in answers]
        if entry.get("controls"):
            strands.append(self.controls(system, entry["controls"], decided_at, day0, end))
        if decision:
            strands.append(self.decide(system, decision, decided_at))
        if entry.get("after_decision"):
            strands.append(self.change(system, entry["after_decision"], decided_at))
        self.counts["systems"] += 1
        return strands

    def answer(self, system: AISystem, question: Question, spec: dict, reviewer: User | None,
               decided_at: datetime | None, track: Track) -> Strand:
        what = f"answer “{question.label}”"
        status = spec.get("status", "draft")
        if status not in ANSWER_STATES:
            raise ValidationFailed(f"{what}: status must be one of {', '.join(ANSWER_STATES)}.")
        if status == "returned" and not (spec.get("comment") or "").strip():
            raise ValidationFailed(f"{what}: a returned answer needs the reviewer's comment.")
        if status in ("accepted", "returned") or spec.get("returned_before"):
            reviewer = self.user(spec["reviewed_by"], f"{what}: reviewed_by") if spec.get("reviewed_by") else reviewer
            if reviewer is None:
                raise ValidationFailed(f"{what}: say who reviews it ('reviewer' on the system or 'reviewed_by').")
        saver = self.user(spec.get("saved_by") or system.accountable_owner.email, f"{what}: saved_by")
        payload = {k: v for k, v in spec.items() if k not in FLOW_KEYS}
        unknown = set(payload) - set(SCHEMAS[question]().fields)
        if unknown:  # the schema would drop them silently
            raise ValidationFailed(f"{what}: unknown fields {', '.join(sorted(unknown))}.")
        if question is Question.OUTCOME:
            by_name = {m.name: m for m in system.metrics}
            missing = [n for n in spec.get("metrics") or [] if n not in by_name]
            if missing:
                raise ValidationFailed(f"{what}: the system has no baseline metric named {', '.join(map(repr, missing))}.")
            payload["metric_ids"] = [by_name[n].id for n in spec.get("metrics") or []]
            if decided_at:
                late = [m.name for m in system.metrics if m.measured_on and m.measured_on > decided_at.date()]
                if late:
                    raise ValidationFailed(f"baselines measured after the decision date: {', '.join(late)}.")
        rehearsal = payload.get("last_rehearsal") if question is Question.ROLLBACK else None
        if decided_at and rehearsal and day_of(rehearsal, "last_rehearsal") > decided_at.date():
            raise ValidationFailed(f"{what}: the rehearsal is dated after the decision.")
        # Answered once what it reports had happened: the rehearsal, the baselines it links.
        dated = [day_of(rehearsal, "last_rehearsal")] if rehearsal else []
        if question is Question.OUTCOME:
            dated += [m.measured_on for m in system.metrics if m.id in payload["metric_ids"] and m.measured_on]
        ready = _done_by(max(dated)) if dated else None
        payload = _plain(payload)
        owner = system.accountable_owner
        first = spec.get("returned_before")
        if first:  # an earlier version that compliance returned, then the owner's revision
            yield (when := track.at(timedelta(0), ready))
            save_answer(self.session, saver, system.id, question, {**payload, **_plain(first.get("changes") or {})},
                        now=when)
            yield (when := track.at(timedelta(minutes=40)))
            submit_answer(self.session, owner, system.id, question, attest=True, now=when)
            yield (when := track.at(timedelta(days=2)))
            review_answer(self.session, reviewer, system.id, question, {"outcome": "return", "comment": first["comment"]},
                          now=when)
            self.counts["answers_returned"] += 1
            track.at(timedelta(days=2))  # the owner revises it
        yield (when := track.at(timedelta(0), ready))
        save_answer(self.session, saver, system.id, question, payload, now=when)
        self.counts["answers"] += 1
        if status == "draft":
            return
        yield (when := track.at(timedelta(minutes=40)))
        submit_answer(self.session, owner, system.id, question, attest=True, now=when)
        if status == "submitted":
            return
        yield (when := track.at(timedelta(days=2)))
        review_answer(self.session, reviewer, system.id, question,
                      {"outcome": "accept" if status == "accepted" else "return", "comment": spec.get("comment") or ""},
                      now=when)
        if status == "returned":
            self.counts["answers_returned"] += 1

    def controls(self, system: AISystem, spec: dict, decided_at: datetime | None, day0: datetime,
                 end: datetime) -> Strand:
        track = Track(day0 - CONTROLS_BEFORE, end)
        required = {r.control.ref: r.control for r in control_rows(self.session, system) if r.required}
        refs = spec.get("refs") or {}
        unknown = [ref for ref in refs if ref not in required]
        if unknown:
            raise ValidationFailed(f"not required controls of this {system.tier.value}-tier {system.kind.value}: "
                                   f"{', '.join(unknown)}.")
        default = spec.get("default", ControlStatus.NOT_STARTED.value)
        groups = spec.get("groups") or {}  # "MEASURE": status, by the letters a ref starts with
        idle = [g for g in groups if not any(re.match(r"[A-Z]*", ref).group() == g for ref in required)]
        if idle:
            raise ValidationFailed(f"control groups match no required control: {', '.join(idle)}.")
        actor = self.user(spec.get("by") or system.accountable_owner.email, "controls: by")
        base = f"https://wiki.northwind.example/ai/{slug(system.name)}"
        for ref, control in required.items():
            group = re.match(r"[A-Z]*", ref).group()
            item = {"status": groups.get(group, default), **(refs.get(ref) or {})}
            bad = set(item) - CONTROL_KEYS
            if bad:
                raise ValidationFailed(f"control {ref}: unknown keys {', '.join(sorted(bad))}.")
            status = ControlStatus(item["status"])
            if "evidence" in item:
                evidence = list(item["evidence"] or [])
            elif status is ControlStatus.IMPLEMENTED:
                collected = item.get("collected_on") or spec.get("collected_on")
                if not collected:
                    raise ValidationFailed(f"control {ref}: give 'collected_on' for its generated evidence link.")
                kind = EVIDENCE_KIND.get(control.function, "Control record")
                evidence = [{"description": f"{kind}: {ref}, {system.name}",
                             "url": f"{base}/{slug(ref)}", "collected_on": collected}]
            else:
                evidence = []
            if status is ControlStatus.NOT_STARTED and not evidence and not item.get("notes"):
                continue
            due = item.get("due_on")
            if status is ControlStatus.IN_PROGRESS and decided_at and due and day_of(due, "due_on") <= decided_at.date():
                raise ValidationFailed(f"control {ref}: due on {due}, not after the decision it conditions.")
            yield (when := track.at(timedelta(minutes=6)))
            assess_control(self.session, actor, system.id, control.id, _plain({
                "status": status.value, "due_on": due, "na_reason": item.get("na_reason") or "",
                "notes": item.get("notes") or "", "waiver_reason": item.get("waiver_reason") or "",
                "waiver_granted_by": item.get("waiver_granted_by") or "",
                "waiver_expires_on": item.get("waiver_expires_on")}), now=when)
            self.counts["assessments"] += 1
            for ev in evidence:
                yield from self.evidence(system, control, actor, ev, decided_at, track)
        if spec.get("verified_by"):
            # Before the decision, so its frozen snapshot shows the verification it relied on.
            officer = self.user(spec["verified_by"], "controls: verified_by")
            yield from self.verify(system, officer, Track(max(day0 - VERIFY_BEFORE, track.t + timedelta(hours=1)), end))

    def evidence(self, system: AISystem, control, actor: User, ev: dict, decided_at: datetime | None,
                 track: Track) -> Strand:
        what = f"evidence for {control.ref}"
        collected = day_of(ev.get("collected_on"), f"{what}: collected_on")
        if decided_at and collected > decided_at.date():
            raise ValidationFailed(f"{what}: collected on {collected}, after the decision that relies on it.")
        yield (when := track.at(timedelta(minutes=3), _done_by(collected)))
        stored = None
        if ev.get("file"):
            name = ev["file"]
            content = ev.get("content") or ""
            lines = content.splitlines()
            data = (minimal_pdf(lines[0] if lines else ev["description"], lines[1:])
                    if name.lower().endswith(".pdf") else content.encode("utf-8"))
            stored = self.store.save(self.session, io.BytesIO(data), name)  # into the file store, this transaction
            self.counts["evidence_files"] += 1
        add_evidence(self.session, actor, system.id, control.id,
                     {"description": ev["description"], "url": None if stored else ev.get("url"),
                      "collected_on": collected.isoformat()}, stored=stored, now=when)
        self.counts["evidence"] += 1

    def verify(self, system: AISystem, officer: User, track: Track) -> Strand:
        """Verify every assessed control that can be: implemented with current evidence, or not applicable."""
        # in control order: the times each verification gets must not depend on the rows' physical order
        for assessment in sorted(assessments_for(self.session, system.id).values(), key=lambda a: a.control_id):
            yield (when := track.at(timedelta(minutes=4)))
            ok = assessment.status is ControlStatus.NOT_APPLICABLE or (
                assessment.status is ControlStatus.IMPLEMENTED
                and any(not is_stale(e, when.date(), evidence_max_age_days(self.session))
                        for e in assessment.evidence))
            if ok:
                verify_control(self.session, officer, system.id, assessment.control_id, now=when)
                self.counts["verified"] += 1

    def decide(self, system: AISystem, spec: dict, decided_at: datetime) -> Strand:
        verdict = Verdict(spec["verdict"])
        officer = self.user(spec["by"], "decision: by")
        yield decided_at
        state = assess_system(self.session, system, today=decided_at.date(), for_new_decision=True)
        recommended = state.recommendation.verdict
        if recommended is not verdict and not spec.get("differs_from_recommendation"):
            blockers = " ".join(b.message for b in state.recommendation.blockers) or "none"
            raise ValidationFailed(
                f"the {verdict.label} decision of {decided_at.date()} does not match the recommendation "
                f"({recommended.label}; blockers: {blockers}). Fix the data, or mark the entry "
                "'differs_from_recommendation: true' with a rationale that explains why.")
        decision = record_decision(self.session, officer, system.id, _plain({
            "verdict": verdict.value, "rationale": spec.get("rationale") or "",
            "conditions": spec.get("conditions") or [], "expires_on": spec.get("expires_on")}), now=decided_at)
        self.counts["decisions"] += 1
        if spec.get("acknowledged_at"):  # the accountable owner acknowledges it, some days later
            when = _moment(spec["acknowledged_at"], ACK_HOUR, "decision: acknowledged_at")
            if not decided_at < when < self.end:
                raise ValidationFailed(f"decision: acknowledged {when:%Y-%m-%d %H:%M}, not between the decision "
                                       "and the day the demo is loaded.")
            yield when
            acknowledge_decision(self.session, system.accountable_owner, system.id, decision.id, now=when)
            self.counts["acknowledgements"] += 1

    def change(self, system: AISystem, spec: dict, decided_at: datetime) -> Strand:
        actor = self.user(spec.get("by") or system.accountable_owner.email, "after_decision: by")
        when = _moment(spec.get("at"), CHANGE_HOUR, "after_decision: at")
        if not decided_at < when < self.end:
            raise ValidationFailed(f"after_decision: dated {when:%Y-%m-%d %H:%M}, not between the decision "
                                   "and the day the demo is loaded.")
        yield when
        payload = {**system_payload(system), **_plain(spec.get("set") or {})}
        update_system(self.session, actor, system.id, payload, expected_version=system.version, now=when)
        if system.re_review_required_at is None:
            raise ValidationFailed("the change after the decision is not material: no re-review was triggered.")
        self.counts["re_reviews"] += 1
