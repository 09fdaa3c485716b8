"""The environment of an `agentic-rag` subprocess in tests: this one's, minus its settings."""

from __future__ import annotations

import os


def cli_env(data_dir: str, checkpointer: str, extra: dict[str, str]) -> dict[str, str]:
    """This process's environment without ``AGENTIC_RAG_*``/``CHROMA_*``, plus the data dir,
    the checkpointer spec, an in-memory store, no tracing and ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AGENTIC_RAG_", "CHROMA_"))}
    env.update(
        LANGSMITH_TRACING="false",
        AGENTIC_RAG_DATA_DIR=data_dir,
        AGENTIC_RAG_CHECKPOINTER=checkpointer,
        AGENTIC_RAG_STORE="memory",
        **extra,
    )
    return env
