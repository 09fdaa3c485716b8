"""``agentic-rag memory`` (the `cli.memory.memory_app` sub-app) on real stores."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from cli.memory import memory_app
from tools.memory import list_memories, memory_key
from tools.stores import open_store


@pytest.fixture(autouse=True)
def _env(data_dir, monkeypatch):
    """Every test gets its own data directory (AGENTIC_RAG_DATA_DIR) and no other settings."""
    for name in ("AGENTIC_RAG_STORE", "AGENTIC_RAG_USER_ID"):
        monkeypatch.delenv(name, raising=False)


def cli(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(memory_app, list(args), env=env)


def _flat(text: str) -> str:
    return " ".join(text.split())


def listed(*args: str, env: dict[str, str] | None = None) -> list[dict]:
    done = cli("list", "--json", *args, env=env)
    assert done.exit_code == 0, done.output
    return json.loads(done.stdout)


def test_list_is_empty_at_first():
    done = cli("list")
    assert done.exit_code == 0
    assert "no memories for user 'default'" in done.stdout
    assert listed() == []


def test_add_then_list_shows_it():
    done = cli("add", "I prefer short answers.")
    key = memory_key("I prefer short answers.")
    assert done.exit_code == 0 and f"remembered {key}" in done.stdout
    [row] = listed()
    assert row["key"] == key and row["text"] == "I prefer short answers."
    assert row["created_at"].startswith("20")
    table = cli("list").stdout
    assert key in table and "short" in table and "answers." in table


def test_adding_the_same_text_again_dedupes():
    first = cli("add", "I prefer short answers.")
    again = cli("add", "  i prefer SHORT   answers. ")
    assert again.exit_code == 0
    assert "already remembered" in again.stdout
    assert first.stdout.split()[-1] == again.stdout.split()[-1]
    assert len(listed()) == 1


def test_delete_forgets_and_a_missing_key_fails():
    key = cli("add", "I have two cats.").stdout.split()[-1]
    done = cli("delete", key)
    assert done.exit_code == 0 and f"deleted memory {key}" in done.stdout
    assert listed() == []
    missing = cli("delete", key)
    assert missing.exit_code == 1
    assert f"user 'default' has no memory with key '{key}'" in _flat(missing.stderr)


def test_clear_needs_yes_without_a_terminal():
    cli("add", "I have two cats.")
    cli("add", "I prefer short answers.")
    refused = cli("clear")
    assert refused.exit_code == 2 and "pass --yes" in _flat(refused.stderr)
    assert len(listed()) == 2
    done = cli("clear", "--yes")
    assert done.exit_code == 0 and "deleted 2 memories of user 'default'" in done.stdout
    assert listed() == []
    assert cli("clear").exit_code == 0  # nothing left to confirm


def test_users_are_isolated():
    alice = cli("add", "My checking account is at Hillcrest.", "--user", "alice").stdout.split()[-1]
    cli("add", "I have a savings account.", env={"AGENTIC_RAG_USER_ID": "bob"})
    assert [r["key"] for r in listed("--user", "alice")] == [alice]
    assert [r["text"] for r in listed(env={"AGENTIC_RAG_USER_ID": "bob"})] == [
        "I have a savings account."
    ]
    assert listed() == []  # the "default" user
    assert cli("delete", alice, "--user", "bob").exit_code == 1
    assert cli("clear", "--user", "bob", "--yes").exit_code == 0
    assert [r["key"] for r in listed("--user", "alice")] == [alice]
    assert cli("list", "--user", " ").exit_code == 2


def test_memories_persist_across_invocations_in_the_data_dir(data_dir):
    key = cli("add", "I bank at the Riverside branch.", "--user", "alice").stdout.split()[-1]
    assert (data_dir / "memory.sqlite").is_file()
    assert [r["key"] for r in listed("--user", "alice")] == [key]
    with open_store(None, str(data_dir)) as store:  # Python opens the same store as the CLI
        assert [m["key"] for m in list_memories(store, "alice")] == [key]
    other = data_dir.parent / "other"
    assert listed("--user", "alice", "--data-dir", str(other)) == []


def test_store_option_and_variable_choose_the_store(tmp_path, data_dir):
    path = tmp_path / "elsewhere" / "mem.sqlite"
    cli("add", "I prefer short answers.", "--store", f"sqlite:{path}")
    assert path.is_file() and not (data_dir / "memory.sqlite").exists()
    assert len(listed(env={"AGENTIC_RAG_STORE": f"sqlite:{path}"})) == 1
    assert cli("add", "Kept in memory only.", "--store", "memory").exit_code == 0
    assert listed("--store", "memory") == []  # an in-memory store ends with the command


def test_postgres_store(postgres_url):
    key = cli("add", "I prefer short answers.", "--store", postgres_url).stdout.split()[-1]
    assert [r["key"] for r in listed(env={"AGENTIC_RAG_STORE": postgres_url})] == [key]
    assert cli("delete", key, "--store", postgres_url).exit_code == 0


def test_bad_store_and_text_fail_with_one_clear_line():
    bad = cli("list", "--store", "redis://localhost")
    assert bad.exit_code == 2 and "invalid store spec" in bad.stderr and "sqlite:PATH" in bad.stderr
    unreachable = "postgresql://bob:s3cret@127.0.0.1:1/app?connect_timeout=3"
    down = cli("list", "--store", unreachable)
    assert down.exit_code == 2 and isinstance(down.exception, SystemExit)
    assert _flat(down.stderr).startswith("error: cannot open postgres store postgresql://bob@")
    assert "s3cret" not in down.stderr and "Traceback" not in down.output
    blank = cli("add", "   ")
    assert blank.exit_code == 2 and "a memory needs some text" in blank.stderr


def test_memory_text_is_printed_literally():
    cli("add", "I like [red]brackets[/red] and [bold]tags")
    assert "[red]brackets[/red]" in cli("list").stdout
