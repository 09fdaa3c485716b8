"""retrieve: one (query x source) task, run in parallel with the others via `Send`."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from nodes.common import traced
from nodes.models import describe_error
from state.context import Context, get_context
from state.schema import RetrieveTask
from tools.base import SourceError
from tools.sources import get_retriever


@traced
def retrieve(task: RetrieveTask, runtime: Runtime[Context]) -> dict[str, Any]:
    """Search one source for one query; a failing source yields an error line, not a crash."""
    ctx = get_context(runtime)
    source, query = task["source"], task["query"]
    try:
        docs = get_retriever(source).retrieve(query, ctx, k=ctx.top_k, store=runtime.store)
    except SourceError as exc:
        return {"documents": [], "errors": [str(exc)]}
    except Exception as exc:  # noqa: BLE001 - one broken source must not sink the turn
        return {"documents": [], "errors": [f"{source}: {describe_error(exc)}"]}
    for doc in docs:
        doc["query"] = query
    return {"documents": docs}
