"""Reliability promise 6: 20 concurrent threads x 10 turns, 0 errors, no cross-thread leakage.

One index of 160 generated account documents (each names one made-up account, e.g. "The
Kalomi account has a monthly fee of $3."). Each of the 20 threads has its own user and its
own 8 accounts: turn 1 asks it to remember its favourite account, turns 2-9 ask about its 8
accounts (a question, then follow-ups "And what about the <name> account?"), turn 10 asks
"What is my favourite account?" (answered from that user's memory).

Two ways, each 200 turns with the 20 threads at once:

* ``langgraph dev`` (the real server, `tests/dev_server.py`) through langgraph-sdk, with the
  turn runner and leakage checks of ``bench/concurrency.py``;
* Python ``asyncio``: ``graph.ainvoke`` with an ``AsyncSqliteSaver``
  (`tools.checkpointers.aopen_checkpointer`) and the SQLite memory store.

Errors: an exception, a failed run, an empty answer or a source error in the turn. Leakage:
a thread's final state not holding exactly its own 10 questions and 10 answers, a turn citing
what its own run did not retrieve, a turn not citing its own account first, the memory turn
not naming the thread's own favourite or citing another user's memory. Both ways must give
the same answer to every turn (the offline pipeline is deterministic). Throughput and p95
latency are printed (``-s``).
"""

from __future__ import annotations

import asyncio
import itertools
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from langgraph_sdk import get_client

from bench.concurrency import Turn, check_thread, percentile, run_thread, warm_up
from graphs import build_graph
from state.context import Context
from tests.dev_server import dev_server, server_config, server_env
from tools.checkpointers import aopen_checkpointer
from tools.ingest import ingest_paths
from tools.stores import open_store

pytestmark = pytest.mark.load

THREADS = 20
TURNS = 10
ACCOUNTS = TURNS - 2
_SYLLABLES = ("ka", "lo", "mi", "ru", "te", "zo", "vi", "ne", "pa", "du", "fe", "gi")


