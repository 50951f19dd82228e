"""The portfolio dashboard (/portfolio) and its PDF for a board pack (/portfolio.pdf)."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, render_template, request
from flask_login import current_user, login_required

from registry.auth.models import User
from registry.auth.permissions import can_see_portfolio, require
from registry.db import utcnow
from registry.inventory.queries import ATTENTION
from registry.portfolio.services import (
    PDF_MAX_SYSTEMS,
    after_baseline_counts,
    describe_filters,
    pdf_systems,
    portfolio_figures,
    portfolio_filters,
    portfolio_pdf_html,
)
from registry.reports.render import RenderError, render_pdf
from registry.reports.services import ReportUnavailable
from registry.web import bring_states_up_to_date, db_session, record_export

bp = Blueprint("portfolio", __name__)
DENIED = "The portfolio is for executives, compliance officers and admins."


def _actor() -> User:
    return current_user._get_current_object()


@bp.get("/portfolio")
@login_required
def index():
    actor = _actor()
    require(can_see_portfolio(actor), DENIED)
    today = utcnow().date()
    bring_states_up_to_date(today)
    filters = portfolio_filters(request.args)
    figures = portfolio_figures(db_session(), actor, filters, today=today)
    return render_template("portfolio/index.html", p=figures, f=filters, pdf_max=PDF_MAX_SYSTEMS,
                           attention_labels=ATTENTION, after_counts=after_baseline_counts(figures))


@bp.get("/portfolio.pdf")
@login_required
def pdf():
    """The dashboard as a PDF for a board pack: figures, charts and up to PDF_MAX_SYSTEMS systems."""
    actor = _actor()
    require(can_see_portfolio(actor), DENIED)
    now = utcnow()
    bring_states_up_to_date(now.date())
    filters = portfolio_filters(request.args)
    session = db_session()
    figures = portfolio_figures(session, actor, filters, today=now.date())
    systems, total = pdf_systems(session, actor, filters)
    described = describe_filters(filters, dict(figures.options_owners))
    html = portfolio_pdf_html(figures, systems, total, author=actor.name, filters_text=described, created=now,
                              organisation_name=current_app.config.get("ORGANISATION_NAME") or "")
    try:
        rendered = render_pdf(html, created=now, identifier=f"portfolio-{now:%Y%m%dT%H%M%SZ}")
    except RenderError as err:
        raise ReportUnavailable(f"The portfolio PDF could not be produced: {err}") from err
    record_export(actor, "portfolio.export_pdf", "portfolio", None, system_id=None,
                  summary=f"Exported the portfolio PDF ({described}): {len(systems)} of {total} systems listed",
                  after={"filters": described, "systems": total, "listed": len(systems),
                         "pages": rendered.page_count, "bytes": len(rendered.pdf)})
    name = f"portfolio-{now:%Y-%m-%d}.pdf"
    return Response(rendered.pdf, mimetype="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"})
