"""refine_knowledge: CRAG decompose-then-recompose into relevant knowledge strips."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from nodes.common import traced
from nodes.local import refine as local_refine
from state.context import Context, get_context
from state.document import Doc
from state.reducers import RESET
from state.schema import State

MAX_STRIPS = 8


@traced
def refine_knowledge(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Split kept documents into strips, drop irrelevant ones, keep order; the result is the
    numbered context the answer cites.

    The documents are then cleared: the strips carry what the answer needs and ``grades``
    records what was retrieved, so later checkpoints do not store every document again.
    """
    ctx = get_context(runtime)
    docs: list[Doc] = state.get("documents") or []
    if state.get("decision") == "multi":
        strips: list[Doc] = []
        for sub in state.get("sub_questions") or []:
            group = [d for d in docs if d.get("query") == sub]
            strips += local_refine.refine(sub, group, ctx.strip_threshold)[: MAX_STRIPS // 2]
        others = [d for d in docs if d.get("query") not in (state.get("sub_questions") or [])]
        strips += local_refine.refine(state.get("question", ""), others, ctx.strip_threshold)
    else:
        strips = local_refine.refine(state.get("question", ""), docs, ctx.strip_threshold)
    return {"context_docs": strips[:MAX_STRIPS], "documents": [RESET]}
