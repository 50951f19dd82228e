"""The import pages: upload a file, fix its mapping, preview what would change, commit.

Upload → ``/imports/<id>`` (the preview: counts and every problem, downloadable) → optionally
``/imports/<id>/mapping`` (the editor) → commit (everything or the valid rows only).  A small
file is committed in the request; a large one as a job whose progress the same page shows.
Only the person who uploaded a file sees it; admins and compliance officers import.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

from registry.auth.permissions import can_import, require
from registry.errors import NotFound
from registry.imports import runner, staging
from registry.imports.forms import CommitForm, UploadForm, mapping_form, mapping_from_form
from registry.imports.mapping import FIELDS, check_mapping, load_layouts
from registry.imports.models import ImportMapping
from registry.imports.reader import ImportFileError, read_table
from registry.imports.services import recent_imports
from registry.imports.staging import STEPS
from registry.inventory.forms import options
from registry.reports.queue import purge_staged
from registry.web import db_session, export_run, reap_if_stale

bp = Blueprint("imports", __name__)
PROBLEMS_SHOWN = 200


def _store():
    return current_app.extensions["registry.files"]


def _allowed():
    require(can_import(current_user), "Only administrators and compliance officers import inventories.")


def _upload(staged_id: str):
    """The caller's own upload ``staged_id`` (anyone else's is a 404), in the request's session."""
    _allowed()
    return staging.get(db_session(), staged_id, current_user.id)


def _mapping_choices(session) -> list[tuple[str, str]]:
    choices = [("", "Recognise the layout from the file's headers")]
    choices += [(lay.key, f"{lay.name} (shipped)") for lay in load_layouts()]
    choices += [(n, f"{n} (saved)") for n in session.scalars(select(ImportMapping.name).order_by(ImportMapping.name))]
    return choices


@bp.route("/imports", methods=["GET", "POST"])
@login_required
def index():
    _allowed()
    session = db_session()
    form = UploadForm()
    form.mapping.choices = options(_mapping_choices(session))
    status = 200
    if request.method == "POST":
        upload = form.file.data
        if not form.validate_on_submit():
            status = 422
        elif upload is None or not getattr(upload, "filename", ""):
            form.file.errors.append("Choose a file to upload.")
            status = 422
        else:
            data = upload.read()
            sheet = (form.sheet.data or "").strip() or None
            try:
                table = read_table(data, upload.filename, sheet)
            except ImportFileError as err:
                form.file.errors.append(str(err))
                status = 422
            else:
                purge_staged(session, _store())  # yesterday's uploads go as today's arrive
                staged = staging.stage(session, _store(), data, table.file_name, current_user.id,
                                       layout=form.mapping.data or None, sheet=sheet)
                session.commit()
                return redirect(url_for("imports.preview", staged_id=staged.id))
    return render_template("imports/index.html", form=form, imports=recent_imports(session)), status


@bp.get("/imports/<staged_id>")
@login_required
def preview(staged_id: str):
    staged = _upload(staged_id)
    session = db_session()
    if staged.status != "staged":
        reap_if_stale(staged)
        return render_template("imports/status.html", staged=staged, steps=STEPS,
                               has_report=staged.report_sha256 is not None)
    try:
        table, plan = runner.preview(session, _store(), staged)
    except ImportFileError as err:
        raise NotFound(str(err)) from None
    except runner.MappingNeeded as err:
        flash(err.message, "info")
        return redirect(url_for("imports.mapping", staged_id=staged.id))
    problems = [(r.row, *p) for r in plan.rows for p in r.problems]
    return render_template("imports/preview.html", staged=staged, plan=plan, counts=plan.counts, table=table,
                           problems=problems[:PROBLEMS_SHOWN], problem_total=len(problems), fields=FIELDS,
                           layouts={lay.key: lay.name for lay in load_layouts()}, form=CommitForm())


@bp.route("/imports/<staged_id>/mapping", methods=["GET", "POST"])
@login_required
def mapping(staged_id: str):
    staged = _upload(staged_id)
    if staged.status != "staged":
        return redirect(url_for("imports.preview", staged_id=staged.id))
    session = db_session()
    try:
        table = read_table(staging.data(session, _store(), staged), staged.file_name, staged.sheet)
    except ImportFileError as err:
        raise NotFound(str(err)) from None
    problems: list[str] = []
    try:
        base, name = runner.mapping_for(session, table, staged)
    except runner.MappingNeeded as err:
        base, name, problems = err.suggestion, staged.save_as or staged.layout or "", err.problems
    form = mapping_form(table, base, name, formdata=request.form if request.method == "POST" else None,
                        save=bool(staged.save_as))
    status = 200
    if request.method == "POST":
        shipped = {lay.key for lay in load_layouts()}
        if form.validate_on_submit():
            edited = mapping_from_form(form, base, table.headers)
            problems = check_mapping(edited, table.headers)
            chosen = form.mapping_name.data.strip()
            if form.save.data and chosen in shipped:
                form.mapping_name.errors.append("A shipped layout keeps its name and cannot be overwritten: choose "
                                                "another name to save your version.")
            elif not problems:
                staged.mapping, staged.layout = edited, chosen
                staged.save_as = chosen if form.save.data else None
                session.commit()
                flash("Mapping updated: here is what it would import.", "success")
                return redirect(url_for("imports.preview", staged_id=staged.id))
        status = 422
    return render_template("imports/mapping.html", staged=staged, form=form, table=table, problems=problems,
                           fields=FIELDS), status


@bp.get("/imports/<staged_id>/problems.csv")
@login_required
def problems_csv(staged_id: str):
    """Every problem of the preview, or after a commit the committed plan's (the skipped rows)."""
    staged = _upload(staged_id)
    text = staging.report(db_session(), _store(), staged) if staged.status != "staged" else None
    if text is None:
        try:
            _table, plan = runner.preview(db_session(), _store(), staged)
        except (ImportFileError, runner.MappingNeeded) as err:
            raise NotFound(getattr(err, "message", None) or str(err)) from None
        text = plan.problems_csv()
    stem = staged.file_name.rsplit(".", 1)[0][:80] or "import"
    response = Response(text, mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{_safe(stem)}-problems.csv"'
    response.headers["Cache-Control"] = "no-store"
    return response


def _safe(stem: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in stem)


@bp.post("/imports/<staged_id>/commit")
@login_required
def commit(staged_id: str):
    staged = _upload(staged_id)
    if staged.status != "staged":
        return redirect(url_for("imports.preview", staged_id=staged.id))
    form = CommitForm()
    if not form.validate_on_submit():
        flash("The form expired or was incomplete: confirm the import again.", "error")
        return redirect(url_for("imports.preview", staged_id=staged.id)), 303
    session = db_session()
    staged.only_valid = form.scope.data == "valid"
    run = export_run(current_app)
    if staged.size_bytes <= current_app.config["IMPORT_INLINE_BYTES"]:
        session.commit()  # end the request's transaction: the import writes in one of its own
        runner.run_import(run, staged.id, waiting="staged")
    else:
        try:
            runner.enqueue(session, run, staged)  # commits, or raises with nothing written
        except runner.QueueUnavailable:
            session.rollback()
            raise
    return redirect(url_for("imports.preview", staged_id=staged.id), 303)
