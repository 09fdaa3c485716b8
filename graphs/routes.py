"""Routing functions: each reads the state (and the run's limits) and returns the next node."""

from __future__ import annotations

from typing import Literal

from langgraph.runtime import Runtime
from langgraph.types import Send

from state.context import Context, get_context
from state.schema import State


def after_decision(state: State) -> Literal["select_sources", "generate", "clarify_question"]:
    """No retrieval for chit-chat or questions the conversation answers; ask first when the
    question is too ambiguous."""
    decision = state.get("decision")
    if decision == "clarify":
        return "clarify_question"
    return "generate" if decision == "none" else "select_sources"


def after_clarification(state: State) -> Literal["rewrite_query", "select_sources"]:
    """With the human's answer the turn starts again; without one, retrieve as asked."""
    return "rewrite_query" if state.get("decision") == "clarify" else "select_sources"


def after_selection(
    state: State, runtime: Runtime[Context]
) -> list[Send] | Literal["approve_web_search", "grade_documents"]:
    """Web queries wait for the human's approval when ``Context.web_approval`` is ``ask``."""
    tasks = (state.get("route") or {}).get("tasks") or []
    if get_context(runtime).web_approval == "ask" and any(t["source"] == "web" for t in tasks):
        return "approve_web_search"
    return fan_out(state)


def fan_out(state: State) -> list[Send] | Literal["grade_documents"]:
    """One parallel `retrieve` per planned (query x source) task."""
    tasks = (state.get("route") or {}).get("tasks") or []
    if not tasks:
        return "grade_documents"
    return [Send("retrieve", {"query": t["query"], "source": t["source"]}) for t in tasks]


def after_grading(state: State) -> Literal["web_fallback", "refine_knowledge"]:
    """CRAG: Incorrect or Ambiguous retrieval goes to the web when it can."""
    return "web_fallback" if state.get("fallback") else "refine_knowledge"


def after_generation(state: State) -> Literal["check_answer", "finalize"]:
    """Conversational replies need no check."""
    return "finalize" if state.get("decision") == "none" else "check_answer"


def after_check(
    state: State, runtime: Runtime[Context]
) -> Literal["generate", "rewrite_query", "review_answer", "finalize"]:
    """Not grounded: regenerate; not relevant: rewrite and retrieve again; within the
    ``max_generations`` and ``max_rewrites`` budgets; then the answer review policy."""
    ctx = get_context(runtime)
    checks = state.get("checks") or {}
    if not checks.get("grounded", True) and state.get("generations", 0) < ctx.max_generations:
        return "generate"
    if not checks.get("relevant", True) and state.get("rewrites", 0) < ctx.max_rewrites:
        return "rewrite_query"
    review = ctx.answer_review
    failed = not (checks.get("grounded", True) and checks.get("relevant", True))
    if review == "always" or (review == "on_failure" and failed):
        return "review_answer"
    return "finalize"
