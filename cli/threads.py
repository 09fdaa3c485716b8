"""``agentic-rag threads``: list, show, delete and prune conversation threads.

The threads are the ones ``ask --thread`` and ``chat`` write (`tools.checkpointers`):
``--checkpointer`` or ``AGENTIC_RAG_CHECKPOINTER``, by default ``<data-dir>/checkpoints.sqlite``.
Only the checkpointer API is used (``list``, ``get_tuple``, ``delete_thread``), so every
backend behaves the same.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from langgraph.checkpoint.base import BaseCheckpointSaver, CheckpointTuple
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from cli.checks import check_text
from cli.console import console, fail
from cli.options import DataDir
from state.context import DEFAULT_DATA_DIR

threads_app = typer.Typer(
    no_args_is_help=True, help="List, show, delete and prune conversation threads."
)

Checkpointer = Annotated[
    str | None,
    typer.Option(
        "--checkpointer",
        envvar="AGENTIC_RAG_CHECKPOINTER",
        help="Where threads are kept: sqlite (default, under --data-dir), sqlite:PATH, memory "
        "or postgres://...",
    ),
]
Json = Annotated[bool, typer.Option("--json", help="Print JSON.")]
Yes = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
ROLES = {"human": "user", "ai": "assistant"}


@dataclass
class ThreadSummary:
    """One thread as its latest checkpoint describes it."""

    thread_id: str
    turns: int
    last_question: str
    updated: str
    """ISO 8601 time (UTC) of the latest checkpoint."""
    checkpoints: int


def thread_summaries(saver: BaseCheckpointSaver) -> list[ThreadSummary]:
    """Every thread of ``saver``, most recently updated first.

    Reads every checkpoint once (``saver.list(None)``): the latest per thread gives the
    turns and the last question.
    """
    latest: dict[str, CheckpointTuple] = {}
    counts: Counter[str] = Counter()
    for item in saver.list(None):
        conf = item.config["configurable"]
        if conf.get("checkpoint_ns"):  # a subgraph's checkpoints belong to the parent thread
            continue
        thread = str(conf["thread_id"])
        counts[thread] += 1
        best = latest.get(thread)
        if best is None or _checkpoint_id(item) > _checkpoint_id(best):
            latest[thread] = item
    rows = [_summary(thread, item, counts[thread]) for thread, item in latest.items()]
    return sorted(rows, key=lambda row: datetime.fromisoformat(row.updated), reverse=True)


@contextmanager
def _opened(spec: str | None, data_dir: str) -> Iterator[BaseCheckpointSaver | None]:
    """The checkpointer (None when its SQLite file does not exist yet), or a one-line error."""
    from tools.checkpointers import open_checkpointer, parse_checkpointer_spec

    with ExitStack() as stack:
        try:
            kind, target = parse_checkpointer_spec(spec, data_dir)
            if kind == "sqlite" and target != ":memory:" and not Path(target).exists():
                saver = None  # reading must not create the file
            else:
                saver = stack.enter_context(open_checkpointer(spec, data_dir))
        except (ValueError, RuntimeError) as exc:
            fail(str(exc))
        yield saver


def _config(thread: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread, "checkpoint_ns": ""}}


def _latest(saver: BaseCheckpointSaver | None, thread: str) -> CheckpointTuple:
    check_text(thread, "the thread id")
    item = saver.get_tuple(_config(thread)) if saver is not None else None
    if item is None:
        fail(f"no thread {thread!r} (see `threads list`)", code=1)
    return item


def _checkpoint_id(item: CheckpointTuple) -> str:
    return str(item.config["configurable"]["checkpoint_id"])


def _text(message: Any) -> str:
    content = getattr(message, "content", "")
    if isinstance(content, list):
        parts = [p if isinstance(p, str) else p.get("text", "") for p in content]
        content = " ".join(p for p in parts if p)
    return str(content)


def _messages(item: CheckpointTuple) -> list[Any]:
    return list(item.checkpoint.get("channel_values", {}).get("messages") or [])


def _summary(thread: str, item: CheckpointTuple, checkpoints: int) -> ThreadSummary:
    questions = [m for m in _messages(item) if getattr(m, "type", "") == "human"]
    last = " ".join(_text(questions[-1]).split()) if questions else ""
    return ThreadSummary(thread, len(questions), last, item.checkpoint["ts"], checkpoints)


def _when(ts: str) -> str:
    return datetime.fromisoformat(ts).astimezone().strftime("%Y-%m-%d %H:%M:%S")


def _history(saver: BaseCheckpointSaver, thread: str) -> list[dict[str, Any]]:
    """The thread's checkpoints, newest first, each with the node(s) that wrote it."""
    from graphs import build_graph

    snapshots = list(build_graph(checkpointer=saver).get_state_history(_config(thread)))
    by_id = {s.config["configurable"]["checkpoint_id"]: s for s in snapshots}
    rows = []
    for snap in snapshots:
        parent_id = (snap.parent_config or {}).get("configurable", {}).get("checkpoint_id")
        source = (snap.metadata or {}).get("source", "")
        parent = by_id.get(parent_id)
        node = ", ".join(t.name for t in parent.tasks) if source == "loop" and parent else ""
        rows.append(
            {
                "checkpoint_id": snap.config["configurable"]["checkpoint_id"],
                "parent_id": parent_id,
                "step": (snap.metadata or {}).get("step"),
                "source": source,
                "node": node,
                "next": list(snap.next),
                "created_at": snap.created_at,
            }
        )
    return rows


