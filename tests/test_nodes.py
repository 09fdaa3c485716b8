"""Node-level pieces: reducers, model-reply parsing, citations, local regeneration."""

from __future__ import annotations

import pytest

from nodes.generate import NOT_FOUND, _local_answer, build_citations
from nodes.local.check import check_answer
from nodes.models import ModelConfigError, get_chat_model, parse_json_object
from state.context import Context
from state.document import make_doc
from state.reducers import RESET, extend_or_reset, merge_usage

DOCS = [
    make_doc(
        id="a",
        content="The monthly fee is $5. Cards are replaced in 5 days.",
        source="vectorstore",
        title="Fees",
        location="fees.md",
    ),
    make_doc(id="b", content="Overdrafts cost $25.", source="web", title="OD", location="u"),
]


def test_reducers_append_and_reset():
    assert extend_or_reset(["a"], ["b"]) == ["a", "b"]
    assert extend_or_reset(["a"], [RESET, "c"]) == ["c"]
    assert extend_or_reset(["a"], RESET) == []
    usage = merge_usage(
        {"llm_calls": 2, "tokens": 5, "ms_per_node": {"x": 1.0}},
        {"llm_calls": 1, "ms_per_node": {"x": 2.0}},
    )
    assert usage == {"llm_calls": 3, "tokens": 5, "ms_per_node": {"x": 3.0}}
    assert merge_usage(usage, {RESET: True})["llm_calls"] == 0


@pytest.mark.parametrize("text", ['{"a": 1}', '```json\n{"a": 1}\n```', 'Here: {"a": 1} done'])
def test_parse_json_object_accepts_common_wrappings(text):
    assert parse_json_object(text) == {"a": 1}


@pytest.mark.parametrize("text", ["no json here", "[1, 2]", '{"a": '])
def test_parse_json_object_rejects_malformed_replies(text):
    with pytest.raises(ValueError):
        parse_json_object(text)


def test_citations_follow_first_use_and_ignore_unknown_numbers():
    cites = build_citations("Overdrafts cost $25 [2]. The fee is $5 [1][2]. Odd [7].", DOCS)
    assert [c["id"] for c in cites] == [2, 1]
    assert cites[0] == {
        "id": 2,
        "source": "web",
        "title": "OD",
        "location": "u",
        "snippet": "Overdrafts cost $25.",
    }


def test_local_regeneration_drops_unsupported_sentences():
    answer = "Prefix:\n- The monthly fee is $5. [1]\n- The bank was founded on the moon. [1]"
    checks = check_answer("What is the monthly fee?", answer, DOCS)
    assert not checks["grounded"]
    state = {
        "decision": "single",
        "generations": 1,
        "answer": answer,
        "checks": checks,
        "question": "What is the monthly fee?",
    }
    assert _local_answer(state, DOCS) == "Prefix:\n- The monthly fee is $5. [1]"
    state["answer"] = "Prefix:\n- The bank was founded on the moon. [1]"
    state["checks"] = check_answer("What is the monthly fee?", state["answer"], DOCS)
    assert _local_answer(state, DOCS) == NOT_FOUND


def test_context_reads_the_environment(monkeypatch):
    monkeypatch.setenv("AGENTIC_RAG_TOP_K", "7")
    monkeypatch.setenv("AGENTIC_RAG_WEB_SEARCH", "false")
    ctx = Context()
    assert ctx.top_k == 7 and ctx.web_search is False
    assert Context(top_k=3).top_k == 3
    monkeypatch.setenv("AGENTIC_RAG_TOP_K", "many")
    with pytest.raises(ValueError, match="AGENTIC_RAG_TOP_K"):
        Context()


def test_auto_means_local_without_a_key(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    assert get_chat_model("auto", Context()) is None
    with pytest.raises(ModelConfigError, match="unknown model"):
        get_chat_model("gpt-4o", Context())
