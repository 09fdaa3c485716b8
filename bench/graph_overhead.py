"""Per-question time outside model and retrieval calls: this graph vs a bare LangGraph graph.

Both graphs run with the SQLite checkpointer opened by `tools.checkpointers.open_checkpointer`
(WAL, ``synchronous=NORMAL``; one file per graph), one fresh thread per question, in the same
process, their runs interleaved (ours then bare, bare then ours, alternately) so that the
noise of a shared machine hits both alike.

This graph runs its happy path (single retrieval, Correct, answer, no check) with:

- instant fake chat models for the router (consulted on every question:
  ``router_skip_plain=False``), grader and generator (`bench.llm_calls.RuleChatModel`:
  a plan over the knowledge base, every document scored 0.9, the first line of document 1
  cited), so the local scoring engine is not in the path of those roles;
- an instant retriever returning, for each question, copies of the 4 chunks the real index
  returns for it (fetched once before timing), patched over ``get_retriever`` in this process;
- ``checker_model="off"``, web, arXiv and memory search off.

Its overhead is the invoke's wall time minus the time spent inside model calls (the whole
``invoke`` of each fake), retrieval calls (``retrieve`` and ``unavailable`` of the instant
retriever) and MiniLM embedding calls (``refine_knowledge`` scores knowledge strips with the
embedder; its LRU cache makes repeats cheap). What remains is LangGraph itself, the SQLite
checkpoints of this graph's state, and this graph's own node code, including the CPU work of
``refine_knowledge`` outside the embedder (sentence splitting, lexical features).

The bare graph is a chain of as many trivial nodes as this graph executes per question
(counted from ``out["trace"]``), over a two-channel state (messages, trace), whose last node
posts an answer message. Its overhead is its whole wall time.

Usage:
    .venv/bin/python bench/graph_overhead.py [--questions 20] [--reps 30] [--data-dir DIR]
        [--profile 300] [--durability async|sync|exit] [--out bench/results/graph-overhead.md]
"""

from __future__ import annotations

import argparse
import copy
import functools
import json
import operator
import re
import statistics
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import date
from pathlib import Path
from typing import Annotated, Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from langchain_core.messages import AIMessage, AnyMessage  # noqa: E402
from langgraph.graph import END, START, StateGraph  # noqa: E402
from langgraph.graph.message import add_messages  # noqa: E402
from typing_extensions import TypedDict  # noqa: E402

from bench.llm_calls import (  # noqa: E402
    CallLog,
    RuleChatModel,
    build_index,
    machine,
    patched_retrievers,
    questions,
    router_reply,
)
from graphs import build_graph  # noqa: E402
from nodes.models import register_chat_model, unregister_chat_model  # noqa: E402
from state.context import Context  # noqa: E402
from state.document import Doc  # noqa: E402
from tools.checkpointers import open_checkpointer  # noqa: E402

K = 4
TARGET_RATIO = 1.5
HAPPY_PATH = (
    "rewrite_query",
    "remember",
    "decide_retrieval",
    "select_sources",
    "retrieve",
    "grade_documents",
    "refine_knowledge",
    "generate",
    "check_answer",
    "finalize",
)
"""The nodes this graph executes per question in this benchmark, in order."""


# --------------------------------------------------------------------- instant dependencies


class Stopwatch:
    """Accumulated seconds of timed calls.

    Example:
        >>> watch = Stopwatch()
        >>> with watch:
        ...     pass
        >>> watch.seconds >= 0
        True
    """

    def __init__(self) -> None:
        self.seconds = 0.0
        self._start = 0.0

    def __enter__(self) -> Stopwatch:
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.seconds += time.perf_counter() - self._start


