"""The import pages: upload, preview with every problem, the mapping editor, commit (all or the
valid rows), progress for a large file, and who may see what."""

from __future__ import annotations

import io
import re
from collections import Counter

import pytest
from sqlalchemy import func, select

from registry.audit.models import AuditEvent
from registry.imports import runner
from registry.imports.models import ImportMapping
from registry.inventory.models import AISystem
from tests.unit.test_imports import FEDERAL, HEADER, _csv, _row


def text_of(response) -> str:
    return re.sub(r"\s+", " ", response.get_data(as_text=True))


def upload(browser, data: bytes, name: str, mapping: str = ""):
    return browser.post("/imports", {"file": (io.BytesIO(data), name), "mapping": mapping},
                        content_type="multipart/form-data")


def staged_url(response) -> str:
    assert response.status_code == 302, text_of(response)[:600]
    return response.headers["Location"]


def count(session, model=AISystem) -> int:
    session.rollback()
    n = session.scalar(select(func.count()).select_from(model))
    session.commit()  # end the test's transaction: the pages write next
    return n


# A register in a layout the registry does not know: headers close to its own, values its own way.
UNKNOWN_HEADER = ["Ref", "System", "What it does", "Team", "Owner email", "Lifecycle", "Type", "Live since"]


def _unknown_file(*rows) -> bytes:
    return _csv([UNKNOWN_HEADER, *rows])


def _mapping_post(browser, url: str, **changes) -> dict:
    """The editor's form as a browser would send it: every select with its shown value, then ``changes``."""
    html = browser.get(url).get_data(as_text=True)
    data = {}
    for select_html in re.findall(r"<select[^>]*>.*?</select>", html, re.S):
        name = re.search(r'name="([^"]+)"', select_html).group(1)
        opts = [(re.search(r'value="([^"]*)"', tag).group(1), " selected" in tag)
                for tag in re.findall(r"<option[^>]*>", select_html)]
        chosen = [value for value, selected in opts if selected]
        if "multiple" in select_html.split(">")[0]:
            data[name] = chosen
        else:
            data[name] = chosen[0] if chosen else opts[0][0]
    data["mapping_name"] = re.search(r'name="mapping_name"[^>]*value="([^"]*)"', html).group(1) \
        if re.search(r'name="mapping_name"[^>]*value="([^"]*)"', html) else ""
    data.update(changes)
    return data


def test_unknown_layout_goes_to_the_editor_and_a_fixed_mapping_imports(session, people, as_role):
    officer = as_role("compliance")
    data = _unknown_file(["R1", "Claims triage", "Ranks claims", "Claims", "owner@example.test", "Live",
                          "Predictive model", "2024-03-01"],
                         ["R2", "Letter drafter", "Drafts letters", "Service", "team@x.example", "Trial",
                          "Generative assistant", "2025-01-10"])
    preview = staged_url(upload(officer, data, "register.csv"))
    first = officer.get(preview)
    assert first.status_code == 302 and first.headers["Location"].endswith("/mapping")
    editor = officer.get(first.headers["Location"])
    page = text_of(editor)
    assert "a layout the registry does not know yet" in page
    assert "Name the mapping" in page or "Mapping name" in page
    # the suggestion maps the headers it recognises
    assert re.search(r'id="col_name".*?<option selected value="System">|<option value="System" selected>', editor.get_data(as_text=True), re.S)
    url = first.headers["Location"]
    form = _mapping_post(officer, url, mapping_name="risk-register", save="y", col_stage="Lifecycle",
                         col_contact="Owner email", key=["Ref"])
    response = officer.post(url, form)
    assert response.status_code == 302, text_of(response)[:2000]
    # the stage column changed in that post: its values ("Live", "Trial") are asked for now
    editor = text_of(officer.get(url))
    assert re.search(r"Lifecycle stage</h3>.*Live.*1 row.*Trial.*1 row", editor)
    preview_page = text_of(officer.get(preview))
    assert "with errors" in preview_page and "“Live” is not a lifecycle stage the mapping knows" in preview_page
    live = next(n for f, cell, _n, n in _value_rows(officer, url) if f == "stage" and cell == "Live")
    trial = next(n for f, cell, _n, n in _value_rows(officer, url) if f == "stage" and cell == "Trial")
    form = _mapping_post(officer, url, save="y", **{live: "production", trial: "pilot"})
    assert officer.post(url, form).status_code == 302
    page = text_of(officer.get(preview))
    assert re.search(r"2 </?span[^>]*>?\s*rows|>2</span> rows", page)
    assert "risk-register" in page and "to create" in page and "with errors" in page
    assert count(session) == 0  # a preview writes nothing
    done = officer.post(f"{preview}/commit", {"scope": "all"}, token_from=preview)
    assert done.status_code == 303
    result = text_of(officer.get(preview))
    assert "2 created, 0 updated" in result and "risk-register" in result
    session.rollback()
    stages = Counter(s.value for s in session.scalars(select(AISystem.stage)))
    assert stages == {"production": 1, "pilot": 1}
    assert session.scalar(select(ImportMapping.name)) == "risk-register"  # saved with the import it served
    session.commit()
    # the same file again, recognised by the saved mapping's headers: nothing to change
    again = staged_url(upload(officer, data, "register.csv"))
    page = text_of(officer.get(again))
    assert "the saved mapping <strong>risk-register</strong>" in page and "Nothing to change" in page
    assert re.search(r">0</span> flagged", page)  # unchanged rows are not counted again


