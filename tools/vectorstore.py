"""Knowledge bases: a Chroma collection (dense) plus a BM25 index (lexical), searched together.

Each knowledge base ``kb`` is the Chroma collection ``kb_<kb>`` in ``<data_dir>/chroma`` and the
BM25 index in ``<data_dir>/bm25/<kb>``. Embeddings are always computed here with the local
embedder (Chroma never embeds), and the collection records which embedder built it.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from state.context import Context, validate_kb_name
from state.document import Doc, make_doc
from tools import lexical
from tools.base import SourceError, one_line
from tools.embedder import EMBEDDER_ID, get_embedder

Mode = Literal["hybrid", "dense", "bm25"]
Fusion = Literal["rrf", "weighted"]

CANDIDATES = 50
FUSION: Fusion = "weighted"
DENSE_WEIGHT = 0.6
RRF_K = 60
PAGE = 5000


class KnowledgeBaseNotFound(LookupError):
    """The knowledge base has never been ingested into (or was deleted)."""


class EmbedderMismatch(ValueError):
    """The collection was built with another embedding model than the one installed."""


def collection_name(kb: str) -> str:
    """The Chroma collection behind knowledge base ``kb``."""
    return f"kb_{validate_kb_name(kb)}"


def index_text(title: str, content: str) -> str:
    """The text embedded and BM25-indexed for a chunk: its title, then its content."""
    if title and title not in content[: len(title) + 8]:
        return f"{title}\n{content}"
    return content


_lock = threading.RLock()
_clients: dict[str, Any] = {}
_kbs: dict[tuple[str, str], KnowledgeBase] = {}


def _key(data_dir: str | os.PathLike[str]) -> str:
    return os.path.abspath(os.fspath(data_dir))


def chroma_path(data_dir: str | os.PathLike[str]) -> Path:
    """Where the Chroma database of ``data_dir`` lives."""
    return Path(_key(data_dir)) / "chroma"


def _client(data_dir: str | os.PathLike[str]) -> Any:
    import chromadb
    from chromadb.config import Settings

    key = _key(data_dir)
    with _lock:
        if key not in _clients:
            _clients[key] = chromadb.PersistentClient(
                path=str(chroma_path(key)), settings=Settings(anonymized_telemetry=False)
            )
        return _clients[key]


def open_kb(
    data_dir: str | os.PathLike[str],
    kb: str,
    *,
    create: bool = False,
    embedding_model: str = "local",
) -> KnowledgeBase:
    """The knowledge base ``kb`` of ``data_dir``, cached in-process.

    Args:
        data_dir: The data directory (``Context.data_dir``).
        kb: Knowledge-base name.
        create: Create the collection when missing (ingestion does; searching does not).
        embedding_model: The embedder a new knowledge base is built with.

    Raises:
        ValueError: Invalid name.
        KnowledgeBaseNotFound: The knowledge base does not exist and ``create`` is False.
        EmbedderMismatch: It was built with another embedder.
    """
    validate_kb_name(kb)
    if embedding_model != "local":
        raise ValueError(f"unsupported embedding model {embedding_model!r}")
    key = (_key(data_dir), kb)
    with _lock:
        cached = _kbs.get(key)
        if cached is not None:
            return cached
        if not create and not chroma_path(key[0]).exists():
            raise KnowledgeBaseNotFound(f"knowledge base {kb!r} does not exist in {key[0]}")
        client = _client(key[0])
        if create:
            collection = client.get_or_create_collection(
                collection_name(kb),
                metadata={"hnsw:space": "cosine", "embedder": EMBEDDER_ID},
                embedding_function=None,
            )
        else:
            from chromadb.errors import NotFoundError

            try:
                collection = client.get_collection(collection_name(kb), embedding_function=None)
            except NotFoundError as exc:
                raise KnowledgeBaseNotFound(f"knowledge base {kb!r} does not exist") from exc
        built_with = (collection.metadata or {}).get("embedder")
        if built_with != EMBEDDER_ID:
            raise EmbedderMismatch(
                f"knowledge base {kb!r} was built with embedder {built_with!r}, but this version "
                f"uses {EMBEDDER_ID!r}: delete the knowledge base and ingest again"
            )
        _kbs[key] = KnowledgeBase(key[0], kb, collection)
        return _kbs[key]


def invalidate(data_dir: str | os.PathLike[str], kb: str) -> None:
    """Forget the cached handle of ``kb`` (call after writing to it)."""
    with _lock:
        _kbs.pop((_key(data_dir), kb), None)


def list_kbs(data_dir: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Every knowledge base of ``data_dir`` as ``{"name", "chunks"}``, sorted by name."""
    if not chroma_path(data_dir).exists():
        return []
    client = _client(data_dir)
    out = []
    for col in client.list_collections():
        name = col if isinstance(col, str) else col.name
        if name.startswith("kb_"):
            count = client.get_collection(name, embedding_function=None).count()
            out.append({"name": name[3:], "chunks": count})
    return sorted(out, key=lambda row: row["name"])


