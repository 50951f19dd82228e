"""Evidence files: typed by their content, kept in the shared file store (``registry.files``).

The file's extension must agree with what its bytes are (a PNG called report.pdf is
refused), only document and image types an auditor reads are accepted (no HTML, SVG or
executables), and the size is limited.  Accepted bytes go to the file store in the caller's
transaction, named by their SHA-256 (the same file uploaded twice is stored once), so a failed
upload (refused here, or rolled back later) leaves nothing behind.
"""

from __future__ import annotations

import io
import os
import zipfile
from dataclasses import dataclass
from typing import BinaryIO

from sqlalchemy.orm import Session

from registry.db import setting
from registry.errors import ValidationFailed
from registry.files.store import FileStore, file_store

# extension -> (content type, human name)
ALLOWED = {
    ".pdf": ("application/pdf", "PDF document"),
    ".png": ("image/png", "PNG image"),
    ".jpg": ("image/jpeg", "JPEG image"),
    ".jpeg": ("image/jpeg", "JPEG image"),
    ".txt": ("text/plain; charset=utf-8", "text file"),
    ".md": ("text/plain; charset=utf-8", "text file"),
    ".csv": ("text/csv; charset=utf-8", "CSV file"),
    ".json": ("application/json", "JSON file"),
    ".docx": ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", "Word document"),
    ".xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "Excel workbook"),
    ".pptx": ("application/vnd.openxmlformats-officedocument.presentationml.presentation", "PowerPoint deck"),
}
TEXT_EXTENSIONS = {".txt", ".md", ".csv", ".json"}


@dataclass(frozen=True)
class StoredFile:
    file_name: str
    content_type: str
    size_bytes: int
    sha256: str  # names the blob in the file store


def sniff(data: bytes) -> str | None:
    """The extension family the bytes really are, or None if it is no type we accept."""
    if data.startswith(b"%PDF-"):
        return ".pdf"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return ".png"
    if data.startswith(b"\xff\xd8\xff"):
        return ".jpg"
    if data.startswith(b"PK\x03\x04"):
        try:
            names = zipfile.ZipFile(io.BytesIO(data)).namelist()
        except zipfile.BadZipFile:
            return None
        if "[Content_Types].xml" not in names:
            return None
        for prefix, ext in (("word/", ".docx"), ("xl/", ".xlsx"), ("ppt/", ".pptx")):
            if any(n.startswith(prefix) for n in names):
                return ext
        return None
    if b"\x00" in data:
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if text.lstrip()[:15].lower().startswith(("<!doctype", "<html", "<svg", "<?xml", "<script")):
        return None  # markup would be a way to smuggle script past the type check
    return ".txt"


def _family(ext: str) -> str:
    if ext in TEXT_EXTENSIONS:
        return ".txt"
    return ".jpg" if ext == ".jpeg" else ext


class EvidenceStore:
    """Checks an uploaded evidence file and puts it in the file store."""

    def __init__(self, files: FileStore, max_bytes: int):
        self.files = files
        self.max_bytes = max_bytes

    def save(self, session: Session, stream: BinaryIO, file_name: str) -> StoredFile:
        """Check the file and store its bytes in ``session``'s transaction (commit it with the evidence row)."""
        name = os.path.basename((file_name or "").replace("\\", "/")).strip()
        ext = os.path.splitext(name)[1].lower()
        if not name or ext not in ALLOWED:
            allowed = ", ".join(sorted({e for e in ALLOWED if e != ".jpeg"}))
            raise ValidationFailed("This type of file is not accepted as evidence.",
                                   errors={"file": [f"Upload one of: {allowed}."]})
        data = stream.read(self.max_bytes + 1)
        if len(data) > self.max_bytes:
            raise ValidationFailed("The file is too large.", errors={"file": [
                f"Evidence files may be at most {self.max_bytes / 1024 / 1024:.0f} MB; split or compress it, or link to it."]})
        if not data:
            raise ValidationFailed("The file is empty.", errors={"file": ["The uploaded file is empty."]})
        actual = sniff(data)
        if actual is None:
            raise ValidationFailed("The file's content is not a type we accept.", errors={"file": [
                f"{name} does not contain a {ALLOWED[ext][1]} (or any accepted type)."]})
        if actual != _family(ext):
            raise ValidationFailed("The file's name does not match its content.", errors={"file": [
                f"{name} is named as a {ALLOWED[ext][1]} but its content is a {ALLOWED[actual][1]}. "
                "Rename it with the right extension."]})
        ref = self.files.put_bytes(session, data)
        return StoredFile(name[:255], ALLOWED[ext][0], ref.size_bytes, ref.sha256)


def evidence_store(session: Session) -> EvidenceStore:
    """The configured store and size limit (FILE_STORE_URL, EVIDENCE_MAX_BYTES), from the session's settings."""
    return EvidenceStore(file_store(session), setting(session, "evidence_max_bytes"))
