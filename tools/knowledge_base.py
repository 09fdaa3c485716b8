"""One knowledge base: its Chroma collection (dense) and BM25 index (lexical), searched together.

Searches fuse both rankings (weighted score fusion by default, RRF available), take a metadata
filter applied to both indexes, and return parent sections in parent-child mode. Chunks
carrying a ``tenant`` are only returned to a filter naming that tenant; chunks carrying an
``owner`` (a user's own documents) only to a search by that ``viewer``.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from state.document import Doc, make_doc
from tools import lexical
from tools.embedder import EMBEDDER_ID
from tools.embeddings import (
    embed_documents,
    embed_query,
    get_embeddings,
)

Mode = Literal["hybrid", "dense", "bm25"]
Fusion = Literal["rrf", "weighted"]

CANDIDATES = 50
FUSION: Fusion = "weighted"
DENSE_WEIGHT = 0.6
RRF_K = 60
PAGE = 5000
TENANT_KEY = "tenant"
OWNER_KEY = "owner"
ALLOW_CACHE = 32
COUNT_CHECK_SECONDS = 2.0
"""How often `KnowledgeBase.lexical` compares its BM25 index with the collection's size."""


class KnowledgeBaseNotFound(LookupError):
    """The knowledge base has never been ingested into (or was deleted)."""


class EmbedderMismatch(ValueError):
    """The knowledge base was built with another embedder, or its embedder cannot be loaded."""


def index_text(title: str, content: str) -> str:
    """The text embedded and BM25-indexed for a chunk: its title, then its content."""
    if title and title not in content[: len(title) + 8]:
        return f"{title}\n{content}"
    return content


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


def chroma_where(
    where: dict[str, Any] | None,
    tenants: list[str] | None = None,
    owners: list[str] | None = None,
    viewer: str | None = None,
) -> dict[str, Any] | None:
    """The Chroma ``where`` clause of an equality filter.

    Without a ``tenant`` key, chunks of any of ``tenants`` (the tenants present in the
    knowledge base) are excluded, so tenant data is only ever returned to its own tenant.
    Chunks of any of ``owners`` other than ``viewer`` are always excluded, so a user's own
    documents are only returned to that user (unowned chunks to everyone).

    Raises:
        ValueError: ``where`` names an ``owner``: ownership comes from ``viewer`` only.

    Example:
        >>> chroma_where({"tenant": "acme", "path": "a.md"})
        {'$and': [{'path': 'a.md'}, {'tenant': 'acme'}]}
        >>> chroma_where(None, owners=["alice", "bob"], viewer="bob")
        {'owner': {'$nin': ['alice']}}
    """
    if OWNER_KEY in (where or {}):
        raise ValueError(f"{OWNER_KEY!r} is not a filter: a user's documents follow user_id")
    clauses: list[dict[str, Any]] = [{k: v} for k, v in sorted((where or {}).items())]
    if TENANT_KEY not in (where or {}) and tenants:
        clauses.append({TENANT_KEY: {"$nin": list(tenants)}})
    hidden = [owner for owner in owners or [] if owner != viewer]
    if hidden:
        clauses.append({OWNER_KEY: {"$nin": hidden}})
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


def _top_positive(scores: np.ndarray, n: int) -> np.ndarray:
    """Positions of the ``n`` highest positive scores, best first (ties: lower position
    first). Only the positive scores are sorted: a BM25 query matches a small share of a
    large index.

    Example:
        >>> _top_positive(np.array([0.0, 0.5, 0.5, 0.9, 0.0]), 3).tolist()
        [3, 1, 2]
    """
    positive = np.flatnonzero(scores > 0)
    return positive[np.lexsort((positive, -scores[positive]))][:n]


