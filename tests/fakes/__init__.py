"""Fake HTTP services for tests: small, loopback-only, self-stopping."""

from .servers import (
    ARXIV_ENTRIES,
    ARXIV_FEED,
    TAVILY_RESULTS,
    ArxivEntry,
    FakeResponse,
    FakeServer,
    RecordedRequest,
    arxiv_feed,
    fake_server,
    tavily_error,
    tavily_search_response,
)

__all__ = [
    "ARXIV_ENTRIES",
    "ARXIV_FEED",
    "TAVILY_RESULTS",
    "ArxivEntry",
    "FakeResponse",
    "FakeServer",
    "RecordedRequest",
    "arxiv_feed",
    "fake_server",
    "tavily_error",
    "tavily_search_response",
]
