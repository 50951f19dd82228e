"""A schema-driven fuzz run: schemathesis generates requests for every operation of the API's own
OpenAPI description (valid requests and invalid ones) and sends them in-process (WSGI) with a valid
admin token, over a database with systems, metrics, answers, controls, evidence and a decision.
Path ids are often the real ones, and updates often carry the current ETag, so that requests reach
the services rather than stopping at a 404 or 412.  No response may be a 5xx, and every response
must be one the description documents (status, content type, headers, body).

Each operation gets FUZZ_EXAMPLES valid and FUZZ_EXAMPLES invalid requests (default 3 of each:
the ordinary run stays short); ``FUZZ_EXAMPLES=25 scripts/test tests/api/test_fuzz.py`` is a
deeper run.  Generation is derandomised, so a given count always sends the same requests."""

from __future__ import annotations

import os

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from registry.controls.services import control_rows
from registry.decisions.services import record_decision
from tests.api.conftest import make_token
from tests.builders import accept_all_answers, implement_all_controls
from tests.conftest import make_system

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance]
# Per operation and per mode (valid, invalid); 3 + 3 takes about 10 s on SQLite.
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES") or 3)


def _known_ids(session, people) -> dict[str, list[int]]:
    system = make_system(session, people["owner"])
    accept_all_answers(session, people, system)
    implement_all_controls(session, people["owner"], system, verifier=people["compliance"])
    decision = record_decision(session, people["compliance"], system.id,
                               {"verdict": "no_go", "rationale": "Fuzz run: not yet, whatever the recommendation says."})
    session.commit()
    other = make_system(session, people["other_owner"], stage="production")
    controls = [r.control.id for r in control_rows(session, system)][:5]
    return {"system_id": [system.id, other.id], "metric_id": [m.id for m in system.metrics],
            "control_id": controls, "decision_id": [decision.id]}


def test_fuzz_finds_no_server_error_and_no_response_outside_the_description(app, session, people, monkeypatch):
    monkeypatch.setitem(app.config, "API_RATE_LIMIT", 100_000)
    known = _known_ids(session, people)
    headers = {"Authorization": f"Bearer {make_token(session, people['admin'])}"}
    client = app.test_client()
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 25
    failures = []
    for operation, mode in [(o, m) for o in operations for m in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)]:
        @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy(mode), data=st.data())
        def run(case, data):
            for name, values in known.items():
                if name in (case.path_parameters or {}) and values and data.draw(st.integers(0, 3)):
                    case.path_parameters[name] = data.draw(st.sampled_from(values))
            if case.method.upper() in ("PUT", "PATCH", "DELETE", "POST") and data.draw(st.booleans()):
                current = client.get("/api/v1" + case.formatted_path.removesuffix("/submit"), headers=headers)
                if "ETag" in current.headers:
                    case.headers = {**(case.headers or {}), "If-Match": current.headers["ETag"]}
            case.call_and_validate(headers=headers, checks=CHECKS)

        try:
            run()
        except Unsatisfiable:  # nothing about the operation can be made invalid (GET /docs: no parameters)
            if mode is not GenerationMode.NEGATIVE:
                failures.append(f"{operation.label}: no valid request could be generated")
        except (Exception, BaseExceptionGroup) as err:  # every operation's failures, reported together
            failures.append(f"{operation.label} ({mode.value}): {err}")
    assert not failures, "\n\n".join(failures)
