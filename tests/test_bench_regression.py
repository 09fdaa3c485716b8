"""Regression fixtures for `bench/llm_calls.py` and `bench/graph_overhead.py` (no timing).

They pin what the benchmarks assume: how many LLM calls each system spends per question with
the benchmarks' scripted models, and how many nodes each graph of the overhead benchmark
executes per question, and how much a turn stores in its checkpoints.
"""

from __future__ import annotations

import pytest

from bench import graph_overhead, llm_calls
from bench.baselines import crag_tutorial
from graphs import build_graph
from tools.checkpointers import open_checkpointer

QUESTION_INDEXES = (0, 2, 4)
"""Three of the benchmark's 20 questions (the first, third and fifth)."""


@pytest.fixture(scope="module")
def bench_questions():
    qs = llm_calls.questions(20)
    return [qs[i] for i in QUESTION_INDEXES]


@pytest.fixture(scope="module")
def tutorial_rows(banking_kb, bench_questions):
    return llm_calls.run_tutorial(bench_questions, banking_kb)


def test_crag_tutorial_grades_each_document_with_its_own_call(tutorial_rows):
    for row in tutorial_rows:
        assert row["calls"]["grade"] == crag_tutorial.K
        assert row["calls"]["generate"] == 1
        assert row["calls"].get("transform_query", 0) == (1 if row["web_search"] else 0)
        assert row["total"] in (5, 6) and row["answered"]


def test_our_graph_spends_at_most_04x_the_tutorials_calls(
    banking_kb, bench_questions, tutorial_rows
):
    default = llm_calls.run_ours(bench_questions, banking_kb)
    always = llm_calls.run_ours(bench_questions, banking_kb, router_skip_plain=False)
    local_router = llm_calls.run_ours(bench_questions, banking_kb, roles=("grader", "generator"))
    for row in default + local_router:  # plain questions: the rules route, no router call
        assert row["calls"] == {"grader": 1, "generator": 1}
        assert row["answered"] and row["grade"] == "correct"
    for row in always:  # the router consulted anyway: the floor, 3 calls
        assert row["calls"] == {"router": 1, "grader": 1, "generator": 1}
        assert row["answered"] and row["grade"] == "correct"
    base = llm_calls.per_answered(tutorial_rows)
    assert llm_calls.per_answered(default) <= 0.4 * base
    assert llm_calls.per_answered(always) <= 0.6 * base


def test_overhead_bench_graphs_execute_the_assumed_nodes(banking_kb, bench_questions, tmp_path):
    docs = graph_overhead.fixed_documents(bench_questions, banking_kb)
    n = len(graph_overhead.HAPPY_PATH)
    with (
        graph_overhead.instant_setup(docs) as (ctx, meters),
        open_checkpointer(f"sqlite:{tmp_path / 'ours.sqlite'}", str(tmp_path)) as ours_saver,
        open_checkpointer(f"sqlite:{tmp_path / 'bare.sqlite'}", str(tmp_path)) as bare_saver,
    ):
        ours = build_graph(checkpointer=ours_saver)
        bare = graph_overhead.build_bare_graph(n, checkpointer=bare_saver)
        for i, question in enumerate(bench_questions):
            run = graph_overhead.run_ours(ours, ctx, meters, question, f"t{i}")
            assert tuple(run["trace"]) == graph_overhead.HAPPY_PATH
            assert run["model"] > 0 and run["retrieval"] > 0
            assert meters["models"].calls == {"router": i + 1, "grader": i + 1, "generator": i + 1}
            assert len(graph_overhead.run_bare(bare, question, f"t{i}")["trace"]) == n
            config = {"configurable": {"thread_id": f"t{i}"}}
            assert len(list(ours_saver.list(config))) == len(list(bare_saver.list(config)))


MAX_WRITES_PER_TURN = 64
"""Channel values a happy-path turn stores (61 measured: 72 before turns stopped re-clearing
fields that were already clear and the limits stopped being copied into the state)."""
MAX_CHECKPOINT_KB_PER_TURN = 80
"""Checkpoint kilobytes a happy-path turn stores (64-72 measured on these questions)."""


def test_a_turn_stores_few_writes_and_small_checkpoints(banking_kb, bench_questions, tmp_path):
    docs = graph_overhead.fixed_documents(bench_questions, banking_kb)
    with (
        graph_overhead.instant_setup(docs) as (ctx, meters),
        open_checkpointer(f"sqlite:{tmp_path / 'ours.sqlite'}", str(tmp_path)) as saver,
    ):
        ours = build_graph(checkpointer=saver)
        for i, question in enumerate(bench_questions):
            graph_overhead.run_ours(ours, ctx, meters, question, f"t{i}")
            writes, kb = _stored(saver.conn, f"t{i}")
            assert writes <= MAX_WRITES_PER_TURN and kb <= MAX_CHECKPOINT_KB_PER_TURN, (writes, kb)
        before = _stored(saver.conn, "t0")
        graph_overhead.run_ours(ours, ctx, meters, bench_questions[1], "t0")
        after = _stored(saver.conn, "t0")
        assert after[0] - before[0] <= MAX_WRITES_PER_TURN + 8  # 64: it clears the last turn's


def _stored(conn, thread: str) -> tuple[int, float]:
    (writes,) = conn.execute(
        "SELECT count(*) FROM writes WHERE thread_id = ?", (thread,)
    ).fetchone()
    (size,) = conn.execute(
        "SELECT sum(length(checkpoint)) FROM checkpoints WHERE thread_id = ?", (thread,)
    ).fetchone()
    return writes, size / 1024