class InstantRetriever:
    """A vector store answering at once with fixed documents (copies: nodes mutate them).

    Args:
        docs: Documents per query; unknown queries get the first entry's.
        watch: The stopwatch charged with every call.
    """

    name = "vectorstore"

    def __init__(self, docs: dict[str, list[Doc]], watch: Stopwatch) -> None:
        self.docs = docs
        self.default = next(iter(docs.values()))
        self.watch = watch

    def unavailable(self, ctx: Context, store: Any = None) -> str | None:
        with self.watch:
            return None

    def retrieve(self, query: str, ctx: Context, *, k: int, store: Any = None) -> list[Doc]:
        with self.watch:
            return copy.deepcopy(self.docs.get(query, self.default)[:k])


class SaverMeter:
    """Seconds a checkpointer spends writing (``put`` + ``put_writes``) and, within that,
    serializing (``serde.dumps_typed``). LangGraph runs these writes on background threads,
    so they overlap the main thread's work; they are reported, not subtracted.

    Args:
        saver: The checkpointer whose methods are wrapped (on this instance only).
    """

    def __init__(self, saver: Any) -> None:
        self.write = 0.0
        self.serialize = 0.0
        self._lock = threading.Lock()
        saver.put = self._timed(saver.put, "write")
        saver.put_writes = self._timed(saver.put_writes, "write")
        saver.serde.dumps_typed = self._timed(saver.serde.dumps_typed, "serialize")

    def _timed(self, fn: Any, field: str) -> Any:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                with self._lock:
                    setattr(self, field, getattr(self, field) + time.perf_counter() - start)

        return wrapper

    def read(self) -> tuple[float, float]:
        """``(write, serialize)`` seconds so far."""
        with self._lock:
            return self.write, self.serialize


def grade_all_relevant(prompt: str) -> str:
    """Instant grader: every document in the prompt scores 0.9."""
    n = prompt.count("<document id=")
    return json.dumps({"scores": [{"id": i, "score": 0.9} for i in range(1, n + 1)]})


_FIRST_DOC = re.compile(r'<document id="1"[^>]*>\n(.*?)\n</document>', re.DOTALL)


def cite_first_line(prompt: str) -> str:
    r"""Instant generator: the first non-heading line of document 1, cited ``[1]``.

    Example:
        >>> cite_first_line('<document id="1" source="web">\n# Fees\n- Fee: $5.\n</document>')
        'Fee: $5 [1].'
    """
    found = _FIRST_DOC.search(prompt)
    lines = [ln.strip("-* ") for ln in (found.group(1) if found else "").splitlines()]
    text = next((ln for ln in lines if ln and not ln.startswith("#")), "No answer")
    return f"{text[:200].rstrip('.')} [1]."


@contextmanager
def instant_setup(docs: dict[str, list[Doc]]) -> Iterator[tuple[Context, dict[str, Any]]]:
    """Fake models, the instant retriever and a timed embedder for this graph.

    Yields:
        The run's `Context` and the meters: ``models`` (a `CallLog`), ``retrieval`` and
        ``embed`` (`Stopwatch`es).
    """
    from tools import embedder

    log, retrieval, embed = CallLog(), Stopwatch(), Stopwatch()
    replies = {"router": router_reply, "grader": grade_all_relevant, "generator": cite_first_line}
    names = {role: f"overhead:{role}" for role in replies}
    instant = InstantRetriever(docs, retrieval)
    real_embed = embedder.embeddings.embed

    def timed_embed(texts: list[str]) -> Any:
        with embed:
            return real_embed(texts)

    def choose(name: str, original: Any) -> Any:
        return instant if name == "vectorstore" else original(name)

    with ExitStack() as stack:
        for role, respond in replies.items():
            register_chat_model(names[role], RuleChatModel(role=role, respond=respond, log=log))
            stack.callback(unregister_chat_model, names[role])
        embedder.embeddings.embed = timed_embed
        stack.callback(delattr, embedder.embeddings, "embed")
        stack.enter_context(patched_retrievers(choose))
        ctx = Context(
            top_k=K,
            router_model=names["router"],
            router_skip_plain=False,
            grader_model=names["grader"],
            generator_model=names["generator"],
            checker_model="off",
            web_search=False,
            arxiv_search=False,
            memory_search=False,
        )
        yield ctx, {"models": log, "retrieval": retrieval, "embed": embed}


