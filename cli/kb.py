"""``agentic-rag kb``: list and delete knowledge bases."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer
from rich.table import Table

from cli.console import console, fail
from cli.options import DataDir
from state.context import DEFAULT_DATA_DIR

kb_app = typer.Typer(no_args_is_help=True, help="List and delete knowledge bases.")


def _rows(data_dir: str) -> list[dict[str, Any]]:
    from tools.vectorstore import list_kbs

    return list_kbs(data_dir)


@kb_app.command("list")
def list_command(
    data_dir: DataDir = DEFAULT_DATA_DIR,
    as_json: Annotated[bool, typer.Option("--json", help="Print the list as JSON.")] = False,
) -> None:
    """List the knowledge bases with their chunk counts and embedders."""
    rows = _rows(data_dir)
    if as_json:
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return
    if not rows:
        console.print(f"no knowledge bases in {data_dir}", highlight=False)
        return
    table = Table("name", "chunks", "embedder")
    for row in rows:
        table.add_row(row["name"], f"{row['chunks']:,}", row["embedder"])
    console.print(table)


@kb_app.command("delete")
def delete_command(
    name: Annotated[str, typer.Argument(help="The knowledge base to delete.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """Delete a knowledge base (its Chroma collection and BM25 index)."""
    from state.context import validate_kb_name
    from tools.vectorstore import delete_kb

    try:
        validate_kb_name(name)
    except ValueError as exc:
        fail(str(exc))
    rows = {row["name"]: row for row in _rows(data_dir)}
    if name not in rows:
        fail(f"knowledge base {name!r} does not exist (known: {', '.join(rows) or 'none'})")
    if not yes:
        if not sys.stdin.isatty():
            fail("refusing to delete without confirmation: pass --yes (stdin is not a terminal)")
        chunks = rows[name]["chunks"]
        if not typer.confirm(f"Delete knowledge base {name!r} ({chunks:,} chunks)?"):
            fail("not deleted", code=1)
    delete_kb(data_dir, name)
    console.print(f"[green]deleted[/green] knowledge base '{name}'", highlight=False)
