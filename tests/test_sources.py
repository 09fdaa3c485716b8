"""Web, arXiv and memory retrievers: the real clients against fake servers on 127.0.0.1."""

from __future__ import annotations

import socket
import time

import pytest
import requests
from langgraph.store.memory import InMemoryStore

from state.context import Context
from tests.fakes.servers import (
    ARXIV_ENTRIES,
    ARXIV_FEED,
    TAVILY_RESULTS,
    FakeResponse,
    FakeServer,
    arxiv_feed,
    tavily_error,
    tavily_search_response,
)
from tools.arxiv_search import ArxivRetriever
from tools.base import SourceError
from tools.memory import (
    MemoryRetriever,
    delete_memory,
    list_memories,
    memory_index,
    memory_namespace,
    put_memory,
)
from tools.sources import get_retriever
from tools.web import WebRetriever, web_search

FAST = Context(request_timeout=1.0)


@pytest.fixture
def tavily(monkeypatch):
    """A fake Tavily API with a key configured; script ``/search`` per test."""
    with FakeServer(max_lifetime=20) as server:
        monkeypatch.setenv("TAVILY_API_KEY", "tvly-test-key")
        monkeypatch.setenv("TAVILY_BASE_URL", server.url)
        yield server


@pytest.fixture
def arxiv_api(monkeypatch):
    """A fake arXiv API; script ``/api/query`` per test."""
    with FakeServer(max_lifetime=20) as server:
        monkeypatch.setenv("ARXIV_API_URL", server.url)
        monkeypatch.setenv("ARXIV_DELAY_SECONDS", "0")
        yield server


def _fails_fast(call, match: str) -> SourceError:
    start = time.monotonic()
    with pytest.raises(SourceError, match=match) as info:
        call()
    assert time.monotonic() - start < 5
    assert "\n" not in str(info.value)
    assert "Traceback" not in str(info.value)
    return info.value


def test_registry_returns_these_retrievers():
    assert isinstance(get_retriever("web"), WebRetriever)
    assert isinstance(get_retriever("arxiv"), ArxivRetriever)
    assert isinstance(get_retriever("memory"), MemoryRetriever)
    assert [get_retriever(n).name for n in ("web", "arxiv", "memory")] == ["web", "arxiv", "memory"]


# --- web ---------------------------------------------------------------------------------


def test_web_without_key_is_unavailable_and_sends_nothing(monkeypatch):
    with FakeServer({"/search": FakeResponse(body=tavily_search_response())}) as server:
        monkeypatch.delenv("TAVILY_API_KEY", raising=False)
        monkeypatch.setenv("TAVILY_BASE_URL", server.url)
        assert WebRetriever().unavailable(FAST) == "TAVILY_API_KEY is not set"
        _fails_fast(lambda: WebRetriever().retrieve("q", FAST, k=3), "^web: TAVILY_API_KEY")
        monkeypatch.setenv("TAVILY_API_KEY", "  ")
        assert WebRetriever().unavailable(FAST) == "TAVILY_API_KEY is not set"
        assert server.requests == []


def test_web_with_key_is_available(monkeypatch):
    monkeypatch.setenv("TAVILY_API_KEY", "tvly-test-key")
    assert WebRetriever().unavailable(FAST) is None


def test_web_search_maps_results_to_docs(tavily):
    tavily.route("/search", FakeResponse(body=tavily_search_response()))
    docs = WebRetriever().retrieve("what is corrective rag", FAST, k=2)

    assert [d["location"] for d in docs] == [r["url"] for r in TAVILY_RESULTS]
    first = docs[0]
    assert first["source"] == "web"
    assert first["id"] == first["metadata"]["url"] == "https://arxiv.org/abs/2401.15884"
    assert first["title"] == TAVILY_RESULTS[0]["title"]
    assert first["content"].startswith("CRAG adds")
    assert first["score"] == pytest.approx(0.91)
    assert first["query"] == "what is corrective rag"
    assert docs[1]["metadata"]["published_date"] == "2025-03-14"

    (request,) = tavily.requests
    assert request.method == "POST" and request.path == "/search"
    assert request.headers["authorization"] == "Bearer tvly-test-key"
    body = request.json()
    assert body["query"] == "what is corrective rag"
    assert body["max_results"] == 2 and body["search_depth"] == "basic"


