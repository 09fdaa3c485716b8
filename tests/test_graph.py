"""The graph's branches, driven by scripted models over a real index."""

from __future__ import annotations

import re

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.store.memory import InMemoryStore

from graphs import build_graph
from nodes.generate import NOT_FOUND
from nodes.models import ModelConfigError
from state.context import Context
from tests.fakes.servers import FakeResponse, fake_server, tavily_search_response
from tests.scripted import plan, scripted
from tools.memory import memory_index, put_memory

FEE_Q = "What is the early closure fee for a Bronze savings account?"
AGE_Q = "How old must a customer be to open a personal checking account?"
CRAG_Q = "What does corrective retrieval augmented generation add to RAG?"


def ask(question, ctx, *, app=None, thread="t1", store=None):
    app = app or build_graph(checkpointer=InMemorySaver(), store=store)
    return app.invoke(
        {"messages": [("user", question)]}, {"configurable": {"thread_id": thread}}, context=ctx
    )


def scores(*values):
    return {"scores": [{"id": i, "score": v} for i, v in enumerate(values, start=1)]}


@pytest.fixture
def web(monkeypatch):
    """A fake Tavily endpoint used by the real tavily-python client."""
    with fake_server({"/search": FakeResponse(body=tavily_search_response())}) as server:
        monkeypatch.setenv("TAVILY_API_KEY", "tvly-test")
        monkeypatch.setenv("TAVILY_BASE_URL", server.url)
        yield server


def test_offline_answer_is_cited_and_extractive(banking_kb):
    out = ask(FEE_Q, Context(data_dir=banking_kb))
    assert out["trace"][:4] == ["rewrite_query", "remember", "decide_retrieval", "select_sources"]
    assert "grade_documents" in out["trace"] and "generate" in out["trace"]
    assert out["grade"] in ("correct", "ambiguous")
    assert "extractive" in out["answer"].lower()
    assert "$20" in out["answer"]
    cited = {int(n) for n in re.findall(r"\[(\d+)\]", out["answer"])}
    assert cited and cited == {c["id"] for c in out["citations"]}
    assert {c["source"] for c in out["citations"]} == {"vectorstore"}
    assert set(out["checks"]) >= {"grounded", "relevant"}
    assert out["usage"]["llm_calls"] == 0
    assert out["thread_id"] == "t1"
    assert out["route"]["decision"] == "single" and out["route"]["sources"] == ["vectorstore"]


def test_happy_path_uses_three_llm_calls_for_four_documents(banking_kb):
    with scripted(
        router=[plan(FEE_Q)],
        grader=[scores(0.9, 0.6, 0.2, 0.1)],
        generator=["A Bronze savings account closed within 60 days costs $20 [1]."],
    ) as models:
        out = ask(FEE_Q, Context(data_dir=banking_kb, top_k=4, checker_model="off", **models))
    assert len(out["route"]["tasks"]) == 1
    assert out["trace"].count("retrieve") == 1
    assert out["usage"]["llm_calls"] == 3
    assert len([g for g in out["grades"]]) == 4 if "grades" in out else True
    assert out["grade"] == "correct"
    assert out["answer"].startswith("A Bronze savings account")


def test_llm_checker_is_the_fourth_call(banking_kb):
    with scripted(
        router=[plan(FEE_Q)],
        grader=[scores(0.9, 0.6, 0.2, 0.1)],
        generator=["It costs $20 [1]."],
        checker=[{"grounded": True, "relevant": True, "reason": "ok"}],
    ) as models:
        out = ask(FEE_Q, Context(data_dir=banking_kb, **models))
    assert out["usage"]["llm_calls"] == 4
    assert out["checks"]["grounded"] and out["checks"]["relevant"]


def test_chit_chat_skips_retrieval(banking_kb):
    out = ask("Hi there, thanks!", Context(data_dir=banking_kb))
    assert out["route"]["decision"] == "none"
    assert "retrieve" not in out["trace"] and "check_answer" not in out["trace"]
    assert out["answer"]


def test_multi_decomposes_and_retrieves_in_parallel(banking_kb):
    subs = [FEE_Q, AGE_Q]
    with scripted(router=[plan("fees and age", "multi", subs=subs)]) as models:
        out = ask(f"{FEE_Q} And {AGE_Q}", Context(data_dir=banking_kb, **models))
    assert out["route"]["decision"] == "multi"
    assert {t["query"] for t in out["route"]["tasks"]} == set(subs)
    assert out["trace"].count("retrieve") == 2


def test_local_router_decomposes_compound_questions(banking_kb):
    out = ask(f"{FEE_Q} And {AGE_Q}", Context(data_dir=banking_kb))
    assert out["route"]["decision"] == "multi"
    assert out["trace"].count("retrieve") >= 2


