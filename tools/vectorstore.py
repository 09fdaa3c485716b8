"""Knowledge bases: opening, listing and deleting them, and the vector-store source.

Each knowledge base ``kb`` is the Chroma collection ``kb_<kb>`` and the BM25 index in
``<data_dir>/bm25/<kb>``. Chroma runs embedded in ``<data_dir>/chroma`` by default, or as a
server when ``CHROMA_HOST`` is set (see `tools.chroma_client`); with a shared server each
machine rebuilds its own BM25 index from the collection when their chunk counts differ.
Embeddings are always computed here (Chroma never embeds) and the collection records the
embedder that built it, which is the one it is searched with (see `open_kb`). Searches take
a metadata filter applied to both indexes; chunks carrying a ``tenant`` are only returned to
a filter naming that tenant, and chunks carrying an ``owner`` (ingested with ``--user``) only
to that user (``Context.user_id``).
"""

from __future__ import annotations

import os
import threading
from typing import Any

from state.context import Context
from state.context import validate_kb_name as validate_kb_name
from state.document import Doc
from tools import chroma_client, lexical
from tools.base import SourceError, one_line
from tools.chroma_client import ChromaServer, chroma_path, chroma_server
from tools.chroma_client import ChromaUnavailable as ChromaUnavailable
from tools.chroma_client import client as _client
from tools.chroma_client import data_key as _key
from tools.embedder import EMBEDDER_ID
from tools.embeddings import (
    DEFAULT_TIMEOUT,
    EmbeddingsConfigError,
    embed_query,
    embedder_id,
    get_embeddings,
)
from tools.knowledge_base import EmbedderMismatch as EmbedderMismatch
from tools.knowledge_base import KnowledgeBase as KnowledgeBase
from tools.knowledge_base import KnowledgeBaseNotFound as KnowledgeBaseNotFound
from tools.knowledge_base import index_text as index_text


def collection_name(kb: str) -> str:
    """The Chroma collection behind knowledge base ``kb``."""
    return f"kb_{validate_kb_name(kb)}"


_lock = threading.RLock()
_kbs: dict[tuple[Any, ...], KnowledgeBase] = {}


def reset_clients() -> None:
    """Forget every cached client and knowledge-base handle (after changing CHROMA_*)."""
    with _lock:
        _kbs.clear()
    chroma_client.reset()


def _model_name(built_with: str) -> str:
    return "local" if built_with == EMBEDDER_ID else built_with


def open_kb(
    data_dir: str | os.PathLike[str],
    kb: str,
    *,
    create: bool = False,
    embedding_model: str = "local",
    openai_base_url: str = "",
    timeout: float = DEFAULT_TIMEOUT,
) -> KnowledgeBase:
    """The knowledge base ``kb`` of ``data_dir``, cached in-process.

    A new knowledge base is created with ``embedding_model`` (its id and vector size are
    stored in the collection's metadata); an existing one is opened with the embedder that
    built it, whatever ``embedding_model`` says, unless ``create`` is set.

    Args:
        data_dir: The data directory (``Context.data_dir``).
        kb: Knowledge-base name.
        create: Create the collection when missing, and require it to use ``embedding_model``
            (ingestion does; searching does not).
        embedding_model: ``"local"``, ``"openai:<model>"`` or a registered name.
        openai_base_url: Base URL for ``openai:`` embedders (``Context.openai_base_url``).
        timeout: Request timeout in seconds for remote embedders.

    Raises:
        ValueError: Invalid name or unknown embedding model.
        KnowledgeBaseNotFound: The knowledge base does not exist and ``create`` is False.
        EmbedderMismatch: ``create`` with another embedder than the one that built it, or its
            embedder cannot be loaded here.
        ChromaUnavailable: The configured Chroma server cannot be reached.
    """
    validate_kb_name(kb)
    requested = embedder_id(embedding_model) if create else None
    server = chroma_server()
    key = (server, _key(data_dir), kb, openai_base_url, float(timeout))
    with _lock:
        cached = _kbs.get(key)
        if cached is None:
            cached = _open(key[1], kb, requested, embedding_model, openai_base_url, timeout, server)
            _kbs[key] = cached
    if requested is not None and cached.embedder_id != requested:
        raise _mismatch(kb, cached.embedder_id, requested)
    return cached


def _mismatch(kb: str, built_with: str, requested: str) -> EmbedderMismatch:
    return EmbedderMismatch(
        f"knowledge base {kb!r} was built with embedder {built_with!r}, not {requested!r}: "
        f"one knowledge base never mixes embedders. Ingest with "
        f"embedding_model={_model_name(built_with)!r}, or delete the knowledge base (or use "
        "another kb name) and ingest again."
    )