# ------------------------------------------------------------------------------ bare graph


class BareState(TypedDict, total=False):
    """The bare graph's state: the chat messages and the executed nodes."""

    messages: Annotated[list[AnyMessage], add_messages]
    trace: Annotated[list[str], operator.add]


def build_bare_graph(n_nodes: int, checkpointer: Any = None):
    """A chain of ``n_nodes`` trivial nodes; the last one posts an answer message.

    Example:
        >>> app = build_bare_graph(3)
        >>> app.invoke({"messages": [("user", "hi")]})["trace"]
        ['node_1', 'node_2', 'node_3']
    """
    builder = StateGraph(BareState)
    names = [f"node_{i}" for i in range(1, n_nodes + 1)]

    def make(name: str, last: bool):
        def node(state: BareState) -> dict[str, Any]:
            update: dict[str, Any] = {"trace": [name]}
            if last:
                update["messages"] = [AIMessage(content="done", id=f"answer-{name}")]
            return update

        return node

    for i, name in enumerate(names):
        builder.add_node(name, make(name, i == len(names) - 1))
    builder.add_edge(START, names[0])
    for a, b in zip(names, names[1:], strict=False):
        builder.add_edge(a, b)
    builder.add_edge(names[-1], END)
    return builder.compile(checkpointer=checkpointer, name="bare")


# ------------------------------------------------------------------------------------ runs


def fixed_documents(questions_: list[str], data_dir: str) -> dict[str, list[Doc]]:
    """The real index's top ``K`` chunks for each question (fetched once, untimed)."""
    from tools.sources import get_retriever

    ctx = Context(data_dir=data_dir, top_k=K)
    return {q: get_retriever("vectorstore").retrieve(q, ctx, k=K) for q in questions_}


def _saver_ms(saver: SaverMeter | None, before: tuple[float, float]) -> dict[str, float]:
    if saver is None:
        return {}
    write, serialize = saver.read()
    return {
        "ckpt_write": (write - before[0]) * 1000,
        "ckpt_serialize": (serialize - before[1]) * 1000,
    }


def run_ours(
    app: Any,
    ctx: Context,
    meters: dict[str, Any],
    question: str,
    thread: str,
    saver: SaverMeter | None = None,
    durability: str = "async",
) -> dict:
    """One question through this graph: wall time, time in dependencies, overhead (ms)."""
    before = (meters["models"].seconds, meters["retrieval"].seconds, meters["embed"].seconds)
    saved = saver.read() if saver else (0.0, 0.0)
    start = time.perf_counter()
    out = app.invoke(
        {"messages": [("user", question)]},
        {"configurable": {"thread_id": thread}},
        context=ctx,
        durability=durability,
    )
    wall = time.perf_counter() - start
    model, retrieval, embed = (
        meters["models"].seconds - before[0],
        meters["retrieval"].seconds - before[1],
        meters["embed"].seconds - before[2],
    )
    nodes_ms = sum(out["usage"]["ms_per_node"].values())
    return {
        "wall": wall * 1000,
        "model": model * 1000,
        "retrieval": retrieval * 1000,
        "embed": embed * 1000,
        "overhead": (wall - model - retrieval - embed) * 1000,
        "nodes": nodes_ms,
        "node_code": nodes_ms - (model + retrieval + embed) * 1000,
        "framework": wall * 1000 - nodes_ms,
        "trace": out["trace"],
        "ms_per_node": out["usage"]["ms_per_node"],
        **_saver_ms(saver, saved),
    }


