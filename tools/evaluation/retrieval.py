"""Index an evaluation corpus with the product's ingestion, then search it as the graph does.

The corpus is written as Markdown files (``# title`` then the text) and ingested with
`tools.ingest.ingest_paths` into a data directory keyed by dataset and corpus hash, so a
repeated run reuses the index (ingestion is idempotent and only embeds what changed). Each
query goes through the offline router's `rewrite` (what the ``rewrite_query`` node does without
a model) and then `KnowledgeBase.search`, the call behind the ``retrieve`` node.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tools.evaluation.datasets import EvalSet
from tools.evaluation.metrics import dedupe, mean_scores, score_ranking

RETRIEVERS = ("bm25", "dense", "hybrid")
SEARCH_K = 50
DEFAULT_CACHE = Path(__file__).resolve().parents[2] / "bench" / "results" / "tmp"
MAX_QUESTION_CHARS = 4000
META = "index.json"


@dataclass
class IndexInfo:
    """A built (or reused) index of an evaluation corpus."""

    data_dir: Path
    kb: str
    seconds: float
    cached: bool
    chunks: int


def write_corpus(eval_set: EvalSet, folder: Path) -> None:
    """Write each document as ``folder/<key>.md``; files of other keys are removed."""
    folder.mkdir(parents=True, exist_ok=True)
    keep = set()
    for doc in eval_set.documents:
        name = f"{doc.key}.md"
        keep.add(name)
        body = f"# {doc.title}\n\n{doc.text.strip()}\n"
        file = folder / name
        if not file.exists() or file.read_text(encoding="utf-8") != body:
            file.write_text(body, encoding="utf-8")
    for stale in folder.glob("*.md"):
        if stale.name not in keep:
            stale.unlink()


def build_index(eval_set: EvalSet, cache_dir: Path | None = None) -> IndexInfo:
    """Index ``eval_set``'s corpus with `ingest_paths`, reusing a cached index when present.

    The index lives in ``<cache_dir>/<dataset>-<corpus hash>/data`` (knowledge base named
    after the dataset). ``seconds`` is the wall time of the ingestion that last embedded
    chunks, kept in ``index.json``; ``cached`` says this run reused that index.
    """
    from tools.ingest import ingest_paths
    from tools.vectorstore import open_kb

    root = Path(cache_dir or DEFAULT_CACHE) / f"{eval_set.name}-{eval_set.corpus_hash()}"
    corpus, data_dir, meta_file = root / "corpus", root / "data", root / META
    write_corpus(eval_set, corpus)
    started = time.perf_counter()
    report = ingest_paths([corpus], data_dir=data_dir, kb=eval_set.name, sync=True)
    seconds = time.perf_counter() - started
    if report.failures:
        raise RuntimeError(
            f"ingestion failed for {len(report.failures)} files: {report.failures[0]}"
        )
    meta = json.loads(meta_file.read_text(encoding="utf-8")) if meta_file.exists() else {}
    cached = bool(meta) and not report.chunks_added and not report.chunks_removed
    chunks = open_kb(data_dir, eval_set.name).count()
    if not cached:
        meta = {
            "index_seconds": round(seconds, 2),
            "chunks": chunks,
            "files": len(eval_set.documents),
        }
        meta_file.write_text(json.dumps(meta, indent=2), encoding="utf-8")
    return IndexInfo(data_dir, eval_set.name, float(meta["index_seconds"]), cached, chunks)


def graph_query(text: str, index: IndexInfo | None = None) -> str:
    """The search query the graph derives offline from a single user message.

    Args:
        text: The message.
        index: The index searched; its knowledge base is the `Context` handed to `rewrite`
            (the vocabulary long messages are reduced with).
    """
    from langchain_core.messages import HumanMessage

    from nodes.local.router import rewrite
    from state.context import Context

    question = " ".join(text.split())[:MAX_QUESTION_CHARS]
    if not question:
        return ""
    ctx = Context(data_dir=str(index.data_dir), kb=index.kb) if index else None
    return rewrite([HumanMessage(text)], ctx) or question


def doc_key(path: str) -> str:
    """The evaluation document key of a chunk's ``path`` metadata (``corpus/<key>.md``)."""
    return Path(path).stem


def rank_documents(kb: Any, query: str, mode: str, k: int = SEARCH_K) -> list[str]:
    """Document keys for ``query``, ranked by their best chunk."""
    docs = kb.search(query, k, mode=mode)
    return dedupe(doc_key(d["metadata"]["path"]) for d in docs)


def evaluate(
    eval_set: EvalSet,
    index: IndexInfo,
    mode: str,
    query_fn: Callable[[str], str] | None = None,
) -> dict[str, Any]:
    """Mean metrics of one retriever over ``eval_set``'s queries, with throughput.

    Args:
        eval_set: The queries and qrels.
        index: The built index (see `build_index`).
        mode: ``"bm25"``, ``"dense"`` or ``"hybrid"`` (`KnowledgeBase.search` modes).
        query_fn: Turns a query's text into the search query; `graph_query` by default.

    Returns:
        ``{metric: mean, ..., "qps": queries per second (query rewriting included),
        "queries": n, "groups": {group: {metric: mean}}}`` (groups only when queries have one).
    """
    from tools.vectorstore import open_kb

    kb = open_kb(index.data_dir, index.kb)
    if query_fn is None:

        def query_fn(text: str) -> str:
            return graph_query(text, index)

    if eval_set.queries:
        kb.search(query_fn(eval_set.queries[0].text), SEARCH_K, mode=mode)
    rows: list[dict[str, float]] = []
    started = time.perf_counter()
    for query in eval_set.queries:
        ranking = rank_documents(kb, query_fn(query.text), mode)
        rows.append(score_ranking(ranking, query.relevant))
    elapsed = time.perf_counter() - started
    result: dict[str, Any] = {
        **mean_scores(rows),
        "qps": len(rows) / elapsed if elapsed > 0 else 0.0,
        "queries": len(rows),
    }
    groups = sorted({q.group for q in eval_set.queries if q.group})
    if groups:
        result["groups"] = {
            g: mean_scores([r for r, q in zip(rows, eval_set.queries, strict=True) if q.group == g])
            for g in groups
        }
    return result
