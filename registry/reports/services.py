"""The audit PDF of a decision: rendered once from the frozen snapshot, stored with its SHA-256.

The PDF reads nothing but ``decision.snapshot`` (which also carries the audit-trail excerpt
frozen at decision time) and the decision id.  It is rendered the first time someone asks
for it (or by the seeder, or right after the decision is recorded), stored, and from then on
served byte for byte.  The snapshot JSON is embedded as a PDF/A-3 associated file
(``snapshot.json``, exactly the canonical JSON whose SHA-256 the decision records), so an
auditor can check the document without the registry: see :mod:`registry.reports.verify`.
"""

from __future__ import annotations

import hashlib
import unicodedata
from dataclasses import dataclass
from functools import cache
from importlib.metadata import version

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from registry.audit.services import canonical_json, record_event
from registry.auth.models import User
from registry.auth.permissions import can_download_report, require
from registry.config import ROOT
from registry.decisions.models import Decision
from registry.decisions.services import snapshot_hash
from registry.errors import Conflict, DomainError, NotFound
from registry.inventory.models import AISystem
from registry.monitoring.chart import chart_from_snapshot
from registry.reports.charts import metric_rows
from registry.reports.models import DecisionReport
from registry.reports.render import RenderedPdf, RenderError, render_pdf
from registry.state.cache import RULE_LABELS
from registry.templating import register_filters

SNAPSHOT_FILE = "snapshot.json"
FUNCTION_ORDER = ["GOVERN", "MAP", "MEASURE", "MANAGE"]


class ReportUnavailable(DomainError):
    status = 503
    title = "PDF not available"


@dataclass(frozen=True)
class RenderLimits:
    """What the operator set for rendering PDFs: the limits, and the organisation a new PDF names."""

    timeout: float | None = None
    max_memory_mb: int | None = None
    organisation_name: str = ""

    @classmethod
    def from_config(cls, config) -> RenderLimits:
        """From REPORT_TIMEOUT_SECONDS, REPORT_MAX_MEMORY_MB and ORGANISATION_NAME."""
        return cls(config.get("REPORT_TIMEOUT_SECONDS"), config.get("REPORT_MAX_MEMORY_MB"),
                   config.get("ORGANISATION_NAME") or "")


@dataclass(frozen=True)
class RenderedReport(RenderedPdf):
    """A rendered audit PDF and the organisation name it prints (stored with it when issued)."""

    organisation_name: str = ""


def document_id(decision: Decision) -> str:
    """Printed on every page; names the decision and the first bytes of its snapshot hash."""
    return f"RR-{decision.id:06d}-{decision.snapshot_sha256[:8].upper()}"


def text_direction(value) -> str:
    """"rtl" when the first strongly directional character of ``value`` is right-to-left (Arabic,
    Hebrew…), else "ltr": what HTML's dir="auto" resolves to, which WeasyPrint does not."""
    for char in str(value or ""):
        kind = unicodedata.bidirectional(char)
        if kind in ("R", "AL"):
            return "rtl"
        if kind == "L":
            return "ltr"
    return "ltr"


def dir_auto(value) -> Markup:
    """` dir="rtl"` for user text that starts right-to-left, else nothing (the documents are LTR)."""
    return Markup(' dir="rtl"') if text_direction(value) == "rtl" else Markup("")


@cache
def pdf_environment() -> Environment:
    """The Jinja environment of the PDFs: the app's templates and filters, no Flask needed."""
    env = Environment(loader=FileSystemLoader(ROOT / "templates"), autoescape=select_autoescape(default=True),
                      trim_blocks=True, lstrip_blocks=True)
    register_filters(env)
    env.filters["dir_auto"] = dir_auto
    return env


QUESTION_RULES = {"answer_not_accepted"}
KIND_LABELS = {"question": "Readiness questions", "control": "Controls", "rule": "Rules"}


