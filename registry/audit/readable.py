"""An audit event's recorded values as a person reads them: labels for codes, names for lists,
short hashes, Yes/No — what the history page shows (the record itself keeps the raw values)."""

from __future__ import annotations

import re

from registry import enums
from registry.templating import format_number

HASH = re.compile(r"^[0-9a-f]{32,}$")
WORDS = {"pdf": "PDF", "sha256": "SHA-256", "id": "ID", "ids": "IDs", "eu": "EU", "omb": "OMB", "url": "URL",
         "api": "API", "csv": "CSV", "na": "N/A"}
# Keys whose values are an enum's codes (recorded raw by some events): shown by their labels.
KEY_ENUMS = {
    "stage": enums.Stage, "kind": enums.Kind, "sourcing": enums.Sourcing, "autonomy": enums.Autonomy,
    "data_categories": enums.DataCategory, "affects": enums.Affected, "decision_domains": enums.DecisionDomain,
    "safety_harms": enums.SafetyHarm, "biometric_uses": enums.BiometricUse, "tier": enums.Tier,
    "computed_tier": enums.Tier, "tier_override": enums.Tier, "declared_regime": enums.DeclaredRegime,
    "verdict": enums.Verdict, "recommended": enums.Verdict, "recommendation": enums.Verdict,
    "status": enums.ControlStatus, "direction": enums.MetricDirection, "decision_role": enums.DecisionRole,
    "prohibited_practice": enums.ProhibitedPractice, "role": enums.Role,
    "stop_reason": enums.StopReason, "stage_before": enums.Stage,
}


def key_label(key: str, labels: dict[str, str] | None = None) -> str:
    """"pdf_sha256" → "PDF SHA-256"; a field with a label of its own keeps it."""
    if labels and key in labels:
        return labels[key]
    words = [WORDS.get(w, w) for w in key.split("_") if w]
    text = " ".join(words)
    return text[:1].upper() + text[1:] if text else key


def _code_label(key: str | None, value: str) -> str:
    enum_cls = KEY_ENUMS.get(key or "")
    if enum_cls is not None and value in enum_cls.values():
        return enum_cls(value).label
    return value


def readable(value, key: str | None = None, labels: dict[str, str] | None = None) -> str:
    """One recorded value as text."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, int | float):
        return format_number(value)
    if isinstance(value, str):
        if HASH.match(value):
            return value[:12] + "…"
        return _code_label(key, value)
    if isinstance(value, list | tuple):
        if not value:
            return "none"
        parts = [readable(v, key, labels) for v in value]
        return ("; " if any(", " in p for p in parts) else ", ").join(parts)
    if isinstance(value, dict):
        if not value:
            return "none"
        return "; ".join(f"{key_label(k, labels)}: {readable(v, k, labels)}" for k, v in value.items())
    return str(value)
