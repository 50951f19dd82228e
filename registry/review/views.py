"""The review queue page (compliance officers; admins may look)."""

from __future__ import annotations

from flask import Blueprint, render_template, request
from flask_login import current_user, login_required

from registry.auth.permissions import can_see_review_queue, require
from registry.db import utcnow
from registry.review.services import WAITING, QueueFilters, queue_by_system
from registry.web import db_session

bp = Blueprint("review", __name__)


@bp.get("/review")
@login_required
def queue():
    require(can_see_review_queue(current_user), "The review queue is for compliance officers.")
    today = utcnow().date()
    filters = QueueFilters.from_args(request.args)
    return render_template("review/queue.html", queue=queue_by_system(db_session(), current_user, today, filters),
                           waiting=WAITING, today=today)
