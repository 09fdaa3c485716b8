"""Routing functions: each reads state only and returns the next node's name."""

from __future__ import annotations

from typing import Literal

from langgraph.types import Send

from state.schema import State


def after_decision(state: State) -> Literal["select_sources", "generate"]:
    """No retrieval for chit-chat or questions the conversation answers."""
    return "generate" if state.get("decision") == "none" else "select_sources"


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


def after_check(state: State) -> Literal["generate", "rewrite_query", "finalize"]:
    """Not grounded: regenerate; not relevant: rewrite and retrieve again; within budgets.

    The budgets (``max_generations``, ``max_rewrites``) are copied into ``state["budgets"]``
    by `rewrite_query`, so this function needs no runtime.
    """
    checks = state.get("checks") or {}
    budgets = state.get("budgets") or {}
    if not checks.get("grounded", True) and state.get("generations", 0) < budgets.get(
        "max_generations", 0
    ):
        return "generate"
    if not checks.get("relevant", True) and state.get("rewrites", 0) < budgets.get(
        "max_rewrites", 0
    ):
        return "rewrite_query"
    return "finalize"