def test_unconfigured_sources_are_never_chosen(banking_kb):
    with scripted(router=[plan(FEE_Q, sources=("web", "arxiv", "memory", "vectorstore"))]) as m:
        out = ask(FEE_Q, Context(data_dir=banking_kb, **m))
    assert out["route"]["sources"] == ["vectorstore"]
    assert "TAVILY_API_KEY" in out["route"]["unavailable"]["web"]
    assert set(out["route"]["unavailable"]) == {"web", "arxiv", "memory"}


def test_memory_source_with_a_store(banking_kb):
    store = InMemoryStore(index=memory_index())
    put_memory(store, "ana", "My account is a Bronze savings account opened in March.")
    with scripted(router=[plan("What kind of account do I have?", sources=("memory",))]) as m:
        out = ask(
            "What kind of account do I have?",
            Context(data_dir=banking_kb, user_id="ana", **m),
            store=store,
        )
    assert out["route"]["sources"] == ["memory"]
    assert out["citations"] and out["citations"][0]["source"] == "memory"


def test_web_source_sends_only_the_rewritten_query(banking_kb, web):
    with scripted(router=[plan("corrective RAG retrieval evaluator", sources=("web",))]) as m:
        app = build_graph(checkpointer=InMemorySaver())
        ask("I'm Ana from the EU office. " + CRAG_Q, Context(data_dir=banking_kb, **m), app=app)
    bodies = [r.json() for r in web.requests if r.path == "/search"]
    assert [b["query"] for b in bodies] == ["corrective RAG retrieval evaluator"]


def test_incorrect_without_web_abstains_and_says_so(banking_kb):
    with scripted(router=[plan(CRAG_Q)] * 3, grader=[scores(0, 0, 0, 0)] * 3) as m:
        out = ask(CRAG_Q, Context(data_dir=banking_kb, **m))
    assert out["grade"] == "incorrect"
    assert "web_fallback" not in out["trace"]
    assert out["answer"].startswith(NOT_FOUND)
    assert "web search could not be used" in out["answer"]


def test_incorrect_with_web_replaces_internal_documents(banking_kb, web):
    with scripted(router=[plan(CRAG_Q)], grader=[scores(0, 0, 0, 0)]) as m:
        out = ask(CRAG_Q, Context(data_dir=banking_kb, **m))
    assert out["grade"] == "incorrect"
    assert "web_fallback" in out["trace"]
    assert out["citations"] and {c["source"] for c in out["citations"]} == {"web"}


def test_ambiguous_with_web_adds_web_documents(banking_kb, web):
    with scripted(router=[plan(FEE_Q)], grader=[scores(0.5, 0.5, 0.5, 0.5)]) as m:
        app = build_graph(checkpointer=InMemorySaver())
        out = ask(FEE_Q, Context(data_dir=banking_kb, **m), app=app)
        history = app.get_state_history({"configurable": {"thread_id": "t1"}})
        refined = next(s for s in history if s.next == ("refine_knowledge",))
    assert out["grade"] == "ambiguous"
    assert "web_fallback" in out["trace"]
    sources = {d["source"] for d in refined.values["documents"]}
    assert "vectorstore" in sources
    assert len(web.requests) == 1


def test_web_budget_zero_blocks_the_fallback(banking_kb, web):
    with scripted(router=[plan(CRAG_Q)] * 3, grader=[scores(0, 0, 0, 0)] * 3) as m:
        out = ask(CRAG_Q, Context(data_dir=banking_kb, max_web_searches=0, **m))
    assert "web_fallback" not in out["trace"] and not web.requests
    assert "budget" in out["answer"]


def test_malformed_grader_output_falls_back_to_scores(banking_kb):
    with scripted(router=[plan(FEE_Q)], grader=["Sure! The first one looks good."]) as m:
        out = ask(FEE_Q, Context(data_dir=banking_kb, **m))
    assert out["grade"] in ("correct", "ambiguous")
    assert any("grader model failed" in e for e in out["errors"])
    assert "$20" in out["answer"]


def test_ungrounded_answer_is_regenerated_then_caveated(banking_kb):
    with scripted(
        router=[plan(FEE_Q)],
        grader=[scores(0.9, 0.6, 0.2, 0.1)],
        generator=["It is free [1].", "It is still free [1]."],
        checker=[{"grounded": False, "relevant": True, "unsupported": ["It is free"]}] * 2,
    ) as m:
        out = ask(FEE_Q, Context(data_dir=banking_kb, max_generations=2, **m))
    assert out["trace"].count("generate") == 2
    assert out["answer"].startswith("It is still free [1].")
    assert "could not be verified" in out["answer"]


def test_irrelevant_answer_rewrites_then_caveats(banking_kb):
    with scripted(
        router=[plan(FEE_Q)] * 3,
        grader=[scores(0.9, 0.6, 0.2, 0.1)] * 3,
        generator=["Savings accounts exist [1]."] * 3,
        checker=[{"grounded": True, "relevant": False}] * 3,
    ) as m:
        out = ask(FEE_Q, Context(data_dir=banking_kb, max_rewrites=2, **m))
    assert out["trace"].count("rewrite_query") == 3
    assert "may not fully address" in out["answer"]


