"""Hybrid search over real Chroma + BM25 indexes built from real documents.

Every test runs twice: against embedded Chroma and against a real ``chroma run`` server on
127.0.0.1 (one fresh server database per test). The ONNX embedder is memoised per text for
the module so the second ingestion of the banking corpus reuses the first one's vectors.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import numpy as np
import pytest

from state.context import Context
from tests.fakes.servers import FakeResponse, fake_server
from tools import lexical
from tools.base import SourceError
from tools.demo_corpus import export_banking_corpus
from tools.embedder import EMBEDDER_ID, LocalEmbeddings
from tools.ingest import ingest_paths
from tools.vectorstore import (
    ChromaUnavailable,
    EmbedderMismatch,
    KnowledgeBaseNotFound,
    VectorStoreRetriever,
    _client,
    delete_kb,
    invalidate,
    list_kbs,
    open_kb,
    reset_clients,
)

BANKING_DOCS = 100
QUESTIONS = [
    ("What do I need to open a personal checking account?", "(general)_001"),
    ("How can a customer change the PIN of their debit card?", "(general)_027"),
    ("How do automatic sweeps fund a Beige sub-account?", "beige_004"),
    ("How many API requests per minute can my ERP make?", "beige_008"),
    ("I see a debit card charge I did not make, what should I do?", "(general)_036"),
]


CHROMA = Path(sys.executable).with_name("chroma")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory):
    """A real ``chroma run`` on 127.0.0.1 for the session; yields its port."""
    if not CHROMA.exists():
        pytest.skip("the chroma CLI is not installed")
    port = _free_port()
    path = tmp_path_factory.mktemp("chroma-server")
    log = (path / "server.log").open("wb")
    proc = subprocess.Popen(
        [
            str(CHROMA),
            "run",
            "--path",
            str(path / "db"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=1).raise_for_status()
                break
            except httpx.HTTPError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"chroma run did not start: {(path / 'server.log').read_text()}")
                time.sleep(0.1)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        log.close()


def _new_database(port: int) -> str:
    import chromadb
    from chromadb.config import Settings

    name = f"db_{uuid.uuid4().hex[:12]}"
    chromadb.AdminClient(
        Settings(
            anonymized_telemetry=False,
            chroma_api_impl="chromadb.api.fastapi.FastAPI",
            chroma_server_host="127.0.0.1",
            chroma_server_http_port=port,
        )
    ).create_database(name)
    return name


@pytest.fixture(scope="module", autouse=True)
def memoised_embedder():
    original = LocalEmbeddings.embed
    memo: dict[str, np.ndarray] = {}

    def embed(self, texts):
        missing = [t for t in dict.fromkeys(texts) if t not in memo]
        if missing:
            memo.update(zip(missing, original(self, missing), strict=True))
        return np.stack([memo[t] for t in texts]) if texts else original(self, texts)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(LocalEmbeddings, "embed", embed)
        yield


@pytest.fixture(scope="module", params=["embedded", "server"])
def backend(request):
    """Which Chroma the module's tests use (the environment selects it, as in production)."""
    with pytest.MonkeyPatch.context() as patch:
        for name in ("CHROMA_HOST", "CHROMA_PORT", "CHROMA_DATABASE", "CHROMA_TIMEOUT"):
            patch.delenv(name, raising=False)
        if request.param == "server":
            port = request.getfixturevalue("chroma_server")
            patch.setenv("CHROMA_HOST", "127.0.0.1")
            patch.setenv("CHROMA_PORT", str(port))
        reset_clients()
        yield request.param
    reset_clients()


@pytest.fixture(scope="module")
def backend_database(backend, request):
    """The server database of the module's shared banking index (None when embedded)."""
    if backend == "server":
        return _new_database(request.getfixturevalue("chroma_server"))
    return None


@pytest.fixture(autouse=True)
def isolated(backend, request, monkeypatch):
    """A fresh server database per test (the banking index's own for tests that use it)."""
    if backend == "server":
        shared = "banking" in request.fixturenames
        port = request.getfixturevalue("chroma_server")
        database = request.getfixturevalue("backend_database") if shared else _new_database(port)
        monkeypatch.setenv("CHROMA_DATABASE", database)
    return backend


@pytest.fixture(scope="module")
def banking(tmp_path_factory, backend, backend_database):
    root = tmp_path_factory.mktemp("banking")
    assert export_banking_corpus(root / "banking", limit=BANKING_DOCS) == BANKING_DOCS
    with pytest.MonkeyPatch.context() as patch:
        if backend_database:
            patch.setenv("CHROMA_DATABASE", backend_database)
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
    expected = {
        "name": "banking",
        "chunks": open_kb(banking.data_dir, "banking").count(),
        "embedder": EMBEDDER_ID,
    }
    assert expected in list_kbs(banking.data_dir)


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


TENANT_DOCS = [
    ("acme-1", "acme", "Acme overdraft fee is $35 per item, waived under $5."),
    ("acme-2", "acme", "Acme wire transfer cutoff is 4 pm; overdraft alerts by SMS."),
    ("globex-1", "globex", "Globex overdraft fee is $12 per item with daily cap of $36."),
    ("globex-2", "globex", "Globex wire transfer cutoff is 2 pm; overdraft protection free."),
    ("public-1", None, "General overdraft fee guidance for all customers and wire transfers."),
]


