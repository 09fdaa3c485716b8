"""clarify_question: ask the human one question when the message is too ambiguous."""

from __future__ import annotations

from typing import Any

from langchain_core.messages import AIMessage, HumanMessage
from langgraph.runtime import Runtime

from nodes.common import CLARIFICATION, traced
from nodes.human import ask_human, text_field
from state.context import Context
from state.schema import State

GENERIC = "Could you tell me a bit more about what you would like to know?"


@traced
def clarify_question(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Pause with ``{"type": "clarify", ...}``; the answer joins the thread and the turn
    starts again from `rewrite_query` with it.

    Resume with ``{"action": "answer", "answer": "..."}`` (or just the text). A reply that
    is empty or not understood answers the question as it was asked, with an error line.
    """
    question = (state.get("route") or {}).get("clarify_question") or GENERIC
    reply = ask_human("clarify", question, ["answer"], original=state.get("question", ""))
    answer = text_field(reply, "answer")
    if answer:
        return {
            "messages": [AIMessage(question, name=CLARIFICATION), HumanMessage(answer)],
        }
    why = reply.get("error") or "the answer was empty"
    return {
        "decision": "single",
        "sub_questions": [state.get("query") or state.get("question", "")],
        "errors": [f"clarify: {why}; answered the question as asked"],
    }
