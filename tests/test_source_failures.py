"""How the web and arXiv sources fail: the real clients against fake servers on 127.0.0.1.

Every failure is a one-line `SourceError` naming its source, without the API key. Only HTTP 429
and 5xx answers are retried, a bounded number of times and within the time budget; the request
counts below prove it.
"""

from __future__ import annotations

import time

import pytest

from state.context import Context
from tests.fakes.servers import (
    ARXIV_FEED,
    HTML_ERROR_PAGE,
    FakeResponse,
    FakeServer,
    RecordedRequest,
    arxiv_feed,
    refused_url,
    silent_listener,
    tavily_error,
    tavily_search_response,
)
from tools import base
from tools.arxiv_search import ArxivRetriever
from tools.base import SourceError, with_retries
from tools.web import WebRetriever

pytestmark = pytest.mark.faults

FAST = Context(request_timeout=1.0)
KEY = "tvly-secret-5f2c9a"
SEARCH_OK = FakeResponse(body=tavily_search_response())
FEED_OK = FakeResponse(body=ARXIV_FEED, content_type="application/atom+xml")


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch):
    """Retry at once; the attempt count and the deadline still apply."""
    monkeypatch.setattr(base, "RETRY_BACKOFF_SECONDS", 0.0)


@pytest.fixture
def tavily(monkeypatch):
    """A fake Tavily API with a key configured; script ``/search`` per test."""
    with FakeServer(max_lifetime=20) as server:
        monkeypatch.setenv("TAVILY_API_KEY", KEY)
        monkeypatch.setenv("TAVILY_BASE_URL", server.url)
        yield server


@pytest.fixture
def arxiv_api(monkeypatch):
    """A fake arXiv API without the politeness delay; script ``/api/query`` per test."""
    with FakeServer(max_lifetime=20) as server:
        monkeypatch.setenv("ARXIV_API_URL", server.url)
        monkeypatch.setenv("ARXIV_DELAY_SECONDS", "0")
        yield server


def _web():
    return WebRetriever().retrieve("what is corrective rag", FAST, k=2)


def _arxiv():
    return ArxivRetriever().retrieve("corrective rag", FAST, k=2)


def _fails(call, match: str, within: float = 2.5) -> str:
    """Run ``call``, check it raises a clean `SourceError` within ``within`` s; its message."""
    start = time.monotonic()
    with pytest.raises(SourceError, match=match) as info:
        call()
    assert time.monotonic() - start < within
    message = str(info.value)
    assert "\n" not in message and "Traceback" not in message
    assert KEY not in message
    return message


# --- the retry helper --------------------------------------------------------------------


