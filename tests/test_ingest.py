"""Ingestion into a real Chroma collection with the real embedder."""

from __future__ import annotations

import os

import pytest

from tools import ingest
from tools.ingest import ingest_paths, split_document
from tools.vectorstore import open_kb

DOC_A = """# Wire Transfers

Intro paragraph about moving money.

## Domestic wires

Domestic wires cost $25 and arrive the same business day.

## International wires

International wires cost $45 and take two to four business days.
"""


def _path_ids(data_dir, kb, path):
    return set(open_kb(data_dir, kb).collection.get(where={"path": path}, include=[])["ids"])


@pytest.fixture
def corpus(tmp_path):
    root = tmp_path / "docs"
    (root / "sub").mkdir(parents=True)
    (root / "wires.md").write_text(DOC_A, encoding="utf-8")
    (root / "sub" / "notes.txt").write_text("Savings accounts pay 2% APY.\n", encoding="utf-8")
    return root


def test_markdown_chunks_carry_title_section_and_position():
    chunks = split_document(
        DOC_A, rel_path="docs/wires.md", markdown=True, chunk_size=1000, chunk_overlap=150
    )
    assert [c.metadata["section"] for c in chunks] == [
        "Wire Transfers",
        "Wire Transfers > Domestic wires",
        "Wire Transfers > International wires",
    ]
    assert {c.metadata["title"] for c in chunks} == {"Wire Transfers"}
    assert [c.metadata["chunk_index"] for c in chunks] == [0, 1, 2]
    assert chunks[1].text.startswith("## Domestic wires")
    assert len({c.metadata["doc_id"] for c in chunks}) == 1
    assert all(len(c.id) == 32 for c in chunks)


def test_long_sections_are_split_with_overlap():
    text = "# T\n\n" + " ".join(f"word{i}" for i in range(600))
    chunks = split_document(text, rel_path="t.md", markdown=True, chunk_size=500, chunk_overlap=100)
    assert len(chunks) > 5
    assert all(len(c.text) <= 500 for c in chunks)


def test_reingest_is_idempotent(data_dir, corpus):
    first = ingest_paths([corpus], data_dir=data_dir, kb="t")
    assert first.ok and first.files_ingested == 2 and first.chunks_added == 4
    again = ingest_paths([corpus], data_dir=data_dir, kb="t")
    assert (again.chunks_added, again.chunks_removed, again.chunks_unchanged) == (0, 0, 4)
    assert open_kb(data_dir, "t").count() == 4
    meta = open_kb(data_dir, "t").collection.get(where={"path": "docs/sub/notes.txt"})
    assert meta["metadatas"][0]["title"] == "notes"


def test_changed_file_replaces_only_its_stale_chunks(data_dir, corpus):
    ingest_paths([corpus], data_dir=data_dir, kb="t")
    before = _path_ids(data_dir, "t", "docs/wires.md")
    (corpus / "wires.md").write_text(DOC_A.replace("$45", "$50"), encoding="utf-8")
    report = ingest_paths([corpus], data_dir=data_dir, kb="t")
    assert (report.chunks_added, report.chunks_removed, report.chunks_unchanged) == (1, 1, 3)
    after = _path_ids(data_dir, "t", "docs/wires.md")
    assert len(after) == 3 and len(before & after) == 2
    texts = open_kb(data_dir, "t").collection.get(ids=sorted(after))["documents"]
    assert any("$50" in t for t in texts) and not any("$45" in t for t in texts)


def test_bad_files_are_reported_and_the_rest_ingested(data_dir, corpus):
    (corpus / "binary.txt").write_bytes(b"abc\x00def")
    (corpus / "latin1.md").write_bytes("caf\xe9 cr\xe8me".encode("latin-1"))
    (corpus / "empty.md").write_text("  \n\n", encoding="utf-8")
    with (corpus / "huge.txt").open("wb") as fh:
        fh.truncate(ingest.MAX_BYTES + 1)
    os.symlink(corpus / "missing.md", corpus / "dangling.md")
    (corpus / "report.pdf").write_bytes(b"%PDF-1.4")
    report = ingest_paths([corpus, corpus / "nope"], data_dir=data_dir, kb="t")
    reasons = {os.path.basename(path): reason for path, reason in report.failures}
    assert "NUL" in reasons["binary.txt"]
    assert "UTF-8" in reasons["latin1.md"]
    assert "empty" in reasons["empty.md"]
    assert "too large" in reasons["huge.txt"]
    assert "unreadable" in reasons["dangling.md"]
    assert "no such file" in reasons["nope"]
    assert not report.ok
    assert report.files_skipped == 1 and report.files_ingested == 2
    assert report.chunks_added == 4


def test_sync_removes_chunks_of_vanished_files(data_dir, corpus):
    ingest_paths([corpus], data_dir=data_dir, kb="t")
    (corpus / "sub" / "notes.txt").unlink()
    kept = ingest_paths([corpus], data_dir=data_dir, kb="t")
    assert kept.chunks_removed == 0 and open_kb(data_dir, "t").count() == 4
    synced = ingest_paths([corpus], data_dir=data_dir, kb="t", sync=True)
    assert synced.chunks_removed == 1
    assert not _path_ids(data_dir, "t", "docs/sub/notes.txt")
    assert open_kb(data_dir, "t").count() == 3


def test_progress_bar_runs(data_dir, corpus, capsys):
    report = ingest_paths([corpus / "wires.md"], data_dir=data_dir, kb="t", progress=True)
    assert report.ok and report.chunks_added == 3
    assert _path_ids(data_dir, "t", "wires.md")


@pytest.mark.parametrize("bad", ["", "has space", "a/b", "x" * 61, "dé"])
def test_invalid_kb_names_are_rejected(data_dir, corpus, bad):
    with pytest.raises(ValueError, match="knowledge base name"):
        ingest_paths([corpus], data_dir=data_dir, kb=bad)


def test_invalid_chunk_sizes_are_rejected(data_dir, corpus):
    with pytest.raises(ValueError, match="chunk_overlap"):
        ingest_paths([corpus], data_dir=data_dir, chunk_size=100, chunk_overlap=100)
