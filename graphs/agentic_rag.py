"""The agentic RAG graph: rewrite, remember, decide, select, retrieve, grade, refine, generate,
check.

Example:
    >>> from graphs import build_graph
    >>> from langgraph.checkpoint.memory import InMemorySaver
    >>> app = build_graph(checkpointer=InMemorySaver())
    >>> result = app.invoke(  # doctest: +SKIP
    ...     {"messages": [("user", "What is the overdraft fee?")]},
    ...     {"configurable": {"thread_id": "t1"}},
    ... )
"""

from __future__ import annotations

from typing import Any

from langgraph.graph import END, START, StateGraph

from graphs.routes import (
    after_check,
    after_clarification,
    after_decision,
    after_generation,
    after_grading,
    after_selection,
    fan_out,
)
from nodes.approve_web_search import approve_web_search
from nodes.check_answer import check_answer
from nodes.clarify_question import clarify_question
from nodes.decide_retrieval import decide_retrieval
from nodes.finalize import finalize
from nodes.generate import generate
from nodes.grade_documents import grade_documents
from nodes.refine_knowledge import refine_knowledge
from nodes.remember import remember
from nodes.retrieve import retrieve
from nodes.review_answer import review_answer
from nodes.rewrite_query import rewrite_query
from nodes.select_sources import select_sources
from nodes.web_fallback import web_fallback
from state.context import Context
from state.schema import InputState, OutputState, State


def build_graph(checkpointer: Any = None, store: Any = None, *, name: str = "agentic_rag"):
    """Assemble and compile the graph.

    Args:
        checkpointer: A LangGraph checkpointer for threads (None for stateless runs, and for
            `langgraph dev`, which supplies its own).
        store: A LangGraph `BaseStore` with a semantic index for long-term memory.
        name: The compiled graph's name.
    """
    builder = StateGraph(
        State, context_schema=Context, input_schema=InputState, output_schema=OutputState
    )
    for node in (
        rewrite_query,
        remember,
        decide_retrieval,
        clarify_question,
        select_sources,
        approve_web_search,
        retrieve,
        grade_documents,
        refine_knowledge,
        web_fallback,
        generate,
        check_answer,
        review_answer,
        finalize,
    ):
        builder.add_node(node.__name__, node)
    builder.add_edge(START, "rewrite_query")
    builder.add_edge("rewrite_query", "remember")
    builder.add_edge("remember", "decide_retrieval")
    builder.add_conditional_edges("decide_retrieval", after_decision)
    builder.add_conditional_edges("clarify_question", after_clarification)
    builder.add_conditional_edges(
        "select_sources", after_selection, ["approve_web_search", "retrieve", "grade_documents"]
    )
    builder.add_conditional_edges("approve_web_search", fan_out, ["retrieve", "grade_documents"])
    builder.add_edge("retrieve", "grade_documents")
    builder.add_conditional_edges("grade_documents", after_grading)
    builder.add_edge("web_fallback", "refine_knowledge")
    builder.add_edge("refine_knowledge", "generate")
    builder.add_conditional_edges("generate", after_generation)
    builder.add_conditional_edges("check_answer", after_check)
    builder.add_edge("review_answer", "finalize")
    builder.add_edge("finalize", END)
    return builder.compile(checkpointer=checkpointer, store=store, name=name)


graph = build_graph()
"""The graph `langgraph.json` serves (the server supplies persistence)."""