def _fill(kb, rows) -> None:
    texts = [text for _, _, text in rows]
    metas = []
    for cid, tenant, _ in rows:
        meta = {"path": f"{cid}.md", "title": cid, "chunk_index": 0}
        metas.append({**meta, "tenant": tenant} if tenant else meta)
    kb.collection.add(
        ids=[cid for cid, _, _ in rows],
        embeddings=kb.embed(texts),
        documents=texts,
        metadatas=metas,
    )
    kb.rebuild_lexical()
    invalidate(kb.data_dir, kb.name)


@pytest.mark.parametrize("mode", ["hybrid", "dense", "bm25"])
def test_tenant_filter_reaches_both_indexes(data_dir, mode):
    _fill(open_kb(data_dir, "shared", create=True), TENANT_DOCS)
    kb = open_kb(data_dir, "shared")
    for query in ("overdraft fee per item", "wire transfer cutoff", "globex acme"):
        for tenant in ("acme", "globex"):
            ids = {d["id"] for d in kb.search(query, 10, mode=mode, where={"tenant": tenant})}
            assert ids and all(cid.startswith(tenant) for cid in ids), (query, tenant, ids)
        untagged = {d["id"] for d in kb.search(query, 10, mode=mode)}
        assert untagged <= {"public-1"}, untagged
    assert kb.search("overdraft", 10, mode=mode, where={"tenant": "initech"}) == []
    path = kb.search("overdraft fee", 10, mode=mode, where={"tenant": "acme", "path": "acme-1.md"})
    assert [d["id"] for d in path] == ["acme-1"]


def test_context_filters_pass_through_the_retriever(data_dir):
    _fill(open_kb(data_dir, "default", create=True), TENANT_DOCS)
    retriever = VectorStoreRetriever()
    for tenant in ("acme", "globex"):
        ctx = Context(data_dir=str(data_dir), filters={"tenant": tenant})
        docs = retriever.retrieve("overdraft fee", ctx, k=5)
        assert {d["metadata"]["tenant"] for d in docs} == {tenant}
    assert [d["id"] for d in retriever.retrieve("overdraft", Context(), k=5)] == ["public-1"]
    with pytest.raises(ValueError, match="kb field"):
        Context(filters={"kb": "other"})


def test_parent_sections_replace_their_children_once(data_dir):
    kb = open_kb(data_dir, "pc", create=True)
    parents = {
        "p-fees": "## Fees\nWire transfers cost $25. Overdrafts cost $35. Stop payments cost $30.",
        "p-cards": "## Cards\nReport a lost card in the app. Replacement cards arrive in 5 days.",
    }
    children = [
        ("c1", "p-fees", "Wire transfers cost $25."),
        ("c2", "p-fees", "Overdrafts cost $35. Wire transfers too."),
        ("c3", "p-cards", "Report a lost card in the app."),
        ("c4", "p-cards", "Replacement cards arrive in 5 days."),
    ]
    texts = [text for _, _, text in children]
    kb.collection.add(
        ids=[cid for cid, _, _ in children],
        embeddings=kb.embed(texts),
        documents=texts,
        metadatas=[
            {
                "path": "guide.md",
                "section": pid[2:],
                "title": "Guide",
                "parent_id": pid,
                "parent_text": parents[pid],
                "chunk_index": i,
            }
            for i, (_, pid, _) in enumerate(children)
        ],
    )
    kb.rebuild_lexical()
    for mode in ("hybrid", "dense", "bm25"):
        docs = kb.search("wire transfers cost", 2, mode=mode)
        assert docs[0]["id"] == "p-fees" and docs[0]["content"] == parents["p-fees"]
        assert len({d["id"] for d in docs}) == len(docs)
        assert docs[0]["metadata"]["child_id"] in {"c1", "c2"}
        assert docs[0]["location"] == "guide.md § fees"
        assert "parent_text" not in docs[0]["metadata"]
    index = kb.lexical()
    scores = index.scores("wire transfers cost")
    child_scores = {cid: index.score_of(scores, cid) for cid in ("c1", "c2")}
    best_child = max(child_scores, key=child_scores.get)
    only = kb.search("wire transfers cost", 4, mode="bm25")
    assert [d["id"] for d in only] == ["p-fees"]
    assert only[0]["metadata"]["child_id"] == best_child
    assert only[0]["score"] == pytest.approx(child_scores[best_child])


def test_the_configured_backend_holds_the_data(data_dir, isolated):
    open_kb(data_dir, "where", create=True)
    client = type(_client(data_dir)).__name__
    if isolated == "server":
        assert not (data_dir / "chroma").exists() and "where" in {
            r["name"] for r in list_kbs(data_dir)
        }
    else:
        assert (data_dir / "chroma").exists() and client == "Client"


def test_dead_chroma_server_fails_fast_with_one_line(data_dir, monkeypatch):
    ctx = Context(data_dir=str(data_dir))
    monkeypatch.setenv("CHROMA_HOST", "127.0.0.1")
    monkeypatch.setenv("CHROMA_TIMEOUT", "0.5")
    monkeypatch.setenv("CHROMA_PORT", str(_free_port()))
    reset_clients()
    started = time.monotonic()
    reason = VectorStoreRetriever().unavailable(ctx)
    assert "unreachable" in reason and "\n" not in reason
    with fake_server({"/api/v2/heartbeat": FakeResponse(delay=10)}) as silent:
        monkeypatch.setenv("CHROMA_PORT", silent.url.rsplit(":", 1)[1])
        with pytest.raises(ChromaUnavailable, match="unreachable.*Timeout"):
            VectorStoreRetriever().retrieve("fees", ctx, k=3)
    assert time.monotonic() - started < 5
    reset_clients()
