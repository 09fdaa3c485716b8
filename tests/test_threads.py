"""Threads on every checkpointer, sync and async: follow-ups, per-turn resets, isolation."""

from __future__ import annotations

import pytest

from state.context import Context
from tests.test_checkpointers import BACKENDS, MODES, backend_spec, opened

OPEN_Q = "How do I open a personal checking account?"
FOLLOW_UP = "and what about closing it?"
FEE_Q = "What is the early closure fee for a Bronze savings account?"


@pytest.fixture(params=MODES)
def mode(request):
    return request.param


@pytest.fixture(params=BACKENDS)
def app(request, mode, tmp_path):
    """A `tests.test_checkpointers.Driver`: the graph on a fresh saver of each backend."""
    spec = backend_spec(request, request.param, tmp_path)
    with opened(spec, str(tmp_path), mode) as driver:
        yield driver


def turn(app, question, ctx, thread):
    config = {"configurable": {"thread_id": thread}}
    out = app.invoke({"messages": [("user", question)]}, config, ctx)
    return out, app.state(config).values


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
    assert {d["query"] for d in s2["context_docs"]} <= {OPEN_Q, s2["query"]}
    assert s2["documents"] == [], "documents are cleared once refined into strips"
    assert set(second["usage"]["ms_per_node"]) <= set(second["trace"])
    assert s2["generations"] == 1 and s2.get("rewrites", 0) == 0
    # grades (every graded document) and the generator's context are this turn's only
    graded = [g["id"] for g in s2["grades"]]
    ids_now = set(graded)
    only_before = {g["id"] for g in s1["grades"]} - ids_now
    assert only_before, "the two questions should retrieve different documents"
    assert len(graded) == len(ids_now) <= 8
    context = {c["id"].split("#")[0] for c in s2["context_docs"]}
    assert context and context <= ids_now and not context & only_before


def test_threads_do_not_see_each_other(app, banking_kb):
    ctx = Context(data_dir=banking_kb)
    _, first = turn(app, OPEN_Q, ctx, "c1")
    _, other = turn(app, FOLLOW_UP, ctx, "c2")  # "it" is unknown here: answered or clarified
    assert [m.content for m in other["messages"] if m.type == "human"] == [FOLLOW_UP]
    assert "checking" not in other["query"].lower()
    after = app.state({"configurable": {"thread_id": "c1"}}).values
    assert after["messages"] == first["messages"] and after["query"] == first["query"]