class FakeClock:
    """Stands in for the `time` module in `tools.base`: sleeping only advances ``now``."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock(monkeypatch):
    fake = FakeClock()
    monkeypatch.setattr(base, "time", fake)
    return fake


def _script(clock: FakeClock, outcomes: list, seconds_per_call: float = 0.0):
    calls = []

    def call():
        calls.append(clock.now)
        clock.now += seconds_per_call
        outcome = outcomes[min(len(calls), len(outcomes)) - 1]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    return call, calls


def test_with_retries_backs_off_exponentially_until_success(clock):
    call, calls = _script(clock, [OSError("1"), OSError("2"), "ok"])
    result = with_retries(call, retryable=lambda e: True, deadline_seconds=60, backoff=0.5)
    assert result == "ok"
    assert len(calls) == 3 and clock.sleeps == [0.5, 1.0]


def test_with_retries_stops_after_the_attempts_with_the_last_error(clock):
    call, calls = _script(clock, [OSError("1"), OSError("2"), OSError("3"), "never"])
    with pytest.raises(OSError, match="^3$"):
        with_retries(call, retryable=lambda e: True, deadline_seconds=60, backoff=0.5)
    assert len(calls) == base.RETRY_ATTEMPTS == 3


def test_with_retries_leaves_other_errors_alone(clock):
    call, calls = _script(clock, [ValueError("bad request"), "never"])
    with pytest.raises(ValueError):
        with_retries(call, retryable=lambda e: isinstance(e, OSError), deadline_seconds=60)
    assert len(calls) == 1 and clock.sleeps == []


def test_with_retries_never_sleeps_past_the_deadline(clock):
    call, calls = _script(clock, [OSError("slow")], seconds_per_call=1.0)
    with pytest.raises(OSError):
        with_retries(call, retryable=lambda e: True, deadline_seconds=2.0, backoff=0.5)
    assert calls == [0.0, 1.5]
    assert clock.sleeps == [0.5]
    assert clock.now <= 2.0 + 1.0


def test_with_retries_honours_min_pause_and_module_defaults(clock, monkeypatch):
    monkeypatch.setattr(base, "RETRY_ATTEMPTS", 4)
    monkeypatch.setattr(base, "RETRY_BACKOFF_SECONDS", 1.0)
    call, calls = _script(clock, [OSError("busy")])
    with pytest.raises(OSError):
        with_retries(call, retryable=lambda e: True, deadline_seconds=60, min_pause=3.0)
    assert len(calls) == 4 and clock.sleeps == [3.0, 3.0, 4.0]


# --- web ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "match", "requests"),
    [
        (400, r"^web: Tavily rejected the request as invalid \(HTTP 400\): no \[redacted\]$", 1),
        (401, r"^web: Tavily rejected the API key \(HTTP 401\): no \[redacted\]$", 1),
        (403, r"^web: Tavily refused the request \(HTTP 403\): no \[redacted\]$", 1),
        (404, r"^web: Tavily returned HTTP 404$", 1),
        (429, r"^web: Tavily usage limit exceeded \(HTTP 429\): no \[redacted\]$", 3),
        (500, r"^web: Tavily returned HTTP 500$", 3),
        (502, r"^web: Tavily returned HTTP 502$", 3),
        (503, r"^web: Tavily returned HTTP 503$", 3),
    ],
)
def test_web_http_errors_are_retried_only_when_it_can_help(tavily, status, match, requests):
    tavily.route("/search", FakeResponse(status=status, body=tavily_error(f"no\n{KEY}")))
    _fails(_web, match)
    assert tavily.paths() == ["/search"] * requests


def test_web_error_echoing_the_key_is_redacted(tavily):
    def echo(request: RecordedRequest) -> FakeResponse:
        auth = request.headers["authorization"]
        return FakeResponse(status=401, body=tavily_error(f"Invalid key in header '{auth}'"))

    tavily.route("/search", echo)
    message = _fails(_web, r"^web: Tavily rejected the API key \(HTTP 401\)")
    assert message.endswith("'Bearer [redacted]'")


@pytest.mark.parametrize(
    "script",
    [
        [FakeResponse(status=429, body=tavily_error("slow down")), SEARCH_OK],
        [FakeResponse(status=503), SEARCH_OK],
        [FakeResponse(status=502), FakeResponse(status=503), SEARCH_OK],
    ],
    ids=["429-then-200", "503-then-200", "502-503-200"],
)
def test_web_recovers_when_a_retry_succeeds(tavily, script):
    tavily.route("/search", script)
    assert len(_web()) == 2
    assert tavily.paths() == ["/search"] * len(script)


def test_web_html_error_page_from_a_proxy_is_retried(tavily):
    page = FakeResponse(status=503, body=HTML_ERROR_PAGE.body, content_type="text/html")
    tavily.route("/search", page)
    _fails(_web, r"^web: Tavily returned HTTP 503$")
    assert len(tavily.requests) == 3


@pytest.mark.parametrize(
    "response",
    [
        FakeResponse(body="{not json", content_type="application/json"),
        FakeResponse(body=["a", "list"]),
        FakeResponse(body={"results": "not a list"}),
        HTML_ERROR_PAGE,
    ],
    ids=["broken-json", "list", "results-not-a-list", "200-html-page"],
)
def test_web_malformed_response_is_not_retried(tavily, response):
    tavily.route("/search", response)
    _fails(_web, r"^web: Tavily returned a malformed response$")
    assert len(tavily.requests) == 1


def test_web_empty_results_are_not_an_error(tavily):
    tavily.route("/search", FakeResponse(body=tavily_search_response(results=[])))
    assert _web() == []


def test_web_silent_server_times_out_once(tavily):
    tavily.route("/search", FakeResponse(body=tavily_search_response(), delay=30))
    _fails(_web, r"^web: Tavily did not answer within 1 s$", within=1.9)
    assert len(tavily.requests) == 1


def test_web_server_that_never_answers_times_out(monkeypatch):
    with silent_listener() as url:
        monkeypatch.setenv("TAVILY_API_KEY", KEY)
        monkeypatch.setenv("TAVILY_BASE_URL", url)
        _fails(_web, r"^web: Tavily did not answer within 1 s$", within=1.9)


def test_web_connection_refused_fails_fast(monkeypatch):
    monkeypatch.setenv("TAVILY_API_KEY", KEY)
    monkeypatch.setenv("TAVILY_BASE_URL", refused_url())
    _fails(_web, r"^web: could not connect to Tavily$", within=1.0)


def test_web_slow_server_errors_stop_at_the_time_budget(tavily, monkeypatch):
    monkeypatch.setattr(base, "RETRY_BACKOFF_SECONDS", 0.5)
    tavily.route("/search", FakeResponse(status=503, delay=0.7))
    start = time.monotonic()
    _fails(_web, r"^web: Tavily returned HTTP 503$", within=3.0)
    assert time.monotonic() - start < FAST.request_timeout * base.RETRY_ATTEMPTS
    assert len(tavily.requests) == 2


# --- arXiv -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "match", "requests"),
    [
        (400, r"^arxiv: the arXiv API rejected the query as invalid \(HTTP 400\)$", 1),
        (403, r"^arxiv: the arXiv API refused the request \(HTTP 403\)$", 1),
        (404, r"^arxiv: the arXiv API returned HTTP 404$", 1),
        (429, r"^arxiv: the arXiv API is rate limiting requests \(HTTP 429\)$", 3),
        (500, r"^arxiv: the arXiv API returned HTTP 500$", 3),
        (502, r"^arxiv: the arXiv API returned HTTP 502$", 3),
        (503, r"^arxiv: the arXiv API returned HTTP 503$", 3),
    ],
)
def test_arxiv_http_errors_are_retried_only_when_it_can_help(arxiv_api, status, match, requests):
    arxiv_api.route("/api/query", FakeResponse(status=status, body="upstream says no"))
    _fails(_arxiv, match)
    assert arxiv_api.paths() == ["/api/query"] * requests


@pytest.mark.parametrize("status", [429, 503])
def test_arxiv_recovers_when_a_retry_succeeds(arxiv_api, status):
    arxiv_api.route("/api/query", [FakeResponse(status=status), FEED_OK])
    assert len(_arxiv()) == 2
    assert len(arxiv_api.requests) == 2


def test_arxiv_retries_keep_the_politeness_delay(arxiv_api, monkeypatch):
    monkeypatch.setenv("ARXIV_DELAY_SECONDS", "0.3")
    arxiv_api.route("/api/query", [FakeResponse(status=503), FakeResponse(status=503), FEED_OK])
    assert len(_arxiv()) == 2
    times = [request.at for request in arxiv_api.requests]
    assert len(times) == 3
    assert all(later - earlier >= 0.3 for earlier, later in zip(times, times[1:], strict=False))


@pytest.mark.parametrize(
    ("response", "match"),
    [
        (FakeResponse(body="<<<this is not xml"), "returned a malformed feed$"),
        (FakeResponse(body=b""), "returned a malformed feed$"),
        (FakeResponse(body={"error": "json"}), "returned a malformed feed$"),
        (HTML_ERROR_PAGE, "answered with text/html; charset=utf-8 instead of an Atom feed$"),
        (
            FakeResponse(body="<?xml version='1.0'?><error>quota</error>", content_type="text/xml"),
            "answered with text/xml instead of an Atom feed$",
        ),
    ],
    ids=["not-xml", "empty-body", "json", "200-html-page", "other-xml"],
)
def test_arxiv_unreadable_feed_is_not_retried(arxiv_api, response, match):
    arxiv_api.route("/api/query", response)
    _fails(_arxiv, "^arxiv: the arXiv API " + match)
    assert len(arxiv_api.requests) == 1


def test_arxiv_empty_feed_is_not_an_error(arxiv_api):
    arxiv_api.route("/api/query", FakeResponse(body=arxiv_feed([])))
    assert _arxiv() == []


def test_arxiv_silent_server_times_out_once(arxiv_api):
    arxiv_api.route("/api/query", FakeResponse(body=ARXIV_FEED, delay=30))
    _fails(_arxiv, r"^arxiv: the arXiv API did not answer within 1 s$", within=1.9)
    assert len(arxiv_api.requests) == 1


def test_arxiv_server_that_never_answers_times_out(monkeypatch):
    with silent_listener() as url:
        monkeypatch.setenv("ARXIV_API_URL", url)
        monkeypatch.setenv("ARXIV_DELAY_SECONDS", "0")
        _fails(_arxiv, r"^arxiv: the arXiv API did not answer within 1 s$", within=1.9)


def test_arxiv_connection_refused_fails_fast(monkeypatch):
    monkeypatch.setenv("ARXIV_API_URL", refused_url())
    monkeypatch.setenv("ARXIV_DELAY_SECONDS", "0")
    _fails(_arxiv, r"^arxiv: could not connect to the arXiv API$", within=1.0)
