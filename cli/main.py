"""agentic-rag: ingest documents, ask and chat with citations, manage knowledge bases, evaluate."""

from __future__ import annotations

import json
import os
import sys
import uuid
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from cli.checks import MAX_QUESTION, check_question, check_text, check_thread_id
from cli.console import console, err, fail
from cli.eval import eval_app
from cli.kb import kb_app
from cli.memory import memory_app
from cli.options import DataDir, Store
from cli.render import print_interrupt, print_sources, public_result
from cli.resume import check_unfinished, continue_args, run_failed
from cli.serve import serve
from cli.threads import threads_app
from nodes.models import ModelConfigError, get_chat_model
from state.context import DEFAULT_DATA_DIR, Context
from tools.checkpointers import CheckpointerError

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
app.add_typer(kb_app, name="kb")
app.add_typer(eval_app, name="eval")
app.add_typer(memory_app, name="memory")
app.add_typer(threads_app, name="threads")
app.command(help="Serve the graph with `langgraph dev` (LangGraph Studio and the SDK).")(serve)

Kb = Annotated[str, typer.Option("--kb", help="Knowledge base name.")]
User = Annotated[
    str | None,
    typer.Option("--user", envvar="AGENTIC_RAG_USER_ID", help="User whose memories are used."),
]
Arxiv = Annotated[
    bool | None, typer.Option("--arxiv/--no-arxiv", help="Allow arXiv search (default: off).")
]
Web = Annotated[
    bool | None,
    typer.Option("--web/--no-web", help="Allow Tavily web search (needs TAVILY_API_KEY)."),
]
MODEL_ROLES = ("router_model", "grader_model", "generator_model", "checker_model")


def _context(
    data_dir: str,
    kb: str,
    user: str | None = None,
    arxiv: bool | None = None,
    web: bool | None = None,
) -> Context:
    options = {"user_id": user, "arxiv_search": arxiv, "web_search": web}
    try:
        return Context(
            data_dir=data_dir, kb=kb, **{k: v for k, v in options.items() if v is not None}
        )
    except ValueError as exc:
        fail(str(exc))


def _check_models(ctx: Context) -> None:
    """Build every role's model now: one that cannot be used fails before the thread changes
    (a run failing inside a node would leave the question in the thread, unanswered)."""
    try:
        for role in MODEL_ROLES:
            get_chat_model(getattr(ctx, role), ctx)
    except ModelConfigError as exc:
        fail(str(exc))


@contextmanager
def _persistence(data_dir: str, store_spec: str | None):
    """The thread checkpointer (``AGENTIC_RAG_CHECKPOINTER``, SQLite by default) and the
    long-term memory store, opened together."""
    from tools.checkpointers import open_checkpointer
    from tools.stores import open_store

    with ExitStack() as stack:
        try:
            saver = stack.enter_context(open_checkpointer(None, data_dir))
            store = stack.enter_context(open_store(store_spec, data_dir))
        except (ValueError, RuntimeError) as exc:
            fail(str(exc))
        yield saver, store


def _check_kb_exists(data_dir: str, kb: str) -> None:
    from tools.vectorstore import list_kbs

    known = [k["name"] for k in list_kbs(data_dir)]
    if kb != "default" and kb not in known:
        fail(
            f"knowledge base {kb!r} does not exist (known: {', '.join(known) or 'none'}); "
            f"create it with `agentic-rag ingest PATH --kb {kb}`"
        )