@pytest.mark.parametrize("budget", [0, 1])
def test_rewrite_budget_bounds_the_loop_offline(banking_kb, budget):
    out = ask(
        "What is the airspeed velocity of an unladen swallow?",
        Context(data_dir=banking_kb, max_rewrites=budget),
    )
    assert out["trace"].count("rewrite_query") == budget + 1
    assert out["trace"][-1] == "finalize"


def test_stream_messages_shows_answer_tokens_only(banking_kb):
    with scripted(
        router=[plan(FEE_Q)],
        grader=[scores(0.9, 0.6, 0.2, 0.1)],
        generator=["The fee is $20 when closed within 60 days [1]."],
    ) as m:
        app = build_graph(checkpointer=InMemorySaver())
        chunks = list(
            app.stream(
                {"messages": [("user", FEE_Q)]},
                {"configurable": {"thread_id": "s"}},
                context=Context(data_dir=banking_kb, checker_model="off", **m),
                stream_mode="messages",
            )
        )
    assert chunks and {meta["langgraph_node"] for _, meta in chunks} == {"generate"}
    assert "".join(c.content for c, _ in chunks) == "The fee is $20 when closed within 60 days [1]."


def test_stream_messages_offline_emits_the_answer_once(banking_kb):
    app = build_graph(checkpointer=InMemorySaver())
    chunks = list(
        app.stream(
            {"messages": [("user", FEE_Q)]},
            {"configurable": {"thread_id": "s"}},
            context=Context(data_dir=banking_kb),
            stream_mode="messages",
        )
    )
    assert len(chunks) == 1 and chunks[0][1]["langgraph_node"] == "finalize"
    assert "$20" in chunks[0][0].content


def test_unknown_model_string_is_a_clear_error(banking_kb):
    with pytest.raises(ModelConfigError, match="nonexistent"):
        ask(FEE_Q, Context(data_dir=banking_kb, router_model="nonexistent"))


@pytest.mark.parametrize("field", ["max_rewrites", "max_web_searches", "top_k"])
def test_negative_budgets_are_rejected(field):
    with pytest.raises(ValueError, match=field):
        Context(**{field: -1})


def test_paper_questions_route_to_arxiv_when_enabled(banking_kb, monkeypatch):
    from tests.fakes.servers import ARXIV_FEED

    feed = FakeResponse(body=ARXIV_FEED, content_type="application/atom+xml")
    with fake_server({"/api/query": feed}) as server:
        monkeypatch.setenv("ARXIV_API_URL", server.url)
        monkeypatch.setenv("ARXIV_DELAY_SECONDS", "0")
        question = "Which papers describe recent work on corrective retrieval augmented generation?"
        out = ask(question, Context(data_dir=banking_kb, arxiv_search=True))
        assert "arxiv" in out["route"]["sources"] and out["route"]["reasons"]["arxiv"]
        assert any(c["source"] == "arxiv" for c in out["citations"])
        off = ask(question, Context(data_dir=banking_kb), thread="t2")
    assert "arxiv" not in off["route"]["sources"]
    assert off["route"]["unavailable"]["arxiv"] == "disabled in the context"


def test_web_source_respects_the_web_budget(banking_kb, web):
    with scripted(router=[plan(FEE_Q, sources=("web", "vectorstore"))]) as m:
        out = ask(FEE_Q, Context(data_dir=banking_kb, max_web_searches=0, **m))
    assert not web.requests
    assert "web budget allows 0" in out["route"]["reasons"]["web"]
    assert {t["source"] for t in out["route"]["tasks"]} == {"vectorstore"}


def test_a_missing_knowledge_base_is_said_not_silent(tmp_path):
    from langgraph.store.memory import InMemoryStore

    app = build_graph(store=InMemoryStore())
    out = app.invoke(
        {"messages": [("user", "What is the overdraft fee?")]},
        context=Context(data_dir=str(tmp_path / "nothing-here")),
    )
    assert "knowledge base was not searched" in out["answer"]
    assert "agentic-rag ingest" in out["answer"]


def test_a_spent_web_budget_falls_back_to_the_knowledge_base(banking_kb, web):
    ctx = Context(data_dir=banking_kb, max_web_searches=0)
    out = build_graph().invoke(
        {
            "messages": [
                ("user", "What is the latest early closure fee for a Bronze savings account?")
            ]
        },
        context=ctx,
    )
    assert out["route"]["sources"] == ["web", "vectorstore"]
    assert "budget" in out["route"]["reasons"]["vectorstore"]
    assert "$20" in out["answer"] and web.requests == []
