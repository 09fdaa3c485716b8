"""decide_retrieval: none (answer from the conversation), single, or multi (sub-questions)."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from nodes.common import history_before, latest_human, traced
from nodes.local import router as local_router
from state.context import Context
from state.schema import State

MAX_SUB_QUESTIONS = 4


@traced
def decide_retrieval(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Take the router model's decision when there is one, else the local rules."""
    question, query = state.get("question", ""), state.get("query", "")
    plan = state.get("plan") or {}
    if not question:
        return {
            "decision": "none",
            "sub_questions": [],
            "route": {"decision": "none", "reason": "empty question"},
        }
    if plan.get("decision"):
        decision = plan["decision"]
        subs = [" ".join(str(s).split()) for s in plan.get("sub_questions") or [] if str(s).strip()]
        reason = "router model"
        if decision == "multi" and len(subs) < 2:
            decision, reason = "single", "router model (multi without 2 sub-questions: single)"
    else:
        messages = state.get("messages", [])
        history = history_before(messages, latest_human(messages))
        decision, subs, reason = local_router.decide(question, query, history)
    if decision != "multi":
        subs = [] if decision == "none" else [query or question]
    return {
        "decision": decision,
        "sub_questions": subs[:MAX_SUB_QUESTIONS],
        "route": {"decision": decision, "reason": reason},
    }
