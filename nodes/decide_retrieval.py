"""decide_retrieval: none (answer from the conversation), single, or multi (sub-questions)."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from nodes.common import CLARIFICATION, history_before, latest_human, traced
from nodes.local import router as local_router
from state.context import Context, get_context
from state.schema import State

MAX_SUB_QUESTIONS = 4


@traced
def decide_retrieval(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Take the router model's decision when there is one, else the local rules.

    ``clarify`` (at most once per question, when ``Context.clarify`` allows it) sends the
    turn to `clarify_question` instead of retrieving.
    """
    question, query = state.get("question", ""), state.get("query", "")
    plan = state.get("plan") or {}
    messages = state.get("messages", [])
    history = history_before(messages, latest_human(messages))
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
        clarifying = str(plan.get("clarify_question") or "") if decision == "clarify" else None
    else:
        decision, subs, reason = local_router.decide(question, query, history)
        clarifying = local_router.clarifying_question(question, history)
        clarifying = clarifying if decision != "none" else None
    just_asked = bool(history) and getattr(history[-1], "name", None) == CLARIFICATION
    just_asked = just_asked or bool(state.get("rewrites"))  # asked, or not needed, before
    if clarifying is not None and get_context(runtime).clarify and not just_asked:
        return {
            "decision": "clarify",
            "sub_questions": [],
            "route": {
                "decision": "clarify",
                "reason": "too ambiguous to retrieve for: asking the user",
                "clarify_question": clarifying,
            },
        }
    if decision == "clarify":
        decision, reason = "single", f"{reason} (no clarification: retrieve for the query)"
    if decision != "multi":
        subs = [] if decision == "none" else [query or question]
    return {
        "decision": decision,
        "sub_questions": subs[:MAX_SUB_QUESTIONS],
        "route": {"decision": decision, "reason": reason},
    }
