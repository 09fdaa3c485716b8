"""The published interfaces: langgraph.json's graph, Studio's context schema, async use."""

from __future__ import annotations

import asyncio
import importlib.util
import json
from pathlib import Path

from langgraph.checkpoint.memory import InMemorySaver

from graphs import build_graph
from state.context import Context

ROOT = Path(__file__).resolve().parents[1]
NODES = {
    "rewrite_query",
    "remember",
    "decide_retrieval",
    "select_sources",
    "retrieve",
    "grade_documents",
    "refine_knowledge",
    "web_fallback",
    "generate",
    "check_answer",
    "finalize",
}


def test_langgraph_json_store_index_is_the_local_embedder():
    index = json.loads((ROOT / "langgraph.json").read_text())["store"]["index"]
    path, attr = index["embed"].split(":")
    spec = importlib.util.spec_from_file_location("store_embed", ROOT / path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert len(getattr(module, attr).embed_query("my account type")) == index["dims"]
    assert index["fields"] == ["text"]


def test_langgraph_json_points_at_a_graph_without_a_checkpointer():
    config = json.loads((ROOT / "langgraph.json").read_text())
    path, attr = config["graphs"]["agentic_rag"].split(":")
    spec = importlib.util.spec_from_file_location("served_graph", ROOT / path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    graph = getattr(module, attr)
    assert graph.checkpointer is None
    assert set(graph.get_graph().nodes) >= NODES


def test_context_schema_documents_every_field_for_studio():
    graph = build_graph()
    schema = graph.get_context_jsonschema()
    props = schema["properties"]
    assert {"router_model", "max_rewrites", "max_generations", "max_web_searches"} <= set(props)
    assert all(p.get("description") for p in props.values())
    assert set(graph.get_input_jsonschema()["properties"]) == {"messages"}
    output = set(graph.get_output_jsonschema()["properties"])
    assert {"answer", "citations", "route", "grade", "checks", "trace", "usage"} <= output


def test_async_invocation(banking_kb):
    app = build_graph(checkpointer=InMemorySaver())

    async def main():
        return await app.ainvoke(
            {"messages": [("user", "How do I activate a debit card?")]},
            {"configurable": {"thread_id": "async"}},
            context=Context(data_dir=banking_kb),
        )

    out = asyncio.run(main())
    assert out["citations"] and "generate" in out["trace"]
