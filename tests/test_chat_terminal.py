"""`agentic-rag chat` driven as a real program in a pseudo-terminal (pexpect)."""

from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path

import pexpect
import pytest

from tests.fakes.openai_server import openai_script
from tests.fakes.servers import FakeResponse, FakeServer, silent_listener, tavily_search_response

CLI = str(Path(sys.executable).parent / "agentic-rag")
PROMPT = "you> "
BRONZE = "What is the early closure fee for a Bronze savings account?"
THREAD_ID = re.compile(r"thread ([0-9a-f]{12})")
_ESCAPES = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|[\x01\x02\r]")


@pytest.fixture(scope="module")
def chat_data(tmp_path_factory):
    """A data directory holding an index of 8 banking documents."""
    from tools.demo_corpus import export_banking_corpus
    from tools.ingest import ingest_paths

    root = tmp_path_factory.mktemp("chat")
    export_banking_corpus(root / "corpus", limit=8)
    assert ingest_paths([root / "corpus"], data_dir=str(root / "data"), kb="default").ok
    return root / "data"


class Chat:
    """One `agentic-rag chat` process in a 40x120 pseudo-terminal."""

    def __init__(self, data_dir: Path, *args: str, **env: str) -> None:
        full_env = {
            **os.environ,
            "AGENTIC_RAG_DATA_DIR": str(data_dir),
            "LANGSMITH_TRACING": "false",
            "COLUMNS": "120",
            "TERM": "xterm",
            **env,
        }
        self.child = pexpect.spawn(
            CLI, ["chat", *args], env=full_env, encoding="utf-8", timeout=30, dimensions=(40, 120)
        )
        self.banner = self.until(PROMPT)

    def until(self, pattern: str) -> str:
        """The plain text printed before ``pattern`` (which must appear)."""
        self.child.expect_exact(pattern)
        return plain(self.child.before)

    def say(self, line: str, until: str = PROMPT) -> str:
        """Type ``line``; the plain text printed until ``until`` (the next prompt)."""
        self.child.sendline(line)
        return self.until(until)

    def quit(self) -> None:
        self.child.sendline("/quit")
        self.child.expect(pexpect.EOF)
        self.child.close()
        assert self.child.exitstatus == 0

    def close(self) -> None:
        if self.child.isalive():
            self.child.close(force=True)


def plain(text: str) -> str:
    """``text`` without terminal escape sequences and carriage returns."""
    return _ESCAPES.sub("", text or "")


def printed_once(out: str) -> bool:
    """Whether one answer was printed in ``out``, and its first line only once."""
    answers = [line for line in out.splitlines() if line.startswith("assistant> ")]
    return len(answers) == 1 and out.count(answers[0].removeprefix("assistant> ")) == 1


@pytest.fixture
def chats():
    """Start chats with ``chats(data_dir, *args, **env)``; all are closed afterwards."""
    started: list[Chat] = []

    def start(data_dir: Path, *args: str, **env: str) -> Chat:
        started.append(Chat(data_dir, *args, **env))
        return started[-1]

    yield start
    for chat in started:
        chat.close()


def test_chat_answers_with_sources_and_commands(chat_data, chats):
    chat = chats(chat_data)
    first = THREAD_ID.search(chat.banner).group(1)
    assert "(new)" in chat.banner and "/threads" in chat.banner and "/sources" in chat.banner

    out = chat.say(BRONZE)
    assert "$20" in out and "Sources" in out and "sources: vectorstore" in out
    assert printed_once(out)
    assert "Sources" in chat.say("/sources")
    assert f"thread {first}" in chat.say("/thread")

    out = chat.say("And for a Silver savings account?")
    assert printed_once(out) and "Silver" in out

    second = THREAD_ID.search(chat.say("/new")).group(1)
    assert second != first
    assert "no answer in this thread yet" in chat.say("/sources")
    listed = chat.say("/threads")
    assert first in listed and BRONZE in listed and second not in listed

    assert "unknown command /bogus" in chat.say("/bogus") and "/help" in chat.say("/bogus")
    assert all(name in chat.say("/help") for name in ("/new", "/threads", "Ctrl-C"))
    chat.quit()


