"""The agentic-rag command, run as a real process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tools.demo_corpus import export_banking_corpus

CLI = str(Path(sys.executable).parent / "agentic-rag")
FIELDS = {"answer", "citations", "route", "grade", "checks", "trace", "usage", "thread_id"}


def run(*args, data_dir, stdin=None, env=None):
    full_env = {
        **os.environ,
        "LANGSMITH_TRACING": "false",
        "AGENTIC_RAG_DATA_DIR": str(data_dir),
        **(env or {}),
    }
    return subprocess.run(
        [CLI, *args], input=stdin, capture_output=True, text=True, env=full_env, timeout=180
    )


@pytest.fixture(scope="module")
def cli_kb(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    corpus = root / "corpus"
    export_banking_corpus(corpus, limit=8)
    (corpus / "broken.md").write_bytes(b"\x00\x01binary\xff")
    done = run("ingest", str(corpus), data_dir=root / "data")
    return root / "data", done


def test_ingest_reports_bad_files_and_keeps_the_rest(cli_kb):
    _, done = cli_kb
    assert done.returncode == 1
    assert "8/9 files" in done.stdout
    assert "broken.md" in done.stderr


def test_ask_json_returns_the_documented_fields(cli_kb):
    data_dir, _ = cli_kb
    done = run(
        "ask",
        "What is the early closure fee for a Bronze savings account?",
        "--json",
        "--thread",
        "cli-1",
        data_dir=data_dir,
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert set(out) >= FIELDS
    assert "grade_documents" in out["trace"] and "generate" in out["trace"]
    assert out["thread_id"] == "cli-1" and "$20" in out["answer"]
    assert set(out["citations"][0]) == {"id", "source", "title", "location", "snippet"}
    assert set(out["usage"]) == {"llm_calls", "tokens", "ms_per_node"}


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["ask", "   "], {}, "the question is empty"),
        (["ask", "fees?", "--kb", "no such kb!"], {}, "invalid knowledge base name"),
        (["ask", "fees?", "--kb", "missing"], {}, "knowledge base 'missing' does not exist"),
        (["ask", "fees?"], {"AGENTIC_RAG_ROUTER_MODEL": "nonexistent"}, "unknown model"),
        (["ask", "fees?"], {"AGENTIC_RAG_MAX_REWRITES": "-3"}, "max_rewrites"),
        (["ingest", "/definitely/not/here"], {}, "no such file"),
    ],
)
def test_bad_input_gets_a_clear_message_and_exit_2(cli_kb, args, env, message):
    data_dir, _ = cli_kb
    done = run(*args, data_dir=data_dir, env=env)
    assert done.returncode == 2
    assert message in done.stderr.lower() and "Traceback" not in done.stderr


def test_chat_answers_and_keeps_the_thread(cli_kb):
    data_dir, _ = cli_kb
    done = run(
        "chat",
        "--thread",
        "chat-1",
        data_dir=data_dir,
        stdin="hello\nWhat is the early closure fee for a Bronze savings account?\n/quit\n",
    )
    assert done.returncode == 0, done.stderr
    assert "Hello" in done.stdout and "$20" in done.stdout and "Sources" in done.stdout
    again = run("ask", "thanks!", "--json", "--thread", "chat-1", data_dir=data_dir)
    assert json.loads(again.stdout)["route"]["decision"] == "none"