def delete_kb(data_dir: str | os.PathLike[str], kb: str) -> bool:
    """Delete knowledge base ``kb`` (collection and BM25 index); False when it did not exist."""
    from chromadb.errors import NotFoundError

    validate_kb_name(kb)
    invalidate(data_dir, kb)
    lexical.remove(lexical.index_dir(_key(data_dir), kb))
    if not chroma_path(data_dir).exists():
        return False
    try:
        _client(data_dir).delete_collection(collection_name(kb))
    except (NotFoundError, ValueError):
        return False
    return True


@dataclass
class Candidates:
    """Dense and BM25 scores of the union of both candidate lists for one query."""

    query_vector: np.ndarray
    dense: dict[str, float]
    bm25: dict[str, float]
    dense_rank: list[str]
    bm25_rank: list[str]


def fuse(
    cands: Candidates, method: Fusion = FUSION, dense_weight: float = DENSE_WEIGHT
) -> list[tuple[str, float]]:
    """Rank the candidates by fused score, best first.

    ``"weighted"``: ``w * cosine + (1 - w) * bm25 / max_bm25`` over the union (both scores are
    known for every candidate), in [0, 1]. ``"rrf"``: reciprocal-rank fusion with k = 60.
    """
    ids = list(dict.fromkeys(cands.dense_rank + cands.bm25_rank))
    if method == "rrf":
        fused = dict.fromkeys(ids, 0.0)
        for ranking in (cands.dense_rank, cands.bm25_rank):
            for rank, cid in enumerate(ranking):
                fused[cid] += 1.0 / (RRF_K + rank + 1)
    else:
        top = max(cands.bm25.values(), default=0.0) or 1.0
        fused = {
            cid: dense_weight * max(cands.dense.get(cid, 0.0), 0.0)
            + (1.0 - dense_weight) * cands.bm25.get(cid, 0.0) / top
            for cid in ids
        }
    return sorted(fused.items(), key=lambda item: -item[1])


class KnowledgeBase:
    """One knowledge base: its Chroma collection and its BM25 index, kept in sync."""

    def __init__(self, data_dir: str, name: str, collection: Any) -> None:
        self.data_dir = data_dir
        self.name = name
        self.collection = collection
        self._lexical: lexical.LexicalIndex | None = None
        self._lock = threading.Lock()
        self._build_lock = threading.Lock()

    @property
    def lexical_dir(self) -> Path:
        """Where this knowledge base's BM25 index is stored."""
        return lexical.index_dir(self.data_dir, self.name)

    def count(self) -> int:
        """Number of chunks stored."""
        return self.collection.count()

    def embed(self, texts: list[str]) -> np.ndarray:
        """Embed texts with this knowledge base's own embedder (one KB never mixes embedders)."""
        return get_embedder().embed(texts)

    def iter_chunks(self, include: list[str]) -> Any:
        """Yield the whole collection as pages of Chroma ``get`` results (ids + ``include``)."""
        offset = 0
        while True:
            page = self.collection.get(limit=PAGE, offset=offset, include=include)
            if not page["ids"]:
                return
            yield page
            offset += len(page["ids"])

    def rebuild_lexical(self) -> lexical.LexicalIndex:
        """Rebuild the BM25 index from the collection's contents and publish it."""
        with self._build_lock:
            return self._rebuild_lexical()

    def _rebuild_lexical(self) -> lexical.LexicalIndex:
        ids: list[str] = []
        texts: list[str] = []
        for page in self.iter_chunks(["documents", "metadatas"]):
            for cid, text, meta in zip(
                page["ids"], page["documents"], page["metadatas"], strict=True
            ):
                ids.append(cid)
                texts.append(index_text(str((meta or {}).get("title", "")), text or ""))
        index = lexical.LexicalIndex.build(ids, texts)
        index.save(self.lexical_dir)
        with self._lock:
            self._lexical = index
        return index

    def lexical(self) -> lexical.LexicalIndex:
        """The BM25 index, reloaded when another process published a newer one and rebuilt
        when it is missing or does not match the collection."""
        with self._lock:
            current = self._lexical
        version = lexical.current_version(self.lexical_dir)
        if current is None or current.version != version:
            current = lexical.LexicalIndex.load(self.lexical_dir)
        if current is None or len(current) != self.count():
            return self.rebuild_lexical()
        with self._lock:
            self._lexical = current
        return current

    def _vectors(self, ids: list[str]) -> dict[str, np.ndarray]:
        if not ids:
            return {}
        got = self.collection.get(ids=ids, include=["embeddings"])
        return {
            cid: np.asarray(vec, dtype=np.float32)
            for cid, vec in zip(got["ids"], got["embeddings"], strict=True)
        }

    def candidates(self, query: str, n: int = CANDIDATES, mode: Mode = "hybrid") -> Candidates:
        """Top-``n`` dense and BM25 candidates of ``query``, each scored both ways."""
        qvec = self.embed([query])[0]
        dense: dict[str, float] = {}
        dense_rank: list[str] = []
        if mode != "bm25":
            hit = self.collection.query(
                query_embeddings=[qvec.tolist()], n_results=n, include=["distances"]
            )
            dense_rank = list(hit["ids"][0])
            dense = {
                cid: 1.0 - float(d) for cid, d in zip(dense_rank, hit["distances"][0], strict=True)
            }
        index = self.lexical()
        scores = index.scores(query)
        bm25_rank: list[str] = []
        if mode != "dense" and scores.size:
            top = np.argsort(-scores, kind="stable")[:n]
            bm25_rank = [index.ids[i] for i in top if scores[i] > 0]
        bm25 = {cid: index.score_of(scores, cid) for cid in dict.fromkeys(dense_rank + bm25_rank)}
        missing = [cid for cid in bm25_rank if cid not in dense]
        for cid, vec in self._vectors(missing).items():
            dense[cid] = float(vec @ qvec)
        return Candidates(qvec, dense, bm25, dense_rank, bm25_rank)

    def search(self, query: str, k: int, *, mode: Mode = "hybrid") -> list[Doc]:
        """The ``k`` best chunks for ``query`` as `Doc`s (source ``"vectorstore"``).

        Args:
            query: Free-text query.
            k: How many documents at most.
            mode: ``"hybrid"`` (dense + BM25 fused), ``"dense"`` or ``"bm25"``.
        """
        if k <= 0 or not self.count():
            return []
        cands = self.candidates(query, max(CANDIDATES, k), mode)
        if mode == "dense":
            ranked = [(cid, cands.dense[cid]) for cid in cands.dense_rank]
        elif mode == "bm25":
            ranked = [(cid, cands.bm25[cid]) for cid in cands.bm25_rank]
        else:
            ranked = fuse(cands)
        ranked = ranked[:k]
        if not ranked:
            return []
        got = self.collection.get(
            ids=[cid for cid, _ in ranked], include=["documents", "metadatas"]
        )
        rows = {
            cid: (text, meta or {})
            for cid, text, meta in zip(got["ids"], got["documents"], got["metadatas"], strict=True)
        }
        return [
            _to_doc(cid, score, query, *rows[cid], cands) for cid, score in ranked if cid in rows
        ]


