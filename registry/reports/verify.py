"""Is this audit PDF authentic and unaltered?  Plain answers for the CLI and the upload page.

Four checks, each reported with what was found:

1. the file is a readable PDF carrying an embedded ``snapshot.json``;
2. the SHA-256 of that embedded snapshot equals the hash printed on every page;
3. the registry holds a decision with that document id whose recorded snapshot hash is the
   same (and whose stored snapshot still hashes to it);
4. the file is byte for byte the PDF the registry issued for that decision.

Checks 1–2 need nothing but the file (an auditor can redo them with any PDF tool and
``sha256sum``); 3–4 compare with the registry's record.  Only when all pass is the PDF
authentic and unaltered.
"""

from __future__ import annotations

import hashlib
import io
import logging
import re
from dataclasses import dataclass, field
from datetime import date

from pypdf import PdfReader
from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.db import utcnow
from registry.decisions.models import Decision
from registry.decisions.services import acknowledgement_for, latest_decision, snapshot_hash
from registry.reports.models import DecisionReport
from registry.reports.render import RenderError, run_limited
from registry.reports.services import SNAPSHOT_FILE

HASH_RE = re.compile(r"Snapshot SHA-256 ?([0-9a-f]{64})")
DOC_ID_RE = re.compile(r"Document (RR-\d{6}-[0-9A-F]{8})")
VERIFY_TIMEOUT_SECONDS = 20
VERIFY_MAX_MEMORY_MB = 512


@dataclass
class Check:
    label: str
    ok: bool
    detail: str


@dataclass
class Verification:
    checks: list[Check] = field(default_factory=list)
    document_id: str | None = None
    decision_id: int | None = None
    system_id: int | None = None
    file_sha256: str = ""
    # Where the decision stands in the record now (set once the registry's record is found):
    # "current", "superseded" or "expired", and a sentence that says so with the facts.
    status: str | None = None
    status_text: str = ""
    # The accountable owner's acknowledgement, as the registry records it (the PDF, frozen at
    # issue, can only say "pending at issue").
    acknowledgement_text: str = ""

    @property
    def authentic(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks) and len(self.checks) == 4

    @property
    def verdict(self) -> str:
        if self.authentic:
            return (f"AUTHENTIC AND UNALTERED: this is the audit PDF {self.document_id} the registry issued for "
                    f"decision #{self.decision_id}. Record status: {self.status_text} "
                    f"Owner acknowledgement: {self.acknowledgement_text}")
        failed = next((c for c in self.checks if not c.ok), None)
        reason = f"{failed.label}: {failed.detail}" if failed else "the checks could not be completed."
        return f"NOT VERIFIED: do not rely on this PDF. {reason}"

    def add(self, label: str, ok: bool, detail: str) -> bool:
        self.checks.append(Check(label, ok, detail))
        return ok


@dataclass
class PdfContents:
    snapshot_bytes: bytes | None
    printed_hashes: set[str]
    printed_doc_ids: set[str]
    pages: int
    pdfa: str | None


def read_pdf(data: bytes) -> PdfContents:
    """The embedded snapshot and the footer's hash and document id; ValueError if unreadable.

    Only the first and last pages are read, and only values printed on both count: the footer
    is on every page, while a rationale quoting another document id is on one page only.
    """
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        snapshot = reader.attachments.get(SNAPSHOT_FILE)
        pages = reader.pages
        count = len(pages)
        texts = [pages[i].extract_text() or "" for i in sorted({0, count - 1})] if count else []
        hashes = set.intersection(*(set(HASH_RE.findall(t)) for t in texts)) if texts else set()
        doc_ids = set.intersection(*(set(DOC_ID_RE.findall(t)) for t in texts)) if texts else set()
        xmp = reader.xmp_metadata
        pdfa = None
        if xmp is not None:
            raw = xmp.stream.get_data().decode("utf-8", "replace")
            part = re.search(r'pdfaid:part="(\d)"', raw)
            conformance = re.search(r'pdfaid:conformance="([A-Za-z])"', raw)
            if part:
                pdfa = f"PDF/A-{part.group(1)}{(conformance.group(1) if conformance else '').lower()}"
        return PdfContents(snapshot[0] if snapshot else None, hashes, doc_ids, count, pdfa)
    except Exception as err:  # noqa: BLE001 - a damaged file can break the parser anywhere
        raise ValueError(f"the file is not a readable PDF ({type(err).__name__})") from err


def read_pdf_limited(data: bytes, *, timeout: float = VERIFY_TIMEOUT_SECONDS,
                     max_memory_mb: int = VERIFY_MAX_MEMORY_MB) -> PdfContents:
    """:func:`read_pdf` in a forked child with time and memory limits (a crafted PDF can make
    text extraction take hours); ValueError with a plain message on a breach."""
    try:
        result, _peak = run_limited(_read_or_error, (data,), timeout=timeout, max_memory_mb=max_memory_mb,
                                    what="Reading the PDF")
    except RenderError as err:
        raise ValueError(f"the file could not be checked: {err}") from err
    if isinstance(result, str):
        raise ValueError(result)
    return result


