"""History values as a person reads them: labels for codes, short hashes, none for empty lists."""

from __future__ import annotations

from registry.audit.readable import key_label, readable


def test_codes_lists_hashes_and_keys_read_as_words():
    assert key_label("pdf_sha256") == "PDF SHA-256" and key_label("snapshot_sha256") == "Snapshot SHA-256"
    assert key_label("stage", {"stage": "Lifecycle stage"}) == "Lifecycle stage"
    assert readable([]) == "none" and readable(None) == "—"
    assert readable(["personal", "health"], "data_categories") == "Personal data, Health data"
    assert readable("production", "stage") == "Production" and readable("Production", "stage") == "Production"
    digest = "ee95" + "0" * 60
    assert readable(digest) == "ee9500000000…" and readable([digest]) == "ee9500000000…"
    assert readable(True) == "Yes" and readable(1234.5) == "1,234.5"
    assert readable({"document_id": "RR-1", "pdf_sha256": digest}) == "Document ID: RR-1; PDF SHA-256: ee9500000000…"
    assert readable(["a, b", "c"]) == "a, b; c"
