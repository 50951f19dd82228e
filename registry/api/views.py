"""The JSON API (``/api/v1``): thin views over the same services, schemas and permissions as the pages.

Authentication is a personal token only (``Authorization: Bearer …``, ``registry.auth.tokens``):
a session cookie never authenticates here, so there is no CSRF to check.  Requests are counted per
token (``API_RATE_LIMIT`` a minute).  Errors have one shape, ``{"error": {"code", "message",
"fields"}}`` (``registry.errors``).  Single resources carry an ETag (their version); a change sends
it back as If-Match: without it 428, stale 412.
"""

from __future__ import annotations

import json
import math
from math import ceil

from flask import Blueprint, abort, current_app, g, jsonify, render_template, request, url_for
from marshmallow import Schema, ValidationError
from redis import Redis
from sqlalchemy.exc import IntegrityError

from registry.api import records
from registry.api.ratelimit import MemoryLimiter, RedisLimiter
from registry.api.schemas import (
    AnswerListSchema,
    ControlListSchema,
    ImportFormSchema,
    ImportResultSchema,
    MetricListSchema,
)
from registry.api.spec import Operation, build_spec, docs_context
from registry.audit.schemas import AuditPageSchema, AuditQuerySchema
from registry.audit.services import events_page
from registry.auth.models import User
from registry.auth.permissions import (
    can_create_system,
    can_edit_system,
    can_import,
    can_read_audit_trail,
    can_see_portfolio,
    can_see_review_queue,
    require,
)
from registry.auth.tokens import needs_touch, parse_bearer, token_for, touch_token
from registry.controls import services as controls
from registry.controls.evidence_store import evidence_store
from registry.controls.models import Control
from registry.controls.schemas import (
    AssessmentSchema,
    ControlRecordSchema,
    EvidenceRecordSchema,
    EvidenceSchema,
)
from registry.db import evidence_max_age_days, utcnow
from registry.decisions import services as decisions
from registry.decisions.schemas import DecisionListSchema, DecisionRecordSchema, SnapshotRecordSchema
from registry.enums import Question
from registry.errors import (
    BadRequest,
    Conflict,
    NotFound,
    PreconditionFailed,
    PreconditionRequired,
    RateLimited,
    ValidationFailed,
)
from registry.imports.mapping import check_mapping
from registry.imports.reader import ImportFileError, read_table
from registry.imports.services import (
    ImportRefused,
    UnknownLayout,
    commit_import,
    plan_import,
    resolve_mapping,
)
from registry.inventory import services as inventory
from registry.inventory.queries import InventoryFilters, list_systems
from registry.inventory.schemas import (
    InventoryQuerySchema,
    MetricRecordSchema,
    MetricSchema,
    RiskAnswersSchema,
    RiskRecordSchema,
    SystemPageSchema,
    SystemRecordSchema,
    SystemSchema,
    flatten_errors,
    load_or_raise,
)
from registry.portfolio.schemas import PortfolioSchema
from registry.portfolio.services import portfolio_figures, portfolio_filters
from registry.readiness import services as readiness
from registry.readiness.schemas import SCHEMAS, AnswerRecordSchema, SubmitSchema
from registry.review.schemas import QueueSchema
from registry.review.services import review_queue
from registry.web import bring_states_up_to_date, db_session, reader, record_export, writer

bp = Blueprint("api", __name__, url_prefix="/api/v1")

QUESTIONS = "any(" + ", ".join(Question.values()) + ")"
ANSWER_BODIES = {q.value: SCHEMAS[q] for q in Question}
PORTFOLIO_QUERY = ("stage", "tier", "kind", "business_unit", "owner")
MAX_PROBLEMS = 1000


class PortfolioQuerySchema(InventoryQuerySchema):
    """The portfolio's filters: the inventory's stage, tier, kind, business unit and owner."""

    class Meta:
        exclude = tuple(f for f in InventoryQuerySchema._declared_fields if f not in PORTFOLIO_QUERY)


def op(**kw):
    """Attach the route's ``Operation`` (its OpenAPI description) to the view."""
    def decorate(view):
        view.api_operation = Operation(**kw)
        return view
    return decorate


# -- authentication, rate limit, input ---------------------------------------------------------

@bp.before_request
def _authenticate():
    view = current_app.view_functions.get(request.endpoint)
    if view is None or getattr(view, "api_operation", None) is None or view.api_operation.public:
        return
    secret = parse_bearer(request.headers.get("Authorization"))
    with reader() as session:
        token = token_for(session, secret)
        token_id, user_id, touch = token.id, token.user_id, needs_touch(token)
    if touch:  # before the request's own session exists: SQLite has one writer at a time
        with writer() as session:
            touch_token(session, token_id)
            session.commit()
    _count_request(token_id)
    g.api_user = db_session().get(User, user_id)
    _check_text(request.args.to_dict(flat=False), "query")


def _limiter():
    limiter = current_app.extensions.get("registry.api_limiter")
    if limiter is None:
        url = current_app.config.get("REDIS_URL")
        limiter = RedisLimiter(Redis.from_url(url)) if url else MemoryLimiter()
        current_app.extensions["registry.api_limiter"] = limiter
    return limiter


def _count_request(token_id: int) -> None:
    limit = int(current_app.config["API_RATE_LIMIT"])
    verdict = _limiter().hit(f"token:{token_id}", limit)
    g.api_rate = (limit, verdict)
    if not verdict.allowed:
        raise RateLimited(f"More than {limit} requests a minute with this token: wait {verdict.retry_after} s.",
                          headers={"Retry-After": str(verdict.retry_after)})


@bp.after_request
def _headers(response):
    rate = g.pop("api_rate", None)
    if rate is not None:
        limit, verdict = rate
        response.headers["X-RateLimit-Limit"] = str(limit)
        response.headers["X-RateLimit-Remaining"] = str(verdict.remaining)
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def _user() -> User:
    return g.api_user


