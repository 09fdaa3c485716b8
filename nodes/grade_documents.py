"""grade_documents: CRAG's retrieval evaluator: score every document, classify the retrieval."""

from __future__ import annotations

from typing import Any

from langchain_core.messages import HumanMessage, SystemMessage
from langgraph.runtime import Runtime

from nodes.common import traced
from nodes.local import grader as local_grader
from nodes.local.remember import is_about_user
from nodes.models import call_model, describe_error, get_chat_model, parse_json_object
from prompts.documents import DATA_NOTICE, format_documents
from prompts.grader import GRADER_SYSTEM, GRADER_USER
from state.context import Context, get_context
from state.document import Doc
from state.reducers import RESET
from state.schema import State

MAX_KEPT = 8


@traced
def grade_documents(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Score all retrieved documents (one batched LLM call, or the local scorer).

    The retrieval is Correct when some document reaches ``correct_threshold``, Incorrect
    when none reaches ``incorrect_threshold``, else Ambiguous. Documents below
    ``incorrect_threshold`` are dropped. A malformed grader reply falls back to scores.
    """
    ctx = get_context(runtime)
    docs = _dedupe(state.get("documents") or [])
    question = state.get("question", "")
    update: dict[str, Any] = {}
    scores: list[float] | None = None
    model = get_chat_model(ctx.grader_model, ctx)
    if model is not None and docs:
        try:
            scores, usage = _grade_with_model(model, question, docs)
            update["usage"] = usage
        except Exception as exc:  # noqa: BLE001 - malformed or failed: use the local scorer
            update["errors"] = [
                f"grader model failed ({describe_error(exc)}); used score-based grading"
            ]
    if scores is None:
        scores = _local_scores(state, docs)
    grade = local_grader.classify(scores, ctx.correct_threshold, ctx.incorrect_threshold)
    ranked = sorted(zip(scores, range(len(docs)), docs, strict=True), key=lambda t: (-t[0], t[1]))
    kept = [doc for score, _, doc in ranked if score >= ctx.incorrect_threshold][:MAX_KEPT]
    for score, _, doc in ranked:
        doc["metadata"]["relevance"] = round(score, 4)
    update.update(
        grade=grade,
        grades=[
            {
                "id": d["id"],
                "source": d["source"],
                "title": d["title"],
                "score": round(s, 4),
                "relevant": s >= ctx.incorrect_threshold,
            }
            for s, _, d in ranked
        ],
        documents=[RESET, *kept],
    )
    update.update(_fallback(state, ctx, grade))
    return update


PERSONAL_ONLY = {"memory"}
"""Sources whose questions the web cannot answer: no CRAG fallback when only these ran, nor
for questions about the user ("what is my account type?")."""


def _fallback(state: State, ctx: Context, grade: str) -> dict[str, Any]:
    """Whether the CRAG web fallback runs; if it cannot, the note that says so."""
    sources = (state.get("route") or {}).get("sources") or []
    personal = (sources and set(sources) <= PERSONAL_ONLY) or is_about_user(
        state.get("question", "")
    )
    if grade == "correct" or personal:
        return {"fallback": False}
    route = state.get("route") or {}
    reason = route.get("unavailable", {}).get("web")
    if reason is None and route.get("web_refused"):
        return {"fallback": False}
    if reason is None and state.get("web_searches", 0) >= ctx.max_web_searches:
        reason = f"web search budget used ({ctx.max_web_searches})"
    if reason is None:
        return {"fallback": True}
    return {
        "fallback": False,
        "notes": [
            f"Retrieval was {grade} and web search could not be used ({reason}); "
            "this answer relies on the internal sources only."
        ],
    }


def _dedupe(docs: list[Doc]) -> list[Doc]:
    seen: dict[str, Doc] = {}
    for doc in docs:
        if doc["id"] not in seen or doc["score"] > seen[doc["id"]]["score"]:
            seen[doc["id"]] = doc
    return list(seen.values())


def _local_scores(state: State, docs: list[Doc]) -> list[float]:
    """Score each doc against the question it was retrieved for (sub-questions in multi)."""
    question = state.get("question", "")
    multi = state.get("decision") == "multi"
    scores = [0.0] * len(docs)
    groups: dict[str, list[int]] = {}
    for i, doc in enumerate(docs):
        groups.setdefault(doc.get("query") if multi else question, []).append(i)
    for q, idx in groups.items():
        for i, s in zip(
            idx, local_grader.score_documents(q or question, [docs[i] for i in idx]), strict=True
        ):
            scores[i] = float(s)
    return scores


def _grade_with_model(model, question: str, docs: list[Doc]) -> tuple[list[float], dict]:
    system = GRADER_SYSTEM.format(data_notice=DATA_NOTICE)
    user = GRADER_USER.format(question=question, documents=format_documents(docs, 1200))
    reply, usage = call_model(model, [SystemMessage(system), HumanMessage(user)], role="grader")
    items = parse_json_object(reply.content).get("scores")
    if not isinstance(items, list):
        raise ValueError("grader reply has no 'scores' list")
    by_id = {int(item["id"]): float(item["score"]) for item in items}
    if set(by_id) != set(range(1, len(docs) + 1)):
        raise ValueError(f"grader scored {len(by_id)} of {len(docs)} documents")
    return [min(max(by_id[n], 0.0), 1.0) for n in range(1, len(docs) + 1)], usage
