"""Tavily web search as a `Retriever` (also the CRAG web fallback).

Configuration comes from the environment: ``TAVILY_API_KEY`` (required; no request is sent
without it) and ``TAVILY_BASE_URL`` (optional, e.g. a proxy or a test server).
"""

from __future__ import annotations

import os
from typing import Any

import requests
from tavily import TavilyClient
from tavily import errors as tavily_errors

from state.context import Context
from state.document import Doc, make_doc
from tools.base import SourceError, describe_transport_error, one_line

DEFAULT_BASE_URL = "https://api.tavily.com"
_DETAIL_CHARS = 200


def _api_key() -> str | None:
    return os.environ.get("TAVILY_API_KEY", "").strip() or None


def _reason(exc: Exception, timeout: float) -> str:
    """A one-line, user-safe description of a Tavily client failure."""
    detail = one_line(exc, _DETAIL_CHARS)
    suffix = f": {detail}" if detail else ""
    if isinstance(exc, tavily_errors.InvalidAPIKeyError):
        return f"Tavily rejected the API key (HTTP 401){suffix}"
    if isinstance(exc, tavily_errors.UsageLimitExceededError):
        return f"Tavily usage limit exceeded (HTTP 429){suffix}"
    if isinstance(exc, tavily_errors.ForbiddenError):
        return f"Tavily refused the request (HTTP 403){suffix}"
    if isinstance(exc, tavily_errors.BadRequestError):
        return f"Tavily rejected the request as invalid (HTTP 400){suffix}"
    if isinstance(exc, tavily_errors.TimeoutError):
        return f"Tavily did not answer within {timeout:g} s"
    if isinstance(exc, requests.exceptions.HTTPError):
        status = getattr(exc.response, "status_code", None)
        return f"Tavily returned HTTP {status}" if status else "Tavily returned an HTTP error"
    if isinstance(exc, requests.exceptions.JSONDecodeError):
        return "Tavily returned a malformed response"
    transport = describe_transport_error(exc, "Tavily", "TAVILY_BASE_URL", timeout)
    if transport:
        return transport
    if isinstance(exc, ValueError | AttributeError | TypeError | KeyError):
        return "Tavily returned a malformed response"
    return f"unexpected {type(exc).__name__}{suffix}"


def _to_doc(result: Any, query: str) -> Doc | None:
    if not isinstance(result, dict):
        return None
    url = str(result.get("url") or "")
    content = str(result.get("content") or "")
    if not url or not content:
        return None
    try:
        score = float(result.get("score") or 0.0)
    except (TypeError, ValueError):
        score = 0.0
    metadata = {"url": url}
    if result.get("published_date"):
        metadata["published_date"] = str(result["published_date"])
    return make_doc(
        id=url,
        content=content,
        source="web",
        title=str(result.get("title") or url),
        location=url,
        score=score,
        query=query,
        metadata=metadata,
    )


class WebRetriever:
    """Search the web with Tavily.

    Example:
        >>> WebRetriever().unavailable(Context())  # with TAVILY_API_KEY unset
        'TAVILY_API_KEY is not set'
    """

    name = "web"

    def unavailable(self, ctx: Context, store: Any = None) -> str | None:
        """Why web search cannot run now (no API key), or None."""
        return None if _api_key() else "TAVILY_API_KEY is not set"

    def retrieve(self, query: str, ctx: Context, *, k: int, store: Any = None) -> list[Doc]:
        """Return up to ``k`` web results for ``query``.

        Raises:
            SourceError: No API key, or Tavily failed (HTTP error, timeout, bad response).
        """
        key = _api_key()
        if not key:
            raise SourceError("web: TAVILY_API_KEY is not set")
        timeout = float(ctx.request_timeout)
        base_url = os.environ.get("TAVILY_BASE_URL", "").strip().rstrip("/") or DEFAULT_BASE_URL
        try:
            with TavilyClient(api_key=key, api_base_url=base_url) as client:
                response = client.search(
                    query, max_results=k, search_depth="basic", timeout=timeout
                )
            results = response["results"]
            if not isinstance(results, list):
                raise TypeError("results is not a list")
        except Exception as exc:
            raise SourceError(f"web: {_reason(exc, timeout)}") from exc
        docs = [doc for doc in (_to_doc(r, query) for r in results) if doc is not None]
        return docs[:k]


def web_search(query: str, ctx: Context, k: int | None = None) -> list[Doc]:
    """Search the web (used by the CRAG fallback); ``k`` defaults to ``ctx.top_k``.

    Raises:
        SourceError: As `WebRetriever.retrieve`.
    """
    return WebRetriever().retrieve(query, ctx, k=k or ctx.top_k)