def _check_text(value, where: str) -> None:
    """Text the databases cannot store (NUL; unpaired surrogates) is refused up front (400), never a 500."""
    stack = [(value, where)]
    while stack:
        item, path = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                raise BadRequest("Text may not contain NUL characters.", errors={path: ["Remove the NUL character."]})
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise BadRequest("Text must be valid Unicode.", errors={path: ["Unpaired surrogate."]}) from None
        elif isinstance(item, dict):
            for key, sub in item.items():
                stack.append((key, path))
                stack.append((sub, f"{path}.{key}" if path else str(key)))
        elif isinstance(item, list):
            stack.extend((sub, path) for sub in item)


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError("not a finite number")
    return number


def _no_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def _body() -> dict:
    """The request's JSON object, or a clear 400/415."""
    if not request.is_json:
        abort(415, "Send a JSON object with Content-Type: application/json.")
    try:
        data = json.loads(request.get_data(cache=True), parse_float=_finite, parse_constant=_no_constant)
    except (ValueError, RecursionError) as err:
        raise BadRequest(f"The body is not valid JSON: {str(err)[:200]}") from err
    if not isinstance(data, dict):
        raise BadRequest("Send a JSON object ({…}).")
    _check_text(data, "")
    return data


def _query(schema: Schema) -> dict:
    """The query parameters through ``schema`` (lists for list fields); unknown or bad ones are a 400."""
    raw = {}
    for key in request.args:
        field = schema.fields.get(key)
        values = request.args.getlist(key)
        raw[key] = values if field is not None and field.__class__.__name__ == "List" else values[-1]
    try:
        return schema.load(raw)
    except ValidationError as err:
        raise BadRequest("Some query parameters are not valid.", errors=flatten_errors(err.messages)) from err


def _require_match(current: str) -> None:
    header = request.headers.get("If-Match")
    if header is None:
        raise PreconditionRequired(f"Send If-Match with the ETag of the version your change is based on (now {current}).")
    sent = {tag.strip().removeprefix("W/") for tag in header.split(",")}
    if current not in sent and current.strip('"') not in sent:
        raise PreconditionFailed(f"The resource changed since you read it: its ETag is now {current}. "
                                 "Read it again and apply your change to that version.")


def _ok(body, status: int = 200, *, tag: str | None = None, location: str | None = None):
    """The success response, dumped through the schema the operation documents."""
    schema = current_app.view_functions[request.endpoint].api_operation.response
    response = jsonify(schema().dump(body) if schema is not None else body)
    response.status_code = status
    if tag is not None:
        response.headers["ETag"] = tag
    if location is not None:
        response.headers["Location"] = location
    return response


def _question(key: str) -> Question:
    return Question(key)  # the route's converter admits only the five


# -- the description ----------------------------------------------------------------------------

def api_routes(app=None) -> list[tuple[str, str, Operation, str]]:
    app = app or current_app
    out = []
    for rule in app.url_map.iter_rules():
        view = app.view_functions.get(rule.endpoint)
        operation = getattr(view, "api_operation", None)
        if operation is None:
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            out.append((rule.rule, method, operation, rule.endpoint))
    return out


def openapi_document() -> dict:
    document = current_app.extensions.get("registry.api_spec")
    if document is None:
        document = build_spec(api_routes())
        current_app.extensions["registry.api_spec"] = document
    return document


@bp.get("/openapi.json")
@op(summary="This API's OpenAPI 3.1 description", tag="About", public=True)
def openapi():
    return jsonify(openapi_document())


@bp.get("/docs")
@op(summary="This API's documentation (HTML)", tag="About", public=True, media_type="text/html")
def docs():
    response = current_app.make_response(render_template("api/docs.html", **docs_context(openapi_document())))
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


# -- systems -------------------------------------------------------------------------------------

@bp.get("/systems")
@op(summary="List systems (the inventory's filters, sort and pagination)", tag="Systems", query=InventoryQuerySchema,
    response=SystemPageSchema)
def systems():
    args = _query(InventoryQuerySchema())
    filters = InventoryFilters.from_args(request.args, per_page=current_app.config["PAGE_SIZE"])
    filters.page = args.get("page", 1)
    if filters.portfolio_active():
        bring_states_up_to_date(utcnow().date())
    page = list_systems(db_session(), _user(), filters)
    return _ok({"items": [records.system_summary(s) for s in page.systems], "total": page.total,
                "page": filters.page, "per_page": filters.per_page, "pages": page.pages})


@bp.post("/systems")
@op(summary="Register a system", tag="Systems", body=SystemSchema, response=SystemRecordSchema, status=201,
    etag=True)
def create_system():
    user = _user()
    require(can_create_system(user), "Your role cannot register systems.")
    session = db_session()
    system = inventory.create_system(session, user, _body())
    session.commit()
    return _ok(records.system_record(system), 201, tag=records.etag(system.version),
               location=url_for(".system", system_id=system.id))


@bp.get("/systems/<int:system_id>")
@op(summary="A system", tag="Systems", response=SystemRecordSchema, etag=True)
def system(system_id: int):
    found = inventory.get_system(db_session(), _user(), system_id)
    return _ok(records.system_record(found), tag=records.etag(found.version))


def _update_system(system_id: int, merge: bool, part: str | None = None):
    user, session = _user(), db_session()
    current = inventory.get_system(session, user, system_id)
    require(can_edit_system(user, current), "Only the system's owners (or an admin) can edit it.")
    _require_match(records.etag(current.version))
    body = _body()
    if part == "risk":
        payload = {**inventory.system_payload(current), "risk": body}
    else:
        payload = {**inventory.system_payload(current), **body} if merge else body
    try:
        updated = inventory.update_system(session, user, system_id, payload, expected_version=current.version)
    except ValidationFailed as err:
        if part == "risk":  # the body is the risk answers: name their fields as sent
            err.errors = {k.removeprefix("risk."): v for k, v in err.errors.items()}
        raise
    session.commit()
    return updated


