"""The monitoring tab: each metric's chart, drift rule, observations and alerts (thin: the services work)."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from registry.auth.permissions import can_edit_system
from registry.enums import ObservationSource
from registry.errors import NotFound, ValidationFailed
from registry.inventory import services as inventory
from registry.inventory.forms import ConfirmForm, attach_errors, options, refuse
from registry.monitoring import services
from registry.monitoring.chart import build_chart
from registry.monitoring.drift import band_for, breaches_in
from registry.monitoring.forms import ObservationForm, ResolveForm, RuleForm, UploadForm
from registry.web import actor, db_session

bp = Blueprint("monitoring", __name__)
CHART_POINTS = 500  # the newest observations of each metric drawn on the page (older ones are counted)


def _panels(session, system, rule_forms: dict | None = None) -> list[dict]:
    """One panel per metric: its chart, rule (in words and as a form), counts and alerts."""
    rules = services.rules_for(session, system.id)
    data = services.recent_series(session, system.id, CHART_POINTS)
    alerts = services.alerts_for(session, system.id)
    panels = []
    for metric in system.metrics:
        rule = rules.get(metric.id)
        points, earlier = data.get(metric.id, ([], 0))
        band = band_for(rule, metric) if rule else None
        breaches = ({b.observed_at for b in breaches_in(points, band, rule.min_observations, earlier)}
                    if band else set())
        form = (rule_forms or {}).get(metric.id)
        if form is None:
            form = RuleForm(prefix=f"m{metric.id}", formdata=None)
            if rule:
                form.fill(rule)
        panels.append({
            "metric": metric, "rule": rule, "rule_text": services.rule_text(rule, metric) if rule else None,
            "band": band, "points": points, "earlier": earlier, "form": form,
            "chart": build_chart(points, unit=metric.unit, baseline=metric.baseline_value, target=metric.target_value,
                                 band=band, breaches=breaches),
            "alerts": [a for a in alerts if a.metric_id == metric.id],
        })
    return panels


def _render(session, system, *, status=200, observation_form=None, upload_form=None, upload_errors=None,
            rule_forms=None, resolve_forms=None):
    observation_form = observation_form or ObservationForm()
    observation_form.metric_id.choices = options([(str(m.id), f"{m.name} ({m.unit})") for m in system.metrics])
    return render_template(
        "monitoring/index.html", system=system, panels=_panels(session, system, rule_forms), tab="monitoring",
        can_edit=can_edit_system(current_user, system),
        can_resolve=services.can_resolve_alert(current_user, system),
        observation_form=observation_form, upload_form=upload_form or UploadForm(),
        upload_errors=upload_errors or [], resolve_forms=resolve_forms or {}, resolve_form=ResolveForm(),
    ), status


def _editable(session, system_id: int):
    system = inventory.get_system(session, actor(), system_id)
    if not can_edit_system(current_user, system):
        abort(403)
    return system


def _back(system_id: int, anchor: str = ""):
    return redirect(url_for("monitoring.index", system_id=system_id) + anchor, 303)


@bp.get("/systems/<int:system_id>/monitoring")
@login_required
def index(system_id: int):
    session = db_session()
    return _render(session, inventory.get_system(session, actor(), system_id))


@bp.post("/systems/<int:system_id>/monitoring/observations")
@login_required
def add_observation(system_id: int):
    session = db_session()
    system = _editable(session, system_id)
    form = ObservationForm()
    form.metric_id.choices = options([(str(m.id), m.name) for m in system.metrics])
    if not form.validate_on_submit():
        return _render(session, system, status=422, observation_form=form)
    try:
        result = services.record_observations(session, actor(), system_id, [form.payload()], ObservationSource.FORM,
                                              prefix="row", first=0)
    except ValidationFailed as err:
        session.rollback()
        attach_errors(form, {k.rsplit(".", 1)[-1]: v for k, v in err.errors.items()})
        if not form.errors:
            form.form_errors.append(err.message)
        return _render(session, system, status=422, observation_form=form)
    session.commit()
    flash("Observation recorded." if result["created"] else
          ("Observation corrected." if result["corrected"] else "That observation was already recorded."), "success")
    if result["alerts_opened"]:
        flash("It opened a drift alert: see below.", "error")
    return _back(system_id, "#metric-" + str(form.metric_id.data))


def _row_messages(errors: dict[str, list[str]]) -> list[str]:
    """``row.5.value: [...]`` as "Row 5, value: …" in row order."""
    out = []
    for key in sorted(errors, key=lambda k: (int(k.split(".")[1]) if k.startswith("row.") and
                                             k.split(".")[1].isdigit() else 0, k)):
        parts = key.split(".")
        where = f"Row {parts[1]}, {parts[2]}" if len(parts) == 3 and parts[0] == "row" else key
        out.append(f"{where}: {' '.join(errors[key])}")
    return out


@bp.post("/systems/<int:system_id>/monitoring/upload")
@login_required
def upload(system_id: int):
    session = db_session()
    system = _editable(session, system_id)
    form = UploadForm()
    if not form.validate_on_submit():
        return _render(session, system, status=422, upload_form=form)
    upload_file = form.file.data
    if upload_file is None or not upload_file.filename:
        form.file.errors = ["Choose a CSV file."]
        return _render(session, system, status=422, upload_form=form)
    try:
        rows = services.read_observations_csv(upload_file.read())
        result = services.record_observations(session, actor(), system_id, rows, ObservationSource.CSV,
                                              prefix="row", first=2)
    except ValidationFailed as err:
        session.rollback()
        messages = _row_messages(err.errors) if any(k.startswith("row.") for k in err.errors) else []
        form.file.errors = [err.message]
        return _render(session, system, status=422, upload_form=form, upload_errors=messages[:200])
    session.commit()
    flash(f"{upload_file.filename}: {result['created']} recorded, {result['corrected']} corrected, "
          f"{result['unchanged']} already there." + (f" {result['alerts_opened']} drift alert(s) opened."
                                                      if result["alerts_opened"] else ""), "success")
    return _back(system_id)


def _metric_id() -> int:
    raw = request.form.get("metric_id", "")
    if not raw.isdigit() or len(raw) > 10:
        raise ValidationFailed("Choose the metric.", errors={"metric_id": ["Choose the metric."]})
    return int(raw)


@bp.post("/systems/<int:system_id>/monitoring/rule")
@login_required
def set_rule(system_id: int):
    session = db_session()
    system = _editable(session, system_id)
    metric_id = _metric_id()
    if metric_id not in {m.id for m in system.metrics}:
        raise NotFound("There is no such metric on this system.")
    form = RuleForm(prefix=f"m{metric_id}")
    if not form.validate_on_submit():
        return _render(session, system, status=422, rule_forms={metric_id: form})
    try:
        services.set_drift_rule(session, actor(), system_id, metric_id, form.payload())
    except ValidationFailed as err:
        refuse(session, form, err)
        return _render(session, system, status=422, rule_forms={metric_id: form})
    session.commit()
    flash("Drift rule saved; the metric's observations were judged against it.", "success")
    return _back(system_id, f"#metric-{metric_id}")


@bp.post("/systems/<int:system_id>/monitoring/rule/delete")
@login_required
def delete_rule(system_id: int):
    session = db_session()
    _editable(session, system_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    metric_id = _metric_id()
    if not services.delete_drift_rule(session, actor(), system_id, metric_id):
        raise NotFound("This metric has no drift rule.")
    session.commit()
    flash("Drift rule removed. Its open alerts stay until someone resolves them.", "success")
    return _back(system_id, f"#metric-{metric_id}")


@bp.post("/systems/<int:system_id>/monitoring/resolve")
@login_required
def resolve(system_id: int):
    session = db_session()
    system = inventory.get_system(session, actor(), system_id)
    if not services.can_resolve_alert(current_user, system):
        abort(403)
    form = ResolveForm()
    raw = request.form.get("alert_id", "")
    alert_id = int(raw) if raw.isdigit() and len(raw) <= 10 else None
    if not form.validate_on_submit() or alert_id is None:
        if alert_id is None:
            form.form_errors.append("Choose the alert to resolve.")
        return _render(session, system, status=422, resolve_forms={alert_id: form})
    try:
        services.resolve_alert(session, actor(), system_id, alert_id, form.note.data)
    except ValidationFailed as err:
        session.rollback()
        form.note.errors = list(form.note.errors) + [err.message]
        return _render(session, system, status=422, resolve_forms={alert_id: form})
    session.commit()
    flash("Drift alert resolved; your note is in the system's history.", "success")
    return _back(system_id)
