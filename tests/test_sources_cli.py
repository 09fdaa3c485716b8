"""`agentic-rag ask --json` over web, arXiv and memory: the real command, real clients,
fake Tavily and arXiv servers on 127.0.0.1, and the embedded SQLite memory store."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from langgraph.checkpoint.sqlite import SqliteSaver

from tests.fakes.servers import ARXIV_FEED, FakeResponse, FakeServer, tavily_search_response
from tools.demo_corpus import export_banking_corpus
from tools.ingest import ingest_paths

CLI = str(Path(sys.executable).parent / "agentic-rag")
PAPER_Q = "Which arXiv papers propose corrective retrieval augmented generation?"
NEWS_Q = "What is the latest news about the central bank interest rate decision today?"
NEWS = [
    {
        "title": "Central bank holds interest rate at 4.25% - Example News",
        "url": "https://news.example.com/central-bank-holds-rate",
        "content": (
            "The central bank held its benchmark interest rate at 4.25% today, its third "
            "pause this year, and said the interest rate decision reflects slowing inflation."
        ),
        "score": 0.93,
    }
]


@pytest.fixture(scope="module")
def kb(tmp_path_factory):
    root = tmp_path_factory.mktemp("sources-cli")
    export_banking_corpus(root / "corpus", limit=8)
    assert ingest_paths([root / "corpus"], data_dir=str(root / "data"), kb="default").ok
    return root / "data"


@pytest.fixture
def servers():
    with (
        FakeServer({"/search": FakeResponse(body=tavily_search_response(results=NEWS))}) as tavily,
        FakeServer({"/api/query": FakeResponse(body=ARXIV_FEED)}) as arxiv,
    ):
        yield tavily, arxiv


def run(*args, data_dir, tavily=None, arxiv=None):
    env = {
        **os.environ,
        "LANGSMITH_TRACING": "false",
        "AGENTIC_RAG_DATA_DIR": str(data_dir),
        "AGENTIC_RAG_REQUEST_TIMEOUT": "2",
        "ARXIV_DELAY_SECONDS": "0",
        "TAVILY_API_KEY": "tvly-cli-test-key",
    }
    if tavily is not None:
        env["TAVILY_BASE_URL"] = tavily.url
    if arxiv is not None:
        env["ARXIV_API_URL"] = arxiv.url
    done = subprocess.run([CLI, *args], capture_output=True, text=True, env=env, timeout=180)
    assert "Traceback" not in done.stderr, done.stderr
    return done


def ask_json(question, *args, **kwargs):
    done = run("ask", question, "--json", *args, **kwargs)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def thread_messages(data_dir, thread_id):
    conn = sqlite3.connect(Path(data_dir) / "checkpoints.sqlite", check_same_thread=False)
    try:
        config = {"configurable": {"thread_id": thread_id}}
        return SqliteSaver(conn).get_tuple(config).checkpoint["channel_values"]["messages"]
    finally:
        conn.close()


def test_paper_question_cites_arxiv_entries(kb, servers):
    tavily, arxiv = servers
    out = ask_json(PAPER_Q, "--arxiv", data_dir=kb, tavily=tavily, arxiv=arxiv)
    assert out["route"]["sources"] == ["arxiv"]
    cited = [c for c in out["citations"] if c["source"] == "arxiv"]
    assert cited and cited[0]["location"].startswith("http://arxiv.org/abs/")
    assert "Corrective Retrieval Augmented Generation" in {c["title"] for c in cited}
    assert arxiv.requests
    assert all(r.json()["query"] == PAPER_Q for r in tavily.requests), "CRAG fallback: query only"


def test_news_question_cites_web_results_and_sends_only_the_query(kb, servers):
    tavily, arxiv = servers
    out = ask_json(NEWS_Q, "--thread", "news", data_dir=kb, tavily=tavily, arxiv=arxiv)
    assert "web" in out["route"]["sources"]
    assert [c["location"] for c in out["citations"]] == [NEWS[0]["url"]]
    assert "4.25%" in out["answer"]
    (request,) = tavily.requests
    assert request.json()["query"] == NEWS_Q
    assert "tvly-cli-test-key" not in json.dumps(out)


def test_account_question_cites_the_users_memory_only(kb, servers):
    tavily, _ = servers
    said = run(
        "ask", "Remember that my account is a business account.", "--user", "alice", data_dir=kb
    )
    assert said.returncode == 0 and "I will remember" in said.stdout

    alice = ask_json("What is my account type?", "--user", "alice", data_dir=kb, tavily=tavily)
    memory = [c for c in alice["citations"] if c["source"] == "memory"]
    assert memory and memory[0]["snippet"] == "My account is a business account."
    assert memory[0]["location"].startswith("memory://alice/")

    bob = ask_json("What is my account type?", "--user", "bob", data_dir=kb, tavily=tavily)
    assert not any(c["source"] == "memory" for c in bob["citations"])
    assert "business account" not in bob["answer"]
    assert not tavily.requests, "a question about the user never goes to the web"


@pytest.mark.parametrize(
    ("source", "response", "error"),
    [
        ("web", FakeResponse(status=401, body={"detail": {"error": "bad key"}}), "HTTP 401"),
        ("web", FakeResponse(status=500, body="boom"), "HTTP 500"),
        ("web", FakeResponse(body=tavily_search_response(), delay=30), "within 2 s"),
        ("arxiv", FakeResponse(status=403, body="forbidden"), "HTTP 403"),
        ("arxiv", FakeResponse(body="<<<not atom"), "malformed"),
    ],
)
def test_a_failing_source_still_answers_and_keeps_the_thread(kb, source, response, error):
    path = "/search" if source == "web" else "/api/query"
    question = NEWS_Q if source == "web" else PAPER_Q
    thread = f"fail-{source}-{error.split()[-1]}"
    with FakeServer({path: response}, max_lifetime=60) as broken:
        servers = {"tavily": broken} if source == "web" else {"arxiv": broken}
        out = ask_json(question, "--arxiv", "--thread", thread, data_dir=kb, **servers)
    assert out["answer"].strip()
    failed = [line for line in out["errors"] if line.startswith(f"{source}: ")]
    assert failed and error in failed[0] and "\n" not in failed[0]
    assert out["usage"]["ms_per_node"]["retrieve"] < 15_000

    follow_up = ask_json(
        "What is the early closure fee for a Bronze savings account?",
        "--thread",
        thread,
        data_dir=kb,
    )
    assert "$20" in follow_up["answer"]
    messages = thread_messages(kb, thread)
    assert [m.type for m in messages] == ["human", "ai", "human", "ai"]
