"""Every in-process event handler, registered in this one place (see ``registry.events``).

Lower domains publish; the higher domains that react are wired here, so the arrows in the
code point downward only: inventory and readiness announce; readiness, controls and decisions listen.
"""

from __future__ import annotations

from registry.controls.services import clear_verifications_by
from registry.decisions.services import flag_drift_alert, flag_material_change
from registry.events import subscribe
from registry.monitoring.drift import rejudge_metric
from registry.readiness.services import reopen_for_metric

HANDLERS = (
    ("system.profile_changed", flag_material_change),
    ("system.people_named", clear_verifications_by),
    ("metric.changed", reopen_for_metric),
    ("metric.changed", rejudge_metric),
    ("monitoring.drift_alert_opened", flag_drift_alert),
)


def register_handlers() -> None:
    """Idempotent: the app factory calls it; so may a script that uses the services without an app."""
    for name, handler in HANDLERS:
        subscribe(name, handler)