def _open(
    data_dir: str,
    kb: str,
    requested: str | None,
    embedding_model: str,
    base_url: str,
    timeout: float,
    server: ChromaServer | None,
) -> KnowledgeBase:
    from chromadb.errors import NotFoundError

    create = requested is not None
    if server is None and not create and not chroma_path(data_dir).exists():
        raise KnowledgeBaseNotFound(f"knowledge base {kb!r} does not exist in {data_dir}")
    client = _client(data_dir)
    try:
        collection = client.get_collection(collection_name(kb), embedding_function=None)
    except NotFoundError as exc:
        if not create:
            raise KnowledgeBaseNotFound(f"knowledge base {kb!r} does not exist") from exc
        eid, embeddings = get_embeddings(embedding_model, base_url=base_url, timeout=timeout)
        try:
            dims = int(embed_query(embeddings, "dimension probe").shape[0])
        except Exception as probe_exc:
            raise SourceError(
                f"embedder {eid!r} failed: {type(probe_exc).__name__}: {one_line(probe_exc)}"
            ) from probe_exc
        collection = client.get_or_create_collection(
            collection_name(kb),
            metadata={"hnsw:space": "cosine", "embedder": eid, "dims": dims},
            embedding_function=None,
        )
    meta = collection.metadata or {}
    built_with = str(meta.get("embedder") or "")
    if not built_with:
        raise EmbedderMismatch(
            f"knowledge base {kb!r} records no embedder (not built by agentic-rag): "
            "delete it and ingest again"
        )
    if requested is not None and built_with != requested:
        raise _mismatch(kb, built_with, requested)
    try:
        eid, embeddings = get_embeddings(built_with, base_url=base_url, timeout=timeout)
    except EmbeddingsConfigError as exc:
        raise EmbedderMismatch(
            f"knowledge base {kb!r} was built with embedder {built_with!r}, which cannot be "
            f"loaded here ({one_line(exc)}): configure that embedder, or delete the knowledge "
            "base and ingest again"
        ) from exc
    dims = meta.get("dims")
    return KnowledgeBase(
        data_dir, kb, collection, eid, embeddings, int(dims) if dims is not None else None
    )


def invalidate(data_dir: str | os.PathLike[str], kb: str) -> None:
    """Forget the cached handles of ``kb`` (call after writing to it)."""
    path = _key(data_dir)
    with _lock:
        for key in [k for k in _kbs if k[1] == path and k[2] == kb]:
            del _kbs[key]


def list_kbs(data_dir: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Every knowledge base of ``data_dir`` as ``{"name", "chunks", "embedder"}``, by name."""
    if chroma_server() is None and not chroma_path(data_dir).exists():
        return []
    client = _client(data_dir)
    out = []
    for col in client.list_collections():
        name = col if isinstance(col, str) else col.name
        if name.startswith("kb_"):
            collection = client.get_collection(name, embedding_function=None)
            embedder = (collection.metadata or {}).get("embedder", "?")
            out.append({"name": name[3:], "chunks": collection.count(), "embedder": embedder})
    return sorted(out, key=lambda row: row["name"])


def delete_kb(data_dir: str | os.PathLike[str], kb: str) -> bool:
    """Delete knowledge base ``kb`` (collection and BM25 index); False when it did not exist."""
    from chromadb.errors import NotFoundError

    validate_kb_name(kb)
    invalidate(data_dir, kb)
    lexical.remove(lexical.index_dir(_key(data_dir), kb))
    if chroma_server() is None and not chroma_path(data_dir).exists():
        return False
    try:
        _client(data_dir).delete_collection(collection_name(kb))
    except (NotFoundError, ValueError):
        return False
    return True


def open_for(ctx: Context) -> KnowledgeBase:
    """``ctx.kb`` opened with the context's embedder settings (for searching)."""
    return open_kb(
        ctx.data_dir,
        ctx.kb,
        embedding_model=ctx.embedding_model,
        openai_base_url=ctx.openai_base_url,
        timeout=float(ctx.request_timeout),
    )


class VectorStoreRetriever:
    """The local knowledge base as a graph source (implements `tools.base.Retriever`)."""

    name = "vectorstore"

    def unavailable(self, ctx: Context, store: Any = None) -> str | None:
        """Why the knowledge base cannot be searched (missing, empty, wrong embedder, server
        down), or None."""
        kb_flag = "" if ctx.kb == "default" else f" --kb {ctx.kb}"
        hint = f"run `agentic-rag ingest PATH{kb_flag}` first"
        try:
            kb = open_for(ctx)
            if not len(kb.lexical()):
                return f"knowledge base {ctx.kb!r} is empty: {hint}"
        except KnowledgeBaseNotFound:
            return f"knowledge base {ctx.kb!r} does not exist: {hint}"
        except (ValueError, SourceError) as exc:
            return one_line(exc, 300) or type(exc).__name__
        except Exception as exc:
            return f"vector store error: {type(exc).__name__}: {one_line(exc, 300)}"
        return None

    def retrieve(self, query: str, ctx: Context, *, k: int, store: Any = None) -> list[Doc]:
        """Hybrid search of ``ctx.kb`` filtered by ``ctx.filters``, among the chunks
        ``ctx.user_id`` may see; raises `SourceError` with a one-line reason on failure."""
        try:
            return open_for(ctx).search(query, k, where=ctx.filters or None, viewer=ctx.user_id)
        except KnowledgeBaseNotFound as exc:
            raise SourceError(one_line(exc, 300)) from exc
        except SourceError:
            raise
        except Exception as exc:
            raise SourceError(
                f"vector store search failed: {type(exc).__name__}: {one_line(exc, 300)}"
            ) from exc