@bp.put("/systems/<int:system_id>")
@op(summary="Replace a system's profile (every field, as when registering it)", tag="Systems", body=SystemSchema,
    response=SystemRecordSchema, etag=True, if_match=True)
def replace_system(system_id: int):
    updated = _update_system(system_id, merge=False)
    return _ok(records.system_record(updated), tag=records.etag(updated.version))


@bp.patch("/systems/<int:system_id>")
@op(summary="Change some of a system's fields", tag="Systems", body=SystemSchema, response=SystemRecordSchema,
    etag=True, if_match=True,
    description="The fields sent replace the system's (a nested object such as `risk` is replaced whole); the "
                "result is validated as a whole, exactly like a full update.")
def patch_system(system_id: int):
    updated = _update_system(system_id, merge=True)
    return _ok(records.system_record(updated), tag=records.etag(updated.version))


@bp.get("/systems/<int:system_id>/risk")
@op(summary="A system's risk answers, its computed tier and the reasons", tag="Risk", response=RiskRecordSchema,
    etag=True)
def risk(system_id: int):
    found = inventory.get_system(db_session(), _user(), system_id)
    return _ok(records.risk_record(found), tag=records.etag(found.version))


@bp.put("/systems/<int:system_id>/risk")
@op(summary="Answer a system's risk questions (the tier is recomputed)", tag="Risk", body=RiskAnswersSchema,
    response=RiskRecordSchema, etag=True, if_match=True)
def answer_risk(system_id: int):
    updated = _update_system(system_id, merge=True, part="risk")
    return _ok(records.risk_record(updated), tag=records.etag(updated.version))


# -- baseline metrics ----------------------------------------------------------------------------

def _metric(system, metric_id: int):
    metric = next((m for m in system.metrics if m.id == metric_id), None)
    if metric is None:
        raise NotFound("There is no such metric on this system.")
    return metric


@bp.get("/systems/<int:system_id>/metrics")
@op(summary="A system's baseline metrics", tag="Metrics", response=MetricListSchema)
def metrics(system_id: int):
    found = inventory.get_system(db_session(), _user(), system_id)
    return _ok({"items": [records.metric_record(m) for m in found.metrics]})


@bp.post("/systems/<int:system_id>/metrics")
@op(summary="Add a baseline metric", tag="Metrics", body=MetricSchema, response=MetricRecordSchema, status=201,
    etag=True)
def add_metric(system_id: int):
    user, session = _user(), db_session()
    found = inventory.get_system(session, user, system_id)
    require(can_edit_system(user, found), "Only the system's owners (or an admin) can change its metrics.")
    metric = inventory.add_metric(session, user, system_id, _body())
    session.commit()
    return _ok(records.metric_record(metric), 201, tag=records.metric_etag(metric),
               location=url_for(".metric", system_id=system_id, metric_id=metric.id))


@bp.get("/systems/<int:system_id>/metrics/<int:metric_id>")
@op(summary="A baseline metric", tag="Metrics", response=MetricRecordSchema, etag=True)
def metric(system_id: int, metric_id: int):
    found = _metric(inventory.get_system(db_session(), _user(), system_id), metric_id)
    return _ok(records.metric_record(found), tag=records.metric_etag(found))


@bp.put("/systems/<int:system_id>/metrics/<int:metric_id>")
@op(summary="Change a baseline metric", tag="Metrics", body=MetricSchema, response=MetricRecordSchema, etag=True,
    if_match=True)
def update_metric(system_id: int, metric_id: int):
    user, session = _user(), db_session()
    found = inventory.get_system(session, user, system_id)
    require(can_edit_system(user, found), "Only the system's owners (or an admin) can change its metrics.")
    _require_match(records.metric_etag(_metric(found, metric_id)))
    metric = inventory.update_metric(session, user, system_id, metric_id, _body())
    session.commit()
    return _ok(records.metric_record(metric), tag=records.metric_etag(metric))


@bp.delete("/systems/<int:system_id>/metrics/<int:metric_id>")
@op(summary="Remove a baseline metric", tag="Metrics", status=204, if_match=True)
def delete_metric(system_id: int, metric_id: int):
    user, session = _user(), db_session()
    found = inventory.get_system(session, user, system_id)
    require(can_edit_system(user, found), "Only the system's owners (or an admin) can change its metrics.")
    _require_match(records.metric_etag(_metric(found, metric_id)))
    inventory.delete_metric(session, user, system_id, metric_id)
    session.commit()
    return "", 204


# -- readiness -----------------------------------------------------------------------------------

@bp.get("/systems/<int:system_id>/readiness")
@op(summary="A system's five readiness answers", tag="Readiness", response=AnswerListSchema)
def answers(system_id: int):
    session = db_session()
    found = inventory.get_system(session, _user(), system_id)
    stored = readiness.answers_for(session, found.id)
    ctx = readiness.context_for(session, found, stored)
    return _ok({"items": [records.answer_record(q, stored.get(q), ctx) for q in Question]})


def _answer_response(session, system, question: Question, status: int = 200):
    stored = readiness.answers_for(session, system.id)
    answer = stored.get(question)
    body = records.answer_record(question, answer, readiness.context_for(session, system, stored))
    return _ok(body, status, tag=records.etag(answer.version if answer else 0))


@bp.get(f"/systems/<int:system_id>/readiness/<{QUESTIONS}:question>")
@op(summary="One readiness answer", tag="Readiness", response=AnswerRecordSchema, etag=True)
def answer(system_id: int, question: str):
    session = db_session()
    return _answer_response(session, inventory.get_system(session, _user(), system_id), _question(question))