def _value_rows(browser, url):
    html = browser.get(url).get_data(as_text=True)
    rows = []
    for name, label in re.findall(r'<label for="(v_[a-z_]+_[0-9a-f]{12})">([^<]*)</label>', html):
        field = re.match(r"v_(.+)_[0-9a-f]{12}$", name).group(1)
        rows.append((field, label.strip(), 0, name))
    return rows


def test_a_broken_row_imports_nothing_unless_only_the_valid_rows_are_chosen(session, people, as_role, app):
    officer = as_role("compliance")
    from tests.unit.test_imports import SIMPLE
    officer_id = people["compliance"].id
    with app.extensions["registry.sessions"][0]() as s:
        s.add(ImportMapping(name="register", headers=HEADER, mapping=SIMPLE, created_by_id=officer_id))
        s.commit()
    data = _csv([HEADER, _row("R1", "Good one"), _row("R2", "Bad one", Status="Sunset"), _row("R3", "Another")])
    preview = staged_url(upload(officer, data, "register.csv"))
    page = text_of(officer.get(preview))
    assert "1 row has errors" in page and "Sunset" in page and "Download every problem as CSV" in page
    problems = officer.get(f"{preview}/problems.csv")
    assert problems.headers["Content-Type"].startswith("text/csv")
    assert '3,Status,error,"“Sunset” is not a lifecycle stage' in problems.get_data(as_text=True)
    refused = officer.post(f"{preview}/commit", {"scope": "all"}, token_from=preview)
    assert refused.status_code == 303
    page = text_of(officer.get(preview))
    assert "Nothing was imported. 1 row with errors, nothing imported (first: row 3, column “Status”" in page
    assert count(session) == 0
    officer.post(f"{preview}/commit", {"scope": "valid"}, token_from=preview)
    result = officer.get(preview)
    page = text_of(result)
    assert "2 created, 0 updated, 0 unchanged, 1 skipped for errors" in page
    assert count(session) == 2
    report = officer.get(f"{preview}/problems.csv").get_data(as_text=True)
    assert "3,Status,error" in report
    event = session.scalar(select(AuditEvent).where(AuditEvent.action == "import.commit"))
    assert event.after["skipped_rows"] == [3] and event.actor_id == officer_id


def test_unreadable_files_are_refused_with_a_message_and_nothing_is_staged(session, people, as_role, app):
    officer = as_role("compliance")
    response = upload(officer, b"Name\x00,x\n", "register.csv")
    assert response.status_code == 422 and "Inventory file:" in text_of(response)
    response = upload(officer, b"%PDF-1.7", "register.pdf")
    assert response.status_code == 422 and ".pdf" in text_of(response)
    response = officer.post("/imports", {"mapping": ""}, content_type="multipart/form-data")
    assert response.status_code == 422 and "Choose a file to upload." in text_of(response)
    response = upload(officer, _csv([HEADER, _row("R1", "x")]), "r.csv", mapping="no-such-mapping")
    assert response.status_code == 422 and "Not a valid choice" in text_of(response)