def run_bare(
    app: Any,
    question: str,
    thread: str,
    saver: SaverMeter | None = None,
    durability: str = "async",
) -> dict:
    """One question through the bare graph: wall time = overhead (ms)."""
    saved = saver.read() if saver else (0.0, 0.0)
    start = time.perf_counter()
    out = app.invoke(
        {"messages": [("user", question)]},
        {"configurable": {"thread_id": thread}},
        durability=durability,
    )
    wall = (time.perf_counter() - start) * 1000
    return {"wall": wall, "overhead": wall, "trace": out["trace"], **_saver_ms(saver, saved)}


def measure(
    questions_: list[str],
    docs: dict[str, list[Doc]],
    reps: int,
    db_dir: Path,
    durability: str = "async",
) -> dict[str, Any]:
    """Interleaved runs of both graphs; every run's numbers and the node count.

    Args:
        questions_: The questions.
        docs: The instant retriever's documents per question.
        reps: Passes over the questions.
        db_dir: Where the two SQLite files go.
        durability: LangGraph's checkpoint durability for both graphs (``async`` is its
            default; ``exit`` writes only the final checkpoint).
    """
    ours_runs: list[dict] = []
    bare_runs: list[dict] = []
    dur = durability
    with (
        instant_setup(docs) as (ctx, meters),
        open_checkpointer(f"sqlite:{db_dir / 'ours.sqlite'}", str(db_dir)) as ours_saver,
        open_checkpointer(f"sqlite:{db_dir / 'bare.sqlite'}", str(db_dir)) as bare_saver,
    ):
        ours_meter, bare_meter = SaverMeter(ours_saver), SaverMeter(bare_saver)
        ours = build_graph(checkpointer=ours_saver)
        warm = run_ours(ours, ctx, meters, questions_[0], "warmup", None, dur)
        n_nodes = len(warm["trace"])
        bare = build_bare_graph(n_nodes, checkpointer=bare_saver)
        for i, q in enumerate(questions_):  # warm-up: caches, embedder, SQLite pages
            run_ours(ours, ctx, meters, q, f"warm-{i}", None, dur)
            run_bare(bare, q, f"warm-{i}", None, dur)
        for rep in range(reps):
            for i, q in enumerate(questions_):
                thread = f"r{rep}-q{i}"
                pair = [
                    (ours_runs, functools.partial(run_ours, ours, ctx, meters, q, thread)),
                    (bare_runs, functools.partial(run_bare, bare, q, thread)),
                ]
                savers = (ours_meter, bare_meter)
                order = (0, 1) if (rep + i) % 2 == 0 else (1, 0)
                for k in order:
                    runs, run = pair[k]
                    runs.append(run(savers[k], dur))
    return {"n_nodes": n_nodes, "durability": durability, "ours": ours_runs, "bare": bare_runs}


def profile_graphs(
    questions_: list[str], docs: dict[str, list[Doc]], runs: int, db_dir: Path
) -> dict[str, Any]:
    """Profile ``runs`` invokes of each graph with pyinstrument (main thread only).

    Returns:
        Per graph: ms per question while profiled, self time by area and the functions with
        most self time (ms per question).
    """
    from pyinstrument import Profiler

    out = {}
    with (
        instant_setup(docs) as (ctx, meters),
        open_checkpointer(f"sqlite:{db_dir / 'p-ours.sqlite'}", str(db_dir)) as ours_saver,
        open_checkpointer(f"sqlite:{db_dir / 'p-bare.sqlite'}", str(db_dir)) as bare_saver,
    ):
        ours = build_graph(checkpointer=ours_saver)
        bare = build_bare_graph(len(HAPPY_PATH), checkpointer=bare_saver)
        runners = {
            "ours": lambda q, t: run_ours(ours, ctx, meters, q, t),
            "bare": lambda q, t: run_bare(bare, q, t),
        }
        for name, run in runners.items():
            for i, q in enumerate(questions_):
                run(q, f"pwarm-{i}")
            profiler = Profiler(interval=0.0005)
            profiler.start()
            for n in range(runs):
                run(questions_[n % len(questions_)], f"p{n}")
            profiler.stop()
            out[name] = _frame_stats(profiler.last_session.root_frame(), runs)
    return out


