"""Embedders per knowledge base: OpenAI through the real client, custom ones, no mixing."""

from __future__ import annotations

import numpy as np
import pytest
from langchain_core.embeddings import Embeddings

from state.context import Context
from tests.fakes.openai_server import bag_of_words_vector, embeddings_endpoint
from tests.fakes.servers import fake_server
from tools.embedder import EMBEDDER_ID
from tools.embeddings import (
    EmbeddingsConfigError,
    get_embeddings,
    register_embeddings,
    unregister_embeddings,
)
from tools.ingest import ingest_paths
from tools.vectorstore import (
    EmbedderMismatch,
    VectorStoreRetriever,
    _client,
    invalidate,
    open_kb,
)

OPENAI = "openai:text-embedding-3-small"
DOCS = {
    "wires.md": "Outgoing domestic wire transfers cost $25 and arrive the same business day.",
    "atm.md": "ATM withdrawals abroad carry a 3% foreign transaction fee.",
    "cards.md": "A lost debit card can be frozen instantly in the mobile app.",
}


class WordCounts(Embeddings):
    """A custom LangChain embedder: hashed word counts of a chosen size."""

    def __init__(self, dims: int = 32) -> None:
        self.dims = dims
        self.calls = 0

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.calls += 1
        return [bag_of_words_vector(t, self.dims) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]


@pytest.fixture
def custom():
    names = []

    def register(name: str, embeddings: Embeddings) -> Embeddings:
        register_embeddings(name, embeddings)
        names.append(name)
        return embeddings

    yield register
    for name in names:
        unregister_embeddings(name)


def fill(kb, docs: dict[str, str] = DOCS) -> None:
    """Add one chunk per document the way ingestion does (embed, add, rebuild BM25)."""
    paths = sorted(docs)
    kb.collection.add(
        ids=paths,
        embeddings=kb.embed([docs[p] for p in paths]),
        documents=[docs[p] for p in paths],
        metadatas=[{"path": p, "title": p[:-3], "chunk_index": 0} for p in paths],
    )
    kb.rebuild_lexical()
    invalidate(kb.data_dir, kb.name)


def test_openai_embeddings_through_the_real_client(data_dir, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-embed")
    with fake_server({"/v1/embeddings": embeddings_endpoint()}) as server:
        base = f"{server.url}/v1"
        kb = open_kb(data_dir, "oa", create=True, embedding_model=OPENAI, openai_base_url=base)
        assert kb.collection.metadata["embedder"] == OPENAI
        assert kb.collection.metadata["dims"] == 64
        vectors = kb.embed(["wire transfers", "ATM fee abroad"])
        assert vectors.dtype == np.float32 and vectors.shape == (2, 64)
        assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0)
        fill(kb)
        ctx = Context(data_dir=str(data_dir), kb="oa", openai_base_url=base, request_timeout=5)
        docs = VectorStoreRetriever().retrieve("wire transfers cost", ctx, k=2)
        dense = open_kb(data_dir, "oa", openai_base_url=base).search(
            "withdrawals abroad", 1, mode="dense"
        )
    assert docs[0]["id"] == "wires.md" and dense[0]["id"] == "atm.md"
    bodies = [r.json() for r in server.requests]
    assert {b["model"] for b in bodies} == {"text-embedding-3-small"}
    assert all(b.get("encoding_format") == "base64" for b in bodies)
    assert all(r.headers["authorization"] == "Bearer sk-embed" for r in server.requests)


def test_custom_embeddings_build_and_search_a_kb(data_dir, custom):
    emb = custom("word-counts-32", WordCounts(32))
    kb = open_kb(data_dir, "custom", create=True, embedding_model="word-counts-32")
    assert (kb.embedder_id, kb.dims) == ("word-counts-32", 32)
    fill(kb)
    ctx = Context(data_dir=str(data_dir), kb="custom")
    assert ctx.embedding_model == "local"
    docs = VectorStoreRetriever().retrieve("lost debit card", ctx, k=1)
    assert docs[0]["id"] == "cards.md" and emb.calls >= 3


def test_ingesting_with_another_embedder_is_refused_and_data_untouched(data_dir, tmp_path):
    (tmp_path / "docs").mkdir()
    for name, text in DOCS.items():
        (tmp_path / "docs" / name).write_text(f"# {name[:-3]}\n\n{text}\n", encoding="utf-8")
    assert ingest_paths([tmp_path / "docs"], data_dir=data_dir, kb="kb1").chunks_added == 3
    with pytest.raises(EmbedderMismatch) as err:
        open_kb(data_dir, "kb1", create=True, embedding_model=OPENAI)
    message = str(err.value)
    assert EMBEDDER_ID in message and OPENAI in message
    assert "embedding_model='local'" in message and "delete" in message
    invalidate(data_dir, "kb1")
    kb = open_kb(data_dir, "kb1", embedding_model=OPENAI)
    assert kb.embedder_id == EMBEDDER_ID and kb.count() == 3
    assert kb.search("frozen debit card", 1)[0]["metadata"]["path"] == "docs/cards.md"


def test_a_kb_whose_embedder_is_unavailable_is_refused(data_dir, custom):
    custom("word-counts-16", WordCounts(16))
    fill(open_kb(data_dir, "gone", create=True, embedding_model="word-counts-16"))
    unregister_embeddings("word-counts-16")
    invalidate(data_dir, "gone")
    with pytest.raises(EmbedderMismatch, match="word-counts-16.*cannot be loaded"):
        open_kb(data_dir, "gone")
    reason = VectorStoreRetriever().unavailable(Context(data_dir=str(data_dir), kb="gone"))
    assert "word-counts-16" in reason and "cannot be loaded" in reason
    with pytest.raises(EmbedderMismatch, match="'word-counts-16', not 'all-MiniLM"):
        open_kb(data_dir, "gone", create=True)
    _client(data_dir).create_collection("kb_foreign", metadata={"hnsw:space": "cosine"})
    with pytest.raises(EmbedderMismatch, match="records no embedder"):
        open_kb(data_dir, "foreign", create=True)


def test_an_embedder_changing_its_vector_size_is_caught(data_dir, custom):
    custom("word-counts-x", WordCounts(16))
    kb = open_kb(data_dir, "sized", create=True, embedding_model="word-counts-x")
    custom("word-counts-x", WordCounts(24))
    invalidate(data_dir, "sized")
    with pytest.raises(EmbedderMismatch, match="24-d vectors .* 16-d"):
        open_kb(data_dir, kb.name).embed(["anything"])


def test_embedding_model_strings(monkeypatch):
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    assert get_embeddings("local")[0] == EMBEDDER_ID
    with pytest.raises(EmbeddingsConfigError, match="unknown embedding model"):
        get_embeddings("word2vec")
    with pytest.raises(EmbeddingsConfigError, match="OPENAI_API_KEY"):
        get_embeddings("openai:text-embedding-3-large")
    with pytest.raises(ValueError, match="reserved"):
        register_embeddings("local", WordCounts())
    with pytest.raises(EmbeddingsConfigError):
        open_kb("unused", "x", create=True, embedding_model="openai:")