def test_an_upload_is_only_its_uploaders_and_only_importers_import(session, people, as_role, app):
    officer, admin, owner = as_role("compliance"), as_role("admin"), as_role("owner")
    preview = staged_url(upload(officer, _unknown_file(["R1", "x", "", "", "", "", "", ""]), "r.csv"))
    assert admin.get(preview).status_code == 404
    assert admin.get(f"{preview}/mapping").status_code == 404
    assert admin.get(f"{preview}/problems.csv").status_code == 404
    assert owner.get("/imports").status_code == 403 and owner.get(preview).status_code == 403
    for path in ("/mapping", "/problems.csv"):
        assert owner.get(preview + path).status_code == 403
    assert officer.post(f"{preview}/commit", {"scope": "all"}, token_from="/imports").status_code == 303
    assert owner.post(f"{preview}/mapping", {}, token_from="/").status_code == 403
    assert admin.post(f"{preview}/commit", {"scope": "all"}, token_from="/imports").status_code == 404
    assert admin.get("/imports/..%2F..%2Fetc%2Fpasswd").status_code == 404
    assert admin.get("/imports/short").status_code == 404
    assert "Import</a>" in officer.get("/").get_data(as_text=True)
    assert "Import</a>" not in owner.get("/").get_data(as_text=True)


def test_a_large_file_is_committed_as_a_job_with_progress(session, people, as_role, app, monkeypatch):
    from tests.unit.test_imports import SIMPLE
    officer = as_role("compliance")
    with app.extensions["registry.sessions"][0]() as s:
        s.add(ImportMapping(name="register", headers=HEADER, mapping=SIMPLE))
        s.commit()
    monkeypatch.setitem(app.config, "IMPORT_INLINE_BYTES", 10)
    data = _csv([HEADER, *[_row(f"R{i}", f"System {i}") for i in range(1, 301)]])
    preview = staged_url(upload(officer, data, "big.csv"))
    response = officer.post(f"{preview}/commit", {"scope": "all"}, token_from=preview)
    assert response.status_code == 303
    page = officer.get(preview).get_data(as_text=True)
    assert ('http-equiv="refresh"' in page and "<progress" in page) or "300 created" in page
    runner.join_threads()
    page = text_of(officer.get(preview))
    assert "300 created, 0 updated" in page and 'http-equiv="refresh"' not in page
    assert count(session) == 300


@pytest.mark.skipif(not FEDERAL.exists(), reason="federal inventory not found")
def test_the_federal_file_imports_from_the_page_and_a_second_import_changes_nothing(session, people, as_role):
    officer = as_role("compliance")
    data = FEDERAL.read_bytes()
    preview = staged_url(upload(officer, data, FEDERAL.name))
    page = text_of(officer.get(preview))
    assert "Recognised as <strong>US Federal AI Use Case Inventory (2025)</strong>" in page
    assert re.search(r">3,611</span> to create", page)
    officer.post(f"{preview}/commit", {"scope": "all"}, token_from=preview)
    runner.join_threads()
    assert "3,611 created, 0 updated" in text_of(officer.get(preview))
    assert count(session) == 3611
    again = staged_url(upload(officer, data, FEDERAL.name))
    page = text_of(officer.get(again))
    assert re.search(r">3,611</span> unchanged", page) and "Nothing to change" in page


def _register_mapping(app):
    from tests.unit.test_imports import SIMPLE

    with app.extensions["registry.sessions"][0]() as s:
        s.add(ImportMapping(name="register", headers=HEADER, mapping=SIMPLE))
        s.commit()


