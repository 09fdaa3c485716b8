"""``agentic-rag threads`` (the `cli.threads.threads_app` sub-app) on real checkpointers."""

from __future__ import annotations

import json
import shutil
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

from cli.threads import threads_app
from graphs import build_graph
from state.context import Context
from tools.checkpointers import open_checkpointer

OPEN_Q = "How do I open a personal checking account?"
FOLLOW_UP = "and what about closing it?"
FEE_Q = "What is the early closure fee for a Bronze savings account?"


@pytest.fixture(autouse=True)
def _env(monkeypatch):
    for name in ("AGENTIC_RAG_CHECKPOINTER", "AGENTIC_RAG_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def threads_db(tmp_path_factory, banking_kb):
    """A SQLite file with threads alpha (2 turns), beta (1 turn, newest) and old (30 days)."""
    path = tmp_path_factory.mktemp("threads") / "checkpoints.sqlite"
    ctx = Context(data_dir=banking_kb)
    with open_checkpointer(f"sqlite:{path}", str(path.parent)) as saver:
        app = build_graph(checkpointer=saver)
        for thread, question in [("old", FEE_Q), ("alpha", OPEN_Q), ("alpha", FOLLOW_UP)]:
            app.invoke({"messages": [("user", question)]}, _config(thread), context=ctx)
        # "old": its one turn, dated 30 days back (the saver stores the time it is given)
        latest = saver.get_tuple(_config("old"))
        saver.delete_thread("old")
        stale = (datetime.now(UTC) - timedelta(days=30)).isoformat()
        saver.put(_config("old"), {**latest.checkpoint, "ts": stale}, latest.metadata, {})
        app.invoke({"messages": [("user", FEE_Q)]}, _config("beta"), context=ctx)
    return path


@pytest.fixture
def spec(threads_db, tmp_path):
    """A private copy of `threads_db` (tests delete threads), as a checkpointer spec."""
    copy = tmp_path / "copy.sqlite"
    shutil.copy(threads_db, copy)
    return f"sqlite:{copy}"


def _config(thread: str) -> dict:
    return {"configurable": {"thread_id": thread, "checkpoint_ns": ""}}


def cli(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(threads_app, list(args), env=env)


def _flat(text: str) -> str:
    return " ".join(text.split())


def listed(spec: str, *args: str) -> list[dict]:
    done = cli("list", "--json", "--checkpointer", spec, *args)
    assert done.exit_code == 0, done.output
    return json.loads(done.stdout)


def test_list_shows_threads_newest_first(spec):
    rows = listed(spec)
    assert [r["thread_id"] for r in rows] == ["beta", "alpha", "old"]
    beta, alpha, old = rows
    assert (alpha["turns"], alpha["last_question"]) == (2, FOLLOW_UP)
    assert (beta["turns"], old["turns"], old["checkpoints"]) == (1, 1, 1)
    assert alpha["checkpoints"] > beta["checkpoints"] > 1
    assert datetime.fromisoformat(old["updated"]) < datetime.now(UTC) - timedelta(days=29)
    table = _flat(cli("list", "--checkpointer", spec).stdout)
    assert "│ alpha │ 2 │ and what about closing it? │" in table and "│ beta" in table


def test_list_limit(spec):
    assert [r["thread_id"] for r in listed(spec, "--limit", "1")] == ["beta"]
    done = cli("list", "--limit", "2", "--checkpointer", spec)
    assert done.exit_code == 0 and "1 more (use --limit)" in done.stdout
    assert "│ alpha" in done.stdout and "│ old" not in done.stdout


def test_an_empty_data_dir_has_no_threads_and_stays_empty(tmp_path):
    done = cli("list", "--data-dir", str(tmp_path))
    assert done.exit_code == 0 and "no threads" in done.stdout
    assert listed("sqlite", "--data-dir", str(tmp_path)) == []
    assert list(tmp_path.iterdir()) == []


def test_show_prints_the_conversation(spec):
    done = cli("show", "alpha", "--checkpointer", spec)
    assert done.exit_code == 0, done.output
    text = _flat(done.stdout)
    assert text.startswith("thread alpha · 2 turns · updated 20")
    assert text.index(OPEN_Q) < text.index(FOLLOW_UP) and text.count("assistant") == 2
    shown = json.loads(cli("show", "alpha", "--json", "--checkpointer", spec).stdout)
    assert [m["role"] for m in shown["messages"]] == ["user", "assistant", "user", "assistant"]
    assert shown["messages"][2]["content"] == FOLLOW_UP and "history" not in shown


def test_show_history_lists_the_checkpoints(spec):
    [alpha] = [r for r in listed(spec) if r["thread_id"] == "alpha"]
    done = cli("show", "alpha", "--history", "--json", "--checkpointer", spec)
    history = json.loads(done.stdout)["history"]
    assert len(history) == alpha["checkpoints"]
    assert history[0]["checkpoint_id"] == json.loads(done.stdout)["checkpoint_id"]
    assert all(
        h["parent_id"] == history[i + 1]["checkpoint_id"] for i, h in enumerate(history[:-1])
    )
    assert [h["step"] for h in history] == list(range(history[0]["step"], -2, -1))
    assert (history[0]["node"], history[0]["next"]) == ("finalize", [])
    assert (history[-1]["source"], history[-1]["parent_id"]) == ("input", None)
    assert [h["source"] for h in history].count("input") == 2
    nodes = [h["node"] for h in history]
    assert {"rewrite_query", "retrieve", "grade_documents", "generate"} <= set(nodes)
    table = cli("show", "alpha", "--history", "--checkpointer", spec)
    assert table.exit_code == 0 and "checkpoints (newest first)" in table.stdout
    assert "rewrite_query" in table.stdout


def test_an_unknown_thread_is_a_clear_error(spec):
    for command in (["show"], ["delete", "--yes"]):
        done = cli(*command, "nope", "--checkpointer", spec)
        assert done.exit_code == 1 and "no thread 'nope'" in done.stderr
        assert "Traceback" not in done.output


def test_delete_needs_yes_without_a_terminal(spec):
    refused = cli("delete", "alpha", "--checkpointer", spec)
    assert refused.exit_code == 2 and "pass --yes" in _flat(refused.stderr)
    assert len(listed(spec)) == 3
    done = cli("delete", "alpha", "--yes", "--checkpointer", spec)
    assert done.exit_code == 0 and "deleted thread 'alpha'" in done.stdout
    assert [r["thread_id"] for r in listed(spec)] == ["beta", "old"]
    assert cli("show", "alpha", "--checkpointer", spec).exit_code == 1


def test_prune_deletes_only_old_threads(spec):
    dry = cli("prune", "--older-than", "7", "--dry-run", "--checkpointer", spec)
    assert dry.exit_code == 0 and "would delete 1 threads (dry run)" in dry.stdout
    assert "old" in dry.stdout and "alpha" not in dry.stdout and len(listed(spec)) == 3
    refused = cli("prune", "--older-than", "7", "--checkpointer", spec)
    assert refused.exit_code == 2 and "pass --yes" in _flat(refused.stderr)
    done = cli("prune", "--older-than", "7", "--yes", "--checkpointer", spec)
    assert done.exit_code == 0 and "deleted 1 threads" in done.stdout
    assert [r["thread_id"] for r in listed(spec)] == ["beta", "alpha"]
    again = cli("prune", "--older-than", "7", "--checkpointer", spec)
    assert again.exit_code == 0 and "no threads older than 7 days" in again.stdout
    assert cli("prune", "--older-than", "-1", "--checkpointer", spec).exit_code == 2


def test_data_dir_and_variable_choose_the_checkpointer(spec, tmp_path):
    path = spec.removeprefix("sqlite:")
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    shutil.copy(path, data_dir / "checkpoints.sqlite")
    assert len(listed("sqlite", "--data-dir", str(data_dir))) == 3
    env = {"AGENTIC_RAG_DATA_DIR": str(data_dir)}
    done = CliRunner().invoke(threads_app, ["list", "--json"], env=env)
    assert len(json.loads(done.stdout)) == 3
    env = {"AGENTIC_RAG_CHECKPOINTER": spec, "AGENTIC_RAG_DATA_DIR": str(tmp_path / "none")}
    assert cli("show", "beta", env=env).exit_code == 0
    assert listed("memory") == []  # an in-memory checkpointer ends with the command


def test_bad_checkpointer_fails_with_one_clear_line():
    bad = cli("list", "--checkpointer", "redis://localhost")
    assert bad.exit_code == 2 and "invalid checkpointer spec" in bad.stderr
    assert "sqlite:PATH" in bad.stderr
    unreachable = "postgresql://bob:s3cret@127.0.0.1:1/app?connect_timeout=3"
    down = cli("list", "--checkpointer", unreachable)
    assert down.exit_code == 2 and isinstance(down.exception, SystemExit)
    assert _flat(down.stderr).startswith(
        "error: cannot open postgres checkpointer postgresql://bob@"
    )
    assert "s3cret" not in down.stderr and "Traceback" not in down.output


def test_postgres_threads(spec, postgres_url):
    """The same commands on PostgresSaver, with the threads copied checkpoint by checkpoint."""
    with (
        open_checkpointer(spec, "") as source,
        open_checkpointer(postgres_url, "") as target,
    ):
        for item in sorted(
            source.list(None), key=lambda i: i.config["configurable"]["checkpoint_id"]
        ):
            parent = item.parent_config or _config(item.config["configurable"]["thread_id"])
            versions = item.checkpoint["channel_versions"]
            saved = target.put(parent, item.checkpoint, item.metadata, versions)
            by_task = defaultdict(list)
            for task_id, channel, value in item.pending_writes or []:
                by_task[task_id].append((channel, value))
            for task_id, writes in by_task.items():
                target.put_writes(saved, writes, task_id)
    assert listed(postgres_url) == listed(spec)
    shown = cli("show", "alpha", "--history", "--json", "--checkpointer", postgres_url)
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout) == json.loads(
        cli("show", "alpha", "--history", "--json", "--checkpointer", spec).stdout
    )
    assert cli("delete", "alpha", "--yes", "--checkpointer", postgres_url).exit_code == 0
    assert [r["thread_id"] for r in listed(postgres_url)] == ["beta", "old"]
    assert cli("prune", "--older-than", "7", "--yes", "--checkpointer", postgres_url).exit_code == 0
    assert [r["thread_id"] for r in listed(postgres_url)] == ["beta"]
