"""Ingestion into a real Chroma collection with the real embedder, on real files."""

from __future__ import annotations

import json
import os

import pytest

from tests.ingest_fixtures import mixed_corpus
from tools import ingest
from tools.ingest import ingest_paths
from tools.lexical import LexicalIndex
from tools.vectorstore import open_kb

DOC_A = """# Wire Transfers

Intro paragraph about moving money.

## Domestic wires

Domestic wires cost $25 and arrive the same business day.

## International wires

International wires cost $45 and take two to four business days.
"""
REQUIRED = {
    "doc_id",
    "title",
    "section",
    "path",
    "location",
    "chunk_index",
    "content_hash",
    "source_type",
}


def _rows(data_dir, kb, **where):
    got = open_kb(data_dir, kb).collection.get(where=where or None, include=["metadatas"])
    return dict(zip(got["ids"], got["metadatas"], strict=True))


@pytest.fixture
def corpus(tmp_path):
    root = tmp_path / "docs"
    (root / "sub").mkdir(parents=True)
    (root / "wires.md").write_text(DOC_A, encoding="utf-8")
    (root / "sub" / "notes.txt").write_text("Savings accounts pay 2% APY.\n", encoding="utf-8")
    return root


def test_mixed_folder_is_ingested_with_sections_pages_and_records(data_dir, tmp_path):
    root = mixed_corpus(tmp_path / "law")
    report = ingest_paths([root], data_dir=data_dir, kb="law")
    assert dict(report.failures).keys() == {"law/logo.md", "law/truncated.pdf"}
    assert "binary" in dict(report.failures)["law/logo.md"]
    assert "corrupt PDF" in dict(report.failures)["law/truncated.pdf"]
    assert report.files_ingested == 7 and report.chunks_added == 22
    rows = list(_rows(data_dir, "law").values())
    assert all(meta.keys() >= REQUIRED for meta in rows)
    locations = {meta["location"] for meta in rows}
    assert {
        "law/gettysburg.pdf § page 1",
        "law/gettysburg.pdf § page 2",
        "law/article2.rst § Article II > Section 1 > Qualifications",
        "law/article3.html § Article III > Section 3 > Treason",
        "law/amendments.json#amendment-4",
        "law/later.jsonl#19",
        "law/declaration.txt",
    } <= locations
    kinds = {meta["path"]: meta["source_type"] for meta in rows}
    assert sorted(kinds.values()) == ["html", "json", "json", "md", "pdf", "rst", "txt"]
    page2 = [m for m in rows if m.get("page") == 2]
    assert page2 and page2[0]["title"] == "The Gettysburg Address"
    hit = open_kb(data_dir, "law").search("a great civil war testing whether that nation", 1)[0]
    assert hit["metadata"]["path"] == "law/gettysburg.pdf" and hit["metadata"]["page"] == 2

    again = ingest_paths([root], data_dir=data_dir, kb="law")
    assert (again.chunks_added, again.chunks_removed, again.chunks_unchanged) == (0, 0, 22)
    assert again.files_unchanged == 7 and len(again.failures) == 2


def test_reingest_is_idempotent(data_dir, corpus):
    first = ingest_paths([corpus], data_dir=data_dir, kb="t")
    assert first.ok and first.files_ingested == 2 and first.chunks_added == 4
    again = ingest_paths([corpus], data_dir=data_dir, kb="t")
    assert (again.chunks_added, again.chunks_removed, again.chunks_unchanged) == (0, 0, 4)
    assert again.files_unchanged == 2
    assert open_kb(data_dir, "t").count() == 4
    [meta] = _rows(data_dir, "t", path="docs/sub/notes.txt").values()
    assert meta["title"] == "notes" and meta["source_type"] == "txt"


def test_changed_file_replaces_only_its_stale_chunks(data_dir, corpus):
    ingest_paths([corpus], data_dir=data_dir, kb="t")
    before = set(_rows(data_dir, "t", path="docs/wires.md"))
    (corpus / "wires.md").write_text(DOC_A.replace("$45", "$50"), encoding="utf-8")
    report = ingest_paths([corpus], data_dir=data_dir, kb="t")
    assert (report.chunks_added, report.chunks_removed, report.chunks_unchanged) == (1, 1, 3)
    assert report.files_unchanged == 1
    after = set(_rows(data_dir, "t", path="docs/wires.md"))
    assert len(after) == 3 and len(before & after) == 2
    texts = open_kb(data_dir, "t").collection.get(ids=sorted(after))["documents"]
    assert any("$50" in t for t in texts) and not any("$45" in t for t in texts)
    assert len(open_kb(data_dir, "t").lexical()) == 4


