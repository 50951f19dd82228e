"""Inventory downloads: the systems, controls and decisions as Excel, the systems as CSV.

Both take exactly the inventory list's query arguments (``InventoryFilters.from_args``), so
the filters of ``/systems`` and the portfolio carry over, and export every matching system
(paging ignored).  Each download is an audit event with its filters and row counts.
"""

from __future__ import annotations

import tempfile

from flask import Blueprint, request, send_file
from flask_login import current_user, login_required

from registry.auth.permissions import can_export_inventory, require
from registry.db import utcnow
from registry.exports.services import write_export
from registry.inventory.queries import InventoryFilters
from registry.web import bring_states_up_to_date, db_session, record_export

bp = Blueprint("exports", __name__)

SPOOL_BYTES = 16 * 1024 * 1024  # larger exports go to a temporary file, not memory


def _download(fmt: str):
    actor = current_user._get_current_object()
    require(can_export_inventory(actor), "Your role does not allow exporting the inventory.")
    filters = InventoryFilters.from_args(request.args)
    today = utcnow().date()
    bring_states_up_to_date(today)
    session = db_session()
    out = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 - send_file closes it
    try:
        result = write_export(session, actor, filters, fmt, out, today=today)
    except BaseException:
        out.close()
        raise
    record_export(actor, "inventory.export", "inventory", None, system_id=None, summary=result.summary(),
                  after=result.audit_after(filters))
    out.seek(0)
    response = send_file(out, mimetype=result.content_type, as_attachment=True, download_name=result.file_name,
                         max_age=0)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/exports/systems.xlsx")
@login_required
def systems_xlsx():
    return _download("xlsx")


@bp.get("/exports/systems.csv")
@login_required
def systems_csv():
    return _download("csv")
