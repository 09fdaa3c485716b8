"""Embedding models by name: the offline ONNX MiniLM, OpenAI (or compatible) models, custom ones.

A knowledge base records the id of the embedder that built it and is always searched with that
embedder (see `tools.vectorstore.open_kb`). Model strings:

- ``local``: the packaged ONNX all-MiniLM-L6-v2 (id ``all-MiniLM-L6-v2-onnx-int8``), offline.
- ``openai:<model>``: `langchain_openai.OpenAIEmbeddings` (id ``openai:<model>``); the base URL
  comes from ``Context.openai_base_url`` or ``OPENAI_BASE_URL`` (any OpenAI-compatible server).
- any name given to `register_embeddings` (any LangChain `Embeddings`; the id is the name).
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings

from tools.base import SourceError, one_line, with_retries
from tools.embedder import EMBEDDER_ID, LocalEmbeddings, get_embedder
from tools.remote_errors import failure_reason, mask, retryable, timeout_seconds

LOCAL = "local"
OPENAI_PREFIX = "openai:"
DEFAULT_TIMEOUT = 20.0

_REGISTRY: dict[str, Embeddings] = {}


class EmbeddingsConfigError(ValueError):
    """An embedding model string that cannot be resolved; the message says why."""


class EmbeddingError(SourceError):
    """A remote embedder failed; one line naming the model, its endpoint and why."""


def register_embeddings(name: str, embeddings: Embeddings) -> None:
    """Make any LangChain `Embeddings` selectable as ``embedding_model=name``.

    The name is also the embedder id stored with every knowledge base built by it, so keep
    it stable (and change it when the underlying model changes).

    Example:
        >>> from langchain_core.embeddings import DeterministicFakeEmbedding
        >>> register_embeddings("fake-8", DeterministicFakeEmbedding(size=8))
        >>> get_embeddings("fake-8")[0]
        'fake-8'
    """
    name = (name or "").strip()
    if not name or name in (LOCAL, EMBEDDER_ID) or name.startswith(OPENAI_PREFIX):
        raise ValueError(f"cannot register embeddings under the reserved name {name!r}")
    _REGISTRY[name] = embeddings


def unregister_embeddings(name: str) -> None:
    """Forget a name registered with `register_embeddings` (no error when unknown)."""
    _REGISTRY.pop(name, None)


def embedder_id(model: str) -> str:
    """The id a knowledge base built with ``model`` records, without loading the model.

    Example:
        >>> embedder_id("openai:text-embedding-3-small")
        'openai:text-embedding-3-small'

    Raises:
        EmbeddingsConfigError: Unknown model string.
    """
    spec = (model or LOCAL).strip()
    if spec in (LOCAL, EMBEDDER_ID):
        return EMBEDDER_ID
    if spec in _REGISTRY:
        return spec
    if spec.startswith(OPENAI_PREFIX) and spec[len(OPENAI_PREFIX) :].strip():
        return f"{OPENAI_PREFIX}{spec[len(OPENAI_PREFIX) :].strip()}"
    raise EmbeddingsConfigError(
        f"unknown embedding model {spec!r}: use 'local', 'openai:<model>' or a name "
        "registered with tools.embeddings.register_embeddings"
    )


def get_embeddings(
    model: str, *, base_url: str = "", timeout: float = DEFAULT_TIMEOUT
) -> tuple[str, Embeddings]:
    """Resolve an embedding model string to ``(embedder_id, embeddings)``.

    Args:
        model: ``"local"``, ``"openai:<model>"``, a registered name, or a stored embedder id.
        base_url: OpenAI-compatible base URL (``Context.openai_base_url``); empty falls back
            to ``OPENAI_BASE_URL``, then the OpenAI API.
        timeout: Request timeout in seconds for remote models.

    Raises:
        EmbeddingsConfigError: Unknown model, or an OpenAI model without key nor base URL.
    """
    eid = embedder_id(model)
    if eid == EMBEDDER_ID:
        return eid, get_embedder()
    if eid in _REGISTRY:
        return eid, _REGISTRY[eid]
    url = base_url or os.environ.get("OPENAI_BASE_URL", "")
    return eid, _openai(eid[len(OPENAI_PREFIX) :], url, float(timeout))


@lru_cache(maxsize=8)
def _openai(model: str, base_url: str, timeout: float) -> Embeddings:
    from langchain_openai import OpenAIEmbeddings

    key = os.environ.get("OPENAI_API_KEY", "")
    if not key and not base_url:
        raise EmbeddingsConfigError(
            f"embedding model 'openai:{model}' needs OPENAI_API_KEY "
            "(or openai_base_url / OPENAI_BASE_URL for an OpenAI-compatible server)"
        )
    kwargs: dict[str, Any] = {
        "model": model,
        "check_embedding_ctx_length": False,
        "timeout": timeout,
        "max_retries": 0,
        "api_key": key or "not-needed",
    }
    if base_url:
        kwargs["base_url"] = base_url
    try:
        return OpenAIEmbeddings(**kwargs)
    except Exception as exc:  # noqa: BLE001 - pydantic and client errors alike
        raise EmbeddingsConfigError(f"cannot use 'openai:{model}': {one_line(exc)}") from exc


def normalized(vectors: Any, expected_rows: int) -> np.ndarray:
    """Vectors as a ``(rows, dims)`` float32 array of unit rows (zero rows stay zero).

    Raises:
        ValueError: The embedder returned the wrong number of vectors or ragged ones.
    """
    array = np.asarray(vectors, dtype=np.float32)
    if array.ndim != 2 or array.shape[0] != expected_rows:
        raise ValueError(
            f"the embedder returned {array.shape[0] if array.ndim else 0} vectors "
            f"for {expected_rows} texts"
        )
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    return array / np.clip(norms, 1e-12, None)


def embed_documents(embeddings: Embeddings, texts: list[str]) -> np.ndarray:
    """Embed passages into L2-normalised float32 rows."""
    if not texts:
        return np.zeros((0, 0), dtype=np.float32)
    if isinstance(embeddings, LocalEmbeddings):
        return embeddings.embed(list(texts))
    vectors = _bounded(embeddings, lambda: embeddings.embed_documents(list(texts)))
    return normalized(vectors, len(texts))


def embed_query(embeddings: Embeddings, text: str) -> np.ndarray:
    """Embed one search query into an L2-normalised float32 vector."""
    if isinstance(embeddings, LocalEmbeddings):
        return embeddings.embed([text])[0]
    return normalized([_bounded(embeddings, lambda: embeddings.embed_query(text))], 1)[0]


def _bounded(embeddings: Embeddings, call: Any) -> Any:
    """``call()`` retried once on 429/5xx/refused within the embedder's timeout (its client
    does not retry: it would honour a ``Retry-After`` of minutes).

    Raises:
        EmbeddingError: One line naming the model and endpoint, without the API key.
    """
    timeout = timeout_seconds(getattr(embeddings, "request_timeout", None), DEFAULT_TIMEOUT)
    try:
        return with_retries(call, retryable=retryable, deadline_seconds=timeout, attempts=2)
    except Exception as exc:
        name = getattr(embeddings, "model", None) or type(embeddings).__name__
        base = getattr(embeddings, "openai_api_base", None)
        where = f"{name} at {base}" if base else str(name)
        key = getattr(embeddings, "openai_api_key", None)
        own = key.get_secret_value() if hasattr(key, "get_secret_value") else ""
        reason = mask(failure_reason(exc, timeout), os.environ.get("OPENAI_API_KEY", ""), own)
        raise EmbeddingError(f"embedder {where} failed: {reason}") from exc