@app.command()
def ingest(
    paths: Annotated[
        list[Path],
        typer.Argument(help="Files or folders (.md .txt .rst .html .pdf .json .jsonl)."),
    ],
    data_dir: DataDir = DEFAULT_DATA_DIR,
    kb: Kb = "default",
    sync: Annotated[bool, typer.Option(help="Remove chunks of files that disappeared.")] = False,
    parent_child: Annotated[
        bool, typer.Option(help="Search small child chunks, return their parent section.")
    ] = False,
    chunk_size: Annotated[int, typer.Option(help="Maximum characters per chunk.")] = 1000,
    chunk_overlap: Annotated[int, typer.Option(help="Characters shared by neighbours.")] = 150,
    text_field: Annotated[str | None, typer.Option(help="JSON field with the text.")] = None,
    title_field: Annotated[str | None, typer.Option(help="JSON field with the title.")] = None,
    id_field: Annotated[str | None, typer.Option(help="JSON field with the record id.")] = None,
    tenant: Annotated[
        str | None, typer.Option(help="Tag every chunk with metadata tenant=T.")
    ] = None,
    owner: Annotated[
        str | None,
        typer.Option(
            "--user", help="Private documents of this user: only their questions retrieve them."
        ),
    ] = None,
    max_mb: Annotated[float, typer.Option(help="Larger files are reported, not read.")] = 25.0,
    embedding_model: Annotated[
        str, typer.Option(help="Embedder of a new knowledge base.")
    ] = "local",
    batch_size: Annotated[int, typer.Option(help="Chunks embedded and stored together.")] = 128,
) -> None:
    """Index documents into a knowledge base (idempotent: unchanged files add nothing)."""
    from rich.markup import escape

    from tools.base import SourceError
    from tools.ingest import SUPPORTED, ingest_paths

    texts = {"--tenant": tenant, "--user": owner, "--text-field": text_field}
    texts |= {"--title-field": title_field, "--id-field": id_field}
    for option, value in texts.items():
        check_text(value or "", option)
    missing = [str(p) for p in paths if not p.exists() and not p.is_symlink()]
    if missing:
        fail(f"no such file or folder: {', '.join(missing)}")
    if max_mb <= 0:
        fail("--max-mb must be positive")
    try:
        report = ingest_paths(
            paths,
            data_dir=data_dir,
            kb=kb,
            progress=True,
            sync=sync,
            parent_child=parent_child,
            chunk_size=chunk_size,
            chunk_overlap=chunk_overlap,
            text_field=text_field,
            title_field=title_field,
            id_field=id_field,
            metadata={"tenant": tenant} if tenant else None,
            owner=owner,
            embedding_model=embedding_model,
            max_bytes=int(max_mb * 1024 * 1024),
            batch_size=batch_size,
        )
    except (ValueError, SourceError) as exc:
        fail(str(exc))
    console.print(
        f"[green]ingested[/green] {report.files_ingested}/{report.files_seen} files into "
        f"'{kb}' ({report.files_unchanged} unchanged, {len(report.failures)} failed, "
        f"{report.files_skipped} skipped): {report.chunks_added} chunks added, "
        f"{report.chunks_unchanged} unchanged, {report.chunks_removed} removed in "
        f"{report.seconds:.1f}s ({report.chunks_per_second:.1f} chunks/s)",
        highlight=False,
        soft_wrap=True,
    )
    for path, reason in report.failures:
        err.print(
            f"[yellow]failed[/yellow] {escape(path)}: {escape(reason)}",
            highlight=False,
            soft_wrap=True,
        )
    if not report.files_seen:
        supported = " ".join(SUPPORTED)
        fail(f"no file to ingest: the paths hold no supported file ({supported})", code=1)
    if report.failures:
        raise typer.Exit(1)