def test_an_upload_previewed_on_one_node_is_committed_on_another(session, people, as_role, app):
    """Two app instances on one database (two web nodes): nothing of the upload is on a node's disk."""
    from registry import create_app
    from tests.conftest import Browser

    _register_mapping(app)
    other = create_app({k: app.config[k] for k in ("DATABASE_URL", "TESTING", "TESTING_CHEAP_PASSWORDS", "SECRET_KEY",
                                                   "AUDIT_KEY", "REDIS_URL")}
                       | {"EVIDENCE_DIR": "/nonexistent/evidence", "FILE_STORE_URL": ""})
    try:
        on_a = as_role("compliance")
        on_b = Browser(other.test_client())
        on_b.login(people["compliance"].email)
        preview = staged_url(upload(on_a, _csv([HEADER, _row("R1", "One"), _row("R2", "Two")]), "register.csv"))
        assert ">2</span> to create" in text_of(on_a.get(preview))
        assert ">2</span> to create" in text_of(on_b.get(preview))  # previewed on the other node too
        done = on_b.post(f"{preview}/commit", {"scope": "all"}, token_from=preview)
        assert done.status_code == 303
        assert "2 created, 0 updated" in text_of(on_a.get(preview))  # and its outcome seen on the first
        assert count(session) == 2
        intruder = Browser(other.test_client())
        intruder.login(people["admin"].email)
        assert intruder.get(preview).status_code == 404
    finally:
        other.extensions["registry.engine"].dispose()


def test_an_upload_older_than_a_day_is_gone_and_purged_with_its_file(session, people, as_role, app):
    from datetime import timedelta

    from registry.files.models import Blob
    from registry.imports.models import StagedImport
    from registry.reports import queue

    officer = as_role("compliance")
    preview = staged_url(upload(officer, _unknown_file(["R1", "x", "", "", "", "", "", ""]), "r.csv"))
    assert officer.get(f"{preview}/mapping").status_code == 200
    staged = session.get(StagedImport, preview.rsplit("/", 1)[-1])
    sha = staged.upload_sha256
    staged.created_at -= timedelta(hours=25)
    session.commit()
    response = officer.get(preview)
    assert response.status_code == 404 and "uploads are kept for a day" in text_of(response)
    assert queue.purge(session, app.extensions["registry.files"], queue.JobSettings())["staged"] == 1
    session.commit()
    assert session.get(StagedImport, staged.id) is None and session.get(Blob, sha) is None
    session.commit()


def test_with_redis_a_large_import_goes_to_rq_only_and_a_worker_commits_it(session, people, as_role, app,
                                                                           monkeypatch, rq_only):
    from redis import Redis
    from rq import Queue, SimpleWorker

    from registry.imports.models import StagedImport
    from registry.reports import queue

    monkeypatch.setitem(app.config, "IMPORT_INLINE_BYTES", 10)
    _register_mapping(app)
    officer = as_role("compliance")
    preview = staged_url(upload(officer, _csv([HEADER, *[_row(f"R{i}", f"S {i}") for i in range(1, 21)]]), "big.csv"))
    assert officer.post(f"{preview}/commit", {"scope": "all"}, token_from=preview).status_code == 303
    staged = session.get(StagedImport, preview.rsplit("/", 1)[-1])
    assert staged.status == "queued" and staged.backend == "rq" and staged.queued_at is not None
    session.commit()
    page = text_of(officer.get(preview))
    assert 'http-equiv="refresh"' in page and "Running on the job queue (RQ)" in page
    connection = Redis.from_url(rq_only)
    with app.app_context():
        SimpleWorker([Queue(queue.IMPORT_QUEUE_NAME, connection=connection)], connection=connection).work(burst=True)
    assert "20 created, 0 updated" in text_of(officer.get(preview))
    assert count(session) == 20


def test_with_redis_down_a_large_import_is_a_503_and_stays_staged(session, people, as_role, app, monkeypatch):
    from registry.imports.models import StagedImport

    monkeypatch.setitem(app.config, "IMPORT_INLINE_BYTES", 10)
    _register_mapping(app)
    officer = as_role("compliance")
    preview = staged_url(upload(officer, _csv([HEADER, _row("R1", "One")]), "big.csv"))
    token = officer.token(preview)
    monkeypatch.setitem(app.config, "REDIS_URL", "redis://127.0.0.1:1/0")
    response = officer.client.post(f"{preview}/commit", data={"scope": "all", "csrf_token": token})
    assert response.status_code == 503 and "(Redis) cannot be reached" in text_of(response)
    staged = session.get(StagedImport, preview.rsplit("/", 1)[-1])
    assert staged.status == "staged" and staged.queued_at is None and not staged.only_valid
    assert count(session) == 0