def _to_doc(
    cid: str, score: float, query: str, text: str, meta: dict[str, Any], cands: Candidates
) -> Doc:
    path = str(meta.get("path", ""))
    section = str(meta.get("section", ""))
    return make_doc(
        id=cid,
        content=text or "",
        source="vectorstore",
        title=str(meta.get("title", "")),
        location=f"{path} § {section}" if section else path,
        score=score,
        query=query,
        metadata={
            **meta,
            "dense": float(cands.dense.get(cid, 0.0)),
            "bm25": float(cands.bm25.get(cid, 0.0)),
            "path": path,
            "section": section,
            "chunk_index": int(meta.get("chunk_index", 0)),
            "doc_id": str(meta.get("doc_id", "")),
        },
    )


class VectorStoreRetriever:
    """The local knowledge base as a graph source (implements `tools.base.Retriever`)."""

    name = "vectorstore"

    def unavailable(self, ctx: Context, store: Any = None) -> str | None:
        """Why the knowledge base cannot be searched (missing, empty, wrong embedder), or None."""
        kb_flag = "" if ctx.kb == "default" else f" --kb {ctx.kb}"
        hint = f"run `agentic-rag ingest PATH{kb_flag}` first"
        try:
            kb = open_kb(ctx.data_dir, ctx.kb)
            if kb.count() == 0:
                return f"knowledge base {ctx.kb!r} is empty: {hint}"
        except KnowledgeBaseNotFound:
            return f"knowledge base {ctx.kb!r} does not exist: {hint}"
        except ValueError as exc:
            return one_line(exc, 300) or type(exc).__name__
        except Exception as exc:
            return f"vector store error: {one_line(exc, 300)}"
        return None

    def retrieve(self, query: str, ctx: Context, *, k: int, store: Any = None) -> list[Doc]:
        """Hybrid search of ``ctx.kb``; raises `SourceError` with a one-line reason on failure."""
        try:
            return open_kb(ctx.data_dir, ctx.kb).search(query, k)
        except KnowledgeBaseNotFound as exc:
            raise SourceError(one_line(exc, 300)) from exc
        except SourceError:
            raise
        except Exception as exc:
            raise SourceError(f"vector store search failed: {one_line(exc, 300)}") from exc
