"""finalize: the answer the user sees, with caveats when a budget ran out."""

from __future__ import annotations

from typing import Any

from langchain_core.messages import AIMessage
from langchain_core.runnables import RunnableConfig
from langgraph.runtime import Runtime

from nodes.common import traced
from nodes.generate import NOT_FOUND
from state.context import Context, get_context
from state.schema import State


@traced
def finalize(state: State, runtime: Runtime[Context], config: RunnableConfig) -> dict[str, Any]:
    """Add explicit caveats (failed checks after the budgets, fallback notes) and post the
    answer to the thread. Never raises: a spent budget ends the turn with its best answer.
    """
    ctx = get_context(runtime)
    answer = state.get("answer") or NOT_FOUND
    checks = state.get("checks") or {}
    caveats = list(dict.fromkeys(state.get("notes") or []))
    if checks.get("reviewed") in ("accepted", "edited", "rejected"):
        checks = {}
    if checks and not checks.get("grounded", True):
        caveats.append(
            f"Caveat: some statements could not be verified against the cited sources "
            f"after {state.get('generations', 0)} attempt(s) (max_generations="
            f"{ctx.max_generations})."
        )
    if checks and not checks.get("relevant", True) and answer != NOT_FOUND:
        caveats.append(
            f"Caveat: this answer may not fully address the question "
            f"({state.get('rewrites', 0)} query rewrite(s), max_rewrites={ctx.max_rewrites})."
        )
    text = answer if not caveats else answer + "\n\n" + "\n".join(caveats)
    turn = state.get("turn_id") or "turn"
    message = AIMessage(content=text, id=state.get("answer_id") or f"answer-{turn}")
    thread_id = (config or {}).get("configurable", {}).get("thread_id")
    return {"answer": text, "messages": [message], "thread_id": thread_id}
