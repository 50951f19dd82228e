"""The audit key: it signs the chain from outside the database.

``AUDIT_KEY`` (from the environment; required in production, generated into ``instance/`` for
development, see ``registry.config``) never reaches the database.  Three keys are derived from it,
one per use, so that no signature made for one purpose can pass for another:

- each event's ``mac``: HMAC-SHA256 of its chain hash.  Every chain hash covers every earlier
  event, so an edit, even with every later hash re-computed, changes the hash a checkpoint
  signed or leaves an event after the newest checkpoint whose ``mac`` no longer holds, and only
  the key can sign either again (``registry.audit.checkpoints``);
- each checkpoint's signature (``registry.audit.checkpoints``);
- the key id, printed beside signatures so that a verification with another key says so
  instead of reporting every signature as forged.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from functools import lru_cache

from sqlalchemy.orm import Session

from registry.db import setting

MIN_KEY_LENGTH = 32  # characters of AUDIT_KEY


def _derive(master: bytes, purpose: str) -> bytes:
    return hmac.digest(master, f"readiness-registry audit {purpose} v1".encode(), "sha256")


@dataclass(frozen=True)
class AuditKey:
    event_key: bytes = field(repr=False)
    checkpoint_key: bytes = field(repr=False)
    key_id: str

    @classmethod
    def from_secret(cls, secret: str) -> AuditKey:
        master = secret.encode("utf-8")
        return cls(_derive(master, "event"), _derive(master, "checkpoint"), _derive(master, "key id").hex()[:16])

    def event_mac(self, chain_hash: str) -> str:
        return hmac.new(self.event_key, chain_hash.encode("ascii"), hashlib.sha256).hexdigest()

    def sign(self, text: str) -> str:
        return hmac.new(self.checkpoint_key, text.encode("utf-8"), hashlib.sha256).hexdigest()

    def event_mac_ok(self, chain_hash: str, mac: str | None) -> bool:
        return is_digest(mac) and is_digest(chain_hash) and hmac.compare_digest(self.event_mac(chain_hash), mac)

    def signature_ok(self, text: str, signature: str | None) -> bool:
        return is_digest(signature) and hmac.compare_digest(self.sign(text), signature)


def is_digest(value) -> bool:
    """64 lowercase hex characters (anything else, e.g. text planted in the database, never matches)."""
    return isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value)


@lru_cache(maxsize=8)
def _key(secret: str) -> AuditKey:
    return AuditKey.from_secret(secret)


def audit_key(session: Session) -> AuditKey:
    """The key the session's app was configured with (``AUDIT_KEY``)."""
    secret = setting(session, "audit_key")
    if not secret:
        raise RuntimeError("AUDIT_KEY is not configured")
    return _key(secret)


def registry_identity(session: Session) -> str:
    """This registry's identity in its exports (their "Registry" column): the id of the audit key
    that signs its records.  An export's rows match their systems by id only in the registry that
    wrote it; anywhere else they are new records."""
    return audit_key(session).key_id