def _read_or_error(data: bytes):
    try:
        return read_pdf(data)
    except ValueError as err:
        return str(err)


def verify_pdf(session: Session, data: bytes) -> Verification:
    result = Verification(file_sha256=hashlib.sha256(data).hexdigest())
    try:
        contents = read_pdf_limited(data)
    except ValueError as err:
        message = str(err)
        result.add("Readable audit PDF", False, message[:1].upper() + message[1:] + ".")
        return result
    if contents.snapshot_bytes is None:
        result.add("Readable audit PDF", False, f"The PDF has no embedded {SNAPSHOT_FILE}: it is not a registry "
                                                "audit PDF, or the snapshot was removed.")
        return result
    result.add("Readable audit PDF", True, f"{contents.pages} pages, {contents.pdfa or 'no PDF/A identification'}, "
                                           f"embedded {SNAPSHOT_FILE} of {len(contents.snapshot_bytes):,} bytes.")

    embedded = hashlib.sha256(contents.snapshot_bytes).hexdigest()
    if len(contents.printed_hashes) != 1:
        found = "no snapshot hash in its footer" if not contents.printed_hashes else "more than one snapshot hash"
        result.add("Embedded snapshot matches the printed hash", False, f"The document shows {found}.")
        return result
    printed = next(iter(contents.printed_hashes))
    if not result.add("Embedded snapshot matches the printed hash", embedded == printed,
                      f"The embedded snapshot hashes to {embedded}, the hash printed on every page." if embedded == printed
                      else f"The embedded snapshot hashes to {embedded}, but the pages print {printed}."):
        return result

    doc_ids = {d for d in contents.printed_doc_ids if d.endswith(printed[:8].upper())}
    if len(doc_ids) != 1:
        result.add("Matches the registry's record", False, "The document does not show a single document id "
                                                           "belonging to its snapshot hash.")
        return result
    result.document_id = next(iter(doc_ids))
    report = session.query(DecisionReport).filter_by(document_id=result.document_id).one_or_none()
    if report is None:
        result.add("Matches the registry's record", False,
                   f"This registry has issued no document {result.document_id}.")
        return result
    decision = session.get(Decision, report.decision_id)
    result.decision_id, result.system_id = decision.id, decision.system_id
    recorded_ok = snapshot_hash(decision.snapshot) == decision.snapshot_sha256
    matches = recorded_ok and decision.snapshot_sha256 == printed == report.snapshot_sha256
    if matches:
        detail = (f"Decision #{decision.id} records snapshot {decision.snapshot_sha256}, the same as this PDF's, "
                  "and its stored snapshot still hashes to it.")
    elif not recorded_ok:
        detail = f"Decision #{decision.id}'s stored snapshot no longer hashes to its recorded {decision.snapshot_sha256}."
    else:
        detail = f"Decision #{decision.id} records snapshot {decision.snapshot_sha256}, not this PDF's {printed}."
    if not result.add("Matches the registry's record", matches, detail):
        return result
    identical = result.file_sha256 == report.sha256
    result.add("Identical to the issued file", identical,
               f"This file's SHA-256 equals the issued PDF's ({report.sha256})." if identical else
               f"This file differs from the issued PDF: its SHA-256 is {result.file_sha256}, the issued PDF's "
               f"is {report.sha256}.")
    result.status, result.status_text = record_status(session, decision)
    result.acknowledgement_text = acknowledgement_status(session, decision)
    return result


def acknowledgement_status(session: Session, decision: Decision) -> str:
    """Whether and when the accountable owner acknowledged the decision, as the registry records it."""
    ack = acknowledgement_for(session, decision.id)
    if ack is None:
        return "not acknowledged by the accountable owner."
    return f"acknowledged by {ack.user.label} on {ack.acknowledged_at:%Y-%m-%d %H:%M} UTC."


def record_status(session: Session, decision: Decision, today: date | None = None) -> tuple[str, str]:
    """Whether ``decision`` is the system's current decision, was superseded (by which, when), or is
    past its re-review date: what an auditor holding its PDF must know besides authenticity."""
    today = today or utcnow().date()
    current = latest_decision(session, decision.system_id)
    if current is not None and current.id != decision.id:
        successor = session.scalar(select(Decision).where(Decision.supersedes_id == decision.id)
                                   .order_by(Decision.decided_at, Decision.id).limit(1)) or current
        newer = session.scalar(select(DecisionReport.document_id).where(DecisionReport.decision_id == successor.id))
        text = (f"superseded by decision #{successor.id}"
                + (f" (document {newer})" if newer else " (its PDF is not issued yet)")
                + f", recorded on {successor.decided_at.date().isoformat()}")
        if current.id != successor.id:
            text += f"; the current decision is #{current.id} of {current.decided_at.date().isoformat()}"
        return "superseded", text + "."
    if decision.expires_on < today:
        return "expired", (f"current, but past its re-review date {decision.expires_on.isoformat()}: "
                           "the system must be reviewed again.")
    return "current", f"current (the system's latest decision), valid until {decision.expires_on.isoformat()}."