@bp.put(f"/systems/<int:system_id>/readiness/<{QUESTIONS}:question>")
@op(summary="Save a readiness answer (a draft; a changed submitted or accepted answer goes back to draft)",
    tag="Readiness", body_by=("question", ANSWER_BODIES), response=AnswerRecordSchema, etag=True, if_match=True)
def save_answer(system_id: int, question: str):
    user, session, q = _user(), db_session(), _question(question)
    found = inventory.get_system(session, user, system_id)
    require(can_edit_system(user, found), "Only the system's owners (or an admin) can answer its readiness questions.")
    current = readiness.answers_for(session, found.id).get(q)
    version = current.version if current else 0
    _require_match(records.etag(version))
    readiness.save_answer(session, user, system_id, q, _body(), expected_version=version)
    session.commit()
    return _answer_response(session, found, q)


@bp.post(f"/systems/<int:system_id>/readiness/<{QUESTIONS}:question>/submit")
@op(summary="Submit a readiness answer for review (the accountable owner, attesting it)", tag="Readiness",
    body=SubmitSchema, response=AnswerRecordSchema, etag=True, if_match=True)
def submit_answer(system_id: int, question: str):
    user, session, q = _user(), db_session(), _question(question)
    found = inventory.get_system(session, user, system_id)
    require(user.id == found.accountable_owner_id,
            "Only the accountable owner can submit a readiness answer: they attest it personally.")
    current = readiness.answers_for(session, found.id).get(q)
    version = current.version if current else 0
    _require_match(records.etag(version))
    data = load_or_raise(SubmitSchema(), _body())
    readiness.submit_answer(session, user, system_id, q, attest=data["attest"], expected_version=version)
    session.commit()
    return _answer_response(session, found, q)


# -- controls and evidence -----------------------------------------------------------------------

def _control_row(session, system, control_id: int) -> controls.ControlRow:
    row = next((r for r in controls.control_rows(session, system) if r.control.id == control_id), None)
    if row is not None:
        return row
    control = session.get(Control, control_id)
    if control is None or control.retired or not control.framework.active:
        raise NotFound("There is no such control in an active catalogue.")
    return controls.ControlRow(control, None, False)


def _ages(session) -> tuple:
    return utcnow().date(), evidence_max_age_days(session)


@bp.get("/systems/<int:system_id>/controls")
@op(summary="A system's controls: required ones, then assessed ones that no longer apply", tag="Controls",
    response=ControlListSchema)
def control_list(system_id: int):
    session = db_session()
    found = inventory.get_system(session, _user(), system_id)
    today, max_age = _ages(session)
    return _ok({"items": [records.control_record(r, today, max_age) for r in controls.control_rows(session, found)]})


@bp.get("/systems/<int:system_id>/controls/<int:control_id>")
@op(summary="One control of a system, with its evidence", tag="Controls", response=ControlRecordSchema, etag=True)
def control(system_id: int, control_id: int):
    session = db_session()
    row = _control_row(session, inventory.get_system(session, _user(), system_id), control_id)
    today, max_age = _ages(session)
    return _ok(records.control_record(row, today, max_age), tag=records.etag(row.assessment.version if row.assessment else 0))


@bp.put("/systems/<int:system_id>/controls/<int:control_id>")
@op(summary="Set a control's status (in progress with a due date, implemented, not applicable with a reason, "
            "waived)", tag="Controls", body=AssessmentSchema, response=ControlRecordSchema, etag=True,
    if_match=True)
def assess_control(system_id: int, control_id: int):
    user, session = _user(), db_session()
    found = inventory.get_system(session, user, system_id)
    require(can_edit_system(user, found), "Only the system's owners (or an admin) can update its controls.")
    row = _control_row(session, found, control_id)
    version = row.assessment.version if row.assessment else 0
    _require_match(records.etag(version))
    controls.assess_control(session, user, system_id, control_id, _body(), expected_version=version)
    session.commit()
    row = _control_row(session, found, control_id)
    today, max_age = _ages(session)
    return _ok(records.control_record(row, today, max_age), tag=records.etag(row.assessment.version))


EVIDENCE_FORM = {
    "type": "object", "required": ["file", "description"],
    "properties": {"file": {"type": "string", "format": "binary",
                            "description": "PDF, image, text, CSV, JSON, Word, Excel or PowerPoint; type checked by content."},
                   "description": {"type": "string", "minLength": 1, "maxLength": 2000},
                   "collected_on": {"type": "string", "format": "date"}},
}


@bp.post("/systems/<int:system_id>/controls/<int:control_id>/evidence")
@op(summary="Attach evidence to a control: a link (JSON) or a file (multipart/form-data)", tag="Controls",
    body=EvidenceSchema, form=EVIDENCE_FORM, response=EvidenceRecordSchema, status=201)
def add_evidence(system_id: int, control_id: int):
    user, session = _user(), db_session()
    found = inventory.get_system(session, user, system_id)
    require(can_edit_system(user, found), "Only the system's owners (or an admin) can attach evidence.")
    _control_row(session, found, control_id)
    stored = None
    try:
        if request.mimetype == "multipart/form-data":
            payload = request.form.to_dict()
            _check_text(payload, "")
            upload = request.files.get("file")
            if upload is None or not upload.filename:
                raise ValidationFailed("Some fields need attention.", errors={"file": ["Upload the evidence file."]})
            stored = evidence_store(session).save(session, upload.stream, upload.filename)
        else:
            payload = _body()
        evidence = controls.add_evidence(session, user, system_id, control_id, payload, stored=stored)
        session.commit()
    except BaseException:
        session.rollback()  # the file's blob too: it was written in this transaction
        raise
    today, max_age = _ages(session)
    return _ok(records.evidence_record(evidence, today, max_age), 201)


# -- decisions -----------------------------------------------------------------------------------

@bp.get("/systems/<int:system_id>/decisions")
@op(summary="The recommendation now, with its blockers, and every recorded decision (current first)",
    tag="Decisions", response=DecisionListSchema)