def test_bad_files_are_reported_and_the_rest_ingested(data_dir, corpus):
    (corpus / "binary.txt").write_bytes(b"abc\x00def")
    (corpus / "latin1.md").write_bytes("caf\xe9 cr\xe8me".encode("latin-1"))
    (corpus / "empty.md").write_text("  \n\n", encoding="utf-8")
    with (corpus / "huge.txt").open("wb") as fh:
        fh.truncate(ingest.MAX_BYTES + 1)
    os.symlink(corpus / "missing.md", corpus / "dangling.md")
    os.mkfifo(corpus / "pipe.md")
    (corpus / "broken.json").write_text('{"records": [', encoding="utf-8")
    (corpus / "report.docx").write_bytes(b"PK\x03\x04")
    report = ingest_paths([corpus, corpus / "nope"], data_dir=data_dir, kb="t")
    reasons = {os.path.basename(path): reason for path, reason in report.failures}
    assert "NUL" in reasons["binary.txt"]
    assert "UTF-8" in reasons["latin1.md"]
    assert "empty" in reasons["empty.md"]
    assert "too large" in reasons["huge.txt"]
    assert "unreadable" in reasons["dangling.md"]
    assert "not a regular file" in reasons["pipe.md"]
    assert "malformed JSON" in reasons["broken.json"]
    assert "no such file" in reasons["nope"]
    assert not report.ok
    assert report.files_skipped == 1 and report.files_ingested == 2
    assert report.chunks_added == 4


