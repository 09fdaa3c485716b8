"""web_fallback: CRAG's corrective web search when retrieval was Incorrect or Ambiguous."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from nodes.common import traced
from nodes.human import ask_human, edited_queries
from nodes.local import grader as local_grader
from nodes.models import describe_error
from state.context import Context, get_context
from state.reducers import RESET
from state.schema import State
from tools.base import SourceError
from tools.sources import get_retriever


@traced
def web_fallback(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Search the web with the rewritten query: replace internal docs on Incorrect, add on
    Ambiguous. Only the rewritten query leaves the machine, never the conversation.
    """
    ctx = get_context(runtime)
    query = state.get("query") or state.get("question", "")
    update: dict[str, Any] = {"web_searches": state.get("web_searches", 0) + 1}
    approved = (state.get("route") or {}).get("web_approved") or []
    if ctx.web_approval == "ask" and query not in approved:
        reply = ask_human(
            "approve_web_search",
            "Retrieval was not good enough. Send this query to the web search (Tavily)?",
            ["approve", "edit", "refuse"],
            queries=[query],
        )
        edited = edited_queries(reply, 1) if reply["action"] == "edit" else []
        if edited:
            query = edited[0]
        elif reply["action"] != "approve":
            why = reply.get("error") or "refused by the user"
            update["notes"] = [f"Web search was not approved ({why}); internal sources only."]
            return update
    try:
        docs = get_retriever("web").retrieve(query, ctx, k=ctx.top_k, store=runtime.store)
    except (SourceError, Exception) as exc:  # noqa: BLE001 - the turn goes on without the web
        line = str(exc) if isinstance(exc, SourceError) else f"web: {describe_error(exc)}"
        update["errors"] = [line]
        update["notes"] = [f"Web search failed ({line}); this answer relies on internal sources."]
        return update
    scores = local_grader.score_documents(state.get("question", ""), docs)
    for doc, score in zip(docs, scores, strict=True):
        doc["query"] = query
        doc["metadata"]["relevance"] = round(float(score), 4)
    web_docs = [d for d, s in zip(docs, scores, strict=True) if s >= ctx.incorrect_threshold]
    if state.get("grade") == "incorrect":
        update["documents"] = [RESET, *web_docs]
    else:
        update["documents"] = web_docs
    if not web_docs:
        update["notes"] = ["Web search found nothing relevant."]
    return update
