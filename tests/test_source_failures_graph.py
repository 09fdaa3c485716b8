"""Every source failure, through the whole graph: the turn still answers from what works,
says which source failed in one line, stays within the timeout, and the thread goes on."""

from __future__ import annotations

import sqlite3
import time
from contextlib import ExitStack

import pytest
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.store.memory import InMemoryStore

import tools.base
from graphs import build_graph
from state.context import Context
from tests.fakes.servers import (
    ARXIV_FEED,
    HTML_ERROR_PAGE,
    FakeResponse,
    FakeServer,
    arxiv_feed,
    refused_url,
    silent_listener,
    tavily_search_response,
)
from tests.scripted import plan, scripted

pytestmark = pytest.mark.faults

FEE_Q = "What is the early closure fee for a Bronze savings account?"
TIMEOUT = 1.0
WEB, ARXIV = "/search", "/api/query"

CASES = [
    ("web", "missing key", None, "TAVILY_API_KEY is not set"),
    ("web", "401", FakeResponse(status=401, body={"detail": {"error": "bad"}}), "HTTP 401"),
    ("web", "403", FakeResponse(status=403, body={"detail": {"error": "no"}}), "HTTP 403"),
    ("web", "429", FakeResponse(status=429, body={"detail": {"error": "slow"}}), "HTTP 429"),
    ("web", "400", FakeResponse(status=400, body={"detail": {"error": "bad"}}), "HTTP 400"),
    ("web", "500", FakeResponse(status=500, body="boom"), "HTTP 500"),
    ("web", "timeout", FakeResponse(body=tavily_search_response(), delay=30), "within 1 s"),
    ("web", "silent", "silent", "within 1 s"),
    ("web", "refused", "refused", "could not connect"),
    (
        "web",
        "malformed",
        FakeResponse(body="{not json", content_type="application/json"),
        "malformed",
    ),
    ("web", "html", HTML_ERROR_PAGE, "malformed"),
    ("web", "empty", FakeResponse(body=tavily_search_response(results=[])), None),
    ("arxiv", "400", FakeResponse(status=400, body="bad"), "HTTP 400"),
    ("arxiv", "403", FakeResponse(status=403, body="forbidden"), "HTTP 403"),
    ("arxiv", "429", FakeResponse(status=429, body="slow down"), "HTTP 429"),
    ("arxiv", "503", FakeResponse(status=503, body="down"), "HTTP 503"),
    ("arxiv", "timeout", FakeResponse(body=ARXIV_FEED, delay=30), "within 1 s"),
    ("arxiv", "silent", "silent", "within 1 s"),
    ("arxiv", "refused", "refused", "could not connect"),
    ("arxiv", "malformed", FakeResponse(body="<<<not atom"), "arxiv: "),
    ("arxiv", "html", HTML_ERROR_PAGE, "instead of an Atom feed"),
    ("arxiv", "empty", FakeResponse(body=arxiv_feed([])), None),
]


class BrokenStore(InMemoryStore):
    """A store whose searches fail, like a database that went away."""

    def batch(self, ops):
        raise ConnectionError("server closed the connection unexpectedly")


@pytest.fixture
def fast_retries(monkeypatch):
    monkeypatch.setattr(tools.base, "RETRY_BACKOFF_SECONDS", 0.05)
    monkeypatch.setenv("ARXIV_DELAY_SECONDS", "0")


def _base_url(stack: ExitStack, script) -> str:
    if script == "silent":
        return stack.enter_context(silent_listener())
    if script == "refused":
        return refused_url()
    raise AssertionError(script)


def _serve(stack: ExitStack, source: str, script, monkeypatch) -> None:
    if source == "web":
        if script is None:
            monkeypatch.delenv("TAVILY_API_KEY", raising=False)
            return
        monkeypatch.setenv("TAVILY_API_KEY", "tvly-failure-key")
    path, env = (WEB, "TAVILY_BASE_URL") if source == "web" else (ARXIV, "ARXIV_API_URL")
    if isinstance(script, str):
        url = _base_url(stack, script)
    else:
        url = stack.enter_context(FakeServer({path: script}, max_lifetime=60)).url
    monkeypatch.setenv(env, url)


def _run_two_turns(app, thread, models, **context):
    config = {"configurable": {"thread_id": thread}}
    ctx = Context(request_timeout=TIMEOUT, arxiv_search=True, **models, **context)
    start = time.monotonic()
    first = app.invoke({"messages": [("user", FEE_Q)]}, config, context=ctx)
    elapsed = time.monotonic() - start
    second = app.invoke(
        {"messages": [("user", "And what about a Silver account?")]}, config, context=ctx
    )
    messages = app.get_state(config).values["messages"]
    return first, second, elapsed, [m.type for m in messages]


@pytest.mark.parametrize(
    ("source", "case", "script", "error"), CASES, ids=[f"{s}-{c}" for s, c, *_ in CASES]
)
def test_source_failure_still_answers_and_keeps_the_thread(
    banking_kb, tmp_path, monkeypatch, fast_retries, source, case, script, error
):
    conn = sqlite3.connect(tmp_path / "checkpoints.sqlite", check_same_thread=False)
    with ExitStack() as stack:
        _serve(stack, source, script, monkeypatch)
        routed = plan(FEE_Q, sources=("vectorstore", source))
        with scripted(router=[routed, routed]) as models:
            app = build_graph(checkpointer=SqliteSaver(conn))
            first, second, elapsed, types = _run_two_turns(
                app, f"{source}-{case}", models, data_dir=banking_kb
            )
    conn.close()

    assert "$20" in first["answer"], "the knowledge base still answers"
    assert "vectorstore" in first["route"]["sources"]
    unavailable = [f"{s}: {why}" for s, why in first["route"]["unavailable"].items()]
    failed = [line for line in first["errors"] + unavailable if line.startswith(f"{source}: ")]
    if error is None:
        assert failed == []
    else:
        assert len(failed) >= 1 and error in failed[0], first["errors"]
        assert all("\n" not in line and "Traceback" not in line for line in first["errors"])
        assert "tvly-failure-key" not in " ".join(first["errors"])
    assert elapsed < TIMEOUT * tools.base.RETRY_ATTEMPTS + 15
    assert second["answer"].strip()
    assert types == ["human", "ai", "human", "ai"]


def test_memory_store_failure_still_answers(banking_kb):
    routed = plan(FEE_Q, sources=("vectorstore", "memory"))
    with scripted(router=[routed]) as models:
        app = build_graph(store=BrokenStore())
        out = app.invoke(
            {"messages": [("user", FEE_Q)]}, context=Context(data_dir=banking_kb, **models)
        )
    assert "$20" in out["answer"]
    assert out["errors"] == ["memory: search failed (ConnectionError)"]
