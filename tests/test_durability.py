"""Reliability promise 2: kill -9 mid-run and mid-ingest, restart, and nothing completed is lost.

A node is made to block deterministically (a fake OpenAI-compatible generator, or a fake
Tavily, that holds its answer), the real process is killed with SIGKILL while it waits, and
the thread is read back from the checkpointer. ``agentic-rag ask --thread ID --continue``
then finishes the run: the nodes completed before the kill are not run again (the fake
endpoints see only the blocked call and what follows it; in a parallel step, the task that
had finished keeps its saved result) and the checkpoint history goes on from the last
checkpoint written before the kill. Both with SQLite and Postgres checkpoints.

A kill -9 in the middle of re-ingesting changed files leaves every file with one whole
version (old or new) searchable, and a re-run completes it.

``langgraph dev`` keeps threads, runs and checkpoints in memory and pickles them to
``.langgraph_api/`` every 10 s: a run killed after a flush is retried on restart and resumes
from its last completed node; a thread created after the last flush does not survive.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from langgraph_sdk import get_client

from bench.graph_overhead import HAPPY_PATH
from graphs import build_graph
from tests.cli_env import cli_env
from tests.dev_server import server_config, server_env, start_dev_server
from tests.fakes.held import ANSWER, HeldEndpoint
from tools import lexical
from tools.checkpointers import open_checkpointer
from tools.demo_corpus import export_banking_corpus

pytestmark = pytest.mark.durability

CLI = str(Path(sys.executable).with_name("agentic-rag"))
FEE_Q = "What is the early closure fee for a Bronze savings account?"
FOLLOW_UP = "and what about a Silver account?"
WAIT = 90.0
TURN = list(HAPPY_PATH)


@pytest.fixture
def endpoint(request) -> Iterator[HeldEndpoint]:
    held, sources = request.param
    fake = HeldEndpoint(held, sources)
    with fake.server:
        yield fake


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CLI, *args], env=env, capture_output=True, text=True, timeout=180, check=False
    )


def _wait_for(condition: Callable[[], bool], what: str, process: Any = None) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        if process is not None and process.poll() is not None:
            pytest.fail(f"the process ended (code {process.returncode}) before {what}")
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def _kill(process: subprocess.Popen[Any]) -> None:
    process.send_signal(signal.SIGKILL)
    assert process.wait(timeout=30) == -signal.SIGKILL


def _config(thread: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread}}


def _read(spec: str, data_dir: str, thread: str) -> tuple[Any, list[Any]]:
    """The thread's latest snapshot and its history (newest first), read in this process."""
    with open_checkpointer(spec, data_dir) as saver:
        app = build_graph(checkpointer=saver)
        return app.get_state(_config(thread)), list(app.get_state_history(_config(thread)))


def _id(snapshot_or_config: Any) -> str:
    config = getattr(snapshot_or_config, "config", snapshot_or_config)
    return config["configurable"]["checkpoint_id"]


def _task_done(spec: str, data_dir: str, thread: str, source: str) -> Callable[[], bool]:
    """Whether the retrieve task of ``source`` has its result saved (its step not finished)."""

    def done() -> bool:
        try:
            snapshot, _ = _read(spec, data_dir, thread)
        except Exception:  # noqa: BLE001 - the writer may hold the file for a moment
            return False
        return any(
            task.name == "retrieve"
            and task.result
            and task.result.get("documents")
            and task.result["documents"][0]["source"] == source
            for task in snapshot.tasks
        )

    return done


KILL_POINTS = {
    "generate": (("generator", ("vectorstore",)), "generate"),
    "parallel-retrieve": (("web", ("vectorstore", "web")), "retrieve"),
}


