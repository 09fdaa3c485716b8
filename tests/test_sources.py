"""Web, arXiv and memory retrievers: the real clients against fake servers on 127.0.0.1.

Failures of the web and arXiv sources (HTTP errors, retries, timeouts) are tested in
``tests/test_source_failures.py``.
"""

from __future__ import annotations

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
    tavily_extract_response,
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
from tools.web import EXTRACT_CHARS, WebRetriever, web_search

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
        _fails_fast(lambda: WebRetriever().retrieve("q", FAST, k=3), "^web: TAVILY_API_KEY")
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
    assert "snippet" not in first["metadata"] and "extract_error" not in first["metadata"]

    (request,) = tavily.requests
    assert request.method == "POST" and request.path == "/search"
    assert request.headers["authorization"] == "Bearer tvly-test-key"
    assert request.json() == {
        "query": "what is corrective rag",
        "search_depth": "basic",
        "max_results": 2,
    }


def test_web_sends_the_query_exactly_and_the_key_only_in_the_authorization_header(tavily):
    tavily.route("/search", FakeResponse(body=tavily_search_response()))
    query = '  Rewritten: fees for "wire transfers" in 2025?\n'
    WebRetriever().retrieve(query, FAST, k=2)

    (request,) = tavily.requests
    assert request.json()["query"] == query
    assert request.headers["authorization"] == "Bearer tvly-test-key"
    others = [v for name, v in request.headers.items() if name != "authorization"]
    assert not any("tvly-test-key" in v for v in others)
    assert b"tvly-test-key" not in request.body
    assert "tvly-test-key" not in str(request.query)


def test_web_sends_the_context_search_options(tavily):
    tavily.route("/search", FakeResponse(body=tavily_search_response()))
    ctx = Context(
        request_timeout=1.0,
        web_search_depth="advanced",
        web_max_results=7,
        web_include_domains=["arxiv.org", "docs.example.com"],
        web_exclude_domains=["pinterest.com"],
        web_time_range="week",
    )
    WebRetriever().retrieve("corrective rag", ctx, k=2)

    assert tavily.requests[0].json() == {
        "query": "corrective rag",
        "search_depth": "advanced",
        "max_results": 7,
        "include_domains": ["arxiv.org", "docs.example.com"],
        "exclude_domains": ["pinterest.com"],
        "time_range": "week",
    }


@pytest.mark.parametrize(("web_max_results", "k", "sent", "returned"), [(0, 3, 3, 2), (1, 3, 1, 1)])
def test_web_max_results_defaults_to_k_and_caps_the_results(
    tavily, web_max_results, k, sent, returned
):
    tavily.route("/search", FakeResponse(body=tavily_search_response()))
    ctx = Context(request_timeout=1.0, web_max_results=web_max_results)
    assert len(WebRetriever().retrieve("rag", ctx, k=k)) == returned
    assert tavily.requests[0].json()["max_results"] == sent


def test_web_search_helper_uses_top_k_and_skips_unusable_results(tavily):
    results = [*TAVILY_RESULTS, {"title": "no url", "content": "x"}, "junk", {"url": "u"}]
    tavily.route("/search", FakeResponse(body=tavily_search_response(results=results)))
    docs = web_search("rag", Context(request_timeout=1.0, top_k=3))
    assert len(docs) == 2
    assert tavily.requests[0].json()["max_results"] == 3


def test_web_empty_results_are_no_docs_and_nothing_to_extract(tavily):
    tavily.route("/search", FakeResponse(body=tavily_search_response(results=[])))
    ctx = Context(request_timeout=1.0, web_extract_top=2)
    assert WebRetriever().retrieve("nothing matches", ctx, k=3) == []
    assert tavily.paths() == ["/search"]


# --- web: /extract -----------------------------------------------------------------------

URL_1, URL_2 = (r["url"] for r in TAVILY_RESULTS)
SNIPPET_1, SNIPPET_2 = (r["content"] for r in TAVILY_RESULTS)
EXTRACT = Context(request_timeout=1.0, web_extract_top=1)


def test_web_extract_replaces_the_top_snippets_with_page_text(tavily):
    tavily.route("/search", FakeResponse(body=tavily_search_response()))
    page = "# Corrective RAG\n\n  The evaluator   grades each\tdocument.\n" + "More. " * 2000
    tavily.route("/extract", FakeResponse(body=tavily_extract_response({URL_1: page})))
    first, second = WebRetriever().retrieve("corrective rag", EXTRACT, k=2)

    assert first["content"].startswith("# Corrective RAG The evaluator grades each document.")
    assert len(first["content"]) <= EXTRACT_CHARS
    assert first["metadata"]["snippet"] == SNIPPET_1
    assert "extract_error" not in first["metadata"]
    assert second["content"] == SNIPPET_2 and "snippet" not in second["metadata"]

    assert tavily.paths() == ["/search", "/extract"]
    extract = tavily.requests[1]
    assert extract.headers["authorization"] == "Bearer tvly-test-key"
    assert extract.json()["urls"] == [URL_1]


def test_web_extract_lists_only_the_top_n_urls(tavily):
    results = [{**TAVILY_RESULTS[0], "url": f"https://example.com/{i}"} for i in range(5)]
    tavily.route("/search", FakeResponse(body=tavily_search_response(results=results)))
    tavily.route("/extract", FakeResponse(body=tavily_extract_response({})))
    ctx = Context(request_timeout=1.0, web_extract_top=3)
    docs = WebRetriever().retrieve("rag", ctx, k=5)

    assert tavily.requests[1].json()["urls"] == [f"https://example.com/{i}" for i in range(3)]
    assert [bool(d["metadata"].get("extract_error")) for d in docs] == [True] * 3 + [False] * 2
    assert docs[0]["metadata"]["extract_error"] == "Tavily extracted no text"


def test_web_extract_failed_url_keeps_its_snippet(tavily):
    tavily.route("/search", FakeResponse(body=tavily_search_response()))
    body = tavily_extract_response({URL_1: "Full page."}, {URL_2: "Failed to fetch\n  url (403)"})
    tavily.route("/extract", FakeResponse(body=body))
    ctx = Context(request_timeout=1.0, web_extract_top=2)
    first, second = WebRetriever().retrieve("rag", ctx, k=2)

    assert first["content"] == "Full page."
    assert second["content"] == SNIPPET_2
    assert second["metadata"]["extract_error"] == "Failed to fetch url (403)"
    assert "snippet" not in second["metadata"]


@pytest.mark.parametrize(
    ("response", "reason"),
    [
        (FakeResponse(status=500, body="boom"), "Tavily returned HTTP 500"),
        (
            FakeResponse(status=401, body=tavily_error("bad key tvly-test-key")),
            "Tavily rejected the API key (HTTP 401): bad key [redacted]",
        ),
        (
            FakeResponse(body="<html>oops</html>", content_type="text/html"),
            "Tavily returned a malformed response",
        ),
        (FakeResponse(body={"results": "nope"}), "Tavily returned a malformed response"),
        (FakeResponse(delay=30), "Tavily did not answer within 1 s"),
    ],
)
def test_web_extract_failure_keeps_the_search_results(tavily, response, reason):
    tavily.route("/search", FakeResponse(body=tavily_search_response()))
    tavily.route("/extract", response)
    first, second = WebRetriever().retrieve("rag", EXTRACT, k=2)

    assert first["content"] == SNIPPET_1
    assert first["metadata"]["extract_error"] == reason
    assert "extract_error" not in second["metadata"]
    assert tavily.paths() == ["/search", "/extract"]


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
