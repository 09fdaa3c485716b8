"""review_answer: the human accepts, edits or rejects the draft before it is posted."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from nodes.common import traced
from nodes.generate import build_citations
from nodes.human import ask_human, text_field
from state.context import Context
from state.schema import State

REJECTED = "The draft answer was rejected by a reviewer; no answer is given."


@traced
def review_answer(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Pause with ``{"type": "review_answer", "draft": ..., "checks": ...}``.

    Resume with ``{"action": "accept"}``, ``{"action": "edit", "answer": "..."}`` (citations
    are recomputed from the ``[n]`` markers it keeps) or ``{"action": "reject"}``. A reply
    that is not understood keeps the draft, with an error line.
    """
    checks = dict(state.get("checks") or {})
    reply = ask_human(
        "review_answer",
        "Post this answer? Accept it, edit it, or reject it.",
        ["accept", "edit", "reject"],
        draft=state.get("answer", ""),
        checks={k: checks.get(k) for k in ("grounded", "relevant", "reason") if k in checks},
        citations=state.get("citations") or [],
    )
    action = reply["action"]
    if action == "edit" and text_field(reply, "answer"):
        answer = reply["answer"].strip()[:8000]
        docs = state.get("context_docs") or []
        checks.update(grounded=True, relevant=True, reviewed="edited")
        return {"answer": answer, "citations": build_citations(answer, docs), "checks": checks}
    if action == "reject":
        return {"answer": REJECTED, "citations": [], "checks": {**checks, "reviewed": "rejected"}}
    if action == "accept":
        return {"checks": {**checks, "reviewed": "accepted"}}
    why = reply.get("error") or "the edit had no answer text"
    return {
        "checks": {**checks, "reviewed": "kept"},
        "errors": [f"review_answer: {why}; the draft was kept"],
    }
