"""The LLM path through the real langchain-openai client against a fake endpoint."""

from __future__ import annotations

import json

import pytest
from langgraph.checkpoint.memory import InMemorySaver

from graphs import build_graph
from state.context import Context
from tests.fakes.openai_server import openai_script, role_of
from tests.fakes.servers import FakeResponse, fake_server

FEE_Q = "What is the early closure fee for a Bronze savings account?"
ANSWER = "A Bronze Account closed within 60 days has a $20 early closure fee [1]."
REPLIES = {
    "router": json.dumps(
        {
            "query": FEE_Q,
            "decision": "single",
            "sub_questions": [],
            "sources": ["vectorstore"],
            "reasons": {"vectorstore": "policy"},
        }
    ),
    "grader": json.dumps(
        {"scores": [{"id": i, "score": s} for i, s in enumerate([0.9, 0.7, 0.2, 0.1], 1)]}
    ),
    "generator": ANSWER,
}


@pytest.fixture
def openai_ctx(banking_kb, monkeypatch):
    def make(url: str, **extra) -> Context:
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-key")
        model = "openai:gpt-4o-mini"
        return Context(
            data_dir=banking_kb,
            router_model=model,
            grader_model=model,
            generator_model=model,
            openai_base_url=f"{url}/v1",
            request_timeout=5,
            **extra,
        )

    return make


def test_openai_compatible_endpoint_drives_every_llm_role(openai_ctx):
    with fake_server({"/v1/chat/completions": openai_script(REPLIES)}) as server:
        ctx = openai_ctx(server.url, router_skip_plain=False)
        out = build_graph(checkpointer=InMemorySaver()).invoke(
            {"messages": [("user", FEE_Q)]}, {"configurable": {"thread_id": "o"}}, context=ctx
        )
    assert [role_of(r) for r in server.requests] == ["router", "grader", "generator"]
    assert all(r.headers.get("authorization") == "Bearer sk-test-key" for r in server.requests)
    assert out["usage"]["llm_calls"] == 3 and out["usage"]["tokens"] == 45
    assert out["answer"].startswith(ANSWER)
    grader_prompt = server.requests[1].json()["messages"][1]["content"]
    assert grader_prompt.count("<document id=") == 4


def test_plain_questions_skip_the_router_and_follow_ups_do_not(openai_ctx):
    app = build_graph(checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "p"}}
    with fake_server({"/v1/chat/completions": openai_script(REPLIES)}) as server:
        ctx = openai_ctx(server.url)
        first = app.invoke({"messages": [("user", FEE_Q)]}, config, context=ctx)
        plain = [role_of(r) for r in server.requests]
        app.invoke({"messages": [("user", "And what about its monthly fee?")]}, config, context=ctx)
        follow_up = [role_of(r) for r in server.requests][len(plain) :]
    assert plain == ["grader", "generator"] and first["usage"]["llm_calls"] == 2
    assert first["answer"].startswith(ANSWER)
    assert follow_up[0] == "router"


def test_streaming_through_the_real_client_yields_answer_tokens_only(openai_ctx):
    with fake_server({"/v1/chat/completions": openai_script(REPLIES)}) as server:
        app = build_graph(checkpointer=InMemorySaver())
        chunks = list(
            app.stream(
                {"messages": [("user", FEE_Q)]},
                {"configurable": {"thread_id": "s"}},
                context=openai_ctx(server.url),
                stream_mode="messages",
            )
        )
    assert len(chunks) > 3
    assert {meta["langgraph_node"] for _, meta in chunks} == {"generate"}
    assert "".join(c.content for c, _ in chunks) == ANSWER


def test_a_failing_endpoint_falls_back_to_the_local_engine(openai_ctx):
    broken = FakeResponse(status=500, body={"error": {"message": "boom"}})
    with fake_server({"/v1/chat/completions": broken}) as server:
        out = build_graph(checkpointer=InMemorySaver()).invoke(
            {"messages": [("user", FEE_Q)]},
            {"configurable": {"thread_id": "f"}},
            context=openai_ctx(server.url, router_skip_plain=False),
        )
    roles = ("router model failed", "grader model failed", "generator model failed")
    assert all(any(e.startswith(r) for e in out["errors"]) for r in roles)
    assert "$20" in out["answer"] and "extractive" in out["answer"]
    assert out["usage"]["llm_calls"] == 0
