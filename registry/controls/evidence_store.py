"""Evidence files: stored outside the web root under generated names, typed by their content.

The file's extension must agree with what its bytes are (a PNG called report.pdf is
refused), only document and image types an auditor reads are accepted (no HTML, SVG or
executables), and the size is limited.  Files are written to a temporary name and renamed,
so a failed upload leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from registry.errors import ValidationFailed

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
    stored_name: str
    file_name: str
    content_type: str
    size_bytes: int
    sha256: str


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
    def __init__(self, directory: str | Path, max_bytes: int):
        self.directory = Path(directory)
        self.max_bytes = max_bytes

    def path(self, stored_name: str) -> Path:
        if not stored_name or not stored_name.isalnum():
            raise ValidationFailed("Unknown evidence file.")
        return self.directory / stored_name

    def save(self, stream: BinaryIO, file_name: str) -> StoredFile:
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
        self.directory.mkdir(parents=True, exist_ok=True)
        stored = uuid.uuid4().hex
        tmp = self.directory / f".{stored}.part"
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.directory / stored)
        return StoredFile(stored, name[:255], ALLOWED[ext][0], len(data), hashlib.sha256(data).hexdigest())

    def discard(self, stored_name: str) -> None:
        """Remove a file whose database row was never committed."""
        with contextlib.suppress(FileNotFoundError, ValidationFailed):
            self.path(stored_name).unlink()
