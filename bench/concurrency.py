"""Concurrent threads against the real ``langgraph dev`` server, through langgraph-sdk.

Target (issue): 20 concurrent threads x 5 turns against ``langgraph dev``: 0 errors, with
throughput and p95 latency reported.

The server is the one `tests/dev_server.py` starts for the tests (``langgraph dev --no-browser
--no-reload`` on a free port, in a scratch folder, model/source keys scrubbed from its
environment), with ``AGENTIC_RAG_DATA_DIR`` pointing at an index of the tau2-bench banking
knowledge base (built once under ``bench/results/tmp/concurrency/``). No Tavily key is given:
the graph answers from the knowledge base with the offline models, as by default.

Each of the 20 threads asks about 5 different banking documents (by title): a first question,
then 4 follow-ups ("And what about <title>?"). Two modes run the same 100 turns, each on new
threads and new user ids, interleaved ABBA (concurrent, sequential, sequential, concurrent for
``--rounds 2``), each mode on a freshly started server after one warm-up turn (the server's
embedder keeps an LRU cache, so on one shared server whichever mode runs first would pay for
every embedding; ``--shared-server`` does that anyway). All servers run one copy of the
product's code taken at the start (others edit the checkout while benchmarks run):

* concurrent: the 20 threads at once (``asyncio.gather``), 5 sequential turns each;
* sequential: one thread after the other, one turn at a time.

Every turn is ``client.runs.wait(...)``. Recorded per turn: latency, exceptions, the run's
final status (``runs.get`` on the id from ``on_run_created``), a missing answer. Leakage checks
per thread: its final state holds exactly its own 10 messages (its 5 questions in order and
the 5 answers it was returned), each turn's output names its own thread, and each turn's
citations all come from the documents retrieved in that turn's own run (read from the
checkpoint that ended the run). Answers are also compared with the first sequential mode's
answer to the same turn (the offline pipeline is deterministic, so cross-talk would show).

The machine is shared, so the speed-up ratio (concurrent throughput / sequential throughput,
measured side by side) is the result; absolute latencies only hold for the load at the time.

Usage:
    .venv/bin/python bench/concurrency.py [--threads 20] [--turns 5] [--rounds 2]
        [--shared-server]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from langgraph_sdk import get_client  # noqa: E402

from bench import host  # noqa: E402
from tests.dev_server import dev_server, server_config, server_env  # noqa: E402
from tools.demo_corpus import banking_documents, export_banking_corpus  # noqa: E402
from tools.ingest import ingest_paths  # noqa: E402
from tools.vectorstore import list_kbs  # noqa: E402

WORK = ROOT / "bench" / "results" / "tmp" / "concurrency"
OUT = ROOT / "bench" / "results" / "concurrency"
GRAPH = "agentic_rag"
PACKAGES = ("graphs", "nodes", "state", "prompts", "tools", "cli")
N_JOBS_PER_WORKER = 10
"""``langgraph dev``'s default number of runs executed at once (``--n-jobs-per-worker``)."""


@dataclass
class Turn:
    """One turn's outcome."""

    mode: str
    round: int
    thread: int
    turn: int
    question: str
    latency_s: float = 0.0
    run_id: str = ""
    status: str = ""
    error: str = ""
    answer: str = ""
    citations: list[dict[str, Any]] = field(default_factory=list)
    output_thread_id: str | None = None
    graph_errors: list[str] = field(default_factory=list)
    queued_s: float | None = None
    graph_s: float | None = None

    @property
    def failed(self) -> bool:
        """An exception, a run that did not succeed, or no answer."""
        return bool(self.error) or self.status != "success" or not self.answer.strip()


