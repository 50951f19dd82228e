"""Configuration read from the environment; secrets never have a production default."""

from __future__ import annotations

import os
import secrets
import tempfile
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INSTANCE_DIR = ROOT / "instance"


class ConfigError(RuntimeError):
    """Raised when the environment cannot produce a safe configuration."""


def _bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


def default_database_url() -> str:
    return f"sqlite:///{INSTANCE_DIR / 'registry.sqlite3'}"


def development_audit_key(path: Path | None = None) -> str:
    """The audit key for development: generated once into ``instance/audit.key`` (mode 0600) and
    kept, so that the chain written yesterday still verifies today."""
    path = path or INSTANCE_DIR / "audit.key"
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    # Written whole to a private temporary file, then linked into place: a second process starting
    # at the same moment either wins the link or reads the complete file, never a half-written one.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".audit-key-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(key + "\n")
        os.link(tmp, path)
    except FileExistsError:
        return path.read_text(encoding="utf-8").strip()
    finally:
        os.unlink(tmp)
    return key


def _audit_key(production: bool, overrides: dict | None) -> str:
    """AUDIT_KEY signs the audit chain from outside the database (``registry.audit.keys``)."""
    key = (overrides or {}).get("AUDIT_KEY") or os.environ.get("AUDIT_KEY")
    if not key:
        if production:
            raise ConfigError("AUDIT_KEY must be set when REGISTRY_ENV=production "
                              "(at least 32 characters, e.g. `python -c 'import secrets; print(secrets.token_hex(32))'`; "
                              "keep it outside the database and never change it).")
        key = development_audit_key()
    if len(key.strip()) < 32:
        raise ConfigError("AUDIT_KEY must be at least 32 characters.")
    return key.strip()


