"""Pages of incidents: a system's list (filtered by status and severity), reporting one, one incident
with its edit form (thin: the services do the work)."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from registry.auth.models import User
from registry.auth.permissions import can_report_incident, require
from registry.decisions.services import assess_system
from registry.enums import FailureMode, IncidentStatus, Severity
from registry.errors import BadRequest, Conflict, ValidationFailed
from registry.incidents import services
from registry.incidents.forms import IncidentForm
from registry.inventory import services as inventory
from registry.inventory.forms import attach_errors, refuse
from registry.web import db_session

bp = Blueprint("incidents", __name__)


def _actor() -> User:
    return current_user._get_current_object()


def _filter(name: str, enum_cls) -> str:
    value = request.args.get(name, "")
    if value and value not in enum_cls.values():
        raise BadRequest(f"There is no {name} “{value[:40]}”: choose one of "
                         + ", ".join(m.label.lower() for m in enum_cls) + ".")
    return value


@bp.get("/systems/<int:system_id>/incidents")
@login_required
def index(system_id: int):
    session = db_session()
    system = inventory.get_system(session, _actor(), system_id)
    status, severity = _filter("status", IncidentStatus), _filter("severity", Severity)
    everything = services.list_incidents(session, system.id)
    shown = [i for i in everything if (not status or i.status.value == status)
             and (not severity or i.severity.value == severity)]
    open_by = {s: sum(1 for i in everything if i.status is IncidentStatus.OPEN and i.severity is s) for s in Severity}
    modes = {m: sum(1 for i in everything if i.failure_mode is m) for m in FailureMode}
    return render_template("incidents/index.html", system=system, state=assess_system(session, system),
                           incidents=shown, total=len(everything), open_by=open_by, status=status,
                           severity=severity, status_choices=IncidentStatus.choices(),
                           severity_choices=Severity.choices(), modes={m: n for m, n in modes.items() if n},
                           unclassified=sum(1 for i in everything if i.failure_mode is None),
                           can_report=can_report_incident(current_user, system))


@bp.route("/systems/<int:system_id>/incidents/new", methods=["GET", "POST"])
@login_required
def new(system_id: int):
    session = db_session()
    system = inventory.get_system(session, _actor(), system_id)
    require(can_report_incident(current_user, system), services.NOT_ALLOWED)
    form = IncidentForm(version="0")
    status = 200
    if form.validate_on_submit():
        try:
            incident = services.report_incident(session, _actor(), system_id, form.payload())
        except ValidationFailed as err:
            session.rollback()
            attach_errors(form, err.errors)
            status = 422
        else:
            session.commit()
            flash(f"Incident reported: {incident.title}.", "success")
            return redirect(url_for("incidents.show", system_id=system_id, incident_id=incident.id))
    elif request.method == "POST":
        status = 422
    return render_template("incidents/form.html", system=system, form=form, incident=None), status


@bp.route("/systems/<int:system_id>/incidents/<int:incident_id>", methods=["GET", "POST"])
@login_required
def show(system_id: int, incident_id: int):
    session = db_session()
    system = inventory.get_system(session, _actor(), system_id)
    incident = services.get_incident(session, system.id, incident_id)
    can_edit = can_report_incident(current_user, system)
    status = 200
    if request.method == "GET":
        form = IncidentForm(data={**services.payload_of(incident), "occurred_on": incident.occurred_on,
                                  "failure_mode": incident.failure_mode.value if incident.failure_mode else "",
                                  "version": str(incident.version)})
    else:
        require(can_edit, services.NOT_ALLOWED)
        form = IncidentForm()
        if form.validate_on_submit():
            try:
                services.update_incident(session, _actor(), system_id, incident_id, form.payload(),
                                         expected_version=form.expected_version())
            except (ValidationFailed, Conflict) as err:
                refuse(session, form, err)
                status = err.status
            else:
                session.commit()
                flash("Incident saved.", "success")
                return redirect(url_for("incidents.show", system_id=system_id, incident_id=incident_id))
        else:
            status = 422
        incident = services.get_incident(session, system.id, incident_id)
    created_by = session.get(User, incident.created_by_id) if incident.created_by_id else None
    return render_template("incidents/show.html", system=system, incident=incident, form=form, can_edit=can_edit,
                           created_by=created_by, not_classified=services.NOT_CLASSIFIED), status