def _frame_stats(root: Any, runs: int) -> dict[str, Any]:
    areas: dict[str, float] = defaultdict(float)
    functions: dict[str, float] = defaultdict(float)

    def walk(frame: Any, inherited: str) -> None:
        if frame.is_synthetic:  # "[self]"/"[await]": already in the parent's total_self_time
            return
        key = f"{frame.function} ({_short(frame.file_path or '')}:{frame.line_no})"
        area = _area(frame.file_path or "", frame.function or "") or inherited
        areas[area] += frame.total_self_time
        functions[key] += frame.total_self_time
        for child in frame.children:
            walk(child, area)

    walk(root, "other")
    per_q = 1000 / runs
    return {
        "runs": runs,
        "ms_per_question": root.time * per_q,
        "areas": {a: t * per_q for a, t in areas.items()},
        "self": sorted(((f, t * per_q) for f, t in functions.items()), key=lambda x: -x[1])[:15],
    }


def _short(path: str) -> str:
    for marker in ("site-packages/", "/work/main/", "lib/python3"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


AREAS = (
    ("langgraph/checkpoint/sqlite", "SQLite checkpointer (langgraph-checkpoint-sqlite)"),
    ("langgraph/checkpoint/serde", "checkpoint serialization (serde)"),
    ("ormsgpack", "checkpoint serialization (serde)"),
    ("langgraph/checkpoint", "checkpoint base"),
    ("langgraph/pregel", "LangGraph Pregel loop"),
    ("langgraph/", "LangGraph (other)"),
    ("langchain_core/callbacks", "LangChain callbacks"),
    ("langchain_core/runnables", "LangChain runnables"),
    ("langchain_core/messages", "LangChain messages"),
    ("langchain_core/", "LangChain core (other)"),
    ("pydantic", "pydantic"),
    ("/nodes/local/", "nodes/local (offline engine)"),
    ("/nodes/", "nodes"),
    ("/state/", "state (reducers, context)"),
    ("/tools/", "tools"),
    ("/bench/", "bench fakes and instant retriever"),
    ("concurrent/futures", "thread pool / waiting"),
    ("threading.py", "thread pool / waiting"),
    ("queue.py", "thread pool / waiting"),
    ("copy.py", "copy / deepcopy"),
    ("json/", "json"),
    ("sqlite3", "sqlite3"),
)


WAITING = "waiting on locks (background checkpoint writes, thread joins)"


def _area(path: str, function: str) -> str | None:
    """The area of a frame's code; None (the caller's area) for other stdlib and C code."""
    if function in ("lock.acquire", "start_new_thread"):
        return WAITING if function == "lock.acquire" else "thread pool / waiting"
    for marker, area in AREAS:
        if marker in path:
            return area
    return None


# ---------------------------------------------------------------------------------- report


def summarize(result: dict[str, Any]) -> dict[str, Any]:
    """Medians and spreads of the interleaved runs, and the ratios."""
    ours, bare = result["ours"], result["bare"]

    def med(runs: list[dict], key: str) -> float:
        return statistics.median(r[key] for r in runs)

    def quantiles(runs: list[dict], key: str) -> tuple[float, float]:
        q = statistics.quantiles([r[key] for r in runs], n=10)
        return q[0], q[-1]

    paired = [o["overhead"] / b["overhead"] for o, b in zip(ours, bare, strict=True)]
    nodes: dict[str, list[float]] = defaultdict(list)
    for run in ours:
        for name, ms in run["ms_per_node"].items():
            nodes[name].append(ms)
    return {
        "runs_each": len(ours),
        "n_nodes": result["n_nodes"],
        "durability": result["durability"],
        "ours": {
            key: med(ours, key)
            for key in (
                "wall",
                "model",
                "retrieval",
                "embed",
                "overhead",
                "nodes",
                "node_code",
                "framework",
                "ckpt_write",
                "ckpt_serialize",
            )
        },
        "ours_p10_p90": quantiles(ours, "overhead"),
        "bare": {
            key: med(bare, key) for key in ("wall", "overhead", "ckpt_write", "ckpt_serialize")
        },
        "bare_p10_p90": quantiles(bare, "overhead"),
        "ratio_of_medians": med(ours, "overhead") / med(bare, "overhead"),
        "median_paired_ratio": statistics.median(paired),
        "framework_ratio": med(ours, "framework") / med(bare, "overhead"),
        "node_ms": {name: statistics.median(v) for name, v in nodes.items()},
    }


def render(
    summary: dict[str, Any],
    profile: dict[str, Any] | None,
    command: str,
    n_questions: int,
    reps: int,
    seconds: float,
) -> str:
    """The Markdown report."""
    s, o, b = summary, summary["ours"], summary["bare"]
    ratio = s["ratio_of_medians"]
    verdict = "met" if ratio <= TARGET_RATIO else "NOT met"
    lines = [
        "# Graph overhead per question: this graph vs a bare LangGraph graph (SQLite checkpoints)",
        "",
        f"- command: `{command}`",
        f"- date: {date.today().isoformat()}; run time {seconds:.0f} s",
        f"- machine: {machine()}",
        f"- runs: {n_questions} questions x {reps} repetitions = {s['runs_each']} invokes per "
        "graph, interleaved (alternating which graph goes first), after one warm-up pass",
        f"- nodes executed per question: {s['n_nodes']} (this graph's trace: "
        f"{', '.join(HAPPY_PATH)}); the bare graph is a chain of {s['n_nodes']} trivial nodes",
        f"- checkpoints: SQLite, LangGraph durability `{s['durability']}` for both graphs",
        "",
        "| graph | median overhead (ms) | p10 - p90 (ms) |",
        "|---|---:|---:|",
        f"| bare LangGraph, {s['n_nodes']} trivial nodes | {b['overhead']:.2f} "
        f"| {s['bare_p10_p90'][0]:.2f} - {s['bare_p10_p90'][1]:.2f} |",
        f"| this graph (wall minus model, retrieval and embedding time) | {o['overhead']:.2f} "
        f"| {s['ours_p10_p90'][0]:.2f} - {s['ours_p10_p90'][1]:.2f} |",
        "",
        f"**Ratio {ratio:.2f}x** (ratio of medians; median of the per-pair ratios "
        f"{s['median_paired_ratio']:.2f}x). Target <= {TARGET_RATIO}x: {verdict}. "
        f"LangGraph + checkpoints alone (this graph's node code left out): "
        f"{s['framework_ratio']:.2f}x.",
        "",
        "Where this graph's median invoke goes (ms; medians of each part, so they need not "
        "add up exactly):",
        "",
        "| part | ms |",
        "|---|---:|",
        f"| whole invoke (wall) | {o['wall']:.2f} |",
        f"| inside the fake chat models (3 calls, whole LangChain `invoke`) | {o['model']:.2f} |",
        f"| inside the instant retriever | {o['retrieval']:.2f} |",
        f"| inside the MiniLM embedder (`refine_knowledge`) | {o['embed']:.2f} |",
        f"| **overhead** (wall minus the three above) | {o['overhead']:.2f} |",
        f"| of which node code (node wall times minus the three above) | {o['node_code']:.2f} |",
        f"| of which LangGraph + checkpoints (wall minus node wall times) | {o['framework']:.2f} |",
        "",
        "Checkpoint writes (SQLite `put` + `put_writes`, on LangGraph's background threads, "
        "overlapping the main thread; ms per question, median):",
        "",
        "| graph | writes | of which serialization (`serde.dumps_typed`) |",
        "|---|---:|---:|",
        f"| bare | {b['ckpt_write']:.2f} | {b['ckpt_serialize']:.2f} |",
        f"| this graph | {o['ckpt_write']:.2f} | {o['ckpt_serialize']:.2f} |",
        "",
        "Median wall time per node (`usage.ms_per_node`, includes model and retrieval calls):",
        "",
        "| node | ms |",
        "|---|---:|",
    ]
    lines += [
        f"| {name} | {s['node_ms'][name]:.2f} |" for name in HAPPY_PATH if name in s["node_ms"]
    ]
    if profile:
        ours_p, bare_p = profile["ours"], profile["bare"]
        names = sorted(
            set(ours_p["areas"]) | set(bare_p["areas"]),
            key=lambda a: -(ours_p["areas"].get(a, 0.0) - bare_p["areas"].get(a, 0.0)),
        )
        lines += [
            "",
            f"## Profile (pyinstrument, main thread, {ours_p['runs']} invokes of each graph)",
            "",
            f"While profiled: this graph {ours_p['ms_per_question']:.1f} ms per question, the "
            f"bare graph {bare_p['ms_per_question']:.1f} ms (model, retrieval and embedding "
            "calls included for this graph). Self time by area, ms per question, sorted by the "
            "difference; standard-library and C functions count in their caller's area. "
            "Checkpoint writes run on LangGraph's background threads, which pyinstrument does "
            "not sample: the main thread's wait for them shows as waiting on locks.",
            "",
            "| area | this graph | bare | difference |",
            "|---|---:|---:|---:|",
        ]
        for area in names:
            o_ms, b_ms = ours_p["areas"].get(area, 0.0), bare_p["areas"].get(area, 0.0)
            if max(o_ms, b_ms) >= 0.05:
                lines.append(f"| {area} | {o_ms:.2f} | {b_ms:.2f} | {o_ms - b_ms:+.2f} |")
        lines += ["", "This graph's functions with most self time (ms per question):", ""]
        lines += ["| function | ms |", "|---|---:|"]
        lines += [f"| `{f}` | {ms:.2f} |" for f, ms in ours_p["self"]]
    lines += [
        "",
        "## Method",
        "",
        __doc__.split("\n\n", 1)[1].split("Usage:")[0].strip(),
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Measure both graphs, optionally profile this one, write the report and its JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--questions", type=int, default=20)
    parser.add_argument("--reps", type=int, default=30)
    parser.add_argument("--data-dir", help="reuse an index built by an earlier run")
    parser.add_argument("--profile", type=int, default=0, help="profile this many invokes")
    parser.add_argument(
        "--durability", choices=("async", "sync", "exit"), default="async", help="for both graphs"
    )
    parser.add_argument("--out", default="bench/results/graph-overhead.md")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="graph-overhead-") as tmp:
        data_dir = args.data_dir or build_index(Path(tmp))
        qs = questions(args.questions)
        docs = fixed_documents(qs, data_dir)
        db_dir = Path(tmp) / "db"
        db_dir.mkdir()
        result = measure(qs, docs, args.reps, db_dir, args.durability)
        profile = profile_graphs(qs, docs, args.profile, db_dir) if args.profile else None
    seconds = time.perf_counter() - start
    summary = summarize(result)
    command = ".venv/bin/python bench/graph_overhead.py" + "".join(
        f" {a}" for a in (argv if argv is not None else sys.argv[1:])
    )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(summary, profile, command, len(qs), args.reps, seconds), encoding="utf-8")
    data = {"summary": summary, "profile": profile}
    out.with_suffix(".json").write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    print(
        f"bare {summary['bare']['overhead']:.2f} ms, ours {summary['ours']['overhead']:.2f} ms "
        f"outside models/retrieval: ratio {summary['ratio_of_medians']:.2f}x; wrote {out}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
