"""The agentic-rag command, run as a real process."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.ingest_fixtures import mixed_corpus
from tools.chunking import chunk_sections
from tools.demo_corpus import export_banking_corpus
from tools.loaders import load

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


def test_mixed_folder_ingest_then_kb_list_and_delete(cli_kb, tmp_path):
    data_dir, _ = cli_kb
    corpus = mixed_corpus(tmp_path / "law")
    done = run("ingest", str(corpus), "--kb", "law", "--tenant", "acme", data_dir=data_dir)
    assert done.returncode == 1
    assert "7/9 files" in done.stdout and "22 chunks added" in done.stdout
    assert "law/logo.md: binary" in done.stderr and "law/truncated.pdf: corrupt PDF" in done.stderr
    listed = {
        row["name"]: row
        for row in json.loads(run("kb", "list", "--json", data_dir=data_dir).stdout)
    }
    assert listed["law"]["chunks"] == 22 and listed["default"]["chunks"] > 0
    assert listed["law"]["embedder"] == "all-MiniLM-L6-v2-onnx-int8"

    refused = run("kb", "delete", "law", data_dir=data_dir, stdin="")
    assert refused.returncode == 2 and "--yes" in refused.stderr
    unknown = run("kb", "delete", "nope", "--yes", data_dir=data_dir)
    assert unknown.returncode == 2 and "'nope' does not exist" in unknown.stderr
    deleted = run("kb", "delete", "law", "--yes", data_dir=data_dir)
    assert deleted.returncode == 0, deleted.stderr
    table = run("kb", "list", data_dir=data_dir).stdout
    assert "default" in table and "law" not in table


CHECK = """
import json, sys
from tools.vectorstore import open_kb
kb = open_kb(sys.argv[1], "default")
hits = kb.search("early closure fee for a savings account", 3)
print(json.dumps({"count": kb.count(), "bm25": len(kb.lexical()), "hits": len(hits)}))
"""


def _check(data_dir) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", CHECK, str(data_dir)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _stored(data_dir) -> int:
    db = Path(data_dir) / "chroma" / "chroma.sqlite3"
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return conn.execute("SELECT count(*) FROM embeddings").fetchone()[0]
    except sqlite3.Error:
        return 0


def _expected_chunks(corpus: Path) -> int:
    total = 0
    for file in sorted(corpus.iterdir()):
        sections = load(file.read_bytes(), file)
        total += len(chunk_sections(sections, rel_path=file.name, source_type="md"))
    return total


def test_sigkill_mid_ingest_keeps_the_index_usable_and_a_rerun_completes(tmp_path):
    corpus, data_dir = tmp_path / "corpus", tmp_path / "data"
    export_banking_corpus(corpus, limit=2)
    first = run("ingest", str(corpus), data_dir=data_dir)
    assert first.returncode == 0, first.stderr
    before = _stored(data_dir)
    export_banking_corpus(corpus, limit=8)
    env = {**os.environ, "AGENTIC_RAG_DATA_DIR": str(data_dir)}
    proc = subprocess.Popen(
        [CLI, "ingest", str(corpus), "--batch-size", "8"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 150
    while _stored(data_dir) <= before and proc.poll() is None:
        assert time.monotonic() < deadline, "no chunk was written"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL

    killed = _check(data_dir)
    expected = _expected_chunks(corpus)
    assert before < killed["count"] < expected
    assert killed["bm25"] == killed["count"] and killed["hits"] == 3

    rerun = run("ingest", str(corpus), data_dir=data_dir)
    assert rerun.returncode == 0, rerun.stderr
    assert "0 removed" in rerun.stdout
    final = _check(data_dir)
    assert final["count"] == final["bm25"] == expected


def test_ask_pauses_for_a_human_and_resumes(cli_kb):
    data_dir, _ = cli_kb
    paused = run("ask", "How much does it cost?", "--json", "--thread", "hitl-1", data_dir=data_dir)
    assert paused.returncode == 0, paused.stderr
    out = json.loads(paused.stdout)
    assert out["interrupt"]["type"] == "clarify" and out["thread_id"] == "hitl-1"

    shown = run("ask", "Is it free?", "--thread", "hitl-2", data_dir=data_dir)
    assert "--resume" in shown.stdout and "refer to" in shown.stdout

    done = run(
        "ask",
        "--thread",
        "hitl-1",
        "--resume",
        "the Bronze savings account early closure fee",
        "--json",
        data_dir=data_dir,
    )
    assert done.returncode == 0, done.stderr
    answered = json.loads(done.stdout)
    assert answered["interrupt"] is None and "Bronze" in answered["answer"]

    again = run("ask", "--thread", "hitl-1", "--resume", "yes", data_dir=data_dir)
    assert again.returncode == 2 and "not waiting for an answer" in again.stderr
    orphan = run("ask", "--resume", '{"action": "approve"}', data_dir=data_dir)
    assert orphan.returncode == 2 and "--thread" in orphan.stderr