def account_names(n: int) -> list[str]:
    """``n`` distinct made-up account names, each of three different syllables.

    Example:
        >>> account_names(3)
        ['Kalomi', 'Tekalo', 'Pakalo']
    """
    names = ["".join(parts).capitalize() for parts in itertools.permutations(_SYLLABLES, 3)]
    return names[:: len(names) // n][:n]


def fee(index: int) -> int:
    return 3 + (index * 7) % 40


@dataclass
class Script:
    """One thread's questions and what each turn must cite."""

    index: int
    accounts: list[str]
    questions: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        first, *rest = self.accounts
        self.questions = [
            f"Remember that my favourite account is the {first} account.",
            f"What is the monthly fee of the {first} account?",
            *(f"And what about the {name} account?" for name in rest),
            "What is my favourite account?",
        ]

    def expected_path(self, turn: int) -> str | None:
        """The document turn ``turn`` must cite first (None: the remember and memory turns)."""
        if 1 <= turn <= ACCOUNTS:
            return f"corpus/{self.accounts[turn - 1].lower()}.md"
        return None


@pytest.fixture(scope="module")
def index(tmp_path_factory) -> tuple[str, list[Script], dict[str, int]]:
    """The 160-document index and the 20 threads' scripts."""
    root = tmp_path_factory.mktemp("load")
    corpus = root / "corpus"
    corpus.mkdir()
    names = account_names(THREADS * ACCOUNTS)
    assert len(set(names)) == THREADS * ACCOUNTS
    fees = {}
    for i, name in enumerate(names):
        fees[name] = fee(i)
        (corpus / f"{name.lower()}.md").write_text(
            f"# The {name} account\n\nThe {name} account has a monthly fee of ${fee(i)}. "
            f"The {name} debit card includes {2 + i % 9} free ATM withdrawals each month. "
            f"{name} account holders get statements on day {1 + i % 28} of each month.\n",
            encoding="utf-8",
        )
    report = ingest_paths([corpus], data_dir=str(root / "data"))
    assert report.ok and report.chunks_added == len(names), report
    scripts = [Script(i, names[i * ACCOUNTS : (i + 1) * ACCOUNTS]) for i in range(THREADS)]
    return str(root / "data"), scripts, fees


def own_findings(script: Script, turns: list[Turn], user: str, fees: dict[str, int]) -> list[str]:
    """What a thread's answers must say and cite, beyond what its own runs retrieved."""
    where = f"thread {script.index}"
    problems = []
    for k, turn in enumerate(turns):
        expected = script.expected_path(k)
        cited = [str(c.get("location", "")) for c in turn.citations]
        if expected is not None:
            name = script.accounts[k - 1]
            if not cited or not cited[0].startswith(expected):
                problems.append(f"{where} turn {k}: cites {cited}, not {expected} first")
            if f"The {name} account has a monthly fee of ${fees[name]}." not in turn.answer:
                problems.append(f"{where} turn {k}: answer {turn.answer[:120]!r}")
        elif k == TURNS - 1:
            if f"the {script.accounts[0]} account" not in turn.answer:
                problems.append(f"{where} memory turn: {turn.answer[:120]!r}")
            if not cited or any(not c.startswith(f"memory://{user}/") for c in cited):
                problems.append(f"{where} memory turn cites {cited}")
        elif cited:
            problems.append(f"{where} turn {k}: the remember turn cites {cited}")
    return problems


def summary(name: str, turns: list[Turn], wall: float) -> dict[str, float]:
    latencies = [t.latency_s for t in turns]
    out = {
        "turns": len(turns),
        "wall_s": round(wall, 1),
        "turns_per_s": round(len(turns) / wall, 2),
        "p50_s": round(statistics.median(latencies), 2),
        "p95_s": round(percentile(latencies, 0.95), 2),
        "max_s": round(max(latencies), 2),
    }
    print(f"{name}: {out}")
    return out


def test_the_checks_catch_a_swapped_answer_and_a_foreign_memory():
    """The leakage oracle can fail: another thread's account, another user's memory."""
    mine, theirs = Script(0, account_names(16)[:8]), Script(1, account_names(16)[8:])
    fees = {name: fee(i) for i, name in enumerate(account_names(16))}

    def turn(k: int, script: Script, location: str) -> Turn:
        name = script.accounts[min(max(k - 1, 0), ACCOUNTS - 1)]
        answer = f"The {name} account has a monthly fee of ${fees[name]}. [1]"
        if k == TURNS - 1:
            answer = f"My favourite account is the {script.accounts[0]} account. [1]"
        done = Turn("unit", 1, script.index, k, script.questions[k], answer=answer)
        done.citations = [{"location": location}] if k else []
        return done

    good = [turn(k, mine, mine.expected_path(k) or "memory://u0/k") for k in range(TURNS)]
    assert own_findings(mine, good, "u0", fees) == []
    swapped = list(good)
    swapped[3] = turn(3, theirs, theirs.expected_path(3))
    foreign = [*good[:-1], turn(TURNS - 1, mine, "memory://u1/k")]
    assert len(own_findings(mine, swapped, "u0", fees)) == 2
    assert len(own_findings(mine, foreign, "u0", fees)) == 1


ANSWERS: dict[str, dict[tuple[int, int], str]] = {}
"""Each way's answer per (thread, turn), compared by the last test."""


# --- langgraph dev through langgraph-sdk ----------------------------------------------------


async def drive_server(url: str, scripts: list[Script]) -> tuple[list, float]:
    await warm_up(url)
    client = get_client(url=url)
    start = time.perf_counter()
    results = await asyncio.gather(
        *(run_thread(client, "load", 1, s.index, s.questions) for s in scripts)
    )
    wall = time.perf_counter() - start
    leaks = []
    for script, (thread_id, turns) in zip(scripts, results, strict=True):
        leaks += await check_thread(client, thread_id, script.questions, turns)
    return [turns for _, turns in results], wall, leaks


def test_langgraph_dev_20_threads_x_10_turns(index, tmp_path):
    data_dir, scripts, fees = index
    server_config(tmp_path)
    with dev_server(tmp_path, server_env({"AGENTIC_RAG_DATA_DIR": data_dir})) as server:
        per_thread, wall, leaks = asyncio.run(
            asyncio.wait_for(drive_server(server.url, scripts), timeout=400)
        )
    turns = [t for ts in per_thread for t in ts]
    errors = [
        f"{t.thread}/{t.turn}: {t.status} {t.error} {t.graph_errors}"
        for t in turns
        if t.failed or t.graph_errors
    ]
    for script, ts in zip(scripts, per_thread, strict=True):
        leaks += own_findings(script, ts, f"bench-load-1-{script.index}", fees)
    summary("langgraph dev", turns, wall)
    ANSWERS["server"] = {(t.thread, t.turn): t.answer for t in turns}
    assert len(turns) == THREADS * TURNS
    assert errors == [], errors[:5]
    assert leaks == [], leaks[:5]


# --- Python asyncio --------------------------------------------------------------------------


async def python_thread(app, script: Script, user: str, ctx: Context) -> tuple[list[Turn], list]:
    config = {"configurable": {"thread_id": f"py-{script.index}"}}
    turns, leaks = [], []
    for k, question in enumerate(script.questions):
        turn = Turn("python", 1, script.index, k, question)
        start = time.perf_counter()
        try:
            out = await app.ainvoke({"messages": [("user", question)]}, config, context=ctx)
            turn.latency_s = time.perf_counter() - start
            state = (await app.aget_state(config)).values
            turn.status = "success"
            turn.answer, turn.citations = out["answer"], list(out.get("citations") or [])
            turn.output_thread_id = out.get("thread_id")
            turn.graph_errors = list(out.get("errors") or [])
            docs = list(state.get("documents") or []) + list(state.get("context_docs") or [])
            own = {(d["location"], d["content"][:300]) for d in docs}
            for cite in turn.citations:
                if (cite["location"], cite["snippet"]) not in own:
                    leaks.append(f"thread {script.index} turn {k}: cites {cite['location']!r}")
            if state.get("question") != question:
                leaks.append(f"thread {script.index} turn {k}: answered {state.get('question')!r}")
        except Exception as exc:  # noqa: BLE001 - every failure is a result here
            turn.latency_s = time.perf_counter() - start
            turn.error = f"{type(exc).__name__}: {exc}"[:300]
        turns.append(turn)
    state = (await app.aget_state(config)).values
    messages = state.get("messages") or []
    if [m.type for m in messages] != ["human", "ai"] * TURNS:
        leaks.append(f"thread {script.index}: message types {[m.type for m in messages]}")
    if [m.content for m in messages if m.type == "human"] != script.questions:
        leaks.append(f"thread {script.index}: questions in state differ from its own")
    if [m.content for m in messages if m.type == "ai"] != [t.answer for t in turns]:
        leaks.append(f"thread {script.index}: answers in state differ from the ones returned")
    if any(t.output_thread_id != f"py-{script.index}" for t in turns if not t.error):
        leaks.append(f"thread {script.index}: an output names another thread")
    return turns, leaks


async def drive_python(data_dir: str, work: Path, scripts: list[Script]):
    async with aopen_checkpointer("sqlite", str(work)) as saver:
        with open_store("sqlite", str(work)) as store:
            app = build_graph(checkpointer=saver, store=store)
            warm = Context(data_dir=data_dir, user_id="warm-up")
            await app.ainvoke(
                {"messages": [("user", "What is the overdraft fee?")]},
                {"configurable": {"thread_id": "warm-up"}},
                context=warm,
            )
            start = time.perf_counter()
            results = await asyncio.gather(
                *(
                    python_thread(
                        app,
                        s,
                        f"py-user-{s.index}",
                        Context(data_dir=data_dir, user_id=f"py-user-{s.index}"),
                    )
                    for s in scripts
                )
            )
            return results, time.perf_counter() - start


def test_python_asyncio_20_threads_x_10_turns(index, tmp_path):
    data_dir, scripts, fees = index
    results, wall = asyncio.run(
        asyncio.wait_for(drive_python(data_dir, tmp_path, scripts), timeout=400)
    )
    turns = [t for ts, _ in results for t in ts]
    errors = [
        f"{t.thread}/{t.turn}: {t.error} {t.graph_errors}"
        for t in turns
        if t.failed or t.graph_errors
    ]
    leaks = [x for _, found in results for x in found]
    for script, (ts, _) in zip(scripts, results, strict=True):
        leaks += own_findings(script, ts, f"py-user-{script.index}", fees)
    summary("python asyncio", turns, wall)
    ANSWERS["python"] = {(t.thread, t.turn): t.answer for t in turns}
    assert len(turns) == THREADS * TURNS
    assert errors == [], errors[:5]
    assert leaks == [], leaks[:5]


def test_both_ways_give_the_same_answers():
    if set(ANSWERS) != {"server", "python"}:
        pytest.skip("needs both load tests in this session")
    server, python = ANSWERS["server"], ANSWERS["python"]
    differ = [key for key in server if server[key] != python.get(key)]
    assert differ == [], [(k, server[k][:80], python.get(k, "")[:80]) for k in differ[:3]]
