"""The reliability page through the test client (CSRF on): CSV upload, the curve, the gate, step rates."""

from __future__ import annotations

import io

from registry.reliability.services import record_trials, reliability_summary, set_gate
from tests.conftest import make_system

GOOD = b"task_id,trial,passed\nrefund,1,1\nrefund,2,0\nrefund,3,1\nrefund,4,1\nrefund,5,0\n" \
       b"lookup,1,true\nlookup,2,true\nlookup,3,true\nlookup,4,true\n"


def _upload(browser, system_id: int, content: bytes, name: str = "trials.csv"):
    return browser.post(f"/systems/{system_id}/reliability/trials", {"file": (io.BytesIO(content), name)},
                        token_from=f"/systems/{system_id}/reliability", content_type="multipart/form-data")


def test_owner_uploads_trials_and_sees_the_curve_and_the_table(session, people, as_role):
    system = make_system(session, people["owner"], kind="agent")
    owner = as_role("owner")
    empty = owner.get(f"/systems/{system.id}/reliability").get_data(as_text=True)
    assert "No evaluation trials recorded." in empty and "No gate set." in empty
    response = _upload(owner, system.id, GOOD)
    assert response.status_code == 302
    page = owner.get(response.headers["Location"]).get_data(as_text=True)
    assert "trials.csv: 9 trials read; 9 added, 0 corrected, 0 unchanged." in page
    # overall pass^1..4: (0.6+1)/2 = 80%, (0.3+1)/2 = 65%, (0.1+1)/2 = 55%, (0+1)/2 = 50%; lookup has 4 trials
    assert 'role="img"' in page and "pass^1: 80%; pass^2: 65%; pass^3: 55%; pass^4: 50%; pass^5: not enough trials" in page
    assert "not enough trials" in page and "<polyline" in page
    again = _upload(owner, system.id, GOOD)
    assert "nothing changed" in owner.get(again.headers["Location"]).get_data(as_text=True)


def test_a_bad_csv_is_a_422_naming_each_bad_line_and_nothing_is_written(session, people, as_role):
    system = make_system(session, people["owner"])
    system_id = system.id  # (after the rollback below, reading system.id would open a write transaction)
    owner = as_role("owner")
    bad = b"Task_Id,Trial,Passed\nrefund,1,1\nrefund,two,1\nrefund,3,perhaps\n"
    response = _upload(owner, system_id, bad)
    text = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "2 rows cannot be recorded, so nothing was" in text
    assert "Row 3: trial must be a whole number of 1 or more, not “two”." in text
    assert "Row 4: passed must be true or false" in text
    assert reliability_summary(session, system_id).trials == 0
    session.rollback()  # end the read before the client writes (SQLite: one writer)
    missing = _upload(owner, system_id, b"task,trial,passed\nrefund,1,1\n")
    assert missing.status_code == 422 and "lacks the column task_id" in missing.get_data(as_text=True)
    nofile = owner.post(f"/systems/{system_id}/reliability/trials", {}, token_from=f"/systems/{system_id}/reliability")
    assert nofile.status_code == 422 and "Choose a CSV file of trials." in nofile.get_data(as_text=True)


def test_compliance_sets_the_gate_and_the_curve_draws_it(session, people, as_role):
    system = make_system(session, people["owner"], kind="agent")
    record_trials(session, None, system.id, [{"task_id": "t", "trial": i, "passed": i != 2} for i in range(1, 6)])
    session.commit()
    officer = as_role("compliance")
    url = f"/systems/{system.id}/reliability"
    refused = officer.post(f"{url}/gate", {"k": "2", "threshold": "140"}, token_from=url)
    assert refused.status_code == 422 and "Between 0 and 100." in refused.get_data(as_text=True)
    for not_a_number in ("sNaN", "NaN", "Infinity", "-inf"):
        odd = officer.post(f"{url}/gate", {"k": "2", "threshold": not_a_number}, token_from=url)
        assert odd.status_code == 422 and "A number, e.g. 80." in odd.get_data(as_text=True), not_a_number
    assert officer.post(f"{url}/gate", {"k": "2", "threshold": "70"}, token_from=url).status_code == 302
    page = officer.get(url).get_data(as_text=True)
    # n=5, c=4: pass^2 = C(4,2)/C(5,2) = 6/10 = 60% < 70%
    assert "Gate pass^2 ≥ 70%: not met, measured 60%." in page and "GO is blocked until pass^2 reaches 70%." in page
    assert "Release gate: pass^2 at least 70%." in page and 'stroke-dasharray' in page
    assert officer.post(f"{url}/gate", {"k": "2", "threshold": "70", "remove": "1"}, token_from=url).status_code == 302
    assert "No gate set." in officer.get(url).get_data(as_text=True)


def test_owner_may_not_set_the_gate_and_does_not_see_its_form(session, people, as_role):
    system = make_system(session, people["owner"], kind="agent")
    set_gate(session, None, system.id, 1, 0.5)
    session.commit()
    owner = as_role("owner")
    url = f"/systems/{system.id}/reliability"
    page = owner.get(url).get_data(as_text=True)
    assert "Set a gate" not in page and "Change the gate" not in page and "Upload trials" in page
    assert owner.post(f"{url}/gate", {"k": "1", "threshold": "0"}, token_from=url).status_code == 403
    executive = as_role("executive").get(url).get_data(as_text=True)
    assert "Upload trials" not in executive and "Gate pass^1 ≥ 50%: no trials recorded yet" in executive


def test_step_rates_show_the_worked_sentence(session, people, as_role):
    system = make_system(session, people["owner"], kind="agent")
    owner = as_role("owner")
    url = f"/systems/{system.id}/reliability"
    assert "No step rates recorded." in owner.get(url).get_data(as_text=True)
    response = owner.post(f"{url}/steps", {"steps": "0.95 × 20"}, token_from=url)
    assert response.status_code == 302
    page = owner.get(url).get_data(as_text=True)
    assert "20 steps at 95% each succeed end to end 35.8% of the time" in page
    bad = owner.post(f"{url}/steps", {"steps": "0.95, lots"}, token_from=url)
    assert bad.status_code == 422 and "“lots” is not a rate" in bad.get_data(as_text=True)


def test_without_the_csrf_token_nothing_is_written(session, people, as_role):
    system = make_system(session, people["owner"])
    response = as_role("owner").client.post(f"/systems/{system.id}/reliability/trials", content_type="multipart/form-data",
                                            data={"file": (io.BytesIO(GOOD), "trials.csv")})
    assert response.status_code == 400
    assert reliability_summary(session, system.id).trials == 0
