"""After the baseline, in a real Chromium: the owner uploads observations that leave the drift band
and evaluation trials below the release gate; the blockers appear on the system; a compliance
officer sees the system on the review queue and an executive on the portfolio.  Plus axe on the
monitoring and reliability pages."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

from playwright.sync_api import expect

from registry.db import utcnow
from registry.inventory.services import add_metric
from registry.monitoring.services import set_drift_rule
from registry.reliability.services import set_gate
from tests.browser.conftest import login
from tests.browser.test_readiness_journey import sign_out
from tests.conftest import make_system

BLOCKING = ("critical", "serious")


def _axe_clean(page) -> None:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    assert not [v for v in results.response["violations"] if v["impact"] in BLOCKING], results.generate_report()


def test_drift_and_a_missed_gate_reach_the_queue_and_the_portfolio(page, live_server, session, people, tmp_path: Path):
    owner, officer = people["owner"], people["compliance"]
    system = make_system(session, owner, name="Claims fraud scorer")
    metric = add_metric(session, owner, system.id, {"name": "Precision", "unit": "%", "baseline": 90,
                                                   "measured_on": "2026-01-05", "source": "eval", "target": 92,
                                                   "direction": "higher"})
    set_drift_rule(session, owner, system.id, metric.id, {"reference": "baseline", "band_kind": "absolute",
                                                          "below": 5, "min_observations": 2, "consecutive": 2})
    set_gate(session, officer, system.id, 4, 0.8)
    session.commit()
    base = live_server

    # -- the owner uploads a month of observations: the last two leave the band ------------------
    start = (utcnow() - timedelta(days=40)).date()
    observations = tmp_path / "precision.csv"
    observations.write_text("metric,value,observed_at,note\n" + "".join(
        f"Precision,{v},{start + timedelta(days=7 * i)},weekly run\n" for i, v in enumerate([91, 89.5, 83, 82])),
        encoding="utf-8")
    login(page, base, "owner@example.test")
    page.goto(f"{base}/systems/{system.id}")
    page.get_by_role("navigation", name=system.name).get_by_role("link", name="Monitoring").click()
    page.get_by_label("CSV file").set_input_files(str(observations))
    page.get_by_role("button", name="Upload", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("4")
    chart = page.get_by_role("img", name=re.compile("^Precision over time"))
    expect(chart).to_be_visible()
    expect(chart.locator("path.breach")).to_have_count(2)
    expect(page.locator("main")).to_contain_text("Open")
    _axe_clean(page)

    # -- and ten tasks of four trials each, four of them failing their second trial ------------------
    trials = tmp_path / "trials.csv"
    rows = [f"task-{t},{n},{'false' if (t < 4 and n == 2) else 'true'}" for t in range(10) for n in range(1, 5)]
    trials.write_text("task_id,trial,passed\n" + "\n".join(rows) + "\n", encoding="utf-8")
    page.get_by_role("navigation", name=system.name).get_by_role("link", name="Reliability").click()
    page.get_by_label("Trials (CSV)").set_input_files(str(trials))
    page.get_by_role("button", name="Upload trials").click()
    expect(page.get_by_role("status")).to_contain_text("40")
    # 6 tasks pass all 4 trials, 4 pass 3 of 4: pass^4 = 6/10 = 60% against the gate of 80%
    expect(page.locator("main")).to_contain_text("not met, measured 60%")
    _axe_clean(page)

    # -- the blockers appear on the system ---------------------------------------------------------
    page.get_by_role("navigation", name=system.name).get_by_role("link", name="Decision").click()
    blockers = page.locator("ul.blockers")
    expect(blockers).to_contain_text("Drift alert open: Precision")
    expect(blockers).to_contain_text("Release gate not met: pass^4 is 60% against 80%")
    page.get_by_role("link", name=re.compile("^Drift alert open")).first.click()
    expect(page).to_have_url(re.compile(rf"/systems/{system.id}/monitoring$"))
    sign_out(page)

    # -- the compliance officer sees it on the queue -------------------------------------------------
    login(page, base, "compliance@example.test")
    page.goto(f"{base}/review")
    section = page.locator("#monitoring")
    expect(section).to_contain_text("Claims fraud scorer")
    expect(section).to_contain_text("1 open drift alert")
    page.get_by_role("link", name=re.compile("drift alert or a serious incident")).click()
    expect(page).to_have_url(re.compile(r"/review#monitoring$"))
    sign_out(page)

    # -- and the executive on the portfolio ----------------------------------------------------------
    login(page, base, "exec@example.test")
    page.goto(f"{base}/portfolio")
    cards = page.locator("#after-baseline")
    expect(cards).to_contain_text("1 with an open drift alert")
    expect(cards).to_contain_text("1 below their release gate")
    cards.get_by_role("link", name="1").first.click()
    expect(page).to_have_url(re.compile(r"/systems\?.*blocker=rule(:|%3A)drift_alert"))
    expect(page.locator("table.data tbody tr")).to_have_count(1)
