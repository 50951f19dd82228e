"""HTML to PDF with WeasyPrint, safely: no fetching on behalf of content, bounded time and memory.

- URLs: rendering may read only the app's packaged assets (``static/pdf``, ``static/fonts``)
  through :class:`PackagedAssetFetcher`.  ``file://``, ``http(s)://``, ``data:`` and anything
  else is refused before a connection or a file is opened, so a hostile string that reached
  the HTML (it cannot: templates escape user text) still fetches nothing.
- Limits: each render runs in a forked child process with an address-space limit
  (``REPORT_MAX_MEMORY_MB`` above the parent's size) and a wall-clock limit
  (``REPORT_TIMEOUT_SECONDS``).  A breach or a crash becomes :class:`RenderError`, whose
  message is meant for the user.
- Determinism: the creation and modification dates (document, attachment, font subsets via
  ``SOURCE_DATE_EPOCH``) come from the caller (the decision's time) and the PDF identifier
  from the document id, so rendering the same snapshot twice gives the same bytes with the
  same WeasyPrint and fontTools versions.  A test holds it to that.
"""

from __future__ import annotations

import faulthandler
import io
import multiprocessing
import os
import resource
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from weasyprint.urls import URLFetcher, URLFetcherResponse

from registry.config import ROOT

STATIC_DIR = ROOT / "static"
ASSET_ROOTS = (STATIC_DIR / "pdf", STATIC_DIR / "fonts")
ASSET_BASE_URL = "https://assets.registry.invalid/static/"
ASSET_TYPES = {".css": "text/css", ".ttf": "font/ttf", ".otf": "font/otf", ".svg": "image/svg+xml",
               ".png": "image/png"}
DEFAULT_TIMEOUT_SECONDS = 60
DEFAULT_MAX_MEMORY_MB = 768


class RenderError(RuntimeError):
    """Rendering failed or broke a limit; the message is written for the user."""


class PackagedAssetFetcher(URLFetcher):
    """Serves the app's packaged PDF assets and refuses every other URL (recorded in ``refused``)."""

    def __init__(self):
        super().__init__(allowed_protocols=(), allow_redirects=False)
        self.served: list[str] = []
        self.refused: list[str] = []

    def fetch(self, url, headers=None):
        path = self.resolve(url)
        if path is None:
            self.refused.append(url)
            raise ValueError(f"refused to fetch {url[:200]!r}: reports use packaged assets only")
        self.served.append(url)
        return URLFetcherResponse(url, path.read_bytes(), {"Content-Type": ASSET_TYPES[path.suffix]})

    @staticmethod
    def resolve(url: str) -> Path | None:
        if not url.startswith(ASSET_BASE_URL) or "?" in url or "#" in url or "%" in url:
            return None
        path = (STATIC_DIR / url[len(ASSET_BASE_URL):]).resolve()
        if path.suffix not in ASSET_TYPES or not path.is_file():
            return None
        if not any(path.is_relative_to(root.resolve()) for root in ASSET_ROOTS):
            return None
        return path


@dataclass(frozen=True)
class RenderedPdf:
    pdf: bytes
    page_count: int
    peak_rss_kib: int = 0  # the rendering process's peak resident size (0 when rendered in-process)


def render_pdf(html: str, *, variant: str | None = "pdf/a-3u", attachments=(), identifier: str | None = None,
               created: datetime | None = None, timeout: float | None = None, max_memory_mb: int | None = None,
               in_process: bool = False) -> RenderedPdf:
    """Render ``html`` (a complete document; title, author, description, language and
    ``dcterms.created`` come from its ``<head>``).  ``attachments`` are ``(name, bytes,
    description)`` triples embedded as PDF/A-3 associated files."""
    job = (html, variant, tuple(attachments), identifier, created)
    if in_process:
        return _render(*job)
    _warm_up()
    (pdf, pages), peak = run_limited(_render_bytes, job, timeout=timeout, max_memory_mb=max_memory_mb,
                                     what="The PDF")
    return RenderedPdf(pdf, pages, peak)


def _render_bytes(*job) -> tuple[bytes, int]:
    rendered = _render(*job)
    return rendered.pdf, rendered.page_count