@app.command()
def ask(
    question: Annotated[
        str | None,
        typer.Argument(
            help=f"The question (at most {MAX_QUESTION:,} characters; control characters "
            "are removed)."
        ),
    ] = None,
    thread: Annotated[str | None, typer.Option("--thread", help="Thread id (continue it).")] = None,
    resume: Annotated[
        str | None,
        typer.Option(
            "--resume",
            help="Answer the thread's pending question instead of asking one: JSON such as "
            '\'{"action": "approve"}\', or plain text (needs --thread).',
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    continue_run: Annotated[
        bool,
        typer.Option(
            "--continue",
            help="Finish the thread's run that stopped before its end (a crash, a kill, a "
            "lost database) from its last completed step (needs --thread).",
        ),
    ] = False,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    kb: Kb = "default",
    user: User = None,
    store: Store = None,
    arxiv: Arxiv = None,
    web: Web = None,
) -> None:
    """Answer one question (in a thread, kept in SQLite; memories in the store).

    When the graph pauses for a human (web approval, a clarifying question, answer review),
    the question is printed (``interrupt`` in --json) and the thread waits for
    ``agentic-rag ask --thread ID --resume ...``.
    """
    from langgraph.types import Command

    from graphs import build_graph

    if thread is not None:
        check_thread_id(thread)
    if continue_run:
        payload: Any = continue_args(thread, question, resume)
    elif resume is None:
        payload = {"messages": [("user", check_question(question or ""))]}
    elif not thread or question:
        fail("--resume answers a paused thread: pass --thread ID and no question")
    else:
        payload = Command(resume=_resume_value(resume))
    ctx = _context(data_dir, kb, user, arxiv, web)
    _check_models(ctx)
    _check_kb_exists(data_dir, kb)
    thread_id = thread or uuid.uuid4().hex[:12]
    config = {"configurable": {"thread_id": thread_id}}
    with _persistence(data_dir, store) as (saver, memory_store):
        app_graph = build_graph(checkpointer=saver, store=memory_store)
        if resume is not None:
            _check_resume(payload.resume, app_graph.get_state(config).interrupts, thread_id)
        if continue_run:
            check_unfinished(app_graph, config, thread_id)
        try:
            app_graph.invoke(payload, config, context=ctx)
        except ModelConfigError as exc:
            fail(str(exc))
        except CheckpointerError as exc:
            run_failed(exc, thread_id)
        snapshot = app_graph.get_state(config)
    result = public_result(snapshot.values)
    result["thread_id"] = thread_id
    result["interrupt"] = snapshot.interrupts[0].value if snapshot.interrupts else None
    if as_json:
        sys.stdout.write(json.dumps(result, indent=2, default=str) + "\n")
        return
    if result["interrupt"]:
        print_interrupt(console, result["interrupt"])
        allowed = ", ".join(result["interrupt"].get("allowed") or [])
        console.print(
            f"[dim]answer with: agentic-rag ask --thread {thread_id} --resume "
            f"'{{\"action\": ...}}' (allowed: {allowed})[/dim]",
            soft_wrap=True,
        )
        return
    console.print(result["answer"])
    print_sources(console, result)
    console.print(f"[dim]thread: {thread_id}[/dim]")


def _resume_value(raw: str) -> Any:
    """The --resume value: JSON, or plain text (text that starts like JSON must be JSON)."""
    text = check_text(raw, "--resume").strip()
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        if text.startswith(("{", "[")):
            fail(f"--resume is not valid JSON ({exc.msg} at column {exc.colno})")
        return text


def _check_resume(value: Any, interrupts: Any, thread_id: str) -> None:
    """Exit 2, the thread still paused, unless ``value`` answers its pending question."""
    from nodes.human import resume_problem

    if not interrupts:
        fail(f"thread {thread_id!r} is not waiting for an answer")
    if len(interrupts) == 1:
        problem = resume_problem(value, interrupts[0].value)
        if problem:
            fail(f"--resume not understood: {problem}; the thread is still waiting")


@app.command()
def chat(
    thread: Annotated[str | None, typer.Option("--thread", help="Thread id to continue.")] = None,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    kb: Kb = "default",
    user: User = None,
    store: Store = None,
    arxiv: Arxiv = None,
    web: Web = None,
) -> None:
    """Chat in a thread; answers stream token by token. /new starts a thread, /quit leaves."""
    from cli.chat import run_chat
    from graphs import build_graph

    if thread is not None:
        check_thread_id(thread)
    ctx = _context(data_dir, kb, user, arxiv, web)
    with _persistence(data_dir, store) as (saver, memory_store):
        app_graph = build_graph(checkpointer=saver, store=memory_store)
        run_chat(app_graph, ctx, thread or uuid.uuid4().hex[:12])


def main() -> None:  # pragma: no cover
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    app()
