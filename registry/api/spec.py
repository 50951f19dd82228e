"""The JSON API's OpenAPI 3.1 description, generated with apispec from the marshmallow schemas the
API loads and dumps (one validation path: the document cannot drift from the code), and the
plain rows the docs page (``/api/v1/docs``) renders from it.

Each view carries an ``Operation`` (what it takes, returns and may answer); ``build_spec`` turns
the routes and their operations into the document.  No Flask here: the views hand over the routes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin

from registry.api.schemas import ErrorSchema

TITLE = "Readiness Registry API"
VERSION = "1"
PREFIX = "/api/v1"
MAX_ID = 2**31 - 1

ERROR_TEXT = {
    400: "Malformed request: not JSON, a bad query parameter, NUL characters in text.",
    401: "No valid token: missing, unknown, revoked, expired, or its account is inactive.",
    403: "The token's user may not do this (their role, or the object's rules).",
    404: "No such resource (or it was deleted).",
    409: "The change conflicts with the record's state, or someone saved it at the same moment.",
    412: "If-Match names a version that is no longer current: read the resource again.",
    413: "The request body is too large.",
    415: "The body's content type is not one this operation takes.",
    422: "The body does not validate: 'fields' names each field with its messages (unknown fields too).",
    428: "An update must send If-Match with the ETag of the version it is based on.",
    429: "Too many requests for this token: wait Retry-After seconds.",
}


@dataclass(frozen=True)
class Operation:
    """What one route takes and gives, for the OpenAPI document and the docs page."""

    summary: str
    tag: str
    response: type | None = None  # the success body's schema; None: no body (204)
    status: int = 200
    description: str = ""
    query: type | None = None  # query parameters' schema
    body: type | None = None  # a JSON body's schema
    form: dict | None = None  # a multipart/form-data body (a JSON schema object)
    body_by: tuple[str, dict] | None = None  # (path parameter, {value: body schema}): one path per value
    errors: tuple[int, ...] = ()
    if_match: bool = False  # requires If-Match (412 stale, 428 missing)
    etag: bool = False  # the success response carries an ETag
    public: bool = False  # no token needed
    media_type: str = "application/json"


PARAM = re.compile(r"<(?:(\w+)(?:\(([^)]*)\))?:)?(\w+)>")


def _path(rule: str) -> tuple[str, list[dict]]:
    """A Flask rule as an OpenAPI path (below ``PREFIX``) and its path parameters."""
    params = []
    for converter, args, name in PARAM.findall(rule):
        if converter == "int":
            schema = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
        elif converter == "any":
            schema = {"type": "string", "enum": [a.strip().strip("'\"") for a in args.split(",")]}
        else:
            schema = {"type": "string"}
        params.append({"name": name, "in": "path", "required": True, "schema": schema})
    return PARAM.sub(lambda m: "{" + m.group(3) + "}", rule).removeprefix(PREFIX) or "/", params


def _error(status: int) -> dict:
    headers = {}
    if status == 429:
        headers["Retry-After"] = {"description": "Seconds until the window resets.", "schema": {"type": "integer"}}
    if status == 401:
        headers["WWW-Authenticate"] = {"schema": {"type": "string"}}
    out = {"description": ERROR_TEXT.get(status, "Error."), "content": {"application/json": {"schema": "Error"}}}
    if headers:
        out["headers"] = headers
    return out


def _errors(op: Operation, has_path_params: bool) -> list[int]:
    codes = set(op.errors)
    if not op.public:
        codes |= {400, 401, 403, 429}
    if has_path_params:
        codes.add(404)
    if op.body or op.form or op.body_by:
        codes |= {400, 413, 415, 422}
    if op.query:
        codes.add(400)
    if op.if_match:
        codes |= {409, 412, 428}
    return sorted(codes)


def _operation(op: Operation, path_params: list[dict], body: type | None) -> dict:
    out: dict = {"summary": op.summary, "tags": [op.tag], "operationId": None}
    if op.description:
        out["description"] = op.description
    parameters = list(path_params)
    if op.query is not None:
        parameters.append({"in": "query", "schema": op.query})
    if op.if_match:
        parameters.append({"name": "If-Match", "in": "header", "required": True,
                           "description": "The ETag of the version the change is based on.",
                           "schema": {"type": "string"}})
    if parameters:
        out["parameters"] = parameters
    content = {}
    if body is not None:
        content["application/json"] = {"schema": body}
    if op.form is not None:
        content["multipart/form-data"] = {"schema": op.form}
    if content:
        out["requestBody"] = {"required": True, "content": content}
    success: dict = {"description": op.summary}
    if op.response is not None:
        success["content"] = {op.media_type: {"schema": op.response}}
    if op.etag:
        success["headers"] = {"ETag": {"description": "The version; send it back as If-Match.",
                                       "schema": {"type": "string"}}}
    responses = {str(op.status): success}
    for code in _errors(op, bool(path_params)):
        responses[str(code)] = _error(code)
    out["responses"] = responses
    if op.public:
        out["security"] = []
    return out


def build_spec(routes: list[tuple[str, str, Operation, str]], server: str = PREFIX) -> dict:
    """``routes``: (Flask rule, HTTP method, operation, endpoint name) for every API route."""
    spec = APISpec(
        title=TITLE, version=VERSION, openapi_version="3.1.0", plugins=[MarshmallowPlugin()],
        info={"description": "Every page's data and changes for tools: the same services, schemas and permissions "
                             "as the pages. Authenticate with a personal token (Authorization: Bearer <token>, "
                             "created at /settings/tokens or with `registry tokens create`)."},
        servers=[{"url": server}],
        security=[{"bearer": []}],
    )
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer",
                                               "description": "A personal API token."})
    spec.components.schema("Error", schema=ErrorSchema)
    paths: dict[str, dict] = {}
    for rule, method, op, endpoint in sorted(routes, key=lambda r: (r[0], r[1])):
        path, params = _path(rule)
        if op.body_by is None:
            operation = _operation(op, params, op.body)
            operation["operationId"] = f"{endpoint.removeprefix('api.')}_{method.lower()}"
            paths.setdefault(path, {})[method.lower()] = operation
            continue
        name, bodies = op.body_by
        for value, schema in bodies.items():
            fixed = path.replace("{" + name + "}", value)
            operation = _operation(op, [p for p in params if p["name"] != name], schema)
            operation["operationId"] = f"{endpoint.removeprefix('api.')}_{value}_{method.lower()}"
            paths.setdefault(fixed, {})[method.lower()] = operation
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)
    return spec.to_dict()


# -- the docs page ---------------------------------------------------------------------------

def _ref_name(schema: dict) -> str | None:
    ref = schema.get("$ref", "")
    return ref.rsplit("/", 1)[-1] if ref else None


def type_label(schema: dict) -> str:
    """A short readable type: ``string (date)``, ``array of Metric``, ``Risk``, ``integer or null``."""
    if not schema:
        return "any"
    if name := _ref_name(schema):
        return name
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            return " or ".join(type_label(s) for s in schema[key])
    kind = schema.get("type", "object")
    kinds = kind if isinstance(kind, list) else [kind]
    labels = []
    for k in kinds:
        if k == "array":
            labels.append(f"array of {type_label(schema.get('items', {}))}")
        elif k == "string" and schema.get("format"):
            labels.append(f"string ({schema['format']})")
        else:
            labels.append(k)
    return " or ".join(labels)


def _notes(schema: dict) -> str:
    notes = []
    items = schema.get("items", {}) if schema.get("type") == "array" else {}
    enum = schema.get("enum") or items.get("enum")
    if enum:
        notes.append("one of: " + ", ".join(str(v) for v in enum if v is not None))
    for key, label in (("minLength", "at least {} characters"), ("maxLength", "at most {} characters"),
                       ("minimum", "at least {}"), ("maximum", "at most {}"), ("minItems", "at least {} items"),
                       ("maxItems", "at most {} items"), ("default", "default {}")):
        if key in schema and schema[key] not in (None, [], {}):
            notes.append(label.format(schema[key]))
    if schema.get("description"):
        notes.append(schema["description"])
    return "; ".join(notes)


def schema_rows(schema: dict) -> list[dict]:
    """One row per property of an object schema: name, type, required, notes."""
    required = set(schema.get("required", []))
    return [{"name": name, "type": type_label(prop), "required": name in required, "notes": _notes(prop),
             "link": _ref_name(prop) or _ref_name(prop.get("items", {}) if isinstance(prop, dict) else {})}
            for name, prop in schema.get("properties", {}).items()]


def docs_context(document: dict) -> dict:
    """What the docs page shows: operations grouped by tag, then every schema with its fields."""
    groups: dict[str, list[dict]] = {}
    for path, operations in document["paths"].items():
        for method, op in operations.items():
            body = op.get("requestBody", {}).get("content", {})
            success = next(iter(op["responses"].items()))
            groups.setdefault(op["tags"][0], []).append({
                "id": op["operationId"], "method": method.upper(), "path": PREFIX + path, "summary": op["summary"],
                "description": op.get("description", ""), "public": op.get("security") == [],
                "parameters": [{"name": p["name"], "in": p["in"], "required": p.get("required", False),
                                "type": type_label(p.get("schema", {})), "notes": _notes({**p.get("schema", {}),
                                                                                         "description": p.get("description", "")})}
                               for p in op.get("parameters", [])],
                "bodies": [{"media_type": media, "type": type_label(c["schema"]), "link": _ref_name(c["schema"]),
                            "rows": schema_rows(c["schema"]) if "properties" in c["schema"] else []}
                           for media, c in body.items()],
                "success": {"status": success[0], "type": next((type_label(c["schema"]) for c in
                                                                success[1].get("content", {}).values()), "no body"),
                            "link": next((_ref_name(c["schema"]) for c in success[1].get("content", {}).values()), None)},
                "errors": [code for code in op["responses"] if code != success[0]],
            })
    schemas = {name: schema_rows(schema) for name, schema in sorted(document["components"]["schemas"].items())}
    return {"groups": groups, "schemas": schemas, "errors": ERROR_TEXT, "title": document["info"]["title"],
            "description": document["info"].get("description", "")}