def test_a_thread_continues_after_a_restart(chat_data, chats):
    chat = chats(chat_data, "--thread", "restart-1")
    assert "$20" in chat.say(BRONZE)
    chat.quit()

    again = chats(chat_data, "--thread", "restart-1")
    assert "thread restart-1 (continued: 1 earlier question(s))" in again.banner
    assert "Sources" in again.say("/sources")
    out = again.say("What was my first question?")
    assert "Your first question was" in out and BRONZE in out
    again.quit()


def test_ctrl_c_cancels_the_run_and_the_thread_stays_usable(chat_data, chats):
    with silent_listener() as url:
        chat = chats(
            chat_data,
            TAVILY_API_KEY="x",
            TAVILY_BASE_URL=url,
            AGENTIC_RAG_REQUEST_TIMEOUT="4",
        )
        assert "$20" in chat.say(BRONZE)
        chat.child.sendline("What is the latest news today?")
        chat.until("thinking")
        time.sleep(1.0)  # the web search is now waiting on the silent server
        started = time.monotonic()
        chat.child.sendcontrol("c")
        chat.until("cancelled")
        chat.until(PROMPT)
        assert time.monotonic() - started < 3

        out = chat.say("What was my first question?")
        assert "Your first question was" in out and BRONZE in out

        chat.child.sendcontrol("c")
        assert "Ctrl-C again" in chat.until(PROMPT)
        chat.child.sendcontrol("c")
        chat.child.expect(pexpect.EOF)


def test_web_search_approval_is_asked_in_the_terminal(chat_data, chats):
    tavily = FakeServer({"/search": FakeResponse(body=tavily_search_response())})
    with tavily:
        chat = chats(
            chat_data,
            TAVILY_API_KEY="x",
            TAVILY_BASE_URL=tavily.url,
            AGENTIC_RAG_WEB_APPROVAL="ask",
        )
        asked = chat.say("What is the latest news today?", until="approve / edit / refuse> ")
        assert "Send these queries to the web search" in asked
        assert "1. What is the latest news today?" in asked
        assert tavily.requests == []
        out = chat.say("approve")
        assert [r.json()["query"] for r in tavily.requests] == ["What is the latest news today?"]
        assert printed_once(out) and "sources: web" in out

        chat.say("What is the latest news about savings rates?", until="refuse> ")
        chat.say("e", until="query> ")
        chat.child.sendcontrol("u")  # clear the query offered for editing
        chat.say("savings rates 2025")
        assert tavily.requests[-1].json()["query"] == "savings rates 2025"
        chat.quit()


def test_model_tokens_stream_and_the_answer_prints_once(chat_data, chats):
    reply = "The early closure fee for a Bronze account is $20 if closed within 60 days [1]."
    openai = FakeServer({"/v1/chat/completions": openai_script({"generator": reply})})
    with openai:
        chat = chats(
            chat_data,
            OPENAI_API_KEY="x",
            AGENTIC_RAG_OPENAI_BASE_URL=openai.url + "/v1",
            AGENTIC_RAG_GENERATOR_MODEL="openai:gpt-4o-mini",
            AGENTIC_RAG_ROUTER_MODEL="local",
            AGENTIC_RAG_GRADER_MODEL="local",
        )
        out = chat.say(BRONZE)
        assert [r.json().get("stream") for r in openai.requests] == [True]
        assert printed_once(out) and out.count(reply) == 1 and "Sources" in out
        chat.quit()


def test_a_failing_run_prints_one_red_line_and_the_session_goes_on(chat_data, chats):
    chat = chats(chat_data, AGENTIC_RAG_ROUTER_MODEL="foo:bar")  # no such provider
    for _ in range(2):
        out = chat.say(BRONZE)
        errors = [line for line in out.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and "cannot use model 'foo:bar'" in errors[0].lower()
        assert "Traceback" not in out
    assert "thread" in chat.say("/thread")
    chat.quit()
