"""Command-line options shared by several commands."""

from __future__ import annotations

from typing import Annotated

import typer

DataDir = Annotated[
    str,
    typer.Option("--data-dir", envvar="AGENTIC_RAG_DATA_DIR", help="Index and thread storage."),
]
Store = Annotated[
    str | None,
    typer.Option(
        "--store",
        envvar="AGENTIC_RAG_STORE",
        help="Long-term memory store: sqlite (default, under --data-dir), sqlite:PATH, memory "
        "or postgres://...",
    ),
]
