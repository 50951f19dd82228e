"""Errors have one JSON shape on /api/ with the right status, never a 500 on bad input; the pages
and /healthz answer as before."""

from __future__ import annotations

import pytest

from tests.api.conftest import error_of
from tests.conftest import make_system


@pytest.mark.parametrize(("data", "content_type", "status", "code"), [
    ("{not json", "application/json", 400, "bad_request"),
    ("[1, 2]", "application/json", 400, "bad_request"),
    ('{"name": NaN}', "application/json", 400, "bad_request"),
    ('{"name": 1e999}', "application/json", 400, "bad_request"),
    ("[" * 100_000 + "]" * 100_000, "application/json", 400, "bad_request"),
    ('{"name": "nul \\u0000 byte"}', "application/json", 400, "bad_request"),
    ('{"name": "half \\ud800 pair"}', "application/json", 400, "bad_request"),
    ("name=x", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
])
def test_malformed_bodies_are_4xx_with_the_one_shape(api_as, data, content_type, status, code):
    response = api_as("owner").post("/api/v1/systems", data=data, content_type=content_type)
    assert response.status_code == status
    assert error_of(response)["code"] == code


def test_an_unknown_field_is_an_error_that_names_it_not_silently_dropped(session, people, api_as):
    system = make_system(session, people["owner"])
    api = api_as("owner")
    current = api.get(f"/api/v1/systems/{system.id}")
    response = api.patch(f"/api/v1/systems/{system.id}", {"data_categorie": []},
                         headers={"If-Match": current.headers["ETag"]})
    assert response.status_code == 422
    error = error_of(response)
    assert error["code"] == "validation_failed" and error["fields"] == {"data_categorie": ["Unknown field."]}
    nested = api.put(f"/api/v1/systems/{system.id}/risk", {"profilng": True}, headers={"If-Match": '"1"'})
    assert nested.status_code == 422 and error_of(nested)["fields"] == {"profilng": ["Unknown field."]}
    assert api.get(f"/api/v1/systems/{system.id}").headers["ETag"] == '"1"'  # nothing was written


def test_wrong_types_and_values_name_each_field(api_as, people):
    response = api_as("owner").post("/api/v1/systems", {
        "name": 42, "purpose": "", "accountable_owner": "not-an-email", "affects": "customers", "stage": "live",
        "risk": {"legal_effect": "perhaps"}, "metrics": [{"baseline": 10**400}]})
    assert response.status_code == 422
    fields = error_of(response)["fields"]
    for name in ("name", "purpose", "accountable_owner", "affects", "stage", "risk.legal_effect", "metrics.0.baseline"):
        assert name in fields, (name, fields)


@pytest.mark.parametrize("query", ["owner=100000000000000000000000", "page=0", "per_page=100000", "stage=live",
                                   "sort=colour", "unknown=1", "page=abc", "q=%00"])
def test_bad_query_parameters_are_400_never_500(api_as, query):
    response = api_as("owner").get(f"/api/v1/systems?{query}")
    assert response.status_code == 400, response.get_data(as_text=True)
    assert error_of(response)["code"] == "bad_request"


@pytest.mark.parametrize("url", ["/api/v1/systems/999999", "/api/v1/systems/99999999999999999999",
                                 "/api/v1/systems/1/decisions/99999999999999999999", "/api/v1/nothing-here",
                                 "/api/v1/systems/1/readiness/feelings"])
def test_unknown_ids_and_routes_are_404_with_the_one_shape(api_as, url):
    response = api_as("owner").get(url)
    assert response.status_code == 404 and error_of(response)["code"] == "not_found"


def test_a_method_the_route_lacks_is_405_and_an_id_too_large_is_404_whatever_the_method(api_as):
    api = api_as("owner")
    wrong = api.delete("/api/v1/systems")
    assert wrong.status_code == 405 and error_of(wrong)["code"] == "method_not_allowed"
    assert "GET" in wrong.headers["Allow"]
    assert api.put("/api/v1/systems/99999999999999999999", {}).status_code == 404


def test_pages_and_healthz_keep_their_own_error_shapes(web, as_role):
    health = web.get("/healthz").get_json()
    assert "error" not in health and health["status"] == "ok"
    page = as_role("owner").get("/systems/999999")
    assert page.status_code == 404 and page.mimetype == "text/html"
    json_page = as_role("owner").get("/systems/999999", headers={"Accept": "application/json"})
    assert json_page.get_json()["error"] == "Not found"  # the pages' JSON shape is unchanged