def summarise_blockers(snapshot: dict) -> list[dict]:
    """The open items of a snapshot's recommendation grouped by kind: the readiness questions, the
    controls by function (GOVERN, MAP…) and each other rule, with how many block GO and how many
    are conditions.  Read from the snapshot alone (its blockers carry rule, severity and message)."""
    functions = sorted(((c["ref"], c.get("function") or "Other") for c in snapshot.get("controls", [])),
                       key=lambda rf: -len(rf[0]))
    groups: dict[tuple[str, str], dict] = {}
    for b in (snapshot.get("recommendation") or {}).get("blockers", []):
        rule, message = b.get("rule", ""), b.get("message", "")
        if rule in QUESTION_RULES:
            kind, area = "question", "Readiness questions not accepted"
        else:
            function = next((f for ref, f in functions if f"{ref} (" in message), None)
            if function is not None:
                kind, area = "control", function
            else:
                kind, area = "rule", RULE_LABELS.get(rule, rule.replace("_", " ").capitalize())
        group = groups.setdefault((kind, area), {"kind": kind, "kind_label": KIND_LABELS[kind], "area": area,
                                                  "blocking": 0, "conditions": 0, "items": []})
        group["blocking" if b.get("severity") == "blocking" else "conditions"] += 1
        group["items"].append(b)
    order = list(KIND_LABELS)

    def position(g: dict) -> tuple:
        head = g["area"].split()[0].upper() if g["kind"] == "control" and g["area"] else ""
        rank = FUNCTION_ORDER.index(head) if head in FUNCTION_ORDER else len(FUNCTION_ORDER)
        return (order.index(g["kind"]), rank, -g["blocking"], g["area"])

    return sorted(groups.values(), key=position)


def _controls_by_function(controls: list[dict]) -> list[tuple[str, list[dict]]]:
    groups: dict[str, list[dict]] = {}
    for c in controls:
        groups.setdefault(c.get("function") or "Other", []).append(c)

    def order(name: str) -> tuple[int, str]:
        head = name.split()[0].upper() if name else ""
        return (FUNCTION_ORDER.index(head) if head in FUNCTION_ORDER else len(FUNCTION_ORDER), name)

    return [(name, groups[name]) for name in sorted(groups, key=order)]


def _evidence_index(controls: list[dict]) -> list[dict]:
    """Every evidence item once, numbered E1, E2, … in control order; controls refer to the numbers."""
    index, numbers = [], {}
    for c in controls:
        c_refs = []
        for e in c.get("evidence", []):
            key = e.get("id") or (e.get("sha256"), e.get("url"), e.get("file_name"))
            if key not in numbers:
                numbers[key] = f"E{len(numbers) + 1}"
                index.append({**e, "number": numbers[key], "controls": [], "verified_by": c.get("verified_by"),
                              "verified_at": c.get("verified_at")})
            entry = next(i for i in index if i["number"] == numbers[key])
            entry["controls"].append(c["ref"])
            c_refs.append(numbers[key])
        c["evidence_refs"] = c_refs
    return index


def drift_charts(after: dict | None) -> list:
    """(entry, chart) per observed metric of a snapshot, drawn by the monitoring page's chart from
    the snapshot alone (``registry.monitoring.chart.chart_from_snapshot``)."""
    return [(m, chart_from_snapshot(m)) for m in (after or {}).get("monitoring", []) if m.get("observations")]


def report_html(decision_id: int, snapshot: dict, snapshot_sha256: str, doc_id: str,
                organisation_name: str = "") -> str:
    """The report as HTML, from the snapshot and the organisation name it is issued under alone."""
    snap = {**snapshot, "controls": [dict(c) for c in snapshot.get("controls", [])]}
    evidence = _evidence_index(snap["controls"])
    decision = snap.get("decision") or {}
    return pdf_environment().get_template("reports/decision.html").render(
        snap=snap, decision=decision, decision_id=decision_id, doc_id=doc_id, snapshot_sha256=snapshot_sha256,
        functions=_controls_by_function(snap["controls"]), evidence=evidence, organisation=organisation_name,
        blocker_groups=summarise_blockers(snap),
        metric_rows=metric_rows(snap.get("metrics", [])), created=decision.get("decided_at"),
        after=snap.get("after_baseline"), drift_charts=drift_charts(snap.get("after_baseline")),
        author=decision.get("decided_by") or "Readiness Registry", lang="en",
    )