@dataclass
class Mode:
    """One mode's run: its turns, wall time and the leakage findings."""

    mode: str
    round: int
    turns: list[Turn]
    wall_s: float
    load_before: float
    load_after: float
    leaks: list[str] = field(default_factory=list)
    server_cpu_s: float | None = None

    @property
    def latencies(self) -> list[float]:
        """Per-turn latencies in seconds."""
        return [t.latency_s for t in self.turns]

    @property
    def throughput(self) -> float:
        """Turns completed per second of the mode's wall time."""
        return len(self.turns) / self.wall_s

    @property
    def errors(self) -> int:
        """Failed turns."""
        return sum(t.failed for t in self.turns)


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0-1) by the nearest-rank method.

    Example:
        >>> percentile([float(i) for i in range(1, 101)], 0.95)
        95.0
    """
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 1))
    return ordered[int(rank) - 1]


def build_index() -> Path:
    """The banking index (built on first use); returns its data dir."""
    data_dir = WORK / "data"
    corpus = WORK / "corpus"
    if len(list(corpus.glob("*.md"))) < 698:
        export_banking_corpus(corpus)
    if not any(kb["name"] == "default" and kb["chunks"] for kb in list_kbs(str(data_dir))):
        report = ingest_paths([corpus], data_dir=str(data_dir))
        if not report.ok:
            raise RuntimeError(f"ingest failed: {report.failures[:3]}")
    return data_dir


def scripts(threads: int, turns: int) -> list[list[str]]:
    """``threads`` lists of ``turns`` questions, each about a different banking document."""
    titles: list[str] = []
    for doc in sorted(banking_documents(), key=lambda d: d["id"]):
        title = " ".join(doc["title"].split())
        if title and title.lower() not in {t.lower() for t in titles}:
            titles.append(title)
    needed = threads * turns
    if len(titles) < needed:
        raise ValueError(f"only {len(titles)} distinct titles for {needed} questions")
    step = len(titles) // needed
    picked = titles[::step][:needed]
    return [
        [
            f"What should I know about {t}?" if k == 0 else f"And what about {t}?"
            for k, t in enumerate(picked[i * turns : (i + 1) * turns])
        ]
        for i in range(threads)
    ]


def user(text: str) -> dict[str, Any]:
    """A graph input holding one user message."""
    return {"messages": [{"role": "user", "content": text}]}


async def run_thread(
    client: Any, mode: str, round_: int, index: int, questions: list[str]
) -> tuple[str, list[Turn]]:
    """Create a thread and run its turns one after the other; never raises."""
    thread = await client.threads.create(metadata={"bench": f"{mode}-{round_}-{index}"})
    thread_id = thread["thread_id"]
    context = {"user_id": f"bench-{mode}-{round_}-{index}"}
    out = []
    for k, question in enumerate(questions):
        turn = Turn(mode, round_, index, k, question)
        created: list[str] = []
        start = time.perf_counter()
        try:
            values = await client.runs.wait(
                thread_id,
                GRAPH,
                input=user(question),
                context=context,
                on_run_created=lambda meta, sink=created: sink.append(str(meta["run_id"])),
            )
            turn.latency_s = time.perf_counter() - start
            values = values if isinstance(values, dict) else {}
            turn.answer = str(values.get("answer") or "")
            turn.citations = list(values.get("citations") or [])
            turn.output_thread_id = values.get("thread_id")
            turn.graph_errors = [str(e) for e in values.get("errors") or []]
            if "__error__" in values:
                turn.error = json.dumps(values["__error__"])[:300]
        except Exception as exc:  # noqa: BLE001 - every failure is a result here
            turn.latency_s = time.perf_counter() - start
            turn.error = f"{type(exc).__name__}: {exc}"[:300]
        turn.run_id = created[0] if created else ""
        out.append(turn)
    return thread_id, out


def _when(stamp: Any) -> datetime:
    """A server timestamp (ISO string or datetime) as an aware datetime."""
    return stamp if isinstance(stamp, datetime) else datetime.fromisoformat(str(stamp))


async def check_thread(
    client: Any, thread_id: str, questions: list[str], turns: list[Turn]
) -> list[str]:
    """Fill each turn's run status; return the thread's leakage findings."""
    problems = []
    created: dict[str, datetime] = {}
    for turn in turns:
        if turn.run_id:
            try:
                run = await client.runs.get(thread_id, turn.run_id)
                turn.status = str(run.get("status"))
                created[turn.run_id] = _when(run.get("created_at"))
            except Exception as exc:  # noqa: BLE001
                turn.status = f"unknown ({type(exc).__name__})"
        else:
            turn.status = "not created"
    where = f"thread {turns[0].thread} ({turns[0].mode} r{turns[0].round})"
    state = await client.threads.get_state(thread_id)
    messages = (state.get("values") or {}).get("messages") or []
    kinds = [m.get("type") for m in messages]
    expected = ["human", "ai"] * len(questions)
    if kinds != expected:
        problems.append(f"{where}: message types {kinds}")
    humans = [m.get("content") for m in messages if m.get("type") == "human"]
    answers = [m.get("content") for m in messages if m.get("type") == "ai"]
    if humans != questions:
        problems.append(f"{where}: questions in state differ from its own")
    if answers != [t.answer for t in turns]:
        problems.append(f"{where}: answers in state differ from the ones returned")
    history = await client.threads.get_history(thread_id, limit=1000)
    last_of_run: dict[str, dict[str, Any]] = {}
    stamps: dict[str, list[datetime]] = {}
    for snapshot in history:  # newest first: the first one seen per run is its last
        run_id = str((snapshot.get("metadata") or {}).get("run_id") or "")
        last_of_run.setdefault(run_id, snapshot.get("values") or {})
        stamps.setdefault(run_id, []).append(_when(snapshot.get("created_at")))
    for turn in turns:
        if turn.run_id in stamps and turn.run_id in created:
            first, last = min(stamps[turn.run_id]), max(stamps[turn.run_id])
            turn.queued_s = (first - created[turn.run_id]).total_seconds()
            turn.graph_s = (last - first).total_seconds()
        if turn.output_thread_id != thread_id:
            problems.append(f"{where} turn {turn.turn}: output names {turn.output_thread_id}")
        values = last_of_run.get(turn.run_id)
        if values is None:
            problems.append(f"{where} turn {turn.turn}: no checkpoint for run {turn.run_id}")
            continue
        if values.get("question") != turn.question:
            problems.append(f"{where} turn {turn.turn}: run answered {values.get('question')!r}")
        docs = list(values.get("documents") or []) + list(values.get("context_docs") or [])
        own = {(d.get("location"), (d.get("content") or "")[:300]) for d in docs}
        for cite in turn.citations:
            if (cite.get("location"), cite.get("snippet")) not in own:
                problems.append(
                    f"{where} turn {turn.turn}: cites {cite.get('location')!r}, "
                    "not retrieved by its own run"
                )
    return problems


def group_cpu(pgid: int | None) -> float | None:
    """CPU seconds (user + system) used so far by the processes of group ``pgid``."""
    if pgid is None:
        return None
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid:  # fields after the name: state ppid pgrp ...
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


async def run_mode(
    url: str, mode: str, round_: int, script: list[list[str]], pgid: int | None = None
) -> Mode:
    """Run every thread's turns, concurrently or one thread at a time, then check them.

    Args:
        url: The server.
        mode: ``"concurrent"`` or ``"sequential"``.
        round_: The round number (for ids and the report).
        script: Each thread's questions.
        pgid: The server's process group, to read the CPU time it used during the turns.
    """
    client = get_client(url=url)
    load_before = os.getloadavg()[0]
    cpu_before = group_cpu(pgid)
    start = time.perf_counter()
    if mode == "concurrent":
        results = await asyncio.gather(
            *(run_thread(client, mode, round_, i, qs) for i, qs in enumerate(script))
        )
    else:
        results = [await run_thread(client, mode, round_, i, qs) for i, qs in enumerate(script)]
    wall = time.perf_counter() - start
    cpu_after = group_cpu(pgid)
    load_after = os.getloadavg()[0]
    leaks = []
    for (thread_id, turns), questions in zip(results, script, strict=True):
        leaks += await check_thread(client, thread_id, questions, turns)
    turns = [t for _, ts in results for t in ts]
    server_cpu = None if cpu_before is None or cpu_after is None else cpu_after - cpu_before
    return Mode(mode, round_, turns, wall, load_before, load_after, leaks, server_cpu)


async def warm_up(url: str) -> None:
    """One turn on a throwaway thread: loads the models and indexes in the server."""
    client = get_client(url=url)
    thread = await client.threads.create()
    await client.runs.wait(
        thread["thread_id"], GRAPH, input=user("What is the overdraft fee?"), context={}
    )


STARTED: list[tuple[int, int]] = []
"""``(process group id, port)`` of every server this run started."""


def left_over() -> list[str]:
    """Processes still alive from the servers this run started: members of their process
    groups, and ``pgrep -f "langgraph dev"`` matches on their ports (other people's
    ``langgraph dev`` servers on this machine are not counted)."""
    found = set()
    for pgid, port in STARTED:
        for args in (["pgrep", "-g", str(pgid)], ["pgrep", "-f", f"langgraph dev.*--port {port}"]):
            done = subprocess.run(args, capture_output=True, text=True)
            found.update(done.stdout.split())
    return sorted(found)


def machine() -> str:
    """CPU model, cores and Python version."""
    return host.describe()


def summarize(modes: list[Mode], name: str) -> dict[str, float]:
    """Pooled figures of every run of one mode."""
    runs = [m for m in modes if m.mode == name]
    latencies = [x for m in runs for x in m.latencies]
    return {
        "turns": len(latencies),
        "errors": sum(m.errors for m in runs),
        "leaks": sum(len(m.leaks) for m in runs),
        "throughput": sum(len(m.turns) for m in runs) / sum(m.wall_s for m in runs),
        "p50": statistics.median(latencies),
        "p95": percentile(latencies, 0.95),
        "max": max(latencies),
    }


def _p50(turns: list[Turn], name: str) -> str:
    """The median of a per-turn timing that may be unknown, formatted."""
    values = [getattr(t, name) for t in turns if getattr(t, name) is not None]
    return f"{statistics.median(values):.2f}" if values else "?"


def _cpu(mode: Mode, per_turn: bool = False) -> str:
    """The server's CPU seconds per turn, or its average number of busy cores, formatted."""
    if mode.server_cpu_s is None:
        return "?"
    if per_turn:
        return f"{mode.server_cpu_s / len(mode.turns):.3f}"
    return f"{mode.server_cpu_s / mode.wall_s:.2f}"