class KnowledgeBase:
    """One knowledge base: its Chroma collection and its BM25 index, kept in sync."""

    def __init__(
        self,
        data_dir: str,
        name: str,
        collection: Any,
        embedder_id: str = EMBEDDER_ID,
        embeddings: Any = None,
        dims: int | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.name = name
        self.collection = collection
        self.embedder_id = embedder_id
        self.embeddings = embeddings if embeddings is not None else get_embeddings("local")[1]
        self.dims = dims
        self._lexical: lexical.LexicalIndex | None = None
        self._allowed: dict[tuple[str, str], np.ndarray] = {}
        self._lock = threading.Lock()
        self._build_lock = threading.Lock()
        self._counted_at = -COUNT_CHECK_SECONDS

    @property
    def lexical_dir(self) -> Path:
        """Where this knowledge base's BM25 index is stored."""
        return lexical.index_dir(self.data_dir, self.name)

    def count(self) -> int:
        """Number of chunks stored."""
        return self.collection.count()

    def _checked(self, vectors: np.ndarray) -> np.ndarray:
        if self.dims is not None and vectors.size and vectors.shape[-1] != self.dims:
            raise EmbedderMismatch(
                f"embedder {self.embedder_id!r} returned {vectors.shape[-1]}-d vectors but "
                f"knowledge base {self.name!r} holds {self.dims}-d ones"
            )
        return vectors

    def embed(self, texts: list[str]) -> np.ndarray:
        """Embed passages with this knowledge base's own embedder (L2-normalised float32 rows)."""
        return self._checked(embed_documents(self.embeddings, texts))

    def embed_query(self, text: str) -> np.ndarray:
        """Embed a search query with this knowledge base's own embedder."""
        return self._checked(embed_query(self.embeddings, text))

    def iter_chunks(self, include: list[str], where: dict[str, Any] | None = None) -> Any:
        """Yield the collection (or the chunks matching a Chroma ``where``) as pages of
        Chroma ``get`` results (ids + ``include``)."""
        offset = 0
        while True:
            page = self.collection.get(limit=PAGE, offset=offset, include=include, where=where)
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
        tenants: set[str] = set()
        owners: set[str] = set()
        for page in self.iter_chunks(["documents", "metadatas"]):
            for cid, text, meta in zip(
                page["ids"], page["documents"], page["metadatas"], strict=True
            ):
                meta = meta or {}
                ids.append(cid)
                texts.append(index_text(str(meta.get("title", "")), text or ""))
                if meta.get(TENANT_KEY) is not None:
                    tenants.add(str(meta[TENANT_KEY]))
                if meta.get(OWNER_KEY) is not None:
                    owners.add(str(meta[OWNER_KEY]))
        index = lexical.LexicalIndex.build(ids, texts, tenants, owners)
        index.save(self.lexical_dir)
        with self._lock:
            self._lexical = index
        return index

    def lexical(self) -> lexical.LexicalIndex:
        """The BM25 index, reloaded when another process published a newer one and rebuilt
        when it is missing or does not match the collection.

        The collection is counted when a version is loaded and then at most every
        `COUNT_CHECK_SECONDS` (``count()`` grows with the collection: ~9 ms at 100k chunks),
        which is how long a change made through a shared Chroma server by another machine
        can go unseen by this one's BM25 index.
        """
        with self._lock:
            current = self._lexical
        version = lexical.current_version(self.lexical_dir)
        loaded = current is None or current.version != version
        if loaded:
            current = lexical.LexicalIndex.load(self.lexical_dir)
        stale = current is None or current.tenants is None or current.owners is None
        now = time.monotonic()
        if stale or loaded or now - self._counted_at >= COUNT_CHECK_SECONDS:
            if stale or len(current) != self.count():
                return self.rebuild_lexical()
            self._counted_at = now
        with self._lock:
            self._lexical = current
        return current

    def _allowed_positions(self, index: lexical.LexicalIndex, where: dict[str, Any]) -> np.ndarray:
        """BM25 positions of the chunks matching ``where``, cached per index version."""
        key = (index.version, json.dumps(where, sort_keys=True))
        with self._lock:
            hit = self._allowed.get(key)
        if hit is not None:
            return hit
        ids = [cid for page in self.iter_chunks([], where) for cid in page["ids"]]
        positions = index.positions(ids)
        with self._lock:
            if len(self._allowed) >= ALLOW_CACHE:
                self._allowed.clear()
            self._allowed[key] = positions
        return positions

    def _vectors(self, ids: list[str]) -> dict[str, np.ndarray]:
        if not ids:
            return {}
        got = self.collection.get(ids=ids, include=["embeddings"])
        return {
            cid: np.asarray(vec, dtype=np.float32)
            for cid, vec in zip(got["ids"], got["embeddings"], strict=True)
        }

    def candidates(
        self,
        query: str,
        n: int = CANDIDATES,
        mode: Mode = "hybrid",
        *,
        where: dict[str, Any] | None = None,
        viewer: str | None = None,
    ) -> Candidates:
        """Top-``n`` dense and BM25 candidates of ``query`` among the chunks matching the
        equality filter ``where`` and visible to ``viewer``, each scored both ways."""
        index = self.lexical()
        clause = chroma_where(where, index.tenants, index.owners, viewer)
        qvec = self.embed_query(query)
        dense: dict[str, float] = {}
        dense_rank: list[str] = []
        if mode != "bm25":
            hit = self.collection.query(
                query_embeddings=[qvec.tolist()], n_results=n, where=clause, include=["distances"]
            )
            dense_rank = list(hit["ids"][0])
            dense = {
                cid: 1.0 - float(d) for cid, d in zip(dense_rank, hit["distances"][0], strict=True)
            }
        scores = index.scores(query)
        if clause is not None:
            scores = index.restrict(scores, self._allowed_positions(index, clause))
        bm25_rank: list[str] = []
        if mode != "dense" and scores.size:
            bm25_rank = [index.ids[i] for i in _top_positive(scores, n)]
        bm25 = {cid: index.score_of(scores, cid) for cid in dict.fromkeys(dense_rank + bm25_rank)}
        missing = [cid for cid in bm25_rank if cid not in dense]
        for cid, vec in self._vectors(missing).items():
            dense[cid] = float(vec @ qvec)
        return Candidates(qvec, dense, bm25, dense_rank, bm25_rank)

    def search(
        self,
        query: str,
        k: int,
        *,
        mode: Mode = "hybrid",
        where: dict[str, Any] | None = None,
        viewer: str | None = None,
    ) -> list[Doc]:
        """The ``k`` best chunks for ``query`` as `Doc`s (source ``"vectorstore"``).

        A chunk stored with a ``parent_text`` (parent-child ingestion) is returned as its
        parent section: one `Doc` per ``parent_id``, scored by its best child.

        Args:
            query: Free-text query.
            k: How many documents at most.
            mode: ``"hybrid"`` (dense + BM25 fused), ``"dense"`` or ``"bm25"``.
            where: Equality filter on chunk metadata, e.g. ``{"tenant": "acme"}``, applied to
                both indexes.
            viewer: The user searching: chunks owned by another user are never returned
                (None: only unowned chunks).
        """
        if k <= 0 or not len(self.lexical()):
            return []
        cands = self.candidates(query, max(CANDIDATES, k), mode, where=where, viewer=viewer)
        if mode == "dense":
            ranked = [(cid, cands.dense[cid]) for cid in cands.dense_rank]
        elif mode == "bm25":
            ranked = [(cid, cands.bm25[cid]) for cid in cands.bm25_rank]
        else:
            ranked = fuse(cands)
        return self._docs(ranked, k, query, cands)

    def _docs(
        self, ranked: list[tuple[str, float]], k: int, query: str, cands: Candidates
    ) -> list[Doc]:
        docs: list[Doc] = []
        parents: set[str] = set()
        start = 0
        while len(docs) < k and start < len(ranked):
            batch = ranked[start : start + max(k, 2 * (k - len(docs)))]
            start += len(batch)
            got = self.collection.get(
                ids=[cid for cid, _ in batch], include=["documents", "metadatas"]
            )
            rows = {
                cid: (text, meta or {})
                for cid, text, meta in zip(
                    got["ids"], got["documents"], got["metadatas"], strict=True
                )
            }
            for cid, score in batch:
                if cid not in rows:
                    continue
                meta = rows[cid][1]
                if meta.get("parent_text"):
                    parent = str(meta.get("parent_id") or cid)
                    if parent in parents:
                        continue
                    parents.add(parent)
                docs.append(_to_doc(cid, score, query, *rows[cid], cands))
                if len(docs) == k:
                    break
        return docs


def _to_doc(
    cid: str, score: float, query: str, text: str, meta: dict[str, Any], cands: Candidates
) -> Doc:
    path = str(meta.get("path", ""))
    section = str(meta.get("section", ""))
    extra: dict[str, Any] = {}
    doc_id, content = cid, text or ""
    if meta.get("parent_text"):
        meta = dict(meta)
        content = str(meta.pop("parent_text"))
        doc_id = str(meta.get("parent_id") or cid)
        extra = {"child_id": cid, "child_text": text or ""}
    return make_doc(
        id=doc_id,
        content=content,
        source="vectorstore",
        title=str(meta.get("title", "")),
        location=str(meta.get("location") or (f"{path} § {section}" if section else path)),
        score=score,
        query=query,
        metadata={
            **meta,
            **extra,
            "dense": float(cands.dense.get(cid, 0.0)),
            "bm25": float(cands.bm25.get(cid, 0.0)),
            "path": path,
            "section": section,
            "chunk_index": int(meta.get("chunk_index", 0)),
            "doc_id": str(meta.get("doc_id", "")),
        },
    )
