"""select_sources: which sources to search, why, and the (query x source) tasks to run."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from nodes.common import traced
from nodes.local import router as local_router
from state.context import Context, get_context
from state.document import SOURCES
from state.schema import State
from tools.sources import DISABLED, unavailable_sources

PRIVATE_SOURCES = ("vectorstore", "memory")
"""Sources searched with the user's own wording as well as the rewritten query."""


@traced
def select_sources(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Choose sources among those configured, record reasons, and plan retrieval tasks.

    Web queries are always the rewritten query or sub-question (never conversation
    history) and are charged to the ``max_web_searches`` budget.
    """
    ctx = get_context(runtime)
    unavailable = unavailable_sources(ctx, runtime.store)
    available = [s for s in SOURCES if s not in unavailable]
    plan = state.get("plan") or {}
    planned = [s for s in plan.get("sources") or [] if s in available]
    if planned:
        reasons = {s: str((plan.get("reasons") or {}).get(s, "router model")) for s in planned}
        chosen = planned
    else:
        chosen, reasons = local_router.choose_sources(state.get("query", ""), available)
    tasks = _tasks(state, chosen)
    web_left = max(ctx.max_web_searches - state.get("web_searches", 0), 0)
    web_tasks = [t for t in tasks if t["source"] == "web"]
    if len(web_tasks) > web_left:
        tasks = [t for t in tasks if t["source"] != "web"] + web_tasks[:web_left]
        reasons["web"] += f" (web budget allows {web_left} more searches)"
        if not tasks and "vectorstore" in available:
            chosen = [*chosen, "vectorstore"]
            reasons["vectorstore"] = "web search budget spent: the knowledge base instead"
            tasks = _tasks(state, ["vectorstore"])
    route = {
        **(state.get("route") or {}),
        "sources": chosen,
        "reasons": reasons,
        "unavailable": unavailable,
        "tasks": tasks,
    }
    update: dict[str, Any] = {
        "route": route,
        "web_searches": state.get("web_searches", 0) + sum(t["source"] == "web" for t in tasks),
    }
    if not tasks:
        why = "; ".join(f"{s}: {r}" for s, r in unavailable.items()) or "nothing selected"
        update["notes"] = [f"No source could be searched ({why})."]
    elif "vectorstore" in unavailable and ctx.kb and unavailable["vectorstore"] != DISABLED:
        update["notes"] = [f"The knowledge base was not searched: {unavailable['vectorstore']}."]
    return update


def _tasks(state: State, sources: list[str]) -> list[dict[str, str]]:
    question, query = state.get("question", ""), state.get("query", "")
    if state.get("decision") == "multi":
        queries = list(state.get("sub_questions") or [])
    else:
        queries = [query or question]
    tasks = []
    for source in sources:
        qs = list(queries)
        if source in PRIVATE_SOURCES and state.get("decision") != "multi" and question:
            qs.append(question)
        for q in dict.fromkeys(q for q in qs if q):
            tasks.append({"query": q, "source": source})
    return tasks
