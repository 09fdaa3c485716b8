"""check_answer: is the draft grounded in what it cites, and does it answer the question?"""

from __future__ import annotations

from typing import Any

from langchain_core.messages import HumanMessage, SystemMessage
from langgraph.runtime import Runtime

from nodes.common import traced
from nodes.generate import NOT_FOUND
from nodes.local import check as local_check
from nodes.models import call_model, describe_error, get_chat_model, parse_json_object
from prompts.checker import CHECKER_SYSTEM, CHECKER_USER
from prompts.documents import DATA_NOTICE, format_documents, neutralise
from state.context import Context, get_context
from state.schema import State


@traced
def check_answer(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Verify the draft (one LLM call, or each sentence against its cited source locally).

    An abstention is grounded but not relevant, so the query is rewritten while the
    rewrite budget lasts.
    """
    ctx = get_context(runtime)
    answer, question = state.get("answer", ""), state.get("question", "")
    docs = state.get("context_docs") or []
    if answer == NOT_FOUND:
        return {
            "checks": {
                "grounded": True,
                "relevant": False,
                "unsupported": [],
                "reason": "no supported answer was found",
            }
        }
    if ctx.checker_model.strip() == "off":
        return {
            "checks": {
                "grounded": True,
                "relevant": True,
                "unsupported": [],
                "reason": "checks are off",
            }
        }
    update: dict[str, Any] = {}
    model = get_chat_model(ctx.checker_model, ctx)
    if model is not None:
        try:
            checks, usage = _check_with_model(model, question, answer, docs)
            return {"checks": checks, "usage": usage}
        except Exception as exc:  # noqa: BLE001 - fall back to the local verifier
            update["errors"] = [f"checker model failed ({describe_error(exc)}); used local checks"]
    result = local_check.check_answer(question, answer, docs)
    update["checks"] = {
        "grounded": bool(result["grounded"]),
        "relevant": bool(result["relevant"]),
        "unsupported": list(result.get("unsupported", [])),
        "reason": str(result.get("reason", "")),
    }
    return update


def _check_with_model(model, question: str, answer: str, docs) -> tuple[dict, dict]:
    system = CHECKER_SYSTEM.format(data_notice=DATA_NOTICE)
    user = CHECKER_USER.format(
        documents=format_documents(docs), question=question, answer=neutralise(answer)
    )
    reply, usage = call_model(model, [SystemMessage(system), HumanMessage(user)], role="checker")
    data = parse_json_object(reply.content)
    if not isinstance(data.get("grounded"), bool) or not isinstance(data.get("relevant"), bool):
        raise ValueError("checker reply lacks boolean 'grounded'/'relevant'")
    checks = {
        "grounded": data["grounded"],
        "relevant": data["relevant"],
        "unsupported": [str(x) for x in data.get("unsupported") or []],
        "reason": str(data.get("reason", "")),
    }
    return checks, usage
