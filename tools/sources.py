"""The registry of sources: name -> retriever, and which of them can be used now."""

from __future__ import annotations

from typing import Any

from state.context import Context
from state.document import SOURCES, SourceName
from tools.base import Retriever


def get_retriever(name: SourceName) -> Retriever:
    """The retriever for a source name (imported lazily: clients load only when used)."""
    if name == "vectorstore":
        from tools.vectorstore import VectorStoreRetriever

        return VectorStoreRetriever()
    if name == "web":
        from tools.web import WebRetriever

        return WebRetriever()
    if name == "arxiv":
        from tools.arxiv_search import ArxivRetriever

        return ArxivRetriever()
    if name == "memory":
        from tools.memory import MemoryRetriever

        return MemoryRetriever()
    raise ValueError(f"unknown source {name!r}; expected one of {', '.join(SOURCES)}")


DISABLED = "disabled in the context"


def unavailable_sources(ctx: Context, store: Any = None) -> dict[SourceName, str]:
    """Map each source that cannot be chosen now to the reason why.

    Example:
        >>> "web" in unavailable_sources(Context(web_search=False))
        True
    """
    reasons: dict[SourceName, str] = {}
    for name, enabled in ctx.enabled_sources.items():
        if not enabled:
            reasons[name] = DISABLED
            continue
        reason = get_retriever(name).unavailable(ctx, store)
        if reason:
            reasons[name] = reason
    return reasons
