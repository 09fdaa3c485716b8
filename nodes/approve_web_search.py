"""approve_web_search: the human approves, edits or refuses the exact web queries."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from nodes.common import traced
from nodes.human import ask_human, edited_queries
from state.context import Context, get_context
from state.schema import State
from tools.sources import unavailable_sources

ALLOWED = ["approve", "edit", "refuse"]


@traced
def approve_web_search(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Pause before any web query leaves the machine (``web_approval="ask"``).

    Resume with ``{"action": "approve"}``, ``{"action": "edit", "queries": [...]}`` or
    ``{"action": "refuse"}``. Refusing keeps the internal sources only (the knowledge base
    is searched instead when the web was the only source); a resume value that is not
    understood counts as a refusal, with an error line saying why.
    """
    route = dict(state.get("route") or {})
    tasks = list(route.get("tasks") or [])
    queries = [t["query"] for t in tasks if t["source"] == "web"]
    reply = ask_human(
        "approve_web_search",
        "Send these queries to the web search (Tavily)?",
        ALLOWED,
        queries=queries,
    )
    update: dict[str, Any] = {}
    action = reply["action"]
    if action == "edit":
        edited = edited_queries(reply, len(queries))
        if edited:
            others = [t for t in tasks if t["source"] != "web"]
            route["tasks"] = others + [{"query": q, "source": "web"} for q in edited]
            route["web_approved"] = edited
            return {"route": route}
        update["errors"] = ["approve_web_search: the edit had no query; web search refused"]
    elif action == "approve":
        route["web_approved"] = queries
        return {"route": route}
    elif action is None:
        update["errors"] = [f"approve_web_search: {reply['error']}; web search refused"]
    route["tasks"] = [t for t in tasks if t["source"] != "web"] or _internal_tasks(
        state, runtime, queries
    )
    route["web_refused"] = True
    update["route"] = route
    update["notes"] = ["Web search was not approved; this answer uses internal sources only."]
    return update


def _internal_tasks(state: State, runtime: Runtime[Context], queries: list[str]) -> list[dict]:
    ctx = get_context(runtime)
    if "vectorstore" in unavailable_sources(ctx, runtime.store):
        return []
    return [{"query": q, "source": "vectorstore"} for q in queries or [state.get("query", "")]]
