"""Optional retrieval strategies in the retrieve node: multi-query (RAG-Fusion) and HyDE."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models import GenericFakeChatModel

from nodes.models import register_chat_model, unregister_chat_model
from nodes.retrieve import alternative_queries, reciprocal_rank_fusion, retrieve
from state.context import Context
from state.document import make_doc
from tests.scripted import reply, scripted
from tools.ingest import ingest_paths
from tools.vectorstore import KnowledgeBase

DOCS = {
    "wires.md": "# Wires\n\nOutgoing domestic wire transfers cost $25 and settle the same day.",
    "overdraft.md": "# Overdraft\n\nAn overdraft fee of $35 applies per item; protection is free.",
    "cards.md": "# Cards\n\nA lost debit card can be frozen instantly in the mobile app.",
    "abroad.md": "# Travel\n\nCard payments abroad carry a 3% foreign transaction fee.",
}
QUESTION = "How much does it cost to send money to another bank?"
ALTERNATIVES = ["domestic wire transfer fee", "outgoing wire cost", "send money other bank price"]


@pytest.fixture(scope="module")
def kb_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("strategies")
    for name, text in DOCS.items():
        (root / "docs").mkdir(exist_ok=True)
        (root / "docs" / name).write_text(text + "\n", encoding="utf-8")
    assert ingest_paths([root / "docs"], data_dir=root / "data", kb="default").chunks_added == 4
    return str(root / "data")


@pytest.fixture
def searches(monkeypatch):
    """Every query the knowledge base is searched with, in order."""
    seen: list[str] = []
    original = KnowledgeBase.search

    def search(self, query, k, **kwargs):
        seen.append(query)
        return original(self, query, k, **kwargs)

    monkeypatch.setattr(KnowledgeBase, "search", search)
    return seen


def run(ctx: Context, query: str = QUESTION, source: str = "vectorstore") -> dict:
    return retrieve({"query": query, "source": source}, SimpleNamespace(context=ctx, store=None))


def test_multi_query_fuses_the_generated_queries(kb_dir, searches):
    with scripted(router=[{"queries": ALTERNATIVES}]) as models:
        ctx = Context(data_dir=kb_dir, retrieval_strategy="multi_query", top_k=3, **models)
        out = run(ctx)
    assert searches == [QUESTION, *ALTERNATIVES]
    assert out["usage"]["llm_calls"] == 1 and not out.get("errors")
    docs = out["documents"]
    assert docs[0]["metadata"]["path"] == "docs/wires.md" and len(docs) == 3
    assert docs[0]["metadata"]["rrf_hits"] == 4 and all(d["query"] == QUESTION for d in docs)
    assert [d["score"] for d in docs] == sorted((d["score"] for d in docs), reverse=True)


def test_hyde_searches_with_the_hypothetical_passage(kb_dir, searches):
    passage = "A domestic wire transfer to another bank costs $25 per outgoing wire."
    with scripted(router=[passage]) as models:
        out = run(Context(data_dir=kb_dir, retrieval_strategy="hyde", **models))
    assert searches == [f"{QUESTION}\n{passage}"]
    assert out["usage"]["llm_calls"] == 1 and not out.get("errors")
    assert out["documents"][0]["metadata"]["path"] == "docs/wires.md"
    assert out["documents"][0]["query"] == QUESTION


@pytest.mark.parametrize(
    ("strategy", "bad_reply"),
    [
        ("multi_query", "Sure, here are some queries: wire fee"),
        ("multi_query", {"queries": []}),
        ("hyde", "   "),
    ],
)
def test_malformed_output_falls_back_to_hybrid(kb_dir, searches, strategy, bad_reply):
    with scripted(router=[bad_reply]) as models:
        out = run(Context(data_dir=kb_dir, retrieval_strategy=strategy, **models))
    plain = run(Context(data_dir=kb_dir))
    assert searches == [QUESTION, QUESTION]
    assert out["usage"]["llm_calls"] == 1
    assert len(out["errors"]) == 1 and f"{strategy} failed" in out["errors"][0]
    assert [d["id"] for d in out["documents"]] == [d["id"] for d in plain["documents"]]


def test_a_failing_model_falls_back_without_usage(kb_dir, searches):
    with scripted(router=[]) as models:
        out = run(Context(data_dir=kb_dir, retrieval_strategy="hyde", **models))
    assert searches == [QUESTION] and out["documents"]
    assert out["usage"].get("llm_calls", 0) == 0 and "hyde failed" in out["errors"][0]


def test_without_an_llm_the_strategy_is_plain_hybrid(kb_dir, searches):
    out = run(Context(data_dir=kb_dir, retrieval_strategy="multi_query", router_model="local"))
    assert searches == [QUESTION] and out["documents"] and not out.get("errors")
    assert out["usage"].get("llm_calls", 0) == 0


def test_the_expansion_call_is_internal(kb_dir):
    class Tags(BaseCallbackHandler):
        tags: list[str] = []

        def on_chat_model_start(self, serialized, messages, *, tags=None, **kwargs):
            Tags.tags = list(tags or [])

    model = GenericFakeChatModel(messages=iter([reply({"queries": ALTERNATIVES})]))
    model.callbacks = [Tags()]
    register_chat_model("tagged:router", model)
    try:
        ctx = Context(data_dir=kb_dir, retrieval_strategy="multi_query")
        ctx.router_model = "tagged:router"
        run(ctx)
    finally:
        unregister_chat_model("tagged:router")
    assert "nostream" in Tags.tags and "role:router" in Tags.tags


def test_strategy_is_validated_and_other_sources_ignore_it(kb_dir):
    with pytest.raises(ValueError, match="retrieval_strategy"):
        Context(retrieval_strategy="hyde-ish")
    with scripted(router=[{"queries": ALTERNATIVES}]) as models:
        ctx = Context(data_dir=kb_dir, retrieval_strategy="multi_query", **models)
        out = run(ctx, source="memory")
    assert out["documents"] == [] and out["usage"].get("llm_calls", 0) == 0


def test_fusion_and_query_parsing_helpers():
    a, b, c = (
        make_doc(id=i, content=i, source="vectorstore", score=s)
        for i, s in (("a", 0.9), ("b", 0.8), ("c", 0.7))
    )
    fused = reciprocal_rank_fusion([[a, b], [b, c], [b]], 2)
    assert [d["id"] for d in fused] == ["b", "a"]
    assert fused[0]["metadata"] == {"hybrid_score": 0.8, "rrf_hits": 3}
    assert alternative_queries('```json\n{"queries": ["x", "X?", "y", "z", "w"]}\n```', "q") == [
        "x",
        "y",
        "z",
    ]
    with pytest.raises(ValueError):
        alternative_queries('{"queries": ["Q"]}', "q?")
