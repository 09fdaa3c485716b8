"""arXiv paper search as a `Retriever` (abstracts only).

Configuration comes from the environment: ``ARXIV_API_URL`` (optional base URL, e.g. a mirror
or a test server; ``/api/query`` is appended) and ``ARXIV_DELAY_SECONDS`` (pause between
requests, default 3 as arXiv asks).
"""

from __future__ import annotations

import os
import re
from typing import Any

import arxiv
import requests

from state.context import Context
from state.document import Doc, make_doc
from tools.base import SourceError, describe_transport_error

DEFAULT_DELAY_SECONDS = 3.0
_QUERY_SYNTAX = re.compile(r"[^\w\s.\-]+")


def _delay_seconds() -> float:
    try:
        return max(0.0, float(os.environ.get("ARXIV_DELAY_SECONDS", DEFAULT_DELAY_SECONDS)))
    except ValueError:
        return DEFAULT_DELAY_SECONDS


class _TimeoutSession(requests.Session):
    """A session that applies a default timeout to every request."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self.timeout = timeout

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        kwargs.setdefault("timeout", self.timeout)
        return super().request(method, url, **kwargs)


class _Client(arxiv.Client):
    """`arxiv.Client` with a request timeout that reports unparseable feeds as errors."""

    def __init__(self, *, page_size: int, timeout: float) -> None:
        super().__init__(
            page_size=page_size,
            delay_seconds=_delay_seconds(),
            num_retries=1,
        )
        self._session.close()
        self._session = _TimeoutSession(timeout)
        base = os.environ.get("ARXIV_API_URL", "").strip().rstrip("/")
        if base:
            base = base.removesuffix("/api/query")
            self.query_url_format = f"{base}/api/query?{{}}"

    def _parse_feed(self, url: str, first_page: bool = True, _try_index: int = 0) -> Any:
        feed = super()._parse_feed(url, first_page=first_page, _try_index=_try_index)
        if feed.malformed:
            raise ValueError("malformed Atom feed")
        return feed


def _clean_query(query: str) -> str:
    return " ".join(_QUERY_SYNTAX.sub(" ", query).split())


def _reason(exc: Exception, timeout: float) -> str:
    """A one-line, user-safe description of an arXiv client failure."""
    if isinstance(exc, arxiv.HTTPError):
        return f"the arXiv API returned HTTP {exc.status}"
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

        arXiv reports no scores: ``score`` is ``1 / (rank + 1)``.

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
            results = list(client.results(search))
        except Exception as exc:
            raise SourceError(f"arxiv: {_reason(exc, timeout)}") from exc
        finally:
            client._session.close()
        return [_to_doc(result, query, rank) for rank, result in enumerate(results[:k])]