def decision_list(system_id: int):
    session = db_session()
    found = inventory.get_system(session, _user(), system_id)
    state = decisions.assess_system(session, found)
    recorded = decisions.decisions_for(session, found.id)
    items = [records.decision_record(d, current=i == 0, acknowledgement=decisions.acknowledgement_for(session, d.id))
             for i, d in enumerate(recorded)]
    return _ok({"recommendation": records.recommendation_record(state.recommendation), "items": items})


@bp.get("/systems/<int:system_id>/decisions/<int:decision_id>")
@op(summary="A recorded decision", tag="Decisions", response=DecisionRecordSchema)
def decision(system_id: int, decision_id: int):
    session = db_session()
    inventory.get_system(session, _user(), system_id)
    found = decisions.get_decision(session, system_id, decision_id)
    latest = decisions.latest_decision(session, system_id)
    return _ok(records.decision_record(found, current=latest is not None and latest.id == found.id,
                                       acknowledgement=decisions.acknowledgement_for(session, found.id)))


@bp.get("/systems/<int:system_id>/decisions/<int:decision_id>/snapshot")
@op(summary="A decision's frozen snapshot, checked against its recorded SHA-256 (audited as an export)",
    tag="Decisions", response=SnapshotRecordSchema, errors=(409,))
def snapshot(system_id: int, decision_id: int):
    session, user = db_session(), _user()
    inventory.get_system(session, user, system_id)
    found = decisions.get_decision(session, system_id, decision_id)
    if decisions.snapshot_hash(found.snapshot) != found.snapshot_sha256:
        raise Conflict("The stored snapshot no longer matches its recorded hash; it may have been altered.")
    record_export(user, "decision.export_snapshot", "decision", found.id, system_id=system_id,
                  summary=f"Exported the snapshot of decision #{found.id} (API)",
                  after={"snapshot_sha256": found.snapshot_sha256})
    return _ok({"decision_id": found.id, "sha256": found.snapshot_sha256, "snapshot": found.snapshot})


# -- review queue, portfolio, audit trail ----------------------------------------------------------

@bp.get("/review")
@op(summary="The review queue (compliance officers and admins); systems the reader is named on are left out",
    tag="Review", response=QueueSchema)
def review():
    user = _user()
    require(can_see_review_queue(user), "The review queue is for compliance officers.")
    return _ok(records.queue_record(review_queue(db_session(), user, utcnow().date())))


@bp.get("/portfolio")
@op(summary="The portfolio figures (executives, compliance officers, admins)", tag="Portfolio",
    query=PortfolioQuerySchema, response=PortfolioSchema)
def portfolio():
    user = _user()
    require(can_see_portfolio(user), "The portfolio is for executives, compliance officers and admins.")
    _query(PortfolioQuerySchema())
    today = utcnow().date()
    bring_states_up_to_date(today)
    figures = portfolio_figures(db_session(), user, portfolio_filters(request.args), today=today)
    return _ok(records.portfolio_record(figures))


@bp.get("/audit-events")
@op(summary="Audit events, newest first: one system's (whoever reads it) or all (admins, compliance)",
    tag="Audit", query=AuditQuerySchema, response=AuditPageSchema, errors=(404,))
def audit_events():
    args = _query(AuditQuerySchema())
    session, user = db_session(), _user()
    system_id = args.get("system_id")
    if system_id is not None:
        inventory.get_system(session, user, system_id)
    else:
        require(can_read_audit_trail(user), "The whole audit trail is for admins and compliance officers; "
                                            "ask for one system's history with system_id.")
    page, per_page = args["page"], args["per_page"]
    events, total = events_page(session, system_id=system_id, limit=per_page, offset=(page - 1) * per_page)
    return _ok({"items": [records.audit_record(e) for e in events], "total": total, "page": page,
                "per_page": per_page, "pages": max(1, ceil(total / per_page))})


# -- imports -------------------------------------------------------------------------------------

IMPORT_FORM = {
    "type": "object", "required": ["file"],
    "properties": {"file": {"type": "string", "format": "binary", "description": "A CSV, XLSX or XLS inventory."},
                   "mapping": {"type": "string", "maxLength": 120,
                               "description": "A shipped layout's key or a saved mapping's name."},
                   "dry_run": {"type": "boolean", "description": "Plan only; write nothing."},
                   "only_valid": {"type": "boolean", "description": "Import the valid rows, skip the others."}},
}


@bp.post("/imports")
@op(summary="Import an inventory file (admins, compliance officers), as `registry import` does", tag="Imports",
    form=IMPORT_FORM, response=ImportResultSchema, errors=(409,),
    description="Plans every row (create, update, unchanged, skipped) and commits all or nothing, or with "
                "only_valid the valid rows; records match on their external key, so importing the same file "
                "again changes nothing.")
