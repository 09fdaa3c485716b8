"""The packaged ONNX embedder: shape, normalisation, semantics and checksum verification."""

from __future__ import annotations

import numpy as np
import pytest

from tools import embedder
from tools.embedder import DIMS, EmbedderError, get_embedder


def test_embeddings_are_unit_vectors_of_the_right_shape():
    vectors = get_embedder().embed(["What is the overdraft fee?", "", "x " * 2000])
    assert vectors.shape == (3, DIMS)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)


def test_paraphrase_is_closer_than_an_unrelated_sentence():
    query, paraphrase, unrelated = get_embedder().embed(
        [
            "How much does it cost to send a wire transfer abroad?",
            "What is the fee for an international wire transfer?",
            "The cathedral was rebuilt in the Gothic style after the fire.",
        ]
    )
    assert query @ paraphrase > query @ unrelated + 0.2


def test_langchain_interface_matches_embed():
    emb = get_embedder()
    assert np.allclose(emb.embed_query("fees"), emb.embed(["fees"])[0], atol=1e-6)
    assert len(emb.embed_documents(["a", "b"])) == 2


def test_checksum_mismatch_is_refused(monkeypatch):
    embedder._load.cache_clear()
    monkeypatch.setattr(embedder, "TOKENIZER_SHA256", "0" * 64)
    try:
        with pytest.raises(EmbedderError, match="checksum mismatch"):
            embedder._load()
    finally:
        monkeypatch.undo()
        embedder._load.cache_clear()
    assert get_embedder().embed(["ok"]).shape == (1, DIMS)


def test_cache_returns_the_same_vectors_and_stays_bounded():
    from tools.embedder import LocalEmbeddings

    emb = LocalEmbeddings(cache_size=3)
    texts = ["alpha fee", "beta limit", "alpha fee", "gamma card"]
    first = emb.embed(texts)
    assert np.allclose(first[0], first[2])
    again = emb.embed(["gamma card", "delta loan", "beta limit"])
    assert np.allclose(again[0], first[3]) and np.allclose(again[2], first[1])
    assert len(emb._cache) == 3
    uncached = LocalEmbeddings(cache_size=0).embed(["alpha fee"])
    assert np.allclose(uncached[0], first[0], atol=1e-6)
