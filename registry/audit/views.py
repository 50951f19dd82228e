"""The per-system history page: field-level diffs, names not ids."""

from __future__ import annotations

from flask import Blueprint, render_template, request
from flask_login import current_user, login_required
from sqlalchemy import func, select

from registry.audit.models import AuditEvent
from registry.audit.readable import key_label, readable
from registry.inventory import services
from registry.inventory.services import FIELD_LABELS
from registry.web import db_session

bp = Blueprint("audit", __name__)

PER_PAGE = 50


def field_changes(event: AuditEvent) -> list[tuple[str, str | None, str | None]]:
    """(label, before, after) for every field the event changed, in a stable order, as a person
    reads them (``registry.audit.readable``); None where the event recorded nothing."""
    before, after = event.before or {}, event.after or {}
    keys = list(dict.fromkeys([*after.keys(), *before.keys()]))
    return [
        (key_label(k, FIELD_LABELS),
         readable(before.get(k), k, FIELD_LABELS) if k in before else None,
         readable(after.get(k), k, FIELD_LABELS) if k in after else None)
        for k in keys
        if before.get(k) != after.get(k)
    ]


@bp.get("/systems/<int:system_id>/history")
@login_required
def system_history(system_id: int):
    session = db_session()
    system = services.get_system(session, current_user._get_current_object(), system_id)
    try:
        page = max(1, int(request.args.get("page", "1")))
    except ValueError:
        page = 1
    total = session.scalar(select(func.count(AuditEvent.id)).where(AuditEvent.system_id == system_id))
    events = list(
        session.scalars(
            select(AuditEvent)
            .where(AuditEvent.system_id == system_id)
            .order_by(AuditEvent.seq.desc())
            .limit(PER_PAGE)
            .offset((page - 1) * PER_PAGE)
        )
    )
    return render_template(
        "audit/history.html",
        system=system,
        events=[(e, field_changes(e)) for e in events],
        page=page,
        pages=max(1, -(-total // PER_PAGE)),
        total=total,
    )