def reading(modes: list[Mode]) -> list[str]:
    """The "Reading the numbers" section: where each mode's time goes."""

    def pooled(name: str, attr: str) -> float | None:
        values = [getattr(t, attr) for m in modes if m.mode == name for t in m.turns]
        values = [v for v in values if v is not None]
        return statistics.median(values) if values else None

    def cpu(name: str) -> tuple[float, float] | None:
        runs = [m for m in modes if m.mode == name and m.server_cpu_s is not None]
        if not runs:
            return None
        seconds = sum(m.server_cpu_s or 0.0 for m in runs)
        return seconds / sum(len(m.turns) for m in runs), seconds / sum(m.wall_s for m in runs)

    seq_lat = statistics.median(
        t.latency_s for m in modes if m.mode == "sequential" for t in m.turns
    )
    seq_queued, seq_graph = pooled("sequential", "queued_s"), pooled("sequential", "graph_s")
    seq_cpu, conc_cpu = cpu("sequential"), cpu("concurrent")
    if None in (seq_queued, seq_graph, seq_cpu, conc_cpu):
        return []
    assert seq_queued is not None and seq_graph is not None
    assert seq_cpu is not None and conc_cpu is not None
    conc = summarize(modes, "concurrent")
    threads = len({t.thread for m in modes for t in m.turns})
    return [
        "",
        "## Reading the numbers",
        "",
        f"* **Sequential turns mostly wait in the dev server's run queue**: "
        f"{seq_queued:.2f} s of the median {seq_lat:.2f} s turn passes between the run's "
        f"creation and its first checkpoint, {seq_graph:.2f} s executing the graph, and the "
        f"server is busy {seq_cpu[1]:.2f} of {os.cpu_count()} cores. `langgraph dev`'s "
        "in-memory runtime (`langgraph_runtime_inmem.ops.Runs.next`) sleeps 0.5 s after a "
        "poll that found no run and only takes runs created before that sleep began, so a "
        "run submitted to an idle queue starts 0.5-1.0 s later (about 1.0 s here: each turn "
        "is sent right after the previous one ends, in step with the poll). The sequential "
        "throughput, and so the speed-up ratio, mostly measure this polling of the "
        "in-memory dev runtime, not the graph.",
        f"* **Concurrent turns{' are CPU-bound on one core' if conc_cpu[1] > 0.85 else ''}"
        "**: the server uses "
        f"{conc_cpu[0]:.3f} s of CPU per turn ({seq_cpu[0]:.3f} s sequentially) and is busy "
        f"{conc_cpu[1]:.2f} of {os.cpu_count()} cores, i.e. at most about "
        f"{1 / conc_cpu[0]:.1f} turns/s per core ({conc['throughput']:.2f} measured). All "
        "runs execute in the one server process (Python under the GIL; the embedder runs "
        "ONNX with one intra-op thread, `AGENTIC_RAG_EMBED_THREADS=1`, one call at a time), "
        f"so a turn waits for about one turn of each other thread: {threads} threads x "
        f"{conc_cpu[0]:.3f} s = {threads * conc_cpu[0]:.1f} s, against a measured median of "
        f"{conc['p50']:.2f} s. Latency grows with the number of concurrent threads.",
    ]


