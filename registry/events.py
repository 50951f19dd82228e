"""In-process domain events: a lower domain announces a change, higher domains react.

Inventory must not call up into readiness or decisions, yet a changed metric reopens the
outcome answer and a material profile change calls the recorded decision into question.
So inventory ``publish``-es a named event and the handlers, registered in one place
(``registry.handlers``), run in the caller's session and transaction: what they write
commits or rolls back with the change that caused it.

Every event is declared in ``EVENTS`` with the keyword arguments it carries; publishing an
undeclared event, or a declared one nobody handles, is a programming error and raises.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session

EVENTS: dict[str, str] = {
    "system.profile_changed": "a system's profile, tier or override changed: "
                              "actor, system, before, after (system_snapshot dicts)",
    "system.people_named": "people were newly named on a system (they may no longer review or verify it): "
                           "actor, system, user_ids, at",
    "metric.changed": "a baseline metric was edited or deleted: actor, system, metric_id, change ('changed'|'deleted')",
    "monitoring.drift_alert_opened": "a metric left its drift band for the rule's run of observations and a drift "
                                     "alert opened: actor, system_id, alert_id, summary, at",
}

Handler = Callable[..., None]
_handlers: dict[str, list[Handler]] = {}


def subscribe(name: str, handler: Handler) -> None:
    """Register ``handler`` for event ``name`` (idempotent: the same function is kept once)."""
    if name not in EVENTS:
        raise KeyError(f"unknown event {name!r}; declare it in registry.events.EVENTS")
    handlers = _handlers.setdefault(name, [])
    if handler not in handlers:
        handlers.append(handler)


def handlers_for(name: str) -> list[Handler]:
    return list(_handlers.get(name, []))


def publish(session: Session, name: str, **payload) -> None:
    """Run every handler of ``name`` now, in ``session``'s transaction."""
    if name not in EVENTS:
        raise KeyError(f"unknown event {name!r}; declare it in registry.events.EVENTS")
    handlers = _handlers.get(name)
    if not handlers:
        raise RuntimeError(f"no handler registered for {name!r}: call registry.handlers.register_handlers() "
                           "(create_app does) before using the services")
    for handler in handlers:
        handler(session, **payload)