def _confirm(question: str, action: str) -> None:
    if not sys.stdin.isatty():
        fail(f"refusing to {action} without confirmation: pass --yes (stdin is not a terminal)")
    if not typer.confirm(question):
        fail("not deleted", code=1)


def _threads_table(rows: list[ThreadSummary]) -> Table:
    table = Table()
    table.add_column("thread", no_wrap=True)  # copied into `threads show THREAD`
    table.add_column("turns", justify="right")
    table.add_column("last question", ratio=1)
    table.add_column("updated", no_wrap=True)
    for row in rows:
        table.add_row(
            Text(row.thread_id), str(row.turns), Text(row.last_question), _when(row.updated)
        )
    return table


@threads_app.command("list")
def list_command(
    as_json: Json = False,
    limit: Annotated[int, typer.Option("--limit", min=1, help="Show at most N threads.")] = 20,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    checkpointer: Checkpointer = None,
) -> None:
    """List the threads, most recently updated first."""
    with _opened(checkpointer, data_dir) as saver:
        rows = thread_summaries(saver) if saver is not None else []
    shown = rows[:limit]
    if as_json:
        sys.stdout.write(json.dumps([asdict(r) for r in shown], indent=2, ensure_ascii=False))
        sys.stdout.write("\n")
        return
    if not rows:
        console.print("no threads", highlight=False)
        return
    console.print(_threads_table(shown))
    if len(rows) > limit:
        console.print(f"{len(rows) - limit} more (use --limit)", highlight=False)


@threads_app.command("show")
def show_command(
    thread: Annotated[str, typer.Argument(help="The thread id, as `threads list` shows it.")],
    as_json: Json = False,
    history: Annotated[
        bool, typer.Option("--history", help="Also list the checkpoints (time travel points).")
    ] = False,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    checkpointer: Checkpointer = None,
) -> None:
    """Show a thread's messages and, with --history, its checkpoints."""
    with _opened(checkpointer, data_dir) as saver:
        item = _latest(saver, thread)
        rows = _history(saver, thread) if history else []
    summary = _summary(thread, item, len(rows))
    messages = [
        {"role": ROLES.get(m.type, m.type), "content": _text(m), "id": m.id}
        for m in _messages(item)
    ]
    if as_json:
        out: dict[str, Any] = {
            "thread_id": thread,
            "turns": summary.turns,
            "updated": summary.updated,
            "checkpoint_id": _checkpoint_id(item),
            "messages": messages,
        }
        if history:
            out["history"] = rows
        sys.stdout.write(json.dumps(out, indent=2, ensure_ascii=False, default=str) + "\n")
        return
    console.print(
        f"[bold]thread {escape(thread)}[/bold] · {summary.turns} turns · "
        f"updated {_when(summary.updated)}",
        highlight=False,
    )
    for message in messages:
        console.print(f"\n[bold]{message['role']}[/bold]", highlight=False)
        console.print(Text(message["content"]))
    if history:
        table = Table(title="checkpoints (newest first)")
        table.add_column("checkpoint", overflow="fold")  # `invoke(None, config)` replays it
        table.add_column("step", justify="right")
        table.add_column("source")
        table.add_column("node")
        table.add_column("time", no_wrap=True)
        for row in rows:
            when = _when(row["created_at"]) if row["created_at"] else ""
            table.add_row(row["checkpoint_id"], str(row["step"]), row["source"], row["node"], when)
        console.print(table)


@threads_app.command("delete")
def delete_command(
    thread: Annotated[str, typer.Argument(help="The thread id, as `threads list` shows it.")],
    yes: Yes = False,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    checkpointer: Checkpointer = None,
) -> None:
    """Delete a thread: all its checkpoints (its history) and pending writes."""
    with _opened(checkpointer, data_dir) as saver:
        turns = _summary(thread, _latest(saver, thread), 0).turns
        if not yes:
            _confirm(f"Delete thread {thread!r} ({turns} turns)?", "delete")
        saver.delete_thread(thread)
    console.print(f"[green]deleted[/green] thread {escape(repr(thread))}", highlight=False)


@threads_app.command("prune")
def prune_command(
    older_than: Annotated[
        float,
        typer.Option("--older-than", min=0, help="Delete threads not updated for DAYS days."),
    ],
    yes: Yes = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only list what would be deleted.")
    ] = False,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    checkpointer: Checkpointer = None,
) -> None:
    """Delete the threads whose latest checkpoint is older than --older-than days."""
    cutoff = datetime.now(UTC) - timedelta(days=older_than)
    with _opened(checkpointer, data_dir) as saver:
        rows = thread_summaries(saver) if saver is not None else []
        old = [r for r in rows if datetime.fromisoformat(r.updated) < cutoff]
        if not old:
            console.print(f"no threads older than {older_than:g} days", highlight=False)
            return
        console.print(_threads_table(old))
        if dry_run:
            console.print(f"would delete {len(old)} threads (dry run)", highlight=False)
            return
        if not yes:
            _confirm(f"Delete these {len(old)} threads?", "prune")
        for row in old:
            saver.delete_thread(row.thread_id)
    console.print(f"[green]deleted[/green] {len(old)} threads", highlight=False)