def render(modes: list[Mode], meta: dict[str, Any]) -> str:
    """The Markdown report."""
    conc, seq = summarize(modes, "concurrent"), summarize(modes, "sequential")
    speedups = []
    for r in sorted({m.round for m in modes}):
        pair = {m.mode: m for m in modes if m.round == r}
        speedups.append(pair["concurrent"].throughput / pair["sequential"].throughput)
    errors = conc["errors"] + seq["errors"]
    leaks = conc["leaks"] + seq["leaks"]
    lines = [
        "# Concurrent threads against `langgraph dev`",
        "",
        f"{meta['date']} · {meta['machine']}",
        "",
        f"Command: `{meta['command']}`",
        "",
        "## Method",
        "",
        f"The real `langgraph dev --no-browser --no-reload` (started by `tests/dev_server.py`, "
        f"default `--n-jobs-per-worker` {N_JOBS_PER_WORKER}, in-memory runtime) serves the "
        f"`{GRAPH}` graph over an index of the tau2-bench banking knowledge base "
        f"({meta['chunks']} chunks, default chunk size), with the offline models and no web "
        "search key. Client: `langgraph_sdk.get_client`, every turn `client.runs.wait(...)`.",
        "",
        f"{meta['threads']} threads x {meta['turns']} turns: each thread asks about "
        f"{meta['turns']} different banking documents (by title), a first question then "
        f'follow-ups ("And what about <title>?"), e.g. `{meta["example"]}`.',
        "",
        "* **concurrent**: all threads at once (`asyncio.gather`), turns sequential per thread;",
        "* **sequential**: the same turns, one thread after another, one turn at a time.",
        "",
        "Both modes run the same turns on new threads and user ids, interleaved "
        f"({', '.join(f'{m.mode} r{m.round}' for m in modes)}), "
        + (
            "through one server, after one warm-up turn (later modes find the questions' "
            "embeddings in the server's LRU embedder cache). "
            if meta["shared_server"]
            else "each on a freshly started server after one warm-up turn, so every mode "
            "starts with the same cold embedder cache (one shared server lets whichever mode "
            "runs first pay for embedding the questions' and documents' sentences). "
        )
        + "All servers run one copy of the product's packages taken when the benchmark "
        "started, so edits to the checkout during the run reach none of them. An error is an "
        "exception, a run whose status is not `success`, or an empty answer. "
        "Leakage checks: each thread's final state holds exactly its own "
        f"{2 * meta['turns']} messages (its questions in order, the answers it was returned), "
        "each turn's output names its own thread and question, and every citation comes from "
        "the documents retrieved by that turn's own run (its last checkpoint). The machine has "
        f"{os.cpu_count()} cores shared with other work (1-min load average "
        f"{meta['load_min']:.2f}-{meta['load_max']:.2f}), so the speed-up ratio, measured side "
        "by side, is the result; absolute latencies hold only for that load.",
        "",
        "## Results",
        "",
        "Latency is measured by the client around `runs.wait`. From the server's own "
        "timestamps: *queued* is from the run's creation to its first checkpoint (waiting in "
        "`langgraph dev`'s in-memory run queue), *graph* from its first to its last checkpoint "
        "(the graph executing). *Server CPU* is the CPU time (user + system) of the server's "
        "whole process group during the mode; *cores busy* is that over the mode's wall time "
        f"(of {os.cpu_count()}).",
        "",
        "| mode | round | turns | errors | leakage findings | wall s | turns/s | p50 s | p95 s "
        "| max s | queued p50 s | graph p50 s | server CPU s/turn | server cores busy |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for m in modes:
        lat = m.latencies
        lines.append(
            f"| {m.mode} | {m.round} | {len(m.turns)} | {m.errors} | {len(m.leaks)} "
            f"| {m.wall_s:.1f} | {m.throughput:.2f} | {statistics.median(lat):.2f} "
            f"| {percentile(lat, 0.95):.2f} | {max(lat):.2f} | {_p50(m.turns, 'queued_s')} "
            f"| {_p50(m.turns, 'graph_s')} | {_cpu(m, per_turn=True)} | {_cpu(m)} |"
        )
    for name, s in (("concurrent", conc), ("sequential", seq)):
        lines.append(
            f"| **{name}, all** | | {s['turns']} | {s['errors']} | {s['leaks']} | "
            f"| {s['throughput']:.2f} | {s['p50']:.2f} | {s['p95']:.2f} | {s['max']:.2f} | | | | |"
        )
    lines += [
        "",
        f"* Speed-up (concurrent turns/s over sequential turns/s, per round): "
        f"{', '.join(f'{s:.2f}x' for s in speedups)}; pooled "
        f"**{conc['throughput'] / seq['throughput']:.2f}x**.",
        f"* Errors: **{errors}** over {conc['turns'] + seq['turns']} turns; leakage findings: "
        f"**{leaks}**; answers differing from the first sequential run of the same turn: "
        f"{meta['answer_diffs']}; turns reporting graph-level source errors: "
        f"{meta['graph_error_turns']}.",
        f"* Target (20 threads x 5 turns, 0 errors), at {meta['threads']} x {meta['turns']}: "
        f"**{'met' if errors == 0 and leaks == 0 else 'missed'}**.",
        f"* Processes left after stopping the {meta['servers']} servers (their process groups, "
        f'and `pgrep -f "langgraph dev"` on their ports): {meta["left_over"]}.',
    ]
    for name in ("concurrent", "sequential"):
        turns = [t for m in modes if m.mode == name for t in m.turns]
        queued = [t.queued_s for t in turns if t.queued_s is not None]
        graph = [t.graph_s for t in turns if t.graph_s is not None]
        if queued and graph:
            lines.append(
                f"* {name}: median {statistics.median(queued):.2f} s queued and "
                f"{statistics.median(graph):.2f} s executing per turn (p95 "
                f"{percentile(queued, 0.95):.2f} s and {percentile(graph, 0.95):.2f} s)."
            )
    lines += reading(modes)
    problems = [t for m in modes for t in m.turns if t.failed][:10]
    findings = [x for m in modes for x in m.leaks][:10]
    if problems or findings:
        lines += ["", "## First problems", ""]
        lines += [
            f"* {t.mode} r{t.round} thread {t.thread} turn {t.turn}: {t.status} {t.error}"
            for t in problems
        ]
        lines += [f"* {x}" for x in findings]
    return "\n".join(lines) + "\n"


def schedule(rounds: int) -> list[tuple[str, int]]:
    """``(mode, round)`` in ABBA order.

    Example:
        >>> schedule(2)
        [('concurrent', 1), ('sequential', 1), ('sequential', 2), ('concurrent', 2)]
    """
    order = []
    for r in range(1, rounds + 1):
        pair = ("concurrent", "sequential") if r % 2 else ("sequential", "concurrent")
        order += [(name, r) for name in pair]
    return order


async def warm_and_run(
    url: str, name: str, round_: int, script: list[list[str]], pgid: int
) -> Mode:
    """One warm-up turn, then one mode."""
    await warm_up(url)
    return await run_mode(url, name, round_, script, pgid)


def snapshot_code() -> Path:
    """Copy the product's packages and ``langgraph.json`` to the scratch folder.

    Every server runs this copy (first on ``PYTHONPATH``, ahead of the editable install), so
    edits others make to the checkout during the run reach no server: all modes run the same
    code. Checked by importing the packages with the servers' environment.
    """
    dest = WORK / "code"
    shutil.rmtree(dest, ignore_errors=True)
    skip = shutil.ignore_patterns("__pycache__", "*.pyc")
    for package in PACKAGES:
        shutil.copytree(ROOT / package, dest / package, ignore=skip)
    shutil.copy(ROOT / "langgraph.json", dest / "langgraph.json")
    probe = (
        "import "
        + ", ".join(PACKAGES)
        + "; print("
        + ", ".join(f"{p}.__path__[0]" for p in PACKAGES)
        + ")"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        env=code_env(dest),
        cwd=WORK,
        capture_output=True,
        text=True,
        check=True,
    )
    if any(not Path(path).is_relative_to(dest) for path in done.stdout.split()):
        raise RuntimeError(f"the servers would not import the snapshot: {done.stdout}")
    return dest


def code_env(code: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The servers' environment: `server_env` with ``code`` first on ``PYTHONPATH``."""
    return server_env({"PYTHONPATH": str(code), **(extra or {})})


def run_on_server(
    code: Path,
    data_dir: Path,
    runs: list[tuple[str, int]],
    script: list[list[str]],
    label: str,
) -> list[Mode]:
    """Start a server in a fresh folder, warm it up, run ``runs`` in order, always stop it."""
    cwd = WORK / f"server-{label}"
    shutil.rmtree(cwd, ignore_errors=True)
    server_config(cwd, root=code)
    env = code_env(code, {"AGENTIC_RAG_DATA_DIR": str(data_dir)})
    modes = []
    with dev_server(cwd, env) as server:
        STARTED.append((server.process.pid, server.port))
        print(f"server {server.url} (pid {server.process.pid})", flush=True)
        for i, (name, round_) in enumerate(runs):
            pgid = server.process.pid
            coro = (
                warm_and_run(server.url, name, round_, script, pgid)
                if i == 0
                else run_mode(server.url, name, round_, script, pgid)
            )
            mode = asyncio.run(coro)
            modes.append(mode)
            print(
                f"{name} r{round_}: {mode.wall_s:.1f} s, {mode.throughput:.2f} turns/s, p95 "
                f"{percentile(mode.latencies, 0.95):.2f} s, errors {mode.errors}, "
                f"leaks {len(mode.leaks)}",
                flush=True,
            )
    return modes


def main(argv: list[str] | None = None) -> int:
    """Build the index, start the server, run the modes, stop it, write the reports."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=20)
    parser.add_argument("--turns", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=2, help="pairs of modes, ABBA order")
    parser.add_argument(
        "--shared-server",
        action="store_true",
        help="one server for every mode (default: a freshly started server per mode)",
    )
    parser.add_argument("--out", type=Path, default=OUT, help="report path without extension")
    args = parser.parse_args(argv)

    data_dir = build_index()
    chunks = next(kb["chunks"] for kb in list_kbs(str(data_dir)) if kb["name"] == "default")
    script = scripts(args.threads, args.turns)
    code = snapshot_code()
    order = schedule(args.rounds)
    modes: list[Mode] = []
    try:
        if args.shared_server:
            modes = run_on_server(code, data_dir, order, script, "shared")
        else:
            for name, round_ in order:
                label = f"{name}-{round_}"
                modes += run_on_server(code, data_dir, [(name, round_)], script, label)
    finally:
        time.sleep(1)
        remaining = left_over()
        if remaining:
            print(f"warning: server processes still running: {remaining}", file=sys.stderr)

    first_seq = next(m for m in modes if m.mode == "sequential")
    reference = {(t.thread, t.turn): t.answer for t in first_seq.turns}
    turns = [t for m in modes for t in m.turns]
    loads = [x for m in modes for x in (m.load_before, m.load_after)]
    meta = {
        "date": datetime.now().strftime("%Y-%m-%d %H:%M"),
        "machine": machine(),
        "command": " ".join([".venv/bin/python bench/concurrency.py", *(argv or sys.argv[1:])]),
        "chunks": chunks,
        "threads": args.threads,
        "turns": args.turns,
        "example": " / ".join(script[0][:2]),
        "answer_diffs": sum(t.answer != reference[(t.thread, t.turn)] for t in turns),
        "graph_error_turns": sum(bool(t.graph_errors) for t in turns),
        "load_min": min(loads),
        "load_max": max(loads),
        "left_over": len(remaining),
        "servers": len(STARTED),
        "shared_server": args.shared_server,
    }
    report = render(modes, meta)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".md").write_text(report, encoding="utf-8")
    payload = {
        **meta,
        "summary": {n: summarize(modes, n) for n in ("concurrent", "sequential")},
        "modes": [
            {
                "mode": m.mode,
                "round": m.round,
                "wall_s": m.wall_s,
                "server_cpu_s": m.server_cpu_s,
                "throughput": m.throughput,
                "leaks": m.leaks,
                "turns": [
                    {k: v for k, v in asdict(t).items() if k not in ("citations",)}
                    | {"cited": [c.get("location") for c in t.citations]}
                    for t in m.turns
                ],
            }
            for m in modes
        ],
    }
    args.out.with_suffix(".json").write_text(json.dumps(payload, indent=2), encoding="utf-8")
    print(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