def test_max_bytes_is_configurable(data_dir, corpus):
    report = ingest_paths([corpus], data_dir=data_dir, kb="t", max_bytes=100)
    assert [os.path.basename(p) for p, _ in report.failures] == ["wires.md"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file_is_reported(data_dir, corpus):
    (corpus / "secret.md").write_text("# Secret\n\nhidden", encoding="utf-8")
    (corpus / "secret.md").chmod(0)
    report = ingest_paths([corpus], data_dir=data_dir, kb="t")
    assert "unreadable" in dict(report.failures)["docs/secret.md"]


def test_symlinks_never_loop_nor_escape_the_folder(data_dir, corpus, tmp_path):
    outside = tmp_path / "outside.md"
    outside.write_text("# Private\n\nnot part of the corpus", encoding="utf-8")
    os.symlink(corpus, corpus / "sub" / "loop")
    os.symlink(tmp_path, corpus / "up")
    os.symlink(outside, corpus / "escape.md")
    os.symlink(corpus / "wires.md", corpus / "sub" / "alias.md")
    report = ingest_paths([corpus], data_dir=data_dir, kb="t")
    assert report.failures == [("docs/escape.md", "symlink pointing outside the folder")]
    assert {meta["path"] for meta in _rows(data_dir, "t").values()} == {
        "docs/wires.md",
        "docs/sub/notes.txt",
    }


def test_sync_removes_chunks_of_vanished_files(data_dir, corpus):
    ingest_paths([corpus], data_dir=data_dir, kb="t")
    (corpus / "sub" / "notes.txt").unlink()
    kept = ingest_paths([corpus], data_dir=data_dir, kb="t")
    assert kept.chunks_removed == 0 and open_kb(data_dir, "t").count() == 4
    synced = ingest_paths([corpus], data_dir=data_dir, kb="t", sync=True)
    assert synced.chunks_removed == 1
    assert not _rows(data_dir, "t", path="docs/sub/notes.txt")
    assert open_kb(data_dir, "t").count() == 3


def test_parent_child_children_are_searched_and_carry_their_parent(data_dir, tmp_path):
    root = mixed_corpus(tmp_path / "law")
    report = ingest_paths([root / "constitution.md"], data_dir=data_dir, kb="pc", parent_child=True)
    assert report.ok and report.chunks_added > 4
    rows = _rows(data_dir, "pc")
    children = open_kb(data_dir, "pc").collection.get(ids=list(rows))["documents"]
    assert max(len(text) for text in children) <= 300
    section2 = [m for m in rows.values() if m["section"].endswith("Section 2")]
    assert len(section2) >= 2 and len({m["parent_id"] for m in section2}) == 1
    parent = section2[0]["parent_text"]
    assert "twenty five Years" in parent and "second Year" in parent
    hit = open_kb(data_dir, "pc").search("age of twenty five years to be a Representative", 1)[0]
    assert hit["metadata"]["parent_id"] == section2[0]["parent_id"]
    assert hit["content"] == parent


def test_json_field_mapping(data_dir, tmp_path):
    root = tmp_path / "faq"
    root.mkdir()
    rows = [
        {"key": "q-wire", "q": "Wire fees", "a": "Domestic wires cost $25."},
        {"key": "q-atm", "q": "ATM fees", "a": "ATM withdrawals are free in network."},
    ]
    (root / "faq.jsonl").write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    report = ingest_paths(
        [root], data_dir=data_dir, kb="faq", text_field="a", title_field="q", id_field="key"
    )
    assert report.ok and report.chunks_added == 2
    metas = sorted(_rows(data_dir, "faq").values(), key=lambda m: m["location"])
    assert [(m["location"], m["title"], m["record_id"]) for m in metas] == [
        ("faq/faq.jsonl#q-atm", "ATM fees", "q-atm"),
        ("faq/faq.jsonl#q-wire", "Wire fees", "q-wire"),
    ]
    unmapped = ingest_paths([root], data_dir=data_dir, kb="faq2")
    assert "no record has a text field" in unmapped.failures[0][1]
    with pytest.raises(ValueError, match="unknown JSON field roles"):
        ingest_paths([root], data_dir=data_dir, kb="faq", fields={"answer": "a"})


def test_extra_metadata_is_merged_and_updated_without_reembedding(data_dir, corpus):
    ingest_paths([corpus], data_dir=data_dir, kb="t", metadata={"tenant": "acme", "team": "ops"})
    assert {m["tenant"] for m in _rows(data_dir, "t").values()} == {"acme"}
    moved = ingest_paths([corpus], data_dir=data_dir, kb="t", metadata={"tenant": "globex"})
    assert (moved.chunks_added, moved.chunks_unchanged) == (0, 4)
    metas = list(_rows(data_dir, "t").values())
    assert {m["tenant"] for m in metas} == {"globex"} and not any("team" in m for m in metas)
    with pytest.raises(ValueError, match="reserved"):
        ingest_paths([corpus], data_dir=data_dir, kb="t", metadata={"path": "x"})


def test_interrupted_run_leaves_a_searchable_index_and_the_next_run_completes(
    data_dir, corpus, monkeypatch
):
    ingest_paths([corpus], data_dir=data_dir, kb="t")
    for n in range(40):
        (corpus / f"extra{n}.md").write_text(f"# Extra {n}\n\nFee schedule {n}.", encoding="utf-8")
    (corpus / "wires.md").write_text(DOC_A.replace("$45", "$50"), encoding="utf-8")
    real_add = type(open_kb(data_dir, "t").collection).add
    calls = []

    def dying_add(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real_add(self, *args, **kwargs)

    monkeypatch.setattr(type(open_kb(data_dir, "t").collection), "add", dying_add)
    with pytest.raises(KeyboardInterrupt):
        ingest_paths([corpus], data_dir=data_dir, kb="t", batch_size=8)
    monkeypatch.setattr(type(open_kb(data_dir, "t").collection), "add", real_add)
    kb = open_kb(data_dir, "t")
    assert kb.count() == 4 + 16
    assert len(kb.lexical()) == kb.count()
    assert kb.search("domestic wire fee", 1)[0]["metadata"]["path"] == "docs/wires.md"
    done = ingest_paths([corpus], data_dir=data_dir, kb="t")
    assert done.ok and open_kb(data_dir, "t").count() == 4 + 40
    assert done.chunks_removed == 1 and done.chunks_added == 40 + 1 - 16


def test_a_stale_bm25_index_is_repaired_by_the_next_run(data_dir, corpus):
    ingest_paths([corpus], data_dir=data_dir, kb="t")
    kb = open_kb(data_dir, "t")
    wrong = LexicalIndex.build([f"gone{n}" for n in range(4)], ["old text"] * 4)
    wrong.save(kb.lexical_dir)
    report = ingest_paths([corpus], data_dir=data_dir, kb="t")
    assert report.chunks_added == 0
    assert sorted(open_kb(data_dir, "t").lexical().ids) == sorted(_rows(data_dir, "t"))


def test_progress_bar_runs(data_dir, corpus, capsys):
    report = ingest_paths([corpus / "wires.md"], data_dir=data_dir, kb="t", progress=True)
    assert report.ok and report.chunks_added == 3
    assert _rows(data_dir, "t", path="wires.md")
    assert "chunks embedded" in capsys.readouterr().err


@pytest.mark.parametrize("bad", ["", "has space", "a/b", "x" * 61, "dé"])
def test_invalid_kb_names_are_rejected(data_dir, corpus, bad):
    with pytest.raises(ValueError, match="knowledge base name"):
        ingest_paths([corpus], data_dir=data_dir, kb=bad)


def test_invalid_chunk_sizes_are_rejected(data_dir, corpus):
    with pytest.raises(ValueError, match="chunk_overlap"):
        ingest_paths([corpus], data_dir=data_dir, chunk_size=100, chunk_overlap=100)