@pytest.mark.parametrize(
    ("checkpointer", "endpoint", "blocked"),
    [(spec, *KILL_POINTS[point]) for spec in ("sqlite", "postgres") for point in KILL_POINTS],
    ids=[f"{spec}-{point}" for spec in ("sqlite", "postgres") for point in KILL_POINTS],
    indirect=["endpoint"],
)
def test_cli_killed_mid_run_continues_from_the_last_completed_node(
    request, tmp_path, banking_kb, endpoint, checkpointer, blocked
):
    """``agentic-rag ask`` is killed while ``blocked`` waits (the generator, or the web half
    of the parallel retrieve step); ``ask --thread ID --continue`` finishes the run."""
    if checkpointer == "postgres":
        spec = request.getfixturevalue("postgres_url")
    else:
        spec = f"sqlite:{tmp_path / 'threads.sqlite'}"
    env = cli_env(banking_kb, spec, endpoint.env())
    thread = f"kill-{checkpointer}-{blocked}"

    process = subprocess.Popen(
        [CLI, "ask", FEE_Q, "--thread", thread, "--json"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        held = "web" if blocked == "retrieve" else "generator"
        _wait_for(lambda: held in endpoint.calls(), f"the {held} call", process)
        if blocked == "retrieve":
            _wait_for(_task_done(spec, banking_kb, thread, "vectorstore"), "the KB search", process)
        _kill(process)
    finally:
        if process.poll() is None:
            process.kill()

    killed, history = _read(spec, banking_kb, thread)
    before = [_id(s) for s in history]
    assert killed.next == (blocked,), "only the unfinished task is still to run"
    assert [m.type for m in killed.values["messages"]] == ["human"]
    saved = ["retrieve"] if blocked == "retrieve" else []  # the finished task's write
    assert killed.values["trace"] == TURN[: TURN.index(blocked)] + saved
    if blocked == "retrieve":
        finished = [t for t in killed.tasks if t.result]
        assert len(killed.tasks) == 2 and len(finished) == 1
        assert finished[0].result["documents"][0]["source"] == "vectorstore"

    seen = endpoint.release()
    done = _run(["ask", "--thread", thread, "--continue", "--json"], env)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    rerun = ["web", "grader", "generator"] if blocked == "retrieve" else ["generator"]
    assert endpoint.calls(seen) == rerun, "only the blocked node and those after it ran"
    assert out["answer"].startswith(ANSWER) and out["thread_id"] == thread
    tasks = ["retrieve"] * (2 if blocked == "retrieve" else 1)
    at = TURN.index("retrieve")
    assert [n for n in out["trace"] if n != "web_fallback"] == TURN[:at] + tasks + TURN[at + 1 :]

    after, history = _read(spec, banking_kb, thread)
    ids = [_id(s) for s in history]
    assert ids[-len(before) :] == before, "the checkpoints written before the kill are kept"
    first_new = history[len(ids) - len(before) - 1]
    assert _id(first_new.parent_config) == before[0], "the run goes on from the last one"
    assert [m.type for m in after.values["messages"]] == ["human", "ai"]
    assert after.next == ()
    if blocked == "retrieve":
        graded = {g["source"] for g in after.values["grades"]}
        assert graded == {"vectorstore", "web"}, "both tasks' documents reached the grader"

    if checkpointer == "sqlite" and blocked == "generate":
        again = _run(["ask", "--thread", thread, "--continue"], env)
        assert again.returncode == 2 and "has no unfinished run" in again.stderr
        follow = _run(["ask", FOLLOW_UP, "--thread", thread, "--json"], env)
        assert follow.returncode == 0, follow.stderr
        final, _ = _read(spec, banking_kb, thread)
        assert [m.type for m in final.values["messages"]] == ["human", "ai", "human", "ai"]


# --- langgraph dev ---------------------------------------------------------------------------


def _user(text: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": text}]}


def _pickles(cwd: Path) -> list[Path]:
    folder = cwd / ".langgraph_api"
    return sorted(folder.glob(".langgraph_*.pckl")) if folder.is_dir() else []


def _flushed_after(cwd: Path, moment: float) -> Callable[[], bool]:
    """Whether the server has pickled its threads, runs and checkpoints since ``moment``."""

    def flushed() -> bool:
        files = _pickles(cwd)
        return len(files) >= 3 and min(f.stat().st_mtime for f in files) > moment

    return flushed


@pytest.mark.parametrize("endpoint", [("generator", ("vectorstore",))], indirect=True)
def test_dev_server_killed_mid_run_resumes_what_it_had_flushed(tmp_path, banking_kb, endpoint):
    """kill -9 of `langgraph dev` (its whole process group) with three threads:

    - ``done``: a finished turn, flushed: intact, and a follow-up works after the restart;
    - ``killed``: a run blocked in ``generate`` when the server is killed, flushed while it
      ran: the restarted server retries it and it resumes at ``generate`` (only the generator
      is called again; one human message, one linear history);
    - ``lost``: created after the last flush (the server pickles every 10 s): it does not
      survive, which is the in-memory dev runtime's durability window.
    """
    cwd = tmp_path / "server"
    server_config(cwd)
    env = server_env({"AGENTIC_RAG_DATA_DIR": banking_kb, **endpoint.env()})

    async def before_kill(url: str) -> tuple[str, str, str, str]:
        client = get_client(url=url)
        done = (await client.threads.create())["thread_id"]
        endpoint.held = None
        await client.runs.wait(done, "agentic_rag", input=_user(FEE_Q))
        endpoint.held = "generator"
        killed = (await client.threads.create())["thread_id"]
        run = await client.runs.create(killed, "agentic_rag", input=_user(FEE_Q))
        return done, killed, run["run_id"], url

    server = start_dev_server(cwd, env)
    try:
        done, killed, run_id, _ = asyncio.run(before_kill(server.url))
        _wait_for(lambda: endpoint.calls().count("generator") == 2, "the held generator call")
        _wait_for(_flushed_after(cwd, time.time()), "a flush of the running run")

        async def late_thread() -> str:
            return (await get_client(url=server.url).threads.create())["thread_id"]

        lost = asyncio.run(late_thread())
        os.killpg(server.process.pid, signal.SIGKILL)
        assert server.process.wait(timeout=30) == -signal.SIGKILL
    finally:
        server.stop()

    seen = endpoint.release()
    restarted = start_dev_server(cwd, env)
    try:

        async def after_restart() -> dict[str, Any]:
            client = get_client(url=restarted.url)
            deadline = time.monotonic() + WAIT
            while (run := await client.runs.get(killed, run_id))["status"] in (
                "pending",
                "running",
            ):
                assert time.monotonic() < deadline, "the retried run did not finish"
                await asyncio.sleep(0.2)
            resumed = await client.threads.get_state(killed)
            history = await client.threads.get_history(killed, limit=100)
            await client.runs.wait(done, "agentic_rag", input=_user(FOLLOW_UP))
            follow_up = await client.threads.get_state(done)
            try:
                await client.threads.get(lost)
                lost_status = 200
            except Exception as exc:  # noqa: BLE001 - the SDK raises httpx errors
                lost_status = getattr(getattr(exc, "response", None), "status_code", 0)
            return {
                "run": run,
                "resumed": resumed,
                "history": history,
                "follow_up": follow_up,
                "lost": lost_status,
            }

        out = asyncio.run(after_restart())
    finally:
        restarted.stop()

    assert out["run"]["status"] == "success"
    assert "Retrying runs left running" in restarted.log_tail(400)
    values = out["resumed"]["values"]
    assert [m["type"] for m in values["messages"]] == ["human", "ai"]
    assert values["answer"].startswith(ANSWER) and values["trace"] == TURN
    assert endpoint.calls(seen) == ["generator", "router", "grader", "generator"]
    steps = [h["metadata"]["step"] for h in out["history"]]
    assert steps == list(range(len(TURN), -2, -1)), "one linear history, no step run twice"
    assert len({h["metadata"].get("run_id") for h in out["history"]}) == 1
    assert [m["type"] for m in out["follow_up"]["values"]["messages"]] == ["human", "ai"] * 2
    assert out["lost"] == 404


# --- ingest -------------------------------------------------------------------------------


def _chunks_by_path(data_dir: Path) -> dict[str, set[str]]:
    """Chunk ids per file, read straight from embedded Chroma's SQLite file."""
    db = data_dir / "chroma" / "chroma.sqlite3"
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as conn:
        rows = conn.execute(
            "SELECT e.embedding_id, m.string_value FROM embeddings e "
            "JOIN embedding_metadata m ON m.id = e.id AND m.key = 'path'"
        ).fetchall()
    out: dict[str, set[str]] = {}
    for chunk, path in rows:
        out.setdefault(path, set()).add(chunk)
    return out


def _revise(corpus: Path) -> None:
    for i, file in enumerate(sorted(corpus.iterdir())):
        text = file.read_text(encoding="utf-8")
        lines = text.splitlines()
        lines[0] = f"{lines[0]} (revised {i})"
        note = f"Revision note {i}: this policy was revised on 2026-11-{i + 1:02d}."
        file.write_text("\n".join(lines) + f"\n\n{note}\n", encoding="utf-8")


SEARCH = """
import json, sys
from tools.vectorstore import open_kb
kb = open_kb(sys.argv[1], "default")
hits = kb.search("early closure fee for a savings account", 3)
print(json.dumps({"count": kb.count(), "bm25": len(kb.lexical()), "hits": len(hits)}))
"""


def _search(data_dir: Path) -> dict[str, int]:
    done = subprocess.run(
        [sys.executable, "-c", SEARCH, str(data_dir)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_sigkill_mid_reingest_of_changed_files_keeps_every_file_searchable(tmp_path):
    """Every file keeps a whole version (the old one, or the new one) after a kill -9 in the
    middle of re-ingesting changed files; a re-run leaves exactly the new versions."""
    corpus, data_dir = tmp_path / "corpus", tmp_path / "data"
    export_banking_corpus(corpus, limit=12)
    env = cli_env(str(data_dir), "memory", {})
    first = _run(["ingest", str(corpus)], env)
    assert first.returncode == 0, first.stderr
    old = _chunks_by_path(data_dir)
    assert len(old) == 12

    _revise(corpus)
    process = subprocess.Popen(
        [CLI, "ingest", str(corpus), "--batch-size", "1"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        before = set().union(*old.values())
        _wait_for(
            lambda: bool(set().union(*_chunks_by_path(data_dir).values()) - before),
            "the first new chunks",
            process,
        )
        _kill(process)
    finally:
        if process.poll() is None:
            process.kill()
    killed = _chunks_by_path(data_dir)
    searched = _search(data_dir)
    assert searched["hits"] == 3 and searched["bm25"] == searched["count"]

    rerun = _run(["ingest", str(corpus)], env)
    assert rerun.returncode == 0, rerun.stderr
    new = _chunks_by_path(data_dir)
    assert set(new) == set(old) and all(new[p] != old[p] for p in old)
    assert killed != new, "the kill came before the end of the re-ingest"
    for path in old:
        assert killed[path] >= old[path] or killed[path] >= new[path], path
    bm25 = lexical.LexicalIndex.load(lexical.index_dir(data_dir, "default"))
    assert bm25 is not None and set(bm25.ids) == set().union(*new.values())
