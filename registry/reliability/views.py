"""Pages of reliability (thin: the services do the work)."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask_login import current_user, login_required

from registry.inventory import services
from registry.web import db_session

bp = Blueprint("reliability", __name__)


@bp.get("/systems/<int:system_id>/reliability")
@login_required
def index(system_id: int):
    system = services.get_system(db_session(), current_user._get_current_object(), system_id)
    return render_template("reliability/index.html", system=system)
