"""The home page (one per role) and the health check."""

from __future__ import annotations

from flask import Blueprint, current_app, redirect, render_template, send_from_directory, url_for
from flask_login import current_user
from sqlalchemy import func, select

from registry.db import utcnow
from registry.enums import Role, Stage, Tier
from registry.inventory.models import AISystem
from registry.inventory.queries import counts_by, systems_owned_by
from registry.inventory.services import FIELD_LABELS
from registry.review.services import queue_counts, readiness_summaries
from registry.state.standing import next_steps
from registry.web import bring_states_up_to_date, db_session

bp = Blueprint("main", __name__)


@bp.get("/")
def home():
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login"))
    session = db_session()
    user = current_user._get_current_object()
    context = {
        "by_stage": counts_by(session, AISystem.stage),
        "by_tier": counts_by(session, AISystem.tier),
        "total": session.scalar(select(func.count(AISystem.id)).where(AISystem.deleted_at.is_(None))),
        "stages": list(Stage),
        "tiers": list(Tier),
    }
    if user.role is Role.OWNER:
        today = utcnow().date()
        bring_states_up_to_date(today)
        context["my_systems"] = systems_owned_by(session, user)
        ids = [s.id for s in context["my_systems"]]
        context["summaries"] = readiness_summaries(session, ids)
        context["next_steps"] = next_steps(session, ids)
        context["today"] = today
    if user.role in (Role.ADMIN, Role.COMPLIANCE):  # imported records wait for an owner and a tier
        live = AISystem.deleted_at.is_(None)
        context["unowned"] = session.scalar(select(func.count(AISystem.id)).where(
            live, AISystem.accountable_owner_id.is_(None)))
        context["field_labels"] = FIELD_LABELS
    if user.role is Role.OWNER:
        context["field_labels"] = FIELD_LABELS
    if user.role is Role.COMPLIANCE:
        context["queue"] = queue_counts(session, user, utcnow().date())
        context["overridden"] = session.scalar(
            select(func.count(AISystem.id)).where(AISystem.deleted_at.is_(None), AISystem.tier_override.is_not(None))
        )
        context["high_in_production"] = list(
            session.scalars(
                select(AISystem)
                .where(AISystem.deleted_at.is_(None), AISystem.tier.in_([Tier.HIGH, Tier.UNACCEPTABLE]))
                .where(AISystem.stage.in_([Stage.PILOT, Stage.PRODUCTION]))
                .order_by(AISystem.updated_at.desc())
                .limit(15)
            ).unique()
        )
    return render_template("main/home.html", **context)


@bp.get("/favicon.ico")
def favicon():
    """Browsers ask for /favicon.ico whatever the page says."""
    return send_from_directory(current_app.static_folder, "favicon.ico", mimetype="image/vnd.microsoft.icon",
                               max_age=86400)