def render_decision_pdf(decision: Decision, limits: RenderLimits = RenderLimits(),
                        organisation_name: str | None = None) -> RenderedReport:
    """Render (not store) the audit PDF of ``decision`` naming ``organisation_name`` (by default
    the one in ``limits``: the current setting); raises ReportUnavailable on failure.  Given the
    name an issued report records, it renders that PDF again byte for byte."""
    if snapshot_hash(decision.snapshot) != decision.snapshot_sha256:
        raise Conflict(f"The stored snapshot of decision #{decision.id} no longer matches its recorded hash; "
                       "no PDF is issued for it. Tell an administrator: the record may have been altered.")
    doc_id = document_id(decision)
    organisation = limits.organisation_name if organisation_name is None else organisation_name
    html = report_html(decision.id, decision.snapshot, decision.snapshot_sha256, doc_id, organisation)
    attachment = (SNAPSHOT_FILE, canonical_json(decision.snapshot).encode(),
                  f"Decision snapshot, canonical JSON, SHA-256 {decision.snapshot_sha256}")
    try:
        rendered = render_pdf(html, attachments=[attachment], identifier=doc_id, created=decision.decided_at,
                              timeout=limits.timeout, max_memory_mb=limits.max_memory_mb)
    except RenderError as err:
        raise ReportUnavailable(f"The audit PDF of decision #{decision.id} could not be produced: {err}") from err
    return RenderedReport(rendered.pdf, rendered.page_count, rendered.peak_rss_kib, organisation)


def ensure_report(session: Session, decision: Decision, limits: RenderLimits = RenderLimits()) -> DecisionReport:
    """The stored PDF of ``decision``, rendering and storing it the first time.

    Call it at a transaction boundary: when a render is needed, the session's transaction is
    committed first, so that no write lock (SQLite) is held through the second a render takes;
    the PDF is then stored in a new, short transaction that the caller commits.
    """
    report = report_for(session, decision.id)
    if report is not None:
        return report
    session.commit()  # the registry's sessions keep loaded attributes across commits
    rendered = render_decision_pdf(decision, limits)
    return store_report(session, decision, rendered)


def store_report(session: Session, decision: Decision, rendered: RenderedReport) -> DecisionReport:
    """Store a rendered PDF as the one issued for ``decision``, with the organisation name it
    prints; if another process stored one first, theirs stays the issued one and is returned."""
    existing = report_for(session, decision.id)
    if existing is not None:
        return existing
    report = DecisionReport(
        decision_id=decision.id, document_id=document_id(decision), pdf=rendered.pdf,
        sha256=hashlib.sha256(rendered.pdf).hexdigest(), size_bytes=len(rendered.pdf),
        page_count=rendered.page_count, snapshot_sha256=decision.snapshot_sha256,
        renderer=f"WeasyPrint {version('weasyprint')}",
        organisation_name=getattr(rendered, "organisation_name", ""),
    )
    try:
        with session.begin_nested():
            session.add(report)
            session.flush()
    except IntegrityError:
        report = report_for(session, decision.id)
    return report


def report_for(session: Session, decision_id: int) -> DecisionReport | None:
    return session.scalar(select(DecisionReport).where(DecisionReport.decision_id == decision_id))


def record_download(session: Session, actor: User, decision: Decision, report: DecisionReport, *,
                    address: str | None = None) -> None:
    """Check the actor may download the PDF and audit the download (same transaction)."""
    require(can_download_report(actor, _system_of(session, decision)),
            "You may download the audit PDFs of your own systems only.")
    record_event(session, actor, "report.download", "decision", decision.id, system_id=decision.system_id,
                 summary=f"Downloaded the audit PDF {report.document_id} of decision #{decision.id}",
                 after={"document_id": report.document_id, "pdf_sha256": report.sha256}, address=address)


def _system_of(session: Session, decision: Decision):
    system = session.get(AISystem, decision.system_id)
    if system is None:
        raise NotFound("There is no such system.")
    return system


def issue_missing(session: Session, limits: RenderLimits = RenderLimits()) -> list[DecisionReport]:
    """Render and store the PDF of every decision that has none yet (seeder, operators),
    committing after each one; a decision whose PDF fails is left for a later run."""
    missing = session.scalars(select(Decision).where(~Decision.id.in_(select(DecisionReport.decision_id)))
                              .order_by(Decision.id)).all()
    issued = []
    for decision in missing:
        issued.append(ensure_report(session, decision, limits))
        session.commit()
    return issued


def list_decisions(session: Session):
    """(decision id, system id, system name, verdict, decided at) of every recorded decision, oldest first."""
    return session.execute(
        select(Decision.id, Decision.system_id, AISystem.name, Decision.verdict, Decision.decided_at)
        .join(AISystem, AISystem.id == Decision.system_id).order_by(Decision.id)).all()


def get_decision(session: Session, decision_id: int) -> Decision:
    decision = session.get(Decision, decision_id)
    if decision is None:
        raise NotFound(f"There is no decision #{decision_id}.")
    return decision


