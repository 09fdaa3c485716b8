"""``agentic-rag memory``: list, add and delete a user's long-term memories.

The store is the one ``ask`` and ``chat`` use (`tools.stores.open_store`): ``--store`` or
``AGENTIC_RAG_STORE``, by default ``<data-dir>/memory.sqlite``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Annotated

import typer
from langgraph.store.base import BaseStore
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from cli.checks import check_text
from cli.console import console, fail
from cli.options import DataDir, Store
from state.context import DEFAULT_DATA_DIR

memory_app = typer.Typer(
    no_args_is_help=True, help="List, add and delete what the assistant remembers about a user."
)

User = Annotated[str, typer.Option("--user", envvar="AGENTIC_RAG_USER_ID", help="Whose memories.")]


@contextmanager
def _opened(store_spec: str | None, data_dir: str, user: str) -> Iterator[BaseStore]:
    """The memory store, or a one-line error (bad spec or user, unreachable store)."""
    from tools.memory import memory_namespace
    from tools.stores import open_store

    check_text(user, "--user")
    with ExitStack() as stack:
        try:
            memory_namespace(user)
            store = stack.enter_context(open_store(store_spec, data_dir))
        except (ValueError, RuntimeError) as exc:
            fail(str(exc))
        yield store


@memory_app.command("list")
def list_command(
    user: User = "default",
    as_json: Annotated[bool, typer.Option("--json", help="Print the list as JSON.")] = False,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    store: Store = None,
) -> None:
    """List a user's memories, oldest first."""
    from tools.memory import list_memories

    with _opened(store, data_dir, user) as opened:
        rows = list_memories(opened, user)
    if as_json:
        sys.stdout.write(json.dumps(rows, indent=2, ensure_ascii=False) + "\n")
        return
    if not rows:
        console.print(f"no memories for user {escape(repr(user))}", highlight=False)
        return
    table = Table()
    table.add_column("key", no_wrap=True)  # copied into `memory delete KEY`
    table.add_column("memory", ratio=1)
    table.add_column("saved", no_wrap=True)
    for row in rows:
        table.add_row(row["key"], Text(row["text"]), row["created_at"][:19].replace("T", " "))
    console.print(table)


@memory_app.command("add")
def add_command(
    text: Annotated[str, typer.Argument(help="What to remember, e.g. 'I prefer short answers'.")],
    user: User = "default",
    data_dir: DataDir = DEFAULT_DATA_DIR,
    store: Store = None,
) -> None:
    """Remember a fact about a user (the same text again is not saved twice)."""
    from tools.memory import memory_key, memory_namespace, put_memory

    if not check_text(text, "the memory").strip():
        fail("a memory needs some text")
    with _opened(store, data_dir, user) as opened:
        known = opened.get(memory_namespace(user), memory_key(text)) is not None
        key = put_memory(opened, user, text)
    verb = "already remembered" if known else "remembered"
    console.print(f"[green]{verb}[/green] {key}", highlight=False)


@memory_app.command("delete")
def delete_command(
    key: Annotated[str, typer.Argument(help="The memory's key, as `memory list` shows it.")],
    user: User = "default",
    data_dir: DataDir = DEFAULT_DATA_DIR,
    store: Store = None,
) -> None:
    """Forget one memory."""
    from tools.memory import delete_memory

    check_text(key, "the key")
    with _opened(store, data_dir, user) as opened:
        deleted = delete_memory(opened, user, key)
    if not deleted:
        fail(f"user {user!r} has no memory with key {key!r} (see `memory list`)", code=1)
    console.print(f"[green]deleted[/green] memory {escape(key)}", highlight=False)


@memory_app.command("clear")
def clear_command(
    user: User = "default",
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    store: Store = None,
) -> None:
    """Forget everything remembered about a user."""
    from tools.memory import clear_memories, list_memories

    with _opened(store, data_dir, user) as opened:
        count = len(list_memories(opened, user))
        if count and not yes:
            if not sys.stdin.isatty():
                fail("refusing to clear without confirmation: pass --yes (stdin is not a terminal)")
            if not typer.confirm(f"Delete all {count} memories of user {user!r}?"):
                fail("not deleted", code=1)
        deleted = clear_memories(opened, user) if count else 0
    console.print(f"deleted {deleted} memories of user {escape(repr(user))}", highlight=False)
