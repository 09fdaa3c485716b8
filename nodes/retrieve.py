"""retrieve: one (query x source) task, run in parallel with the others via `Send`.

For the knowledge base, ``Context.retrieval_strategy`` may expand the query with the router
model (one call per task): ``multi_query`` (RAG-Fusion: 3 alternative queries, each searched,
fused with reciprocal-rank fusion) or ``hyde`` (search with the question plus a hypothetical
answer passage). Without an LLM router model, or when expansion fails, the search is the plain
hybrid one (a failure adds an error line).
"""

from __future__ import annotations

import re
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage
from langgraph.runtime import Runtime

from nodes.common import text_of, traced
from nodes.models import call_model, describe_error, get_chat_model, parse_json_object
from prompts.retrieval import HYDE_SYSTEM, MULTI_QUERY_SYSTEM, QUESTION
from state.context import Context, get_context
from state.document import Doc
from state.schema import RetrieveTask
from tools.base import Retriever, SourceError
from tools.sources import get_retriever

ALTERNATIVE_QUERIES = 3
MAX_QUERY_CHARS = 300
MAX_PASSAGE_CHARS = 1500
FUSION_DEPTH = 10
RRF_K = 60
_FENCE = re.compile(r"^```\w*\s*|\s*```$", re.MULTILINE)


@traced
def retrieve(task: RetrieveTask, runtime: Runtime[Context]) -> dict[str, Any]:
    """Search one source for one query; a failing source yields an error line, not a crash."""
    ctx = get_context(runtime)
    source, query = task["source"], task["query"]
    update: dict[str, Any] = {}
    try:
        retriever = get_retriever(source)
        if source == "vectorstore" and ctx.retrieval_strategy != "hybrid":
            docs, update = _expanded_search(retriever, query, ctx, runtime.store)
        else:
            docs = retriever.retrieve(query, ctx, k=ctx.top_k, store=runtime.store)
    except SourceError as exc:
        return {"documents": [], "errors": [str(exc)]}
    except Exception as exc:  # noqa: BLE001 - one broken source must not sink the turn
        return {"documents": [], "errors": [f"{source}: {describe_error(exc)}"]}
    for doc in docs:
        doc["query"] = query
    return {**update, "documents": docs}


def _router_model(ctx: Context) -> BaseChatModel | None:
    try:
        return get_chat_model(ctx.router_model, ctx)
    except ValueError:
        return None


def _expanded_search(
    retriever: Retriever, query: str, ctx: Context, store: Any
) -> tuple[list[Doc], dict[str, Any]]:
    """Search with ``ctx.retrieval_strategy``; plain hybrid search when it cannot be applied."""
    model = _router_model(ctx)
    if model is None:
        return retriever.retrieve(query, ctx, k=ctx.top_k, store=store), {}
    strategy = ctx.retrieval_strategy
    spent: dict[str, int] = {}
    try:
        if strategy == "multi_query":
            reply, spent = call_model(model, _messages(MULTI_QUERY_SYSTEM, query), role="router")
            queries = [query, *alternative_queries(reply.content, query)]
            depth = max(FUSION_DEPTH, 2 * ctx.top_k)
            rankings = [retriever.retrieve(q, ctx, k=depth, store=store) for q in queries]
            docs = reciprocal_rank_fusion(rankings, ctx.top_k)
        else:
            reply, spent = call_model(model, _messages(HYDE_SYSTEM, query), role="router")
            passage = hypothetical_passage(reply.content)
            docs = retriever.retrieve(f"{query}\n{passage}", ctx, k=ctx.top_k, store=store)
        return docs, {"usage": spent}
    except SourceError as exc:
        return [], {"usage": spent, "errors": [str(exc)]}
    except Exception as exc:  # noqa: BLE001 - any model failure falls back to hybrid search
        line = f"vectorstore: {strategy} failed ({describe_error(exc)}); used hybrid search"
        docs = retriever.retrieve(query, ctx, k=ctx.top_k, store=store)
        return docs, {"usage": spent, "errors": [line]}


def _messages(system: str, query: str) -> list[Any]:
    return [
        SystemMessage(system.format(n=ALTERNATIVE_QUERIES)),
        HumanMessage(QUESTION.format(question=query)),
    ]


def alternative_queries(content: Any, query: str) -> list[str]:
    """Up to 3 distinct alternative queries from a ``{"queries": [...]}`` model reply.

    Raises:
        ValueError: No usable query in the reply.

    Example:
        >>> alternative_queries('{"queries": ["wire fee", "Wire fee?", "ATM limit"]}', "fees")
        ['wire fee', 'ATM limit']
    """
    items = parse_json_object(content).get("queries")
    if not isinstance(items, list):
        raise ValueError("the model reply has no 'queries' list")
    seen = {" ".join(query.lower().split()).rstrip("?")}
    out: list[str] = []
    for item in items:
        text = " ".join(str(item).split())[:MAX_QUERY_CHARS] if isinstance(item, str) else ""
        norm = text.lower().rstrip("?")
        if text and norm not in seen:
            seen.add(norm)
            out.append(text)
    if not out:
        raise ValueError("the model reply has no usable alternative query")
    return out[:ALTERNATIVE_QUERIES]


def hypothetical_passage(content: Any) -> str:
    """The passage of a HyDE model reply, on one line and bounded.

    Raises:
        ValueError: The reply is empty.
    """
    if isinstance(content, list):
        content = text_of(HumanMessage(content=content))
    text = " ".join(_FENCE.sub("", str(content)).split())[:MAX_PASSAGE_CHARS]
    if len(text) < 3:
        raise ValueError("the model reply has no passage")
    return text


def reciprocal_rank_fusion(rankings: list[list[Doc]], k: int) -> list[Doc]:
    """Fuse ranked lists of docs by reciprocal rank (k = 60), best first, ``k`` at most.

    Each doc keeps the version from its best-ranked list; its ``score`` becomes the fused
    score, its own score moves to ``metadata["hybrid_score"]`` and ``metadata["rrf_hits"]``
    counts the lists that found it.
    """
    fused: dict[str, float] = {}
    hits: dict[str, int] = {}
    best: dict[str, tuple[int, Doc]] = {}
    for ranking in rankings:
        for rank, doc in enumerate(ranking):
            fused[doc["id"]] = fused.get(doc["id"], 0.0) + 1.0 / (RRF_K + rank + 1)
            hits[doc["id"]] = hits.get(doc["id"], 0) + 1
            if doc["id"] not in best or rank < best[doc["id"]][0]:
                best[doc["id"]] = (rank, doc)
    order = sorted(fused, key=lambda cid: (-fused[cid], best[cid][0]))[:k]
    out: list[Doc] = []
    for cid in order:
        doc = best[cid][1]
        meta = {**doc["metadata"], "hybrid_score": doc["score"], "rrf_hits": hits[cid]}
        out.append({**doc, "score": round(fused[cid], 6), "metadata": meta})
    return out
