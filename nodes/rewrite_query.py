"""rewrite_query: a standalone search query from the latest message and the thread."""

from __future__ import annotations

from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from langgraph.runtime import Runtime

from nodes.common import (
    clarified_question,
    history_before,
    latest_human,
    text_of,
    traced,
    turn_reset,
)
from nodes.local import router as local_router
from nodes.local.text import content_terms
from nodes.models import call_model, describe_error, get_chat_model, parse_json_object
from prompts.router import REWRITE_FEEDBACK, ROUTER_SYSTEM, SOURCE_HELP
from state.context import Context, get_context
from state.reducers import RESET
from state.schema import OUTPUT_FIELDS, State
from tools.sources import unavailable_sources

MAX_QUESTION_CHARS = 4000


@traced
def rewrite_query(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Start or restart a turn: keep the question, write the search query, maybe a plan.

    On a new turn every per-turn field that is not already clear is reset. When called
    again because an answer was judged not relevant, the rewrite budget is charged and
    retrieval starts over. A plain new
    question is planned by the offline rules even when a router model is set
    (``Context.router_skip_plain``): the model would plan it the same way. The router
    model sees only what the user wrote (never the assistant's answers, which quote
    retrieved text), so documents cannot steer queries, sources or memory writes.
    """
    ctx = get_context(runtime)
    messages = state.get("messages", [])
    human = latest_human(messages)
    clarified = clarified_question(messages, human)
    question = " ".join((clarified or text_of(human)).split())[:MAX_QUESTION_CHARS]
    new_turn = human is not None and state.get("turn_id") != human.id
    update: dict[str, Any] = (
        turn_reset(state, always=OUTPUT_FIELDS)
        if new_turn
        else {
            "rewrites": state.get("rewrites", 0) + 1,
            "documents": RESET,
            "grades": [],
            "grade": None,
            "context_docs": [],
            "plan": {},
        }
    )
    update.update(turn_id=human.id if human else None, question=question)
    history = history_before(messages, human)
    previous_query = None if new_turn else state.get("query")

    model = get_chat_model(ctx.router_model, ctx)
    if new_turn and ctx.router_skip_plain and not clarified and local_router.is_plain(messages):
        model = None
    if model is not None and question:
        try:
            plan, usage = _plan_with_model(model, question, history, previous_query, ctx, runtime)
            update.update(query=plan.get("query") or question, plan=plan)
            update["usage"] = {**update.get("usage", {}), **usage}
            return update
        except Exception as exc:  # noqa: BLE001 - any model failure falls back to local rules
            line = f"router model failed ({describe_error(exc)}); used local rules"
            update["errors"] = [*update.get("errors", []), line]
    if clarified:
        query = local_router.rewrite([HumanMessage(question)], ctx)
    else:
        query = local_router.rewrite(messages, ctx) if question else ""
    if previous_query and query.strip().lower() == previous_query.strip().lower():
        query = question if question.lower() != previous_query.lower() else _keywords(question)
    update["query"] = query or question
    return update


def _keywords(question: str) -> str:
    return " ".join(content_terms(question)) or question


def _plan_with_model(
    model: BaseChatModel,
    question: str,
    history: list[BaseMessage],
    previous_query: str | None,
    ctx: Context,
    runtime: Runtime[Context],
) -> tuple[dict[str, Any], dict[str, int]]:
    available = [s for s in SOURCE_HELP if s not in unavailable_sources(ctx, runtime.store)]
    system = ROUTER_SYSTEM.format(
        sources=", ".join(available) or "vectorstore",
        source_help="; ".join(SOURCE_HELP[s] for s in available) or SOURCE_HELP["vectorstore"],
    )
    said = [text_of(m)[:1000] for m in history if isinstance(m, HumanMessage)][-4:]
    convo = "\n".join(f"- {text}" for text in said)
    user = f"The user's earlier messages:\n{convo or '(none)'}\n\nLatest message: {question}"
    if previous_query:
        user += "\n\n" + REWRITE_FEEDBACK.format(query=previous_query)
    reply, usage = call_model(model, [SystemMessage(system), HumanMessage(user)], role="router")
    plan = parse_json_object(reply.content)
    if plan.get("decision") not in ("none", "single", "multi"):
        raise ValueError(f"invalid decision {plan.get('decision')!r}")
    return plan, usage
