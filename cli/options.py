"""Command-line options shared by several commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.checks import check_text
from cli.console import fail


def check_data_dir(value: str) -> str:
    """``--data-dir`` as given; exit 2 when it names something that is not a folder."""
    path = Path(check_text(value, "--data-dir")).expanduser()
    if path.exists() and not path.is_dir():
        fail(f"--data-dir {value} is not a folder")
    return value


DataDir = Annotated[
    str,
    typer.Option(
        "--data-dir",
        envvar="AGENTIC_RAG_DATA_DIR",
        callback=check_data_dir,
        help="Index and thread storage.",
    ),
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
