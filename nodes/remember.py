"""remember: save durable facts from the user's latest message to their long-term memory."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from nodes.common import traced
from nodes.local import remember as local_remember
from state.context import Context, get_context
from state.schema import State
from tools.base import one_line
from tools.memory import put_memory


@traced
def remember(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Write the facts the user states about themselves, or asks to be remembered.

    The facts come from the router model's plan (``plan["memories"]``, each kept only when
    the user's message states it) or, without a model, from `nodes.local.remember`. Only
    the user's latest message is read, once per turn (not again after a query rewrite), and
    writes are idempotent: the same fact is stored once per user.
    """
    ctx = get_context(runtime)
    question = state.get("question", "")
    if not ctx.remember or not question or state.get("rewrites", 0):
        return {}
    facts = _facts(question, state.get("plan") or {})
    if not facts:
        return {}
    if runtime.store is None:
        return {"errors": ["memory: no long-term memory store is attached; nothing was saved"]}
    saved: list[str] = []
    try:
        for fact in facts:
            put_memory(runtime.store, ctx.user_id, fact)
            saved.append(fact)
    except Exception as exc:  # noqa: BLE001 - a failed write must not sink the turn
        reason = one_line(exc) or type(exc).__name__
        return {"remembered": saved, "errors": [f"memory: could not save ({reason})"]}
    return {"remembered": saved}


def _facts(question: str, plan: dict[str, Any]) -> list[str]:
    proposed = plan.get("memories")
    if not isinstance(proposed, list):
        return local_remember.split_statements(question)[0]
    facts = []
    for item in proposed[: local_remember.MAX_FACTS]:
        text = " ".join(str(item).split())[: local_remember.MAX_FACT_CHARS]
        if text and local_remember.is_grounded_in(text, question):
            facts.append(text)
    return facts