def import_file():
    user = _user()
    require(can_import(user), "Only admins and compliance officers import inventories.")
    if request.mimetype != "multipart/form-data":
        abort(415, "Send the file as multipart/form-data (field “file”).")
    form = request.form.to_dict()
    _check_text(form, "")
    try:
        options = ImportFormSchema().load(form)
    except ValidationError as err:
        raise ValidationFailed("Some fields need attention.", errors=flatten_errors(err.messages)) from err
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise ValidationFailed("Upload the inventory file.", errors={"file": ["Upload a CSV or Excel file."]})
    try:
        table = read_table(upload.read(), upload.filename)
    except ImportFileError as err:
        raise ValidationFailed(str(err), errors={"file": [str(err)]}) from err
    session = db_session()
    try:
        mapping, layout = resolve_mapping(session, table, options["mapping"])
    except UnknownLayout as err:
        raise ValidationFailed(str(err), errors={"mapping": [str(err)]}) from err
    problems = check_mapping(mapping, table.headers)
    if problems:
        message = f"The mapping “{layout}” does not fit {table.file_name}: " + " ".join(problems)
        raise ValidationFailed(message, errors={"mapping": problems})
    plan = plan_import(session, table, mapping, layout=layout)
    counts, result, committed = plan.counts, None, False
    if options["dry_run"]:
        message = "Dry run: nothing written."
    elif not counts["create"] and not counts["update"] and plan.valid:
        message = "Nothing to change: every record is already as the file says."
    else:
        try:
            result = commit_import(session, user, plan, only_valid=options["only_valid"])
            session.commit()
        except ImportRefused as err:
            session.rollback()
            raise ValidationFailed(str(err), errors={"file": [str(err)]}) from err
        except IntegrityError as err:
            session.rollback()
            raise Conflict("Another import wrote some of the same records meanwhile; nothing was imported: "
                           "send it again.") from err
        committed = True
        message = (f"Imported: {result['created']} created, {result['updated']} updated, {result['unchanged']} "
                   f"unchanged, {result['skipped']} skipped.")
    if not committed:
        session.rollback()
    problems = [{"row": r.row, "column": column or "", "severity": severity, "message": text}
                for r in plan.rows for severity, column, text in r.problems]
    return _ok({"file": table.file_name, "layout": layout, "dry_run": options["dry_run"], "committed": committed,
                "message": message, "counts": counts, "result": result, "notes": list(plan.notes),
                "problems": problems[:MAX_PROBLEMS], "problems_total": len(problems)})



# -- value case and stop (issue 16) --

from registry.auth.permissions import can_stop_pilot  # noqa: E402
from registry.value import services as value_services  # noqa: E402
from registry.value.rules import value_case_gaps  # noqa: E402
from registry.value.schemas import (  # noqa: E402
    MONEY_FIELDS,
    TEXT_LIMITS,
    StopRecordSchema,
    StopSchema,
    ValueCaseRecordSchema,
    ValueCaseSchema,
)


def _value_case_record(session, system) -> tuple[dict, int]:
    """The value case as the API returns it (every figure null when not recorded), and its version."""
    case = value_services.value_case_for(session, system.id)
    outcome = value_services.business_outcome(session, system.id)
    figures = {k: getattr(case, k) if case else None for k in value_services.VALUE_FIELDS}
    if all(figures[k] is None for k in MONEY_FIELDS):
        figures["currency"] = None  # no figure recorded: a stored currency is only a default
    texts = {k: figures[k] or "" for k in TEXT_LIMITS}
    return ({**figures, **texts, "system_id": system.id, "version": case.version if case else 0,
             "recorded": case is not None, "net_annual_value": value_services.net_annual_value(case),
             "business_outcome": outcome[0] if outcome else None, "gaps": value_case_gaps(case, system.tier),
             "updated_by": _label_of(case.updated_by) if case else None,
             "updated_at": case.updated_at if case else None},
            case.version if case else 0)


def _label_of(user) -> str | None:
    return user.label if user is not None else None


@bp.get("/systems/<int:system_id>/value-case")
@op(summary="A system's value case: value, costs, who funds the run, production constraints, and what blocks "
            "production at its tier", tag="Value", response=ValueCaseRecordSchema, etag=True)
def value_case(system_id: int):
    session = db_session()
    found = inventory.get_system(session, _user(), system_id)
    record, version = _value_case_record(session, found)
    return _ok(record, tag=records.etag(version))


@bp.put("/systems/<int:system_id>/value-case")
@op(summary="Record or replace a system's value case (every field; a figure left out or null is not recorded, "
            "0 is an answer)", tag="Value", body=ValueCaseSchema, response=ValueCaseRecordSchema, etag=True,
    if_match=True)
def save_value_case(system_id: int):
    user, session = _user(), db_session()
    found = inventory.get_system(session, user, system_id)
    require(can_edit_system(user, found), "Only the system's owners (or an admin) can edit its value case.")
    current = value_services.value_case_for(session, found.id)
    version = current.version if current else 0
    _require_match(records.etag(version))
    value_services.save_value_case(session, user, system_id, _body(), expected_version=version)
    session.commit()
    record, version = _value_case_record(session, found)
    return _ok(record, tag=records.etag(version))


@bp.post("/systems/<int:system_id>/stop")
@op(summary="Stop a pilot (compliance officers, admins, the accountable owner): the system is retired, the "
            "stop's reason and lessons recorded; its record is kept", tag="Value", body=StopSchema,
    response=StopRecordSchema, status=201, errors=(409,),
    description="Only a system in pilot: 409 for any other stage, or a pilot stopped already.")
def stop_pilot(system_id: int):
    user, session = _user(), db_session()
    found = inventory.get_system(session, user, system_id)
    require(can_stop_pilot(user, found),
            "Only a compliance officer, an admin or the system's accountable owner can stop its pilot.")
    data = load_or_raise(StopSchema(), _body())
    stop = value_services.stop_pilot(session, user, system_id, data["reason"], data["lessons"], note=data["note"])
    session.commit()
    return _ok({"id": stop.id, "system_id": stop.system_id, "reason": stop.reason.value,
                "reason_label": stop.reason.label, "note": stop.note, "lessons": stop.lessons,
                "stage_before": stop.stage_before.value, "stopped_by": _label_of(stop.stopped_by),
                "stopped_at": stop.stopped_at}, 201, location=url_for(".value_case", system_id=system_id))


# -- observations and drift (issue 16) --

from registry.enums import ObservationSource  # noqa: E402
from registry.monitoring import services as monitoring  # noqa: E402
from registry.monitoring.drift import band_for  # noqa: E402
from registry.monitoring.models import DriftRule  # noqa: E402
from registry.monitoring.schemas import (  # noqa: E402
    DriftAlertListSchema,
    DriftRuleRecordSchema,
    DriftRuleSchema,
    ObservationBatchSchema,
    ObservationPageSchema,
    ObservationQuerySchema,
    RecordCountsSchema,
    ResolveSchema,
)
from registry.monitoring.schemas import DriftAlertRecordSchema as _AlertRecord  # noqa: E402

