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
from dataclasses import dataclass
from functools import cache
from importlib.metadata import version

from jinja2 import Environment, FileSystemLoader, select_autoescape
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
from registry.reports.charts import metric_rows
from registry.reports.models import DecisionReport
from registry.reports.render import RenderError, render_pdf
from registry.templating import register_filters

SNAPSHOT_FILE = "snapshot.json"
FUNCTION_ORDER = ["GOVERN", "MAP", "MEASURE", "MANAGE"]


class ReportUnavailable(DomainError):
    status = 503
    title = "PDF not available"


@dataclass(frozen=True)
class RenderLimits:
    timeout: float | None = None
    max_memory_mb: int | None = None

    @classmethod
    def from_config(cls, config) -> RenderLimits:
        """The limits the operator set (REPORT_TIMEOUT_SECONDS, REPORT_MAX_MEMORY_MB)."""
        return cls(config.get("REPORT_TIMEOUT_SECONDS"), config.get("REPORT_MAX_MEMORY_MB"))


def document_id(decision: Decision) -> str:
    """Printed on every page; names the decision and the first bytes of its snapshot hash."""
    return f"RR-{decision.id:06d}-{decision.snapshot_sha256[:8].upper()}"


@cache
def pdf_environment() -> Environment:
    """The Jinja environment of the PDFs: the app's templates and filters, no Flask needed."""
    env = Environment(loader=FileSystemLoader(ROOT / "templates"), autoescape=select_autoescape(default=True),
                      trim_blocks=True, lstrip_blocks=True)
    register_filters(env)
    return env


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


def report_html(decision_id: int, snapshot: dict, snapshot_sha256: str, doc_id: str) -> str:
    """The report as HTML, from the snapshot alone."""
    snap = {**snapshot, "controls": [dict(c) for c in snapshot.get("controls", [])]}
    evidence = _evidence_index(snap["controls"])
    decision = snap.get("decision") or {}
    return pdf_environment().get_template("reports/decision.html").render(
        snap=snap, decision=decision, decision_id=decision_id, doc_id=doc_id, snapshot_sha256=snapshot_sha256,
        functions=_controls_by_function(snap["controls"]), evidence=evidence,
        metric_rows=metric_rows(snap.get("metrics", [])), created=decision.get("decided_at"),
        author=decision.get("decided_by") or "Readiness Registry", lang="en",
    )


def render_decision_pdf(decision: Decision, limits: RenderLimits = RenderLimits()):
    """Render (not store) the audit PDF of ``decision``; raises ReportUnavailable on failure."""
    if snapshot_hash(decision.snapshot) != decision.snapshot_sha256:
        raise Conflict(f"The stored snapshot of decision #{decision.id} no longer matches its recorded hash; "
                       "no PDF is issued for it. Tell an administrator: the record may have been altered.")
    doc_id = document_id(decision)
    html = report_html(decision.id, decision.snapshot, decision.snapshot_sha256, doc_id)
    attachment = (SNAPSHOT_FILE, canonical_json(decision.snapshot).encode(),
                  f"Decision snapshot, canonical JSON, SHA-256 {decision.snapshot_sha256}")
    try:
        return render_pdf(html, attachments=[attachment], identifier=doc_id, created=decision.decided_at,
                          timeout=limits.timeout, max_memory_mb=limits.max_memory_mb)
    except RenderError as err:
        raise ReportUnavailable(f"The audit PDF of decision #{decision.id} could not be produced: {err}") from err


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


def store_report(session: Session, decision: Decision, rendered) -> DecisionReport:
    """Store a rendered PDF as the one issued for ``decision``; if another process stored one
    first, theirs stays the issued one and is returned."""
    existing = report_for(session, decision.id)
    if existing is not None:
        return existing
    report = DecisionReport(
        decision_id=decision.id, document_id=document_id(decision), pdf=rendered.pdf,
        sha256=hashlib.sha256(rendered.pdf).hexdigest(), size_bytes=len(rendered.pdf),
        page_count=rendered.page_count, snapshot_sha256=decision.snapshot_sha256,
        renderer=f"WeasyPrint {version('weasyprint')}",
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


