"""Graph assembly. ``from graphs import build_graph``."""

from graphs.agentic_rag import build_graph, graph

__all__ = ["build_graph", "graph"]