OBSERVATIONS_NOTE = ("All or nothing: every observation is checked first and a 422 names each bad one "
                     "(`observations.<index>.<field>`). Idempotent on (metric, observed_at): the same value again is "
                     "unchanged, another value corrects it. Drift is judged for the metrics touched.")


def _observation_batch(system_id: int | None):
    user, session = _user(), db_session()
    rows = ObservationBatchSchema.rows_of(_body())
    result = monitoring.record_observations(session, user, system_id, rows, ObservationSource.API)
    session.commit()
    return _ok(result)


@bp.post("/systems/<int:system_id>/observations")
@op(summary="Record observations of a system's metrics (up to 10,000; metric by id or name)", tag="Monitoring",
    body=ObservationBatchSchema, response=RecordCountsSchema, description=OBSERVATIONS_NOTE)
def record_observations(system_id: int):
    inventory.get_system(db_session(), _user(), system_id)
    return _observation_batch(system_id)


@bp.post("/observations")
@op(summary="Record observations of several systems' metrics at once (monitoring jobs; metric by id)",
    tag="Monitoring", body=ObservationBatchSchema, response=RecordCountsSchema,
    description=OBSERVATIONS_NOTE + " Metrics of systems the token's user may not edit are refused as unknown.")
def record_observations_bulk():
    return _observation_batch(None)


@bp.get("/systems/<int:system_id>/observations")
@op(summary="A system's observations, oldest recorded first, a page at a time", tag="Monitoring",
    query=ObservationQuerySchema, response=ObservationPageSchema)
def observations(system_id: int):
    args = _query(ObservationQuerySchema())
    session = db_session()
    inventory.get_system(session, _user(), system_id)
    items, cursor = monitoring.observations_page(session, system_id, metric_id=args.get("metric_id"),
                                                 since=args.get("since"), after_id=args.get("after_id"),
                                                 limit=args["limit"])
    return _ok({"items": [{"id": o.id, "metric_id": o.metric_id, "value": o.value, "observed_at": o.observed_at,
                           "note": o.note, "source": o.source.value, "recorded_at": o.recorded_at} for o in items],
                "next_after_id": cursor})


def _rule_record(rule: DriftRule, metric) -> dict:
    band = band_for(rule, metric)
    return {"metric_id": rule.metric_id, "reference": rule.reference.value, "band_kind": rule.band_kind.value,
            "below": rule.below, "above": rule.above, "min_observations": rule.min_observations,
            "consecutive": rule.consecutive, "low": band.low if band else None, "high": band.high if band else None,
            "summary": monitoring.rule_text(rule, metric), "updated_at": rule.updated_at}


@bp.get("/systems/<int:system_id>/metrics/<int:metric_id>/drift-rule")
@op(summary="A metric's drift rule (404 when none is set)", tag="Monitoring", response=DriftRuleRecordSchema)
def drift_rule(system_id: int, metric_id: int):
    session = db_session()
    metric = _metric(inventory.get_system(session, _user(), system_id), metric_id)
    rule = session.get(DriftRule, metric_id)
    if rule is None:
        raise NotFound("No drift rule is set for this metric.")
    return _ok(_rule_record(rule, metric))


@bp.put("/systems/<int:system_id>/metrics/<int:metric_id>/drift-rule")
@op(summary="Set or replace a metric's drift rule (the metric is judged against it at once)", tag="Monitoring",
    body=DriftRuleSchema, response=DriftRuleRecordSchema)
def set_drift_rule(system_id: int, metric_id: int):
    user, session = _user(), db_session()
    metric = _metric(inventory.get_system(session, user, system_id), metric_id)
    rule = monitoring.set_drift_rule(session, user, system_id, metric_id, _body())
    session.commit()
    return _ok(_rule_record(rule, metric))


@bp.delete("/systems/<int:system_id>/metrics/<int:metric_id>/drift-rule")
@op(summary="Remove a metric's drift rule (its open alerts stay until resolved)", tag="Monitoring", status=204)
def delete_drift_rule(system_id: int, metric_id: int):
    user, session = _user(), db_session()
    _metric(inventory.get_system(session, user, system_id), metric_id)
    if not monitoring.delete_drift_rule(session, user, system_id, metric_id):
        raise NotFound("No drift rule is set for this metric.")
    session.commit()
    return "", 204


def _alert_record(alert) -> dict:
    return {"id": alert.id, "metric_id": alert.metric_id, "status": alert.status.value, "opened_at": alert.opened_at,
            "breaches": alert.breaches, "last_value": alert.last_value, "last_observed_at": alert.last_observed_at,
            "summary": alert.summary, "resolved_at": alert.resolved_at,
            "resolved_by": resolver.email if (resolver := alert_resolver(alert)) else None,
            "resolution_note": alert.resolution_note}


def alert_resolver(alert) -> User | None:
    return db_session().get(User, alert.resolved_by_id) if alert.resolved_by_id else None


@bp.get("/systems/<int:system_id>/drift-alerts")
@op(summary="A system's drift alerts, open ones first", tag="Monitoring", response=DriftAlertListSchema)
def drift_alerts(system_id: int):
    session = db_session()
    inventory.get_system(session, _user(), system_id)
    return _ok({"items": [_alert_record(a) for a in monitoring.alerts_for(session, system_id)]})


@bp.post("/systems/<int:system_id>/drift-alerts/<int:alert_id>/resolve")
@op(summary="Resolve a drift alert with a note (its owners, compliance officers, admins)", tag="Monitoring",
    body=ResolveSchema, response=_AlertRecord)
