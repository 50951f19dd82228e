"""The JSON API of incidents and agent reliability: shapes, ETags, errors, idempotent trials, the gate."""

from __future__ import annotations

from tests.api.conftest import error_of
from tests.conftest import make_system

INCIDENT = {"title": "Agent deleted a staging table", "occurred_on": "2026-11-03", "severity": "critical",
            "description": "A cleanup tool ran against the wrong schema.", "affected": "Data team",
            "failure_mode": "multi_step_reasoning"}


def test_report_read_update_an_incident_with_etags(session, people, api_as):
    system = make_system(session, people["owner"], kind="agent")
    owner = api_as("owner")
    created = owner.post(f"/api/v1/systems/{system.id}/incidents", INCIDENT)
    assert created.status_code == 201 and created.headers["ETag"] == '"1"'
    body = created.get_json()
    assert body["status"] == "open" and body["failure_mode"] == "multi_step_reasoning"
    assert body["created_by"] == people["owner"].label and body["root_cause"] == ""
    url = created.headers["Location"]
    assert owner.get(url).get_json() == body
    change = {**INCIDENT, "status": "mitigated", "failure_mode": None}
    assert owner.put(url, change).status_code == 428
    assert owner.put(url, change, headers={"If-Match": '"7"'}).status_code == 412
    updated = owner.put(url, change, headers={"If-Match": '"1"'})
    assert updated.status_code == 200 and updated.headers["ETag"] == '"2"'
    assert updated.get_json()["status"] == "mitigated" and updated.get_json()["failure_mode"] is None
    closing = owner.put(url, {**change, "status": "closed"}, headers={"If-Match": '"2"'})
    assert closing.status_code == 422
    assert set(error_of(closing)["fields"]) == {"root_cause", "lessons"}
    listing = owner.get(f"/api/v1/systems/{system.id}/incidents?status=mitigated").get_json()
    assert [i["title"] for i in listing["items"]] == ["Agent deleted a staging table"]
    assert owner.get(f"/api/v1/systems/{system.id}/incidents?status=open").get_json() == {"items": []}
    bad_filter = owner.get(f"/api/v1/systems/{system.id}/incidents?severity=huge")
    assert bad_filter.status_code == 400 and "severity" in error_of(bad_filter)["fields"]


def test_incident_errors_are_clear(session, people, api_as):
    system = make_system(session, people["owner"])
    owner = api_as("owner")
    bad = owner.post(f"/api/v1/systems/{system.id}/incidents", {**INCIDENT, "occurred_on": "2999-01-01",
                                                               "title": "x" * 201, "mood": "grim"})
    assert bad.status_code == 422
    fields = error_of(bad)["fields"]
    assert fields["occurred_on"] == ["This date is in the future."] and "mood" in fields and "title" in fields
    assert owner.get(f"/api/v1/systems/{system.id}/incidents/999999").status_code == 404
    assert api_as("executive").post(f"/api/v1/systems/{system.id}/incidents", INCIDENT).status_code == 403
    assert owner.get(f"/api/v1/systems/{system.id}/incidents").get_json() == {"items": []}


def test_trials_are_idempotent_and_the_summary_is_worked_by_hand(session, people, api_as):
    system = make_system(session, people["owner"], kind="agent")
    owner = api_as("owner")
    # one task, n=5, c=4 (trial 2 fails): pass^1 = 4/5, pass^2 = C(4,2)/C(5,2) = 6/10, pass^3 = 4/10,
    # pass^4 = 1/5, pass^5 = 0; k = 6..8: not enough trials
    trials = [{"task_id": "refund", "trial": i, "passed": i != 2} for i in range(1, 6)]
    url = f"/api/v1/systems/{system.id}/trials"
    first = owner.post(url, {"trials": trials})
    assert first.status_code == 200 and first.get_json() == {"received": 5, "added": 5, "corrected": 0, "unchanged": 0}
    assert owner.post(url, {"trials": trials}).get_json() == {"received": 5, "added": 0, "corrected": 0, "unchanged": 5}
    summary = owner.get(f"/api/v1/systems/{system.id}/reliability").get_json()
    values = [p["value"] for p in summary["curve"]]
    assert values[:5] == [0.8, 0.6, 0.4, 0.2, 0.0] and values[5:] == [None, None, None]
    assert summary["pass_at_1"] == 0.8 and summary["tasks"] == 1 and summary["trials"] == 5
    assert summary["gate"] == {"k": None, "threshold": None, "status": "no_gate", "measured": None,
                               "text": "No gate set."}
    refused = owner.post(url, {"trials": [{"task_id": "refund", "trial": 0, "passed": "maybe"}]})
    assert refused.status_code == 422 and "row 1" in error_of(refused)["fields"]
    unknown = owner.post(url, {"trials": [{"task_id": "refund", "trial": 1, "passed": True, "score": 3}]})
    assert unknown.status_code == 422 and "trials.0.score" in error_of(unknown)["fields"]
    assert owner.post(url, {"trials": []}).status_code == 422


def test_the_gate_through_the_api(session, people, api_as):
    system = make_system(session, people["owner"], kind="agent")
    officer = api_as("compliance")
    api_as("owner").post(f"/api/v1/systems/{system.id}/trials",
                         {"trials": [{"task_id": "t", "trial": i, "passed": "1" if i != 2 else "0"} for i in range(1, 6)]})
    url = f"/api/v1/systems/{system.id}/reliability/gate"
    response = officer.put(url, {"k": 2, "threshold": 0.7})
    assert response.status_code == 200
    gate = response.get_json()["gate"]
    assert gate["status"] == "not_met" and gate["measured"] == 0.6 and gate["text"] == (
        "Gate pass^2 ≥ 70%: not met, measured 60%.")
    for bad in ({"k": 9, "threshold": 0.5}, {"k": 2, "threshold": 1.5}, {"k": 2, "threshold": None},
                {"k": "2", "threshold": 0.5}):
        assert officer.put(url, bad).status_code == 422, bad
    cleared = officer.put(url, {"k": None, "threshold": None}).get_json()
    assert cleared["gate"]["status"] == "no_gate"
    assert api_as("owner").put(url, {"k": 1, "threshold": 0}).status_code == 403
