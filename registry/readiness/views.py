"""Readiness pages: the five questions of a system, one question's answer, submit and review."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from registry.auth.permissions import can_edit_system, can_review
from registry.decisions.services import assess_system
from registry.enums import AnswerStatus, Question
from registry.errors import Conflict, ValidationFailed
from registry.inventory import services as inventory
from registry.inventory.forms import attach_errors
from registry.monitoring import services as monitoring
from registry.readiness import services
from registry.readiness.forms import ERROR_FIELDS, FORMS, ReviewForm, SubmitForm
from registry.readiness.questions import PROMPTS, describe, missing_parts
from registry.web import db_session

bp = Blueprint("readiness", __name__)


def _actor():
    return current_user._get_current_object()


def _question(key: str) -> Question:
    try:
        return Question(key)
    except ValueError:
        abort(404)


def _state(session, system):
    return assess_system(session, system)


@bp.get("/systems/<int:system_id>/readiness")
@login_required
def overview(system_id: int):
    session = db_session()
    system = inventory.get_system(session, _actor(), system_id)
    state = _state(session, system)
    ctx = services.context_for(session, system, state.answers)
    items = []
    for question in Question:
        answer = state.answers.get(question)
        items.append({
            "question": question, "prompt": PROMPTS[question], "answer": answer,
            "status": answer.status if answer else None,
            "missing": missing_parts(question, answer.content if answer else {}, ctx),
        })
    accepted = sum(1 for i in items if i["status"] is AnswerStatus.ACCEPTED)
    return render_template("readiness/overview.html", system=system, state=state, items=items, accepted=accepted,
                           can_edit=can_edit_system(current_user, system), tab="readiness")


def _render_question(session, system, question, form, *, status=200, submit_form=None, review_form=None):
    state = _state(session, system)
    answer = state.answers.get(question)
    ctx = services.context_for(session, system, state.answers)
    content = answer.content if answer else {}
    version = str(answer.version if answer else 0)
    submit_form = submit_form or SubmitForm(version=version)
    review_form = review_form or ReviewForm(version=version)
    if form is not None and not form.version.data:
        form.version.data = version
    return render_template(
        "readiness/question.html", system=system, state=state, question=question, prompt=PROMPTS[question],
        answer=answer, rows=describe(question, content, ctx), missing=missing_parts(question, content, ctx),
        form=form, submit_form=submit_form, review_form=review_form,
        can_edit=can_edit_system(current_user, system),
        can_submit=current_user.id == system.accountable_owner_id,
        can_review=can_review(current_user, system), tab="readiness",
        drift_rules=_drift_rules(session, system) if question is Question.DRIFT else None,
    ), status


def _drift_rules(session, system) -> list[tuple]:
    """(metric, the rule in words or None, open alerts) per metric: the drift answer links to these
    structured rules on the monitoring tab instead of restating thresholds."""
    rules = monitoring.rules_for(session, system.id)
    counts = monitoring.metric_counts(session, system.id)
    return [(m, monitoring.rule_text(rules[m.id], m) if m.id in rules else None, counts.get(m.id, (0, 0, False))[1])
            for m in system.metrics]


def _question_form(session, system, question, answer=None, ctx=None):
    form = FORMS[question]()
    if question is Question.OUTCOME:
        form.metric_ids.choices = [(m.id, f"{m.name} ({m.unit})") for m in system.metrics]
    if question is Question.OWNERSHIP:
        form.set_people(inventory.assignable_people(session))
    if request.method == "GET" and answer is not None:
        form.fill(answer.content, ctx.people if ctx else {})
        form.version.data = str(answer.version)
    elif request.method == "GET" and hasattr(form, "fill"):
        form.fill({}, {})
    return form


@bp.route("/systems/<int:system_id>/readiness/<key>", methods=["GET", "POST"])
@login_required
def question(system_id: int, key: str):
    question = _question(key)
    session = db_session()
    system = inventory.get_system(session, _actor(), system_id)
    answers = services.answers_for(session, system.id)
    editable = can_edit_system(current_user, system)
    form = None
    if editable:
        answer = answers.get(question)
        form = _question_form(session, system, question, answer, services.context_for(session, system, answers))
    if request.method == "GET":
        return _render_question(session, system, question, form)
    if not editable:
        abort(403)
    if not form.validate_on_submit():
        return _render_question(session, system, question, form, status=422)
    try:
        services.save_answer(session, _actor(), system_id, question, form.payload(),
                             expected_version=form.expected_version())
    except ValidationFailed as err:
        session.rollback()
        attach_errors(form, {ERROR_FIELDS.get(k, k): v for k, v in err.errors.items()})
        if not err.errors:
            form.form_errors.append(err.message)
        return _render_question(session, system, question, form, status=422)
    except Conflict as err:
        session.rollback()
        form.form_errors.append(err.message)
        return _render_question(session, system, question, form, status=409)
    session.commit()
    flash(f"Saved your answer to “{question.label}” as a draft.", "success")
    return redirect(url_for("readiness.question", system_id=system_id, key=question.value))


@bp.post("/systems/<int:system_id>/readiness/<key>/submit")
@login_required
def submit(system_id: int, key: str):
    question = _question(key)
    session = db_session()
    form = SubmitForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        services.submit_answer(session, _actor(), system_id, question, attest=bool(form.attest.data),
                               expected_version=form.expected_version())
    except (ValidationFailed, Conflict) as err:
        session.rollback()
        system = inventory.get_system(session, _actor(), system_id)
        if err.errors.get("attest"):
            form.attest.errors = list(err.errors["attest"])
        else:
            form.form_errors.append(err.message)
        return _render_question(session, system, question, None if not can_edit_system(current_user, system) else
                                _question_form(session, system, question, services.answers_for(session, system_id).get(question),
                                               services.context_for(session, system)),
                                status=err.status, submit_form=form)
    session.commit()
    flash(f"Submitted “{question.label}” for review. A compliance officer will accept it or return it with a comment.",
          "success")
    return redirect(url_for("readiness.question", system_id=system_id, key=question.value))


@bp.post("/systems/<int:system_id>/readiness/<key>/review")
@login_required
def review(system_id: int, key: str):
    question = _question(key)
    session = db_session()
    form = ReviewForm()
    if not form.validate_on_submit():
        if form.csrf_token.errors or form.version.errors:
            abort(400)
        system = inventory.get_system(session, _actor(), system_id)
        if not form.outcome.data:
            form.outcome.errors = ["Choose Accept or Return to the owner."]
        return _render_question(session, system, question, None, status=422, review_form=form)
    try:
        answer = services.review_answer(session, _actor(), system_id, question,
                                        {"outcome": form.outcome.data or "", "comment": form.comment.data or ""},
                                        expected_version=form.expected_version())
    except (ValidationFailed, Conflict) as err:
        session.rollback()
        system = inventory.get_system(session, _actor(), system_id)
        for name in ("outcome", "comment"):
            if err.errors.get(name):
                form[name].errors = list(err.errors[name])
        if not err.errors:
            form.form_errors.append(err.message)
        return _render_question(session, system, question, None, status=err.status, review_form=form)
    session.commit()
    flash(f"{'Accepted' if answer.status is AnswerStatus.ACCEPTED else 'Returned'} “{question.label}”.", "success")
    return redirect(url_for("readiness.question", system_id=system_id, key=question.value))