def test_web_search_helper_uses_top_k_and_skips_unusable_results(tavily):
    results = [*TAVILY_RESULTS, {"title": "no url", "content": "x"}, "junk", {"url": "u"}]
    tavily.route("/search", FakeResponse(body=tavily_search_response(results=results)))
    docs = web_search("rag", Context(request_timeout=1.0, top_k=3))
    assert len(docs) == 2
    assert tavily.requests[0].json()["max_results"] == 3


@pytest.mark.parametrize(
    ("status", "match"),
    [
        (401, r"^web: Tavily rejected the API key \(HTTP 401\): Unauthorized"),
        (429, r"^web: Tavily usage limit exceeded \(HTTP 429\)"),
        (403, r"^web: Tavily refused the request \(HTTP 403\)"),
        (400, r"^web: Tavily rejected the request as invalid \(HTTP 400\)"),
        (500, r"^web: Tavily returned HTTP 500$"),
    ],
)
def test_web_http_errors_become_source_errors(tavily, status, match):
    body = tavily_error("Unauthorized: missing or\ninvalid API key.")
    tavily.route("/search", FakeResponse(status=status, body=body))
    _fails_fast(lambda: WebRetriever().retrieve("q", FAST, k=3), match)


@pytest.mark.parametrize(
    "response",
    [
        FakeResponse(body="{not json", content_type="application/json"),
        FakeResponse(body=["a", "list"]),
        FakeResponse(body={"results": "not a list"}),
    ],
)
def test_web_malformed_json_becomes_source_error(tavily, response):
    tavily.route("/search", response)
    _fails_fast(lambda: WebRetriever().retrieve("q", FAST, k=3), "^web: .*malformed response$")


def test_web_silent_server_times_out(tavily):
    tavily.route("/search", FakeResponse(body=tavily_search_response(), delay=30))
    _fails_fast(lambda: WebRetriever().retrieve("q", FAST, k=3), r"^web: .*within 1 s$")


def test_web_connection_refused_becomes_source_error(monkeypatch):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("TAVILY_API_KEY", "tvly-test-key")
    monkeypatch.setenv("TAVILY_BASE_URL", f"http://127.0.0.1:{port}")
    _fails_fast(lambda: WebRetriever().retrieve("q", FAST, k=3), "^web: could not connect")


# --- arXiv -------------------------------------------------------------------------------


def test_arxiv_needs_no_key():
    assert ArxivRetriever().unavailable(Context(arxiv_search=True)) is None


def test_arxiv_search_maps_entries_to_docs(arxiv_api):
    arxiv_api.route(
        "/api/query", FakeResponse(body=ARXIV_FEED, content_type="application/atom+xml")
    )
    docs = ArxivRetriever().retrieve("corrective (RAG): web fallback?", FAST, k=2)

    assert [d["title"] for d in docs] == [
        "Corrective Retrieval Augmented Generation",
        ARXIV_ENTRIES[1].title,
    ]
    first = docs[0]
    assert first["source"] == "arxiv"
    assert first["id"] == first["location"] == "http://arxiv.org/abs/2401.15884v3"
    assert first["content"].startswith("Large language models hallucinate when")
    assert "\n" not in first["content"]
    assert first["score"] > docs[1]["score"]
    assert first["metadata"] == {
        "authors": ["Shi-Qi Yan", "Jia-Chen Gu", "Yun Zhu", "Zhen-Hua Ling"],
        "published": "2024-01-29",
        "primary_category": "cs.CL",
        "pdf_url": "http://arxiv.org/pdf/2401.15884v3",
        "entry_id": "http://arxiv.org/abs/2401.15884v3",
        "rank": 0,
    }

    (request,) = arxiv_api.requests
    assert request.method == "GET"
    assert request.query["search_query"] == ["corrective RAG web fallback"]
    assert request.query["max_results"] == ["2"]


def test_arxiv_returns_at_most_k(arxiv_api, monkeypatch):
    monkeypatch.setenv("ARXIV_API_URL", arxiv_api.url + "/api/query")
    arxiv_api.route("/api/query", FakeResponse(body=ARXIV_FEED))
    assert len(ArxivRetriever().retrieve("rag", FAST, k=1)) == 1


def test_arxiv_empty_feed_and_blank_query_give_no_docs(arxiv_api):
    arxiv_api.route("/api/query", FakeResponse(body=arxiv_feed([])))
    assert ArxivRetriever().retrieve("nothing matches this", FAST, k=3) == []
    assert ArxivRetriever().retrieve(" ?! ", FAST, k=3) == []
    assert len(arxiv_api.requests) == 1


