"""arXiv paper search as a `Retriever` (abstracts only).

Configuration comes from the environment: ``ARXIV_API_URL`` (optional base URL, e.g. a mirror
or a test server; ``/api/query`` is appended) and ``ARXIV_DELAY_SECONDS`` (minimum pause between
requests, retries included; default 3 as arXiv asks).
"""

from __future__ import annotations

import os
import re
from typing import Any

import arxiv
import requests

from state.context import Context
from state.document import Doc, make_doc
from tools import base
from tools.base import SourceError, describe_transport_error, one_line, with_retries

DEFAULT_DELAY_SECONDS = 3.0
_QUERY_SYNTAX = re.compile(r"[^\w\s.\-]+")
_ATOM_FEED = re.compile(rb"<(?:\w+:)?feed\b[^>]*http://www\.w3\.org/2005/Atom")


def _delay_seconds() -> float:
    try:
        return max(0.0, float(os.environ.get("ARXIV_DELAY_SECONDS", DEFAULT_DELAY_SECONDS)))
    except ValueError:
        return DEFAULT_DELAY_SECONDS


class NotAFeedError(ValueError):
    """The API answered 200 with something other than an Atom feed (e.g. an HTML page)."""


class _TimeoutSession(requests.Session):
    """A session that applies a default timeout to every request and keeps the last response."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self.timeout = timeout
        self.last_response: requests.Response | None = None

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        kwargs.setdefault("timeout", self.timeout)
        self.last_response = super().request(method, url, **kwargs)
        return self.last_response


class _Client(arxiv.Client):
    """`arxiv.Client` with a request timeout and no retries; unreadable feeds raise."""

    def __init__(self, *, page_size: int, timeout: float) -> None:
        super().__init__(page_size=page_size, delay_seconds=_delay_seconds(), num_retries=0)
        self._session.close()
        self._session = _TimeoutSession(timeout)
        api_url = os.environ.get("ARXIV_API_URL", "").strip().rstrip("/")
        if api_url:
            api_url = api_url.removesuffix("/api/query")
            self.query_url_format = f"{api_url}/api/query?{{}}"

    def _parse_feed(self, url: str, first_page: bool = True, _try_index: int = 0) -> Any:
        feed = super()._parse_feed(url, first_page=first_page, _try_index=_try_index)
        if feed.malformed:
            raise ValueError("malformed Atom feed")
        response = self._session.last_response
        if response is not None and not _ATOM_FEED.search(response.content[:4096]):
            raise NotAFeedError(response.headers.get("Content-Type") or "no content type")
        return feed


_HTTP_REASONS = {
    400: "the arXiv API rejected the query as invalid (HTTP 400)",
    403: "the arXiv API refused the request (HTTP 403)",
    429: "the arXiv API is rate limiting requests (HTTP 429)",
}


def _clean_query(query: str) -> str:
    return " ".join(_QUERY_SYNTAX.sub(" ", query).split())


def _retryable(exc: Exception) -> bool:
    """Rate limiting (HTTP 429) and server errors (HTTP 5xx) may pass; nothing else will."""
    return isinstance(exc, arxiv.HTTPError) and (exc.status == 429 or exc.status >= 500)


def _reason(exc: Exception, timeout: float) -> str:
    """A one-line, user-safe description of an arXiv client failure."""
    if isinstance(exc, arxiv.HTTPError):
        return _HTTP_REASONS.get(exc.status, f"the arXiv API returned HTTP {exc.status}")
    if isinstance(exc, NotAFeedError):
        return f"the arXiv API answered with {one_line(exc, 60)} instead of an Atom feed"
    transport = describe_transport_error(exc, "the arXiv API", "ARXIV_API_URL", timeout)
    if transport:
        return transport
    if isinstance(exc, arxiv.ArxivError | ValueError):
        return "the arXiv API returned a malformed feed"
    return f"unexpected {type(exc).__name__}"


def _to_doc(result: arxiv.Result, query: str, rank: int) -> Doc:
    title = " ".join(result.title.split())
    return make_doc(
        id=result.entry_id,
        content=" ".join(result.summary.split()),
        source="arxiv",
        title=title,
        location=result.entry_id,
        score=1.0 / (rank + 1),
        query=query,
        metadata={
            "authors": [author.name for author in result.authors],
            "published": result.published.date().isoformat(),
            "primary_category": result.primary_category,
            "pdf_url": result.pdf_url or "",
            "entry_id": result.entry_id,
            "rank": rank,
        },
    )


class ArxivRetriever:
    """Search arXiv paper abstracts.

    Example:
        >>> ArxivRetriever().unavailable(Context(arxiv_search=True)) is None
        True
    """

    name = "arxiv"

    def unavailable(self, ctx: Context, store: Any = None) -> str | None:
        """Always None: arXiv needs no key (``ctx.arxiv_search`` gates it elsewhere)."""
        return None

    def retrieve(self, query: str, ctx: Context, *, k: int, store: Any = None) -> list[Doc]:
        """Return up to ``k`` papers for ``query``, in arXiv's relevance order.

        arXiv reports no scores: ``score`` is ``1 / (rank + 1)``. HTTP 429 and 5xx answers are
        retried with backoff (`tools.base.with_retries`), at least ``ARXIV_DELAY_SECONDS`` apart;
        other errors, timeouts included, are not. One call takes at most about
        ``ctx.request_timeout`` x `tools.base.RETRY_ATTEMPTS` seconds: a retry is only started
        if it can finish within that budget.

        Raises:
            SourceError: The API failed, timed out or returned an unparseable feed.
        """
        terms = _clean_query(query)
        if not terms:
            return []
        timeout = float(ctx.request_timeout)
        client = _Client(page_size=k, timeout=timeout)
        search = arxiv.Search(query=terms, max_results=k)
        try:
            results = with_retries(
                lambda: list(client.results(search)),
                retryable=_retryable,
                deadline_seconds=timeout * (base.RETRY_ATTEMPTS - 1),
                min_pause=client.delay_seconds,
            )
        except Exception as exc:
            raise SourceError(f"arxiv: {_reason(exc, timeout)}") from exc
        finally:
            client._session.close()
        return [_to_doc(result, query, rank) for rank, result in enumerate(results[:k])]
