"""Tavily web search as a `Retriever` (also the CRAG web fallback).

Configuration comes from the environment: ``TAVILY_API_KEY`` (required; no request is sent
without it; it travels only in the ``Authorization`` header and is redacted from errors) and
``TAVILY_BASE_URL`` (optional, e.g. a proxy or a test server). The search itself is shaped by
the ``web_*`` fields of `Context`.
"""

from __future__ import annotations

import os
import time
from typing import Any

import requests
from tavily import TavilyClient
from tavily import errors as tavily_errors

from state.context import Context
from state.document import Doc, make_doc
from tools import base
from tools.base import SourceError, describe_transport_error, one_line, with_retries

DEFAULT_BASE_URL = "https://api.tavily.com"
EXTRACT_CHARS = 4000
MIN_EXTRACT_TIMEOUT = 1.0
MAX_EXTRACT_TIMEOUT = 60.0
_DETAIL_CHARS = 200
_REDACTED = "[redacted]"


def _api_key() -> str | None:
    return os.environ.get("TAVILY_API_KEY", "").strip() or None


def _detail(value: object, key: str) -> str:
    """``value`` as one line with the API key redacted."""
    return one_line(str(value).replace(key, _REDACTED), _DETAIL_CHARS)


def _status(exc: Exception) -> int | None:
    if isinstance(exc, requests.exceptions.HTTPError):
        return getattr(exc.response, "status_code", None)
    return None


def _retryable(exc: Exception) -> bool:
    """Rate limiting (HTTP 429) and server errors (HTTP 5xx) may pass; nothing else will."""
    if isinstance(exc, tavily_errors.UsageLimitExceededError):
        return True
    return (_status(exc) or 0) >= 500


def _reason(exc: Exception, timeout: float, key: str) -> str:
    """A one-line, user-safe description of a Tavily client failure."""
    detail = _detail(exc, key)
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
        status = _status(exc)
        return f"Tavily returned HTTP {status}" if status else "Tavily returned an HTTP error"
    if isinstance(exc, requests.exceptions.JSONDecodeError):
        return "Tavily returned a malformed response"
    transport = describe_transport_error(exc, "Tavily", "TAVILY_BASE_URL", timeout)
    if transport:
        return transport
    if isinstance(exc, ValueError | AttributeError | TypeError | KeyError):
        return "Tavily returned a malformed response"
    return f"unexpected {type(exc).__name__}{suffix}"


def _search_params(ctx: Context, max_results: int) -> dict[str, Any]:
    """The Tavily ``/search`` options set by ``ctx``; empty options are left out."""
    params: dict[str, Any] = {
        "search_depth": ctx.web_search_depth,
        "max_results": max_results,
        "include_domains": list(ctx.web_include_domains),
        "exclude_domains": list(ctx.web_exclude_domains),
        "time_range": ctx.web_time_range,
    }
    return {name: value for name, value in params.items() if value}


def _results(response: Any) -> list[Any]:
    results = response["results"]
    if not isinstance(results, list):
        raise TypeError("results is not a list")
    return results


def _extract(
    client: TavilyClient, urls: list[str], timeout: float, key: str
) -> tuple[dict[str, str], dict[str, str]]:
    """Fetch page texts with Tavily ``/extract`` (one attempt, never raises).

    Returns:
        The page text of each url that has one (whitespace collapsed, at most `EXTRACT_CHARS`
        characters), and the one-line reason for each url that has none.
    """
    try:
        response = client.extract(urls=urls, format="text", timeout=timeout)
        results, failed = _results(response), response["failed_results"]
    except Exception as exc:
        return {}, dict.fromkeys(urls, _reason(exc, timeout, key))
    pages: dict[str, str] = {}
    for item in results:
        if isinstance(item, dict) and item.get("url") in urls:
            text = one_line(item.get("raw_content") or "", EXTRACT_CHARS)
            if text:
                pages[item["url"]] = text
    errors = {url: "Tavily extracted no text" for url in urls if url not in pages}
    for item in failed if isinstance(failed, list) else []:
        if isinstance(item, dict) and item.get("url") in errors:
            errors[item["url"]] = _detail(item.get("error") or "extraction failed", key)
    return pages, errors


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


def _with_page_texts(
    client: TavilyClient, docs: list[Doc], top: int, timeout: float, key: str
) -> list[Doc]:
    """``docs`` with the page texts of the first ``top`` as content (see `_extract`)."""
    urls = [doc["location"] for doc in docs[:top]]
    if not urls:
        return docs
    if timeout < MIN_EXTRACT_TIMEOUT:
        pages, errors = {}, dict.fromkeys(urls, "no time left to extract the page")
    else:
        pages, errors = _extract(client, urls, min(timeout, MAX_EXTRACT_TIMEOUT), key)
    for doc in docs:
        url = doc["location"]
        if url in pages:
            doc["metadata"]["snippet"] = doc["content"]
            doc["content"] = pages[url]
        elif url in errors:
            doc["metadata"]["extract_error"] = errors[url]
    return docs


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
        """Return up to ``ctx.web_max_results`` (or ``k``) web results for exactly ``query``.

        HTTP 429 and 5xx answers are retried with backoff (`tools.base.with_retries`); 4xx
        answers, timeouts and connection failures are not. With ``ctx.web_extract_top`` set,
        the top hits' page texts (Tavily ``/extract``, one attempt) replace their snippets,
        which move to ``metadata["snippet"]``; a failed extraction keeps the snippet and sets
        ``metadata["extract_error"]``.

        One call takes at most about ``ctx.request_timeout`` x `tools.base.RETRY_ATTEMPTS`
        seconds: retries and ``/extract`` are only started within that budget.

        Raises:
            SourceError: No API key, or the search failed (HTTP error, timeout, bad response).
        """
        key = _api_key()
        if not key:
            raise SourceError("web: TAVILY_API_KEY is not set")
        timeout = float(ctx.request_timeout)
        budget = timeout * base.RETRY_ATTEMPTS
        max_results = ctx.web_max_results or k
        base_url = os.environ.get("TAVILY_BASE_URL", "").strip().rstrip("/") or DEFAULT_BASE_URL
        start = time.monotonic()
        with TavilyClient(api_key=key, api_base_url=base_url) as client:
            try:
                response = with_retries(
                    lambda: client.search(
                        query, timeout=timeout, **_search_params(ctx, max_results)
                    ),
                    retryable=_retryable,
                    deadline_seconds=budget - timeout,
                )
                results = _results(response)
            except Exception as exc:
                raise SourceError(f"web: {_reason(exc, timeout, key)}") from exc
            docs = [doc for doc in (_to_doc(r, query) for r in results) if doc is not None]
            left = min(timeout, budget - (time.monotonic() - start))
            return _with_page_texts(client, docs[:max_results], ctx.web_extract_top, left, key)


def web_search(query: str, ctx: Context, k: int | None = None) -> list[Doc]:
    """Search the web (used by the CRAG fallback); ``k`` defaults to ``ctx.top_k``.

    Raises:
        SourceError: As `WebRetriever.retrieve`.
    """
    return WebRetriever().retrieve(query, ctx, k=k or ctx.top_k)
