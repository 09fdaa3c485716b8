"""Hybrid search over real Chroma + BM25 indexes built from real documents."""

from __future__ import annotations

import pytest

from state.context import Context
from tools import lexical
from tools.base import SourceError
from tools.demo_corpus import export_banking_corpus
from tools.ingest import ingest_paths
from tools.vectorstore import (
    EmbedderMismatch,
    KnowledgeBaseNotFound,
    VectorStoreRetriever,
    _client,
    delete_kb,
    list_kbs,
    open_kb,
)

BANKING_DOCS = 100
QUESTIONS = [
    ("What do I need to open a personal checking account?", "(general)_001"),
    ("How can a customer change the PIN of their debit card?", "(general)_027"),
    ("How do automatic sweeps fund a Beige sub-account?", "beige_004"),
    ("How many API requests per minute can my ERP make?", "beige_008"),
    ("I see a debit card charge I did not make, what should I do?", "(general)_036"),
]


@pytest.fixture(scope="module")
def banking(tmp_path_factory):
    root = tmp_path_factory.mktemp("banking")
    assert export_banking_corpus(root / "banking", limit=BANKING_DOCS) == BANKING_DOCS
    report = ingest_paths([root / "banking"], data_dir=root / "data", kb="banking")
    assert report.ok and report.files_ingested == BANKING_DOCS
    return Context(data_dir=str(root / "data"), kb="banking")


@pytest.mark.parametrize(("question", "expected"), QUESTIONS)
def test_hybrid_search_finds_the_right_banking_document(banking, question, expected):
    docs = open_kb(banking.data_dir, "banking").search(question, 3)
    assert any(expected in d["metadata"]["path"] for d in docs), [d["location"] for d in docs]


def test_docs_have_the_common_shape_and_both_scores(banking):
    docs = VectorStoreRetriever().retrieve("overdraft fees on checking", banking, k=8)
    assert len(docs) == 8
    assert [d["score"] for d in docs] == sorted((d["score"] for d in docs), reverse=True)
    for doc in docs:
        meta = doc["metadata"]
        assert doc["source"] == "vectorstore" and doc["query"] == "overdraft fees on checking"
        assert doc["location"].startswith(meta["path"]) and " § " in doc["location"]
        assert meta["path"].startswith("banking/") and meta["doc_id"] and doc["title"]
        assert 0.0 < meta["dense"] <= 1.0 and meta["bm25"] >= 0.0
        assert isinstance(meta["chunk_index"], int) and meta["section"]
        assert 0.0 < doc["score"] <= 1.0


def test_single_modes_rank_by_their_own_score(banking):
    kb = open_kb(banking.data_dir, "banking")
    dense = kb.search("debit card PIN reset", 5, mode="dense")
    bm25 = kb.search("debit card PIN reset", 5, mode="bm25")
    assert [d["score"] for d in dense] == [d["metadata"]["dense"] for d in dense]
    assert [d["score"] for d in bm25] == [d["metadata"]["bm25"] for d in bm25]
    assert kb.search("zzzzqqq", 5, mode="bm25") == []


def test_available_kb_and_listing(banking):
    assert VectorStoreRetriever().unavailable(banking) is None
    assert {"name": "banking", "chunks": open_kb(banking.data_dir, "banking").count()} in list_kbs(
        banking.data_dir
    )


def test_missing_and_empty_kbs_are_unavailable(data_dir):
    retriever = VectorStoreRetriever()
    ctx = Context(data_dir=str(data_dir), kb="default")
    assert "does not exist" in retriever.unavailable(ctx)
    assert list_kbs(data_dir) == []
    open_kb(data_dir, "default", create=True)
    reason = retriever.unavailable(ctx)
    assert reason.startswith("knowledge base 'default' is empty") and "ingest" in reason
    assert retriever.retrieve("anything", ctx, k=3) == []
    with pytest.raises(SourceError, match="does not exist"):
        retriever.retrieve("anything", Context(data_dir=str(data_dir), kb="other"), k=3)
    with pytest.raises(ValueError, match="invalid knowledge base name"):
        Context(data_dir=str(data_dir), kb="no way")


def test_collection_from_another_embedder_is_refused(data_dir):
    _client(data_dir).create_collection(
        "kb_old", metadata={"hnsw:space": "cosine", "embedder": "other-model"}
    )
    with pytest.raises(EmbedderMismatch, match="other-model"):
        open_kb(data_dir, "old")
    reason = VectorStoreRetriever().unavailable(Context(data_dir=str(data_dir), kb="old"))
    assert "other-model" in reason and "ingest again" in reason


def test_bm25_follows_reingest_and_delete(data_dir, tmp_path):
    doc = tmp_path / "docs" / "animals.md"
    doc.parent.mkdir()
    doc.write_text("# Animals\n\nThe quokka lives on Rottnest Island.\n", encoding="utf-8")
    ingest_paths([doc.parent], data_dir=data_dir, kb="zoo")
    stale_handle = open_kb(data_dir, "zoo")
    assert stale_handle.search("quokka", 3, mode="bm25")
    doc.write_text("# Animals\n\nThe platypus lays eggs.\n", encoding="utf-8")
    ingest_paths([doc.parent], data_dir=data_dir, kb="zoo")
    for kb in (stale_handle, open_kb(data_dir, "zoo")):
        assert kb.search("quokka", 3, mode="bm25") == []
        assert "platypus" in kb.search("platypus", 3, mode="bm25")[0]["content"]
        assert len(kb.lexical()) == kb.count() == 1
    assert delete_kb(data_dir, "zoo")
    assert not lexical.index_dir(data_dir, "zoo").exists()
    with pytest.raises(KnowledgeBaseNotFound):
        open_kb(data_dir, "zoo")
    assert not delete_kb(data_dir, "zoo")


def test_interrupted_bm25_write_keeps_the_previous_index(tmp_path):
    root = tmp_path / "bm25"
    lexical.LexicalIndex.build(["a", "b"], ["wire fees", "savings rates"]).save(root)
    (root / "v-half-written").mkdir()
    (root / "v-half-written" / "ids.json").write_text("[", encoding="utf-8")
    loaded = lexical.LexicalIndex.load(root)
    assert [cid for cid, _ in loaded.search("wire", 5)] == ["a"]
    assert loaded.search("savings", 5, allow=["a"]) == []


def test_missing_bm25_index_is_rebuilt_from_chroma(data_dir, tmp_path):
    doc = tmp_path / "note.txt"
    doc.write_text("Cashier's checks cost $10.\n", encoding="utf-8")
    ingest_paths([doc], data_dir=data_dir, kb="notes")
    lexical.remove(lexical.index_dir(data_dir, "notes"))
    kb = open_kb(data_dir, "notes")
    kb._lexical = None
    assert kb.search("cashier checks", 1, mode="bm25")[0]["metadata"]["path"] == "note.txt"
