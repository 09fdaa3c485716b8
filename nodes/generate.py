"""generate: the cited answer, from the refined context only (or a conversational reply)."""

from __future__ import annotations

import re
from typing import Any

from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langgraph.runtime import Runtime

from nodes.common import history_before, latest_human, text_of, traced
from nodes.local import generate as local_generate
from nodes.local import router as local_router
from nodes.local.generate import NOT_FOUND
from nodes.models import call_model, describe_error, get_chat_model
from prompts.documents import DATA_NOTICE, data_block, format_documents
from prompts.generator import (
    CONVERSE_SYSTEM,
    CONVERSE_USER,
    GENERATOR_SYSTEM,
    GENERATOR_USER,
    REGENERATE_FEEDBACK,
)
from state.context import Context, get_context
from state.document import Doc
from state.schema import Citation, State

_CITE = re.compile(r"\[(\d{1,3})\]")


@traced
def generate(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Write the answer. Only this node's model tokens stream to the user."""
    ctx = get_context(runtime)
    update: dict[str, Any] = {"generations": state.get("generations", 0) + 1}
    model = get_chat_model(ctx.generator_model, ctx)
    docs = state.get("context_docs") or []
    answer, answer_id = None, None
    if state.get("decision") == "none" or docs:
        if model is not None:
            try:
                reply, usage = _with_model(model, state, docs)
                answer, answer_id = text_of(reply).strip(), reply.id
                update["usage"] = usage
            except Exception as exc:  # noqa: BLE001 - fall back to the extractive answer
                update["errors"] = [
                    f"generator model failed ({describe_error(exc)}); used the extractive answer"
                ]
        if answer is None:
            answer = _local_answer(state, docs)
    else:
        answer = NOT_FOUND
    update.update(answer=answer, answer_id=answer_id, citations=build_citations(answer, docs))
    return update


def _local_answer(state: State, docs: list[Doc]) -> str:
    if state.get("decision") == "none":
        messages = state.get("messages", [])
        return local_router.converse(
            state.get("question", ""),
            history_before(messages, latest_human(messages)),
            state.get("remembered"),
        )
    unsupported = (state.get("checks") or {}).get("unsupported") or []
    if state.get("generations", 0) and unsupported and state.get("answer"):
        kept = [
            line
            for line in state["answer"].splitlines()
            if not any(claim.strip() and claim.strip() in line for claim in unsupported)
        ]
        return "\n".join(kept) if _CITE.search("\n".join(kept)) else NOT_FOUND
    return local_generate.extractive_answer(state.get("question", ""), docs)


def _with_model(model, state: State, docs: list[Doc]):
    question = state.get("question", "")
    if state.get("decision") == "none":
        prompt = [
            SystemMessage(CONVERSE_SYSTEM.format(data_notice=DATA_NOTICE)),
            HumanMessage(_conversation(state.get("messages", []), question)),
        ]
        return call_model(model, prompt, role="generator", internal=False)
    user = GENERATOR_USER.format(documents=format_documents(docs), question=question)
    unsupported = (state.get("checks") or {}).get("unsupported") or []
    if state.get("generations", 0) and unsupported:
        claims = data_block("claims", "\n".join(str(c) for c in unsupported)[:1500])
        user += "\n\n" + REGENERATE_FEEDBACK.format(unsupported=claims)
    prompt = [SystemMessage(GENERATOR_SYSTEM.format(data_notice=DATA_NOTICE)), HumanMessage(user)]
    return call_model(model, prompt, role="generator", internal=False)


def _conversation(messages: list, question: str) -> str:
    """The thread for a conversational reply: the user's words as they are, the assistant's
    earlier answers (which quote retrieved text) as inert ``<answer>`` data blocks."""
    current = latest_human(messages)
    lines = []
    for message in history_before(messages, current)[-9:]:
        text = text_of(message)
        lines.append(
            data_block("answer", text) if isinstance(message, AIMessage) else f"user: {text}"
        )
    return CONVERSE_USER.format(transcript="\n".join(lines) or "(none)", question=question)


def build_citations(answer: str, docs: list[Doc]) -> list[Citation]:
    """The sources an answer cites, in order of first citation.

    Example:
        >>> from state.document import make_doc
        >>> d = make_doc(id="a", content="Fee is $5.", source="web", title="Fees", location="u")
        >>> build_citations("It is $5 [1].", [d])[0]["title"]
        'Fees'
    """
    cited: list[Citation] = []
    for n in dict.fromkeys(int(m) for m in _CITE.findall(answer)):
        if 1 <= n <= len(docs):
            doc = docs[n - 1]
            cited.append(
                Citation(
                    id=n,
                    source=doc["source"],
                    title=doc["title"],
                    location=doc["location"],
                    snippet=doc["content"][:300],
                )
            )
    return cited