def load_config(overrides: dict | None = None) -> dict:
    """Build the Flask config mapping from the environment, then apply ``overrides``."""
    env = os.environ.get("REGISTRY_ENV", "development")
    production = env == "production"
    secret = os.environ.get("SECRET_KEY")
    if production and not secret:
        raise ConfigError("SECRET_KEY must be set when REGISTRY_ENV=production.")
    config = {
        "REGISTRY_ENV": env,
        "SECRET_KEY": secret or secrets.token_hex(32),
        "DATABASE_URL": os.environ.get("DATABASE_URL") or default_database_url(),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": _bool("SESSION_COOKIE_SECURE", production),
        "SESSION_COOKIE_NAME": "registry_session",
        # Flask rejects a session cookie older than this; it is refreshed on every
        # request, so it works as an idle timeout enforced by the server.
        "PERMANENT_SESSION_LIFETIME": timedelta(minutes=int(os.environ.get("IDLE_TIMEOUT_MINUTES", "30"))),
        "SESSION_REFRESH_EACH_REQUEST": True,
        "REMEMBER_COOKIE_DURATION": timedelta(seconds=0),
        "WTF_CSRF_ENABLED": True,
        "WTF_CSRF_TIME_LIMIT": None,
        "LOGIN_MAX_FAILURES": int(os.environ.get("LOGIN_MAX_FAILURES", "5")),
        "LOGIN_MAX_FAILURES_PER_ADDRESS": int(os.environ.get("LOGIN_MAX_FAILURES_PER_ADDRESS", "20")),
        "LOGIN_LOCKOUT_MINUTES": int(os.environ.get("LOGIN_LOCKOUT_MINUTES", "15")),
        # Whom people ask when locked out (e.g. "the IT service desk, it-help@example.com"); shown on sign-in.
        "ADMIN_CONTACT": os.environ.get("ADMIN_CONTACT", "").strip()[:200],
        "PAGE_SIZE": int(os.environ.get("PAGE_SIZE", "25")),
        "MAX_CONTENT_LENGTH": int(os.environ.get("MAX_CONTENT_LENGTH", str(20 * 1024 * 1024))),
        "TRUST_PROXY_HEADERS": _bool("TRUST_PROXY_HEADERS", False),
        # Where evidence files, export ZIPs and staged uploads are kept, seen alike by every node:
        # empty for the database (the default), or s3://bucket/prefix?endpoint_url=…&region_name=…
        "FILE_STORE_URL": os.environ.get("FILE_STORE_URL", "").strip(),
        # Evidence files live outside the web root (static/), under generated names.
        "EVIDENCE_DIR": os.environ.get("EVIDENCE_DIR") or str(INSTANCE_DIR / "evidence"),
        "EVIDENCE_MAX_BYTES": int(os.environ.get("EVIDENCE_MAX_BYTES", str(10 * 1024 * 1024))),
        "EVIDENCE_MAX_AGE_DAYS": int(os.environ.get("EVIDENCE_MAX_AGE_DAYS", "365")),
        # Audit PDFs: rendering limits (bulk ZIP exports run as jobs: RQ when REDIS_URL is set).
        "REPORT_TIMEOUT_SECONDS": float(os.environ.get("REPORT_TIMEOUT_SECONDS", "60")),
        "REPORT_MAX_MEMORY_MB": int(os.environ.get("REPORT_MAX_MEMORY_MB", "768")),
        # Printed on the PDFs' cover and footer when set (empty: no organisation line at all).
        "ORGANISATION_NAME": " ".join(os.environ.get("ORGANISATION_NAME", "").split())[:200],
        "REDIS_URL": os.environ.get("REDIS_URL") or None,
        # Uploaded inventory files larger than IMPORT_INLINE_BYTES are committed as a job with
        # progress (RQ with REDIS_URL, else a thread); between preview and commit they are kept a day.
        "IMPORT_INLINE_BYTES": int(os.environ.get("IMPORT_INLINE_BYTES", str(1024 * 1024))),
        # Long jobs (docs/jobs.md): a running job silent for longer than JOB_STALE_SECONDS, or queued
        # and not started within JOB_QUEUED_SECONDS, is marked failed; finished exports' files are
        # removed from the file store after EXPORT_RETENTION_DAYS; XLSX exports of more than
        # EXPORT_INLINE_SYSTEMS systems are built as a job.
        "JOB_STALE_SECONDS": int(os.environ.get("JOB_STALE_SECONDS", "120")),
        "JOB_QUEUED_SECONDS": int(os.environ.get("JOB_QUEUED_SECONDS", "1800")),
        "EXPORT_RETENTION_DAYS": int(os.environ.get("EXPORT_RETENTION_DAYS", "7")),
        "EXPORT_INLINE_SYSTEMS": int(os.environ.get("EXPORT_INLINE_SYSTEMS", "200")),
        "AUDIT_KEY": _audit_key(production, overrides),
        # A checkpoint is written on the next write once the newest is older than this.
        "AUDIT_CHECKPOINT_MINUTES": int(os.environ.get("AUDIT_CHECKPOINT_MINUTES", "60")),
        # The JSON API: requests per token per minute (fixed window; shared through Redis when
        # REDIS_URL is set, else counted in this process).
        "API_RATE_LIMIT": int(os.environ.get("API_RATE_LIMIT", "600")),
        # Operations (registry.ops): "json" writes one JSON object a line (a line per request on the
        # registry.request logger); anything else keeps the plain text of local use.
        "LOG_FORMAT": os.environ.get("LOG_FORMAT", "text").strip().lower(),
        # /metrics wants `Authorization: Bearer <METRICS_TOKEN>`; unset, it is off (404) unless METRICS_PUBLIC.
        "METRICS_TOKEN": os.environ.get("METRICS_TOKEN") or None,
        "METRICS_PUBLIC": _bool("METRICS_PUBLIC", False),
    }
    if overrides:
        config.update(overrides)
        config["AUDIT_KEY"] = _audit_key(production, overrides)
    return config
