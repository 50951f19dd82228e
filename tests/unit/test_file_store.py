"""The file store: content-addressed, chunked in the database, or in an S3-compatible bucket."""

from __future__ import annotations

import hashlib
import io
import os

import pytest
from sqlalchemy import func, select

from registry.files.models import Blob, BlobChunk
from registry.files.store import CHUNK_BYTES, FileStore, StoreConfigError, TooLarge, store_from_url


def _payload(size: int) -> bytes:
    return os.urandom(size)


def test_a_file_is_stored_in_chunks_and_read_back_byte_for_byte(session):
    store = FileStore()
    data = _payload(CHUNK_BYTES * 2 + 123)
    ref = store.put(session, io.BytesIO(data))
    session.commit()
    assert ref.sha256 == hashlib.sha256(data).hexdigest() and ref.size_bytes == len(data) and ref.created
    assert session.scalar(select(func.count()).select_from(BlobChunk).where(BlobChunk.sha256 == ref.sha256)) == 3
    assert store.read(session, ref.sha256) == data
    assert store.verify(session, session.get(Blob, ref.sha256))


def test_the_same_bytes_are_stored_once(session):
    store = FileStore()
    first = store.put_bytes(session, b"same evidence")
    second = store.put_bytes(session, b"same evidence")
    session.commit()
    assert first.sha256 == second.sha256 and first.created and not second.created
    assert session.scalar(select(func.count()).select_from(Blob)) == 1


def test_a_file_over_the_limit_is_refused_and_nothing_is_written(session):
    with pytest.raises(TooLarge):
        FileStore().put(session, io.BytesIO(b"x" * 101), max_bytes=100)
    assert session.scalar(select(func.count()).select_from(Blob)) == 0


def test_a_rolled_back_upload_leaves_no_row(session):
    FileStore().put_bytes(session, b"never committed")
    session.rollback()
    assert session.scalar(select(func.count()).select_from(Blob)) == 0


def test_damaged_chunks_fail_verification(session):
    store = FileStore()
    ref = store.put_bytes(session, b"original bytes")
    session.commit()
    chunk = session.get(BlobChunk, (ref.sha256, 0))
    chunk.data = b"tampered bytes"
    session.commit()
    assert not store.verify(session, session.get(Blob, ref.sha256))


def test_delete_removes_the_row_and_its_chunks(session):
    store = FileStore()
    ref = store.put_bytes(session, b"to delete")
    session.commit()
    assert store.delete(session, ref.sha256)
    session.commit()
    assert session.scalar(select(func.count()).select_from(BlobChunk)) == 0
    assert not store.delete(session, ref.sha256)


@pytest.mark.parametrize("url", ["ftp://x/y", "s3://", "s3://bucket?colour=blue"])
def test_a_store_url_that_names_no_store_is_refused_with_a_message(url):
    with pytest.raises(StoreConfigError):
        store_from_url(url)


def test_an_s3_store_keeps_the_bytes_in_the_bucket_and_only_the_row_in_the_database(session, s3_client):
    client = s3_client
    store = store_from_url("s3://registry/evidence?region_name=eu-west-1")
    data = _payload(CHUNK_BYTES + 5)
    ref = store.put(session, io.BytesIO(data))
    session.commit()
    assert session.get(Blob, ref.sha256).location == "s3"
    assert session.scalar(select(func.count()).select_from(BlobChunk)) == 0
    keys = [o["Key"] for o in client.list_objects_v2(Bucket="registry")["Contents"]]
    assert keys == [f"evidence/{ref.sha256}"]
    assert store.read(session, ref.sha256) == data
    # a registry switched back to the database still reads what is in the bucket
    assert FileStore(store.s3).read(session, ref.sha256) == data
    with pytest.raises(StoreConfigError):
        FileStore().read(session, ref.sha256)


def test_an_s3_object_is_deleted_only_when_the_rows_deletion_commits(session, s3_client):
    client = s3_client
    store = store_from_url("s3://registry?region_name=eu-west-1")
    ref = store.put_bytes(session, b"an export past its retention")
    session.commit()

    def objects() -> int:
        return client.list_objects_v2(Bucket="registry").get("KeyCount", 0)

    assert store.delete(session, ref.sha256)
    session.rollback()  # the deletion is undone: the bytes must still be there
    assert objects() == 1 and store.read(session, ref.sha256) == b"an export past its retention"
    assert store.delete(session, ref.sha256)
    assert objects() == 1  # not before the commit
    session.commit()
    assert objects() == 0 and session.get(Blob, ref.sha256) is None
