"""Human in the loop: approve web search, clarify, review answer — on every checkpointer."""

from __future__ import annotations

import json
import sqlite3

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.types import Command

from graphs import build_graph
from nodes.review_answer import REJECTED
from state.context import Context
from tests.fakes.servers import FakeResponse, FakeServer, tavily_search_response
from tests.postgres import fresh_database
from tests.scripted import plan, scripted

FEE_Q = "What is the early closure fee for a Bronze savings account?"
NEWS_Q = "What is the latest news about retrieval augmented generation today?"


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def saver(request, tmp_path):
    if request.param == "memory":
        yield InMemorySaver()
    elif request.param == "sqlite":
        conn = sqlite3.connect(tmp_path / "hitl.sqlite", check_same_thread=False)
        yield SqliteSaver(conn)
        conn.close()
    else:
        from langgraph.checkpoint.postgres import PostgresSaver

        with (
            fresh_database(request.getfixturevalue("pg_server")) as url,
            PostgresSaver.from_conn_string(url) as pg,
        ):
            pg.setup()
            yield pg


@pytest.fixture
def tavily(monkeypatch):
    with FakeServer({"/search": FakeResponse(body=tavily_search_response())}) as server:
        monkeypatch.setenv("TAVILY_API_KEY", "tvly-hitl-key")
        monkeypatch.setenv("TAVILY_BASE_URL", server.url)
        yield server


def start(app, question, thread, ctx):
    config = {"configurable": {"thread_id": thread}}
    app.invoke({"messages": [("user", question)]}, config, context=ctx)
    return config


def pending(app, config) -> dict:
    """The one interrupt the thread is waiting on (its payload must be plain JSON)."""
    snapshot = app.get_state(config)
    assert snapshot.next, "the run should be paused"
    (interrupt,) = snapshot.interrupts
    assert json.loads(json.dumps(interrupt.value)) == interrupt.value
    return interrupt.value


def resume(app, config, value, ctx):
    return app.invoke(Command(resume=value), config, context=ctx)


def message_types(app, config):
    return [m.type for m in app.get_state(config).values["messages"]]


# --- approve web search --------------------------------------------------------------


def test_web_search_waits_for_approval_and_sends_the_exact_query(saver, banking_kb, tavily):
    app = build_graph(checkpointer=saver)
    ctx = Context(data_dir=banking_kb, web_approval="ask")
    config = start(app, NEWS_Q, "approve", ctx)

    payload = pending(app, config)
    assert payload["type"] == "approve_web_search"
    assert payload["allowed"] == ["approve", "edit", "refuse"]
    assert payload["queries"] == [NEWS_Q] and payload["question"]
    assert tavily.requests == [], "nothing leaves the machine before approval"

    out = resume(app, config, {"action": "approve"}, ctx)
    assert [r.json()["query"] for r in tavily.requests] == [NEWS_Q]
    assert any(c["source"] == "web" for c in out["citations"])
    assert message_types(app, config) == ["human", "ai"]


def test_an_edited_query_is_the_one_sent(saver, banking_kb, tavily):
    app = build_graph(checkpointer=saver)
    ctx = Context(data_dir=banking_kb, web_approval="ask")
    config = start(app, NEWS_Q, "edit", ctx)
    resume(app, config, {"action": "edit", "queries": ["corrective RAG news"]}, ctx)
    assert [r.json()["query"] for r in tavily.requests] == ["corrective RAG news"]

    follow_up = app.invoke({"messages": [("user", FEE_Q)]}, config, context=ctx)
    assert "$20" in follow_up["answer"]
    assert message_types(app, config) == ["human", "ai", "human", "ai"]


@pytest.mark.parametrize("value", [{"action": "refuse"}, "refuse", 42, {"action": "launch"}])
def test_refused_or_unreadable_approval_keeps_to_internal_sources(saver, banking_kb, tavily, value):
    app = build_graph(checkpointer=saver)
    ctx = Context(data_dir=banking_kb, web_approval="ask")
    question = "What is the latest early closure fee for a Bronze savings account?"
    config = start(app, question, "refuse", ctx)
    out = resume(app, config, value, ctx)

    assert tavily.requests == []
    assert "$20" in out["answer"] and "not approved" in out["answer"]
    assert all(c["source"] == "vectorstore" for c in out["citations"])
    understood = value in ("refuse", {"action": "refuse"})
    assert any("approve_web_search: expected one of" in e for e in out["errors"]) != understood