def test_arxiv_http_error_becomes_source_error_after_one_retry(arxiv_api):
    arxiv_api.route("/api/query", FakeResponse(status=500, body="upstream down"))
    _fails_fast(
        lambda: ArxivRetriever().retrieve("rag", FAST, k=3),
        r"^arxiv: the arXiv API returned HTTP 500$",
    )
    assert len(arxiv_api.requests) == 2


def test_arxiv_malformed_feed_becomes_source_error(arxiv_api):
    arxiv_api.route("/api/query", FakeResponse(body="<<<this is not xml"))
    _fails_fast(lambda: ArxivRetriever().retrieve("rag", FAST, k=3), "^arxiv: .*malformed feed$")


def test_arxiv_silent_server_times_out(arxiv_api):
    arxiv_api.route("/api/query", FakeResponse(body=ARXIV_FEED, delay=30))
    _fails_fast(lambda: ArxivRetriever().retrieve("rag", FAST, k=3), r"^arxiv: .*within 1 s$")


# --- memory ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def index():
    return memory_index()


def test_memory_search_never_crosses_users(index):
    store = InMemoryStore(index=index)
    put_memory(store, "alice", "My checking account is at the Riverside branch.")
    put_memory(store, "alice", "I prefer answers with bullet points.")
    bob_key = put_memory(store, "bob", "I have a savings account with a $500 balance.")

    retriever = MemoryRetriever()
    docs = retriever.retrieve(
        "Which branch holds my checking account?", Context(user_id="bob"), k=5, store=store
    )
    assert [d["id"] for d in docs] == [bob_key]
    assert docs[0]["location"] == f"memory://bob/{bob_key}"
    assert docs[0]["source"] == "memory" and docs[0]["title"] == "Memory"

    alice = retriever.retrieve(
        "Which branch holds my checking account?", Context(user_id="alice"), k=1, store=store
    )
    assert [d["content"] for d in alice] == ["My checking account is at the Riverside branch."]
    assert 0 < alice[0]["score"] <= 1
    assert retriever.retrieve("anything", Context(user_id="carol"), k=3, store=store) == []


def test_put_memory_dedupes_and_memories_can_be_listed_and_deleted():
    store = InMemoryStore()
    key = put_memory(store, "alice", "I prefer  answers with bullet points.")
    assert put_memory(store, "alice", "i prefer answers with bullet points. ") == key
    assert [m["key"] for m in list_memories(store, "alice")] == [key]
    assert list_memories(store, "bob") == []
    assert delete_memory(store, "alice", key) is True
    assert delete_memory(store, "alice", key) is False
    assert list_memories(store, "alice") == []
    with pytest.raises(ValueError):
        put_memory(store, "alice", "   ")


def test_memory_namespace_is_one_label_per_user():
    assert memory_namespace("alice") == ("memories", "alice")
    assert memory_namespace("a.b@example.com") == ("memories", "a%2Eb@example%2Ecom")
    assert memory_namespace("a%2Eb") != memory_namespace("a.b")
    store = InMemoryStore()
    key = put_memory(store, "a.b@example.com", "Dotted user ids work.")
    assert [m["key"] for m in list_memories(store, "a.b@example.com")] == [key]
    with pytest.raises(ValueError):
        memory_namespace("")


def test_memory_without_store_is_unavailable():
    retriever = MemoryRetriever()
    assert retriever.unavailable(Context(), None) == "no long-term memory store is attached"
    assert retriever.unavailable(Context(), InMemoryStore()) is None
    with pytest.raises(SourceError, match="^memory: no long-term memory store"):
        retriever.retrieve("q", Context(), k=3, store=None)


# --- the fake server itself --------------------------------------------------------------


def test_fake_server_scripts_records_and_stops():
    script = [FakeResponse(status=503), FakeResponse(body={"ok": True})]
    with FakeServer({"/x": script}) as server:
        url = server.url
        assert requests.get(url + "/x", timeout=2).status_code == 503
        assert requests.get(url + "/x?a=1", timeout=2).json() == {"ok": True}
        assert requests.get(url + "/x", timeout=2).json() == {"ok": True}
        assert requests.get(url + "/missing", timeout=2).status_code == 404
        assert server.paths() == ["/x", "/x", "/x", "/missing"]
        assert server.requests[1].query == {"a": ["1"]}
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(url + "/x", timeout=2)


def test_fake_server_stops_itself_after_max_lifetime():
    server = FakeServer({"/x": FakeResponse(delay=30)}, max_lifetime=0.3).start()
    start = time.monotonic()
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(server.url + "/x", timeout=5)
    assert time.monotonic() - start < 3
    assert server.stopping.is_set()