def run_limited(fn, args: tuple, *, timeout: float | None, max_memory_mb: int | None, what: str):
    """Run ``fn(*args)`` in a forked child with an address-space and a wall-clock limit.

    Returns ``(result, peak_rss_kib)`` (the child's own high-water mark); a breach, a crash
    or an exception in ``fn`` becomes :class:`RenderError` with a message for the user.
    """
    timeout = timeout or DEFAULT_TIMEOUT_SECONDS
    max_memory_mb = max_memory_mb or DEFAULT_MAX_MEMORY_MB
    ctx = multiprocessing.get_context("fork")
    receiver, sender = ctx.Pipe(duplex=False)
    process = ctx.Process(target=_child, args=(sender, fn, args, max_memory_mb, what), daemon=True)
    process.start()
    sender.close()
    try:
        if not receiver.poll(timeout):
            process.kill()
            raise RenderError(f"{what} took longer than {timeout:g} seconds and was stopped. "
                              "Try again later; if it keeps happening, tell an administrator.")
        try:
            outcome = receiver.recv()
        except EOFError:
            outcome = ("error", f"{what} stopped unexpectedly (it may have run out of memory).", 0)
    finally:
        receiver.close()
        process.join(5)
        if process.is_alive():
            process.kill()
            process.join(1)
    if outcome[0] == "error":
        raise RenderError(outcome[1])
    return outcome[1], outcome[2]


_WARM = False
_WARM_LOCK = threading.Lock()
WARM_UP_HTML = ('<html><head><link rel="stylesheet" href="pdf/report.css"></head>'
                '<body><p>Warm <b>up</b> <i>fonts</i> <span class="mono">0</span></p></body></html>')


def _warm_up() -> None:
    """Load WeasyPrint and the packaged fonts once in the parent, so every forked render
    starts with them (saves about 0.2 s a render)."""
    global _WARM
    with _WARM_LOCK:
        if not _WARM:
            _render(WARM_UP_HTML, None, (), None)
            _WARM = True


def _child(sender, fn, args, max_memory_mb: int, what: str) -> None:
    faulthandler.disable()  # a child that runs out of memory is reported by the parent, not dumped
    try:
        limit = _current_vm_bytes() + max_memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        result = fn(*args)
        sender.send(("ok", result, _peak_rss_kib()))
    except MemoryError:
        sender.send(("error", f"{what} needed more than {max_memory_mb} MB of memory and was stopped.", 0))
    except Exception as err:  # noqa: BLE001 - anything the work raises becomes a message
        sender.send(("error", f"{what} could not be produced ({type(err).__name__}).", 0))
    finally:
        sender.close()


def _peak_rss_kib() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def _current_vm_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


_FONT_CONFIG = None


def _font_config():
    """One FontConfiguration per process, reused for every document (WeasyPrint's advice)."""
    global _FONT_CONFIG
    if _FONT_CONFIG is None:
        from weasyprint.text.fonts import FontConfiguration

        _FONT_CONFIG = FontConfiguration()
    return _FONT_CONFIG


def _render(html: str, variant: str | None, attachments: tuple, identifier: str | None,
            created: datetime | None = None) -> RenderedPdf:
    from weasyprint import HTML, Attachment

    if created is not None:
        # fontTools stamps each subset font with "now" unless SOURCE_DATE_EPOCH says otherwise.
        os.environ["SOURCE_DATE_EPOCH"] = str(int(created.timestamp()))

    fetcher = PackagedAssetFetcher()
    document = HTML(string=html, base_url=ASSET_BASE_URL, url_fetcher=fetcher).render(
        font_config=_font_config())
    files = [Attachment(file_obj=io.BytesIO(data), name=name, description=description, relationship="Source",
                        url_fetcher=fetcher, base_url=ASSET_BASE_URL, created=created, modified=created)
             for name, data, description in attachments]
    options = {"attachments": files, "pdf_variant": variant}
    if identifier:
        options["pdf_identifier"] = identifier.encode()
    pdf = document.write_pdf(**options)
    return RenderedPdf(pdf, len(document.pages))


