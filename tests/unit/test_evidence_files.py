"""Evidence files in the file store: uploaded, downloaded byte for byte, stored once, nothing left by a
refused upload; ``registry files migrate`` (files from EVIDENCE_DIR) and ``registry files verify``."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

from sqlalchemy import func, select

from registry.audit.models import AuditEvent
from registry.cli import main
from registry.controls.evidence_migration import migrate_evidence_files, verify_files
from registry.controls.evidence_store import StoredFile, evidence_store
from registry.controls.models import Evidence
from registry.controls.services import add_evidence, control_rows, remove_evidence
from registry.files.models import Blob, BlobChunk
from registry.files.store import CHUNK_BYTES, FileStore, store_from_url
from tests.conftest import make_system


def _pdf(size: int, salt: bytes = b"") -> bytes:
    """A PDF of about ``size`` bytes (as far as the type check looks: its header)."""
    head = b"%PDF-1.4\n" + salt
    return head + bytes((i * 7 + 3) % 251 for i in range(size - len(head)))


def _controls(session, system, n: int = 2):
    controls = [r.control for r in control_rows(session, system) if r.required][:n]
    session.commit()  # release SQLite's write lock before the app writes
    return controls


def _count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


def _upload(web, system, control, data: bytes, name: str, **fields):
    url = f"/systems/{system.id}/controls/{control.id}"
    return web.post(f"{url}/evidence", {"description": "Red-team report", "file": (io.BytesIO(data), name), **fields},
                    token_from=url, content_type="multipart/form-data")


def test_uploaded_evidence_downloads_byte_for_byte_and_the_same_file_is_stored_once(session, people, as_role):
    system = make_system(session, people["owner"])
    first, second = _controls(session, system)
    data = _pdf(CHUNK_BYTES + CHUNK_BYTES // 2)  # two chunks in the database
    web = as_role("owner")
    for control in (first, second):
        assert _upload(web, system, control, data, "red-team.pdf").status_code == 302
    rows = list(session.scalars(select(Evidence).order_by(Evidence.id)))
    assert len(rows) == 2 and all(r.stored_name is None and r.sha256 == hashlib.sha256(data).hexdigest() for r in rows)
    assert _count(session, Blob) == 1 and _count(session, BlobChunk) == 2
    session.commit()
    reader = as_role("executive")
    for row in rows:
        download = reader.get(f"/systems/{system.id}/evidence/{row.id}")
        assert download.status_code == 200 and download.data == data
        assert download.headers["Content-Length"] == str(len(data))
    downloads = session.scalars(select(AuditEvent).where(AuditEvent.action == "evidence.download")).all()
    assert sorted(e.entity_id for e in downloads) == sorted(str(r.id) for r in rows)


def test_a_refused_or_failed_upload_leaves_no_blob(session, people, as_role):
    system = make_system(session, people["owner"])
    (control,) = _controls(session, system, 1)
    web = as_role("owner")
    assert _upload(web, system, control, b"\x89PNG\r\n\x1a\n0000", "chart.pdf").status_code == 422  # wrong type
    assert _upload(web, system, control, _pdf(11 * 1024 * 1024), "huge.pdf").status_code == 422  # over 10 MB
    # accepted and stored, then refused by the service (a future date): rolled back with the row
    future = _upload(web, system, control, _pdf(2000), "later.pdf", collected_on="2999-01-01")
    assert future.status_code == 422 and "in the future" in future.get_data(as_text=True)
    assert _count(session, Evidence) == 0 and _count(session, Blob) == 0 and _count(session, BlobChunk) == 0
    session.commit()


def test_removed_evidence_keeps_its_blob_and_missing_bytes_give_410(session, people, as_role):
    system = make_system(session, people["owner"])
    first, second = _controls(session, system)
    data = _pdf(3000)
    stored = evidence_store(session).save(session, io.BytesIO(data), "report.pdf")
    kept = add_evidence(session, people["owner"], system.id, first.id, {"description": "Kept"}, stored=stored)
    withdrawn = add_evidence(session, people["owner"], system.id, second.id, {"description": "Withdrawn"}, stored=stored)
    remove_evidence(session, people["owner"], system.id, withdrawn.id)
    session.commit()
    assert session.get(Blob, stored.sha256) is not None  # still cited by the history, and by the other row
    session.commit()
    reader = as_role("executive")
    assert reader.get(f"/systems/{system.id}/evidence/{kept.id}").data == data
    assert reader.get(f"/systems/{system.id}/evidence/{withdrawn.id}").status_code == 404  # withdrawn: not served
    FileStore().delete(session, stored.sha256)  # as if lost (an older restore, a bucket object deleted)
    session.commit()
    gone = reader.get(f"/systems/{system.id}/evidence/{kept.id}")
    assert gone.status_code == 410 and "restore it from backup" in gone.get_data(as_text=True)


# -- files still in EVIDENCE_DIR (uploaded before the file store) --------------------------------------

def _legacy(session, people, system, control, folder: Path, data: bytes, name: str, *, on_disk: bytes | None = None):
    """An evidence row as the registry wrote it before the file store: bytes in ``folder/stored_name``."""
    stored_name = hashlib.sha256(name.encode()).hexdigest()[:32]  # a generated name, as uuid4().hex was
    if on_disk is not None:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / stored_name).write_bytes(on_disk)
    ref = StoredFile(name, "application/pdf", len(data), hashlib.sha256(data).hexdigest())
    evidence = add_evidence(session, people["owner"], system.id, control.id, {"description": name}, stored=ref)
    evidence.stored_name = stored_name
    session.flush()
    return evidence


def test_migrate_moves_files_into_the_store_once_and_a_second_run_does_nothing(session, people, tmp_path):
    system = make_system(session, people["owner"])
    first, second = _controls(session, system)
    one, two = _pdf(5000, b"one"), _pdf(CHUNK_BYTES + 10, b"two")
    rows = [_legacy(session, people, system, first, tmp_path, one, "one.pdf", on_disk=one),
            _legacy(session, people, system, second, tmp_path, two, "two.pdf", on_disk=two),
            _legacy(session, people, system, second, tmp_path, one, "one-again.pdf", on_disk=one)]
    session.commit()
    events, names = _count(session, AuditEvent), [r.stored_name for r in rows]

    result = migrate_evidence_files(session, tmp_path)
    session.commit()
    assert result.moved == [r.id for r in rows] and not result.problems
    assert result.stored_bytes == len(one) + len(two)  # the same content is stored once
    assert all(r.stored_name is None for r in rows) and _count(session, Blob) == 2
    files = FileStore()
    assert [files.read(session, r.sha256) for r in rows] == [one, two, one]
    event = session.scalar(select(AuditEvent).where(AuditEvent.action == "evidence.migrate"))
    assert event.actor_label == "system" and event.after["moved"] == 3 and _count(session, AuditEvent) == events + 1
    assert result.paths == [tmp_path / name for name in names]  # what --delete-files removes after the commit

    again = migrate_evidence_files(session, tmp_path)
    session.commit()
    assert again.moved == [] and not again.problems and _count(session, AuditEvent) == events + 1
    assert verify_files(session).ok


def test_migrate_leaves_a_changed_or_missing_file_and_names_it(session, people, tmp_path):
    system = make_system(session, people["owner"])
    first, second = _controls(session, system)
    good = _legacy(session, people, system, first, tmp_path, _pdf(900, b"good"), "good.pdf", on_disk=_pdf(900, b"good"))
    changed = _legacy(session, people, system, first, tmp_path, _pdf(900, b"orig"), "changed.pdf",
                      on_disk=_pdf(900, b"edit"))
    missing = _legacy(session, people, system, second, tmp_path, _pdf(900, b"gone"), "missing.pdf")
    session.commit()

    result = migrate_evidence_files(session, tmp_path)
    session.commit()
    assert result.moved == [good.id] and result.mismatched == [changed.id] and result.missing == [missing.id]
    assert any(f"evidence #{changed.id}" in p for p in result.problems)
    assert changed.stored_name is not None and missing.stored_name is not None and good.stored_name is None
    assert _count(session, Blob) == 1  # the changed file's bytes were not kept
    assert (tmp_path / changed.stored_name).read_bytes() == _pdf(900, b"edit")  # left as it is
    check = verify_files(session)
    assert not check.ok and check.not_migrated == [changed.id, missing.id]


def test_the_migrate_command_reports_by_id_exits_1_and_deletes_only_moved_files(app, session, people):
    folder = Path(app.config["EVIDENCE_DIR"])
    system = make_system(session, people["owner"])
    first, second = _controls(session, system)
    moved = _legacy(session, people, system, first, folder, _pdf(700, b"a"), "a.pdf", on_disk=_pdf(700, b"a"))
    missing = _legacy(session, people, system, second, folder, _pdf(700, b"b"), "b.pdf")
    moved_path = folder / moved.stored_name
    session.commit()
    runner = app.test_cli_runner()

    result = runner.invoke(main, ["files", "migrate", "--delete-files"])
    assert result.exit_code == 1, result.output
    assert "Moved 1 evidence files" in result.output and f"evidence #{missing.id}" in result.output
    assert "Deleted 1 moved files" in result.output and not moved_path.exists()

    session.expire_all()
    session.get(Evidence, missing.id).stored_name = None  # say the admin gave up on it: now its blob is missing
    session.commit()
    again = runner.invoke(main, ["files", "migrate"])
    assert again.exit_code == 0 and "No evidence files left to move" in again.output
    check = runner.invoke(main, ["files", "verify"])
    assert check.exit_code == 1 and f"evidence #{missing.id}: its file is not in the store" in check.output
    assert "Checked 1 stored files" in check.output and "1 in the store, 1 missing" in check.output


def test_verify_detects_a_tampered_chunk(app, session, people):
    system = make_system(session, people["owner"])
    (control,) = _controls(session, system, 1)
    data = _pdf(CHUNK_BYTES + 100)
    stored = evidence_store(session).save(session, io.BytesIO(data), "report.pdf")
    add_evidence(session, people["owner"], system.id, control.id, {"description": "Report"}, stored=stored)
    session.commit()
    runner = app.test_cli_runner()
    clean = runner.invoke(main, ["files", "verify"])
    assert clean.exit_code == 0 and "1 intact, 0 damaged" in clean.output and "1 in the store, 0 missing" in clean.output

    chunk = session.get(BlobChunk, (stored.sha256, 1))
    chunk.data = chunk.data[:-1] + bytes([chunk.data[-1] ^ 1])  # one bit, same size
    session.commit()
    result = verify_files(session)
    assert result.damaged == [stored.sha256] and not result.ok
    tampered = runner.invoke(main, ["files", "verify"])
    assert tampered.exit_code == 1 and f"blob {stored.sha256}" in tampered.output


def test_verify_counts_an_s3_object_deleted_from_the_bucket_as_damaged(session, s3_client):
    client = s3_client
    store = store_from_url("s3://registry/evidence?region_name=eu-west-1")
    ref = store.put_bytes(session, _pdf(2000))
    session.commit()
    assert verify_files(session, store).damaged == []
    client.delete_object(Bucket="registry", Key=f"evidence/{ref.sha256}")
    assert verify_files(session, store).damaged == [ref.sha256]


def test_a_file_not_yet_moved_from_evidence_dir_says_how_to_move_it(session, people, as_role, tmp_path):
    system = make_system(session, people["owner"])
    (control,) = _controls(session, system, 1)
    data = _pdf(800, b"old")
    waiting = _legacy(session, people, system, control, tmp_path, data, "Prüfbericht.pdf", on_disk=data)
    session.commit()
    reader = as_role("executive")
    before = reader.get(f"/systems/{system.id}/evidence/{waiting.id}")
    assert before.status_code == 410 and "registry files migrate" in before.get_data(as_text=True)
    migrate_evidence_files(session, tmp_path)
    session.commit()
    after = reader.get(f"/systems/{system.id}/evidence/{waiting.id}")
    assert after.status_code == 200 and after.data == data
    assert "filename*=UTF-8''Pr%C3%BCfbericht.pdf" in after.headers["Content-Disposition"]