def test_the_crag_web_fallback_asks_too(saver, banking_kb, tavily):
    zero = {"scores": [{"id": i, "score": 0} for i in range(1, 5)]}
    with scripted(router=[plan(FEE_Q)] * 3, grader=[zero] * 3) as m:
        app = build_graph(checkpointer=saver)
        ctx = Context(data_dir=banking_kb, web_approval="ask", **m)
        config = start(app, FEE_Q, "fallback", ctx)
        payload = pending(app, config)
        assert payload["type"] == "approve_web_search" and payload["queries"] == [FEE_Q]
        resume(app, config, {"action": "approve"}, ctx)
    assert [r.json()["query"] for r in tavily.requests] == [FEE_Q]


def test_never_means_no_web_and_no_question(saver, banking_kb, tavily):
    app = build_graph(checkpointer=saver)
    ctx = Context(data_dir=banking_kb, web_approval="never")
    config = start(app, NEWS_Q, "never", ctx)
    assert not app.get_state(config).next
    assert tavily.requests == []


# --- clarify -------------------------------------------------------------------------


def test_an_ambiguous_first_message_gets_one_clarifying_question(saver, banking_kb):
    app = build_graph(checkpointer=saver)
    ctx = Context(data_dir=banking_kb)
    config = start(app, "How much does it cost?", "clarify", ctx)

    payload = pending(app, config)
    assert payload["type"] == "clarify" and payload["allowed"] == ["answer"]
    assert '"it"' in payload["question"]

    out = resume(app, config, "the early closure fee for a Bronze savings account", ctx)
    assert "bronze" in out["answer"].lower() and "early closure fee" in out["answer"].lower()
    assert message_types(app, config) == ["human", "ai", "human", "ai"]
    assert app.get_state(config).values["messages"][1].name == "clarification"


def test_a_second_ambiguous_answer_is_not_asked_again(saver, banking_kb):
    app = build_graph(checkpointer=saver)
    ctx = Context(data_dir=banking_kb)
    config = start(app, "Is it free?", "twice", ctx)
    resume(app, config, {"action": "answer", "answer": "that one"}, ctx)
    assert not app.get_state(config).next


def test_clarify_off_and_empty_answers_retrieve_as_asked(saver, banking_kb):
    app = build_graph(checkpointer=saver)
    off = start(app, "How much does it cost?", "off", Context(data_dir=banking_kb, clarify=False))
    assert not app.get_state(off).next

    ctx = Context(data_dir=banking_kb)
    config = start(app, "How much does it cost?", "empty", ctx)
    out = resume(app, config, {"action": "answer", "answer": "   "}, ctx)
    assert out["answer"] and "clarify: the answer was empty" in out["errors"][0]


# --- review answer -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ({"action": "accept"}, "$20"),
        ({"action": "edit", "answer": "The fee is $20 [1]."}, "The fee is $20 [1]."),
        ("reject", REJECTED),
    ],
)
def test_review_accept_edit_reject(saver, banking_kb, reply, expected):
    app = build_graph(checkpointer=saver)
    ctx = Context(data_dir=banking_kb, answer_review="always")
    config = start(app, FEE_Q, "review", ctx)
    payload = pending(app, config)
    assert payload["type"] == "review_answer" and "$20" in payload["draft"]
    assert payload["allowed"] == ["accept", "edit", "reject"]

    out = resume(app, config, reply, ctx)
    assert expected in out["answer"]
    assert app.get_state(config).values["messages"][-1].content == out["answer"]
    if reply == "reject":
        assert out["citations"] == []
    else:
        assert out["citations"]


def test_review_on_failure_skips_passing_answers(saver, banking_kb):
    app = build_graph(checkpointer=saver)
    config = start(app, FEE_Q, "ok", Context(data_dir=banking_kb, answer_review="on_failure"))
    assert not app.get_state(config).next
