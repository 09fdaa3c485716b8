"""Threads across checkpointers: follow-ups, per-turn resets, isolation."""

from __future__ import annotations

import sqlite3

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.sqlite import SqliteSaver

from graphs import build_graph
from state.context import Context

OPEN_Q = "How do I open a personal checking account?"
FOLLOW_UP = "and what about closing it?"
FEE_Q = "What is the early closure fee for a Bronze savings account?"


@pytest.fixture(params=["memory", "sqlite"])
def app(request, tmp_path):
    if request.param == "memory":
        yield build_graph(checkpointer=InMemorySaver())
        return
    conn = sqlite3.connect(tmp_path / "threads.sqlite", check_same_thread=False)
    try:
        yield build_graph(checkpointer=SqliteSaver(conn))
    finally:
        conn.close()


def turn(app, question, ctx, thread):
    config = {"configurable": {"thread_id": thread}}
    out = app.invoke({"messages": [("user", question)]}, config, context=ctx)
    return out, app.get_state(config).values


def test_follow_up_is_resolved_against_the_thread(app, banking_kb):
    ctx = Context(data_dir=banking_kb)
    turn(app, OPEN_Q, ctx, "a")
    _, state = turn(app, FOLLOW_UP, ctx, "a")
    assert "checking account" in state["query"].lower()
    assert state["question"] == FOLLOW_UP
    assert [m.type for m in state["messages"]] == ["human", "ai", "human", "ai"]


def test_per_turn_fields_are_reset_each_turn(app, banking_kb):
    ctx = Context(data_dir=banking_kb)
    first, s1 = turn(app, FEE_Q, ctx, "b")
    second, s2 = turn(app, OPEN_Q, ctx, "b")
    assert second["trace"][0] == "rewrite_query" and second["trace"].count("finalize") == 1
    assert {d["query"] for d in s2["documents"]} <= {OPEN_Q, s2["query"]}
    assert len(s2["documents"]) <= 8
    assert set(second["usage"]["ms_per_node"]) <= set(second["trace"])
    assert s2["generations"] == 1 and s2["rewrites"] == 0


def test_threads_do_not_see_each_other(app, banking_kb):
    ctx = Context(data_dir=banking_kb)
    turn(app, OPEN_Q, ctx, "c1")
    _, other = turn(app, FOLLOW_UP, ctx, "c2")
    assert len(other["messages"]) == 2
    assert "checking" not in other["query"].lower()