def resolve_drift_alert(system_id: int, alert_id: int):
    user, session = _user(), db_session()
    inventory.get_system(session, user, system_id)
    data = load_or_raise(ResolveSchema(), _body())
    alert = monitoring.resolve_alert(session, user, system_id, alert_id, data["note"])
    session.commit()
    return _ok(_alert_record(alert))


# -- incidents and reliability (issue 16) --

from registry.auth.permissions import (  # noqa: E402
    can_record_trials,
    can_report_incident,
    can_set_reliability_gate,
)
from registry.incidents import services as incidents  # noqa: E402
from registry.incidents.schemas import (  # noqa: E402
    IncidentListSchema,
    IncidentQuerySchema,
    IncidentRecordSchema,
    IncidentSchema,
)
from registry.reliability import services as reliability  # noqa: E402
from registry.reliability.schemas import (  # noqa: E402
    GateSchema,
    ReliabilitySummarySchema,
    TrialBatchSchema,
    TrialUploadSchema,
)


def _incident_response(session, incident, status: int = 200, location: str | None = None):
    created_by = incidents.creators(session, [incident]).get(incident.created_by_id)
    return _ok(incidents.incident_record(incident, created_by), status, tag=records.etag(incident.version),
               location=location)


@bp.get("/systems/<int:system_id>/incidents")
@op(summary="A system's incidents, open critical and major first (filter by status and severity)", tag="Incidents",
    query=IncidentQuerySchema, response=IncidentListSchema)
def incident_list(system_id: int):
    args = _query(IncidentQuerySchema())
    session = db_session()
    found = inventory.get_system(session, _user(), system_id)
    found_incidents = incidents.list_incidents(session, found.id, status=args.get("status"),
                                               severity=args.get("severity"))
    people = incidents.creators(session, found_incidents)
    return _ok({"items": [incidents.incident_record(i, people.get(i.created_by_id)) for i in found_incidents]})


@bp.post("/systems/<int:system_id>/incidents")
@op(summary="Report an incident (the system's owners, compliance officers, admins)", tag="Incidents",
    body=IncidentSchema, response=IncidentRecordSchema, status=201, etag=True,
    description="A past incident may be reported already mitigated, or closed with its root cause and lessons.")
def report_incident(system_id: int):
    user, session = _user(), db_session()
    found = inventory.get_system(session, user, system_id)
    require(can_report_incident(user, found), incidents.NOT_ALLOWED)
    incident = incidents.report_incident(session, user, system_id, _body())
    session.commit()
    return _incident_response(session, incident, 201,
                              url_for(".incident", system_id=system_id, incident_id=incident.id))


@bp.get("/systems/<int:system_id>/incidents/<int:incident_id>")
@op(summary="An incident", tag="Incidents", response=IncidentRecordSchema, etag=True)
def incident(system_id: int, incident_id: int):
    session = db_session()
    found = inventory.get_system(session, _user(), system_id)
    return _incident_response(session, incidents.get_incident(session, found.id, incident_id))


@bp.put("/systems/<int:system_id>/incidents/<int:incident_id>")
@op(summary="Change an incident (every field): open → mitigated → closed (root cause and lessons required), or "
            "reopen", tag="Incidents", body=IncidentSchema, response=IncidentRecordSchema, etag=True, if_match=True)
def update_incident(system_id: int, incident_id: int):
    user, session = _user(), db_session()
    found = inventory.get_system(session, user, system_id)
    require(can_report_incident(user, found), incidents.NOT_ALLOWED)
    current = incidents.get_incident(session, found.id, incident_id)
    _require_match(records.etag(current.version))
    updated = incidents.update_incident(session, user, system_id, incident_id, _body(),
                                        expected_version=current.version)
    session.commit()
    return _incident_response(session, updated)


@bp.post("/systems/<int:system_id>/trials")
@op(summary="Record evaluation trials (task id, trial number, passed), up to 10,000 at a time", tag="Reliability",
    body=TrialBatchSchema, response=TrialUploadSchema,
    description="All or nothing: a bad row refuses the batch, and `fields` names each (\"row 1\" is the first "
                "item). Idempotent: a trial sent again with the same outcome is unchanged, with another it is "
                "corrected.")
def record_trials(system_id: int):
    user, session = _user(), db_session()
    found = inventory.get_system(session, user, system_id)
    require(can_record_trials(user, found),
            "Only the system's owners, compliance officers and admins can record its evaluation trials.")
    data = load_or_raise(TrialBatchSchema(), _body())
    result = reliability.record_trials(session, user, system_id, data["trials"], source="API")
    session.commit()
    return _ok({"received": result.received, "added": result.added, "corrected": result.corrected,
                "unchanged": result.unchanged})


@bp.get("/systems/<int:system_id>/reliability")
@op(summary="A system's reliability: pass@1 and pass^k (k = 1..8) per task and overall, the release gate's "
            "status, the compounded success of its workflow's steps", tag="Reliability",
    response=ReliabilitySummarySchema)
def reliability_summary(system_id: int):
    session = db_session()
    found = inventory.get_system(session, _user(), system_id)
    return _ok(reliability.reliability_summary(session, found.id).record())


@bp.put("/systems/<int:system_id>/reliability/gate")
@op(summary="Set the release gate, pass^k ≥ threshold (compliance officers not named on the system, admins); "
            "k and threshold null remove it", tag="Reliability", body=GateSchema, response=ReliabilitySummarySchema)
def set_reliability_gate(system_id: int):
    user, session = _user(), db_session()
    found = inventory.get_system(session, user, system_id)
    require(can_set_reliability_gate(user, found),
            "Only compliance officers who are not named on the system, and admins, set its release gate.")
    data = load_or_raise(GateSchema(), _body())
    reliability.set_gate(session, user, system_id, data["k"], data["threshold"])
    session.commit()
    return _ok(reliability.reliability_summary(session, found.id).record())
