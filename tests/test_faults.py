"""Reliability promise 1: every dependency x every failure, through the whole graph.

Dependencies: the LLM endpoint (the real langchain-openai client against a fake
OpenAI-compatible server), a remote embedder, Tavily and arXiv (the kinds of failure
`tests/test_source_failures_graph.py` does not cover), the Chroma server (a fault-injecting
proxy in front of a real ``chroma run``, and a real server killed mid-session) and the
Postgres checkpointer. Failures: refused, 401/403, 429, 500, malformed body, timeout, a
server that never answers, and a response dropped or stalled mid-way.

For each case: the turn ends with an answer from what still works, or one line naming the
part that failed; it takes no longer than the configured timeouts allow; and the thread
goes on (a second turn on the same thread answers and the checkpointed messages are intact).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest
from langchain_core.language_models import GenericFakeChatModel

import tools.base
from graphs import build_graph
from nodes import models
from nodes.models import register_chat_model, reset_endpoints, unregister_chat_model
from state.context import Context
from tests.cli_env import cli_env
from tests.dev_server import DevServer, free_port, wait_until_ready
from tests.fakes.held import HeldEndpoint
from tests.fakes.openai_server import (
    chat_completion,
    chat_stream,
    embeddings_endpoint,
    openai_script,
    role_of,
)
from tests.fakes.proxy import FaultProxy
from tests.fakes.servers import (
    FakeResponse,
    FakeServer,
    arxiv_feed,
    refused_url,
    silent_listener,
    tavily_search_response,
)
from tests.scripted import plan, reply, scripted
from tools.checkpointers import CheckpointerError, open_checkpointer
from tools.demo_corpus import export_banking_corpus
from tools.ingest import ingest_paths
from tools.vectorstore import reset_clients

pytestmark = pytest.mark.faults

FEE_Q = "What is the early closure fee for a Bronze savings account?"
SILVER_Q = "And what about a Silver account?"
ANSWER = "A Bronze Account closed within 60 days has a $20 early closure fee [1]."
KEY = "sk-faults-0123456789"
TIMEOUT = 1.0
SLACK = 8.0
MODEL = "openai:gpt-4o-mini"
ROLES = ("router", "grader", "generator", "checker")
LLM_BOUND = TIMEOUT * models.ATTEMPTS + tools.base.RETRY_BACKOFF_SECONDS + SLACK
REPLIES = {
    "router": json.dumps(plan(FEE_Q)),
    "grader": json.dumps({"scores": [{"id": i, "score": 0.9 - 0.1 * i} for i in range(1, 5)]}),
    "generator": ANSWER,
    "checker": json.dumps({"grounded": True, "relevant": True, "unsupported": [], "reason": ""}),
}
FEE_PAGE = {
    "title": "Savings account fees | Example Bank",
    "url": "https://bank.example/fees/savings",
    "content": "The early closure fee for a Bronze savings account is $20 if it is closed "
    "within 60 days of opening.",
    "score": 0.93,
    "raw_content": None,
}


def _error(message: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": "invalid_request_error", "code": None}}


@pytest.fixture(autouse=True)
def _clean(monkeypatch):
    """No endpoint remembered as down, no Chroma server configured, fast backoff."""
    for name in ("CHROMA_HOST", "CHROMA_PORT", "CHROMA_TIMEOUT", "CHROMA_DATABASE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ARXIV_DELAY_SECONDS", "0")
    reset_endpoints()
    reset_clients()
    yield
    reset_endpoints()
    reset_clients()


@contextmanager
def sqlite_graph(tmp_path: Path, store: Any = None) -> Iterator[Any]:
    with open_checkpointer(f"sqlite:{tmp_path / 'threads.sqlite'}", str(tmp_path)) as saver:
        yield build_graph(checkpointer=saver, store=store)


def _turn(app: Any, thread: str, question: str, ctx: Context, stream: bool = False):
    """One turn: its final values, its wall time, and the streamed answer text."""
    config = {"configurable": {"thread_id": thread}}
    start = time.monotonic()
    text = ""
    if stream:
        for chunk, _ in app.stream(
            {"messages": [("user", question)]}, config, context=ctx, stream_mode="messages"
        ):
            text += str(chunk.content)
    else:
        app.invoke({"messages": [("user", question)]}, config, context=ctx)
    return app.get_state(config).values, time.monotonic() - start, text


def _one_line(lines: list[str]) -> None:
    assert all("\n" not in line and "Traceback" not in line for line in lines), lines
    assert KEY not in " ".join(lines)


def _base_url(stack: ExitStack, script: Any, routes: dict[str, Any]) -> tuple[str, Any]:
    if script == "refused":
        return refused_url(), None
    if script == "silent":
        return stack.enter_context(silent_listener()), None
    server = stack.enter_context(FakeServer(dict(routes), max_lifetime=120))
    return server.url, server


# --- the LLM endpoint: every role on one failing OpenAI-compatible server -------------------

BODY = json.dumps(chat_completion("x" * 400)).encode()
LLM_CASES = [
    ("refused", "refused", "could not connect", None),
    ("401", FakeResponse(status=401, body=_error(f"Incorrect API key: {KEY}")), "HTTP 401", 1),
    ("403", FakeResponse(status=403, body=_error("Project has no access")), "HTTP 403", 1),
    (
        "429",
        FakeResponse(status=429, body=_error("Rate limit"), headers={"retry-after": "30"}),
        "HTTP 429",
        2,
    ),
    ("500", FakeResponse(status=500, body=_error("boom")), "HTTP 500", 2),
    (
        "malformed",
        FakeResponse(body="{not json", content_type="application/json"),
        "malformed reply",
        1,
    ),
    ("timeout", FakeResponse(body=chat_completion("late"), delay=30), "no answer within 1 s", 0),
    ("silent", "silent", "no answer within 1 s", None),
    ("dropped", FakeResponse(body=BODY, drop_after=40), "dropped mid-response", 0),
    ("stalled", FakeResponse(body=BODY, hang_after=40), "no answer within 1 s", 0),
]


def _llm_context(url: str, data_dir: str) -> Context:
    return Context(
        data_dir=data_dir,
        router_model=MODEL,
        grader_model=MODEL,
        generator_model=MODEL,
        checker_model=MODEL,
        router_skip_plain=False,
        openai_base_url=f"{url}/v1",
        request_timeout=TIMEOUT,
    )


@pytest.mark.parametrize(
    ("case", "script", "reason", "per_role"), LLM_CASES, ids=[c[0] for c in LLM_CASES]
)
def test_llm_endpoint_failure_answers_offline_and_keeps_the_thread(
    banking_kb, tmp_path, monkeypatch, case, script, reason, per_role
):
    """Every LLM role falls back to the offline engine with one line naming the endpoint.

    ``per_role``: requests each role sends per turn (429/5xx are retried once, within the
    timeout; a ``Retry-After`` of 30 s is not waited for). 0: an endpoint that did not answer
    is called once per turn, then skipped by the other roles. None: nothing to count.
    """
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    with ExitStack() as stack:
        url, server = _base_url(stack, script, {"/v1/chat/completions": script})
        ctx = _llm_context(url, banking_kb)
        with sqlite_graph(tmp_path) as app:
            first, elapsed, _ = _turn(app, case, FEE_Q, ctx)
            second, elapsed2, _ = _turn(app, case, SILVER_Q, ctx)
            messages = app.get_state({"configurable": {"thread_id": case}}).values["messages"]

    assert "$20" in first["answer"] and "extractive" in first["answer"]
    assert first["usage"]["llm_calls"] == 0
    lines = [e for e in first["errors"] if "model failed" in e]
    assert [line.split(" ", 1)[0] for line in lines] == list(ROLES), first["errors"]
    endpoint = f"gpt-4o-mini at {url}/v1"
    for role, line in zip(ROLES, lines, strict=True):
        assert line.startswith(f"{role} model failed ({endpoint}: "), line
    assert reason in lines[0], lines[0]
    _one_line(first["errors"])
    assert elapsed < LLM_BOUND and elapsed2 < LLM_BOUND, (elapsed, elapsed2)
    if server is not None:
        sent = len(server.requests)
        assert sent == (1 if per_role == 0 else 2 * per_role * len(ROLES)), sent
    assert second["answer"].strip() and len(second["errors"]) >= len(ROLES)
    assert [m.type for m in messages] == ["human", "ai", "human", "ai"]
    assert messages[0].content == FEE_Q and messages[2].content == SILVER_Q


STREAM = chat_stream(ANSWER)
STREAM_CASES = [
    ("dropped", FakeResponse(body=STREAM, content_type="text/event-stream", drop_after=700)),
    ("stalled", FakeResponse(body=STREAM, content_type="text/event-stream", hang_after=700)),
]


@pytest.mark.parametrize(("case", "fault"), STREAM_CASES, ids=[c[0] for c in STREAM_CASES])
def test_answer_stream_cut_mid_response_falls_back_within_the_timeout(
    banking_kb, tmp_path, monkeypatch, case, fault
):
    """The generator's token stream stops mid-answer (the other roles work): the turn ends
    with the extractive answer and one line naming the endpoint; the thread goes on."""
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    good = openai_script(REPLIES)
    broken = {"on": True}

    def respond(request):
        if role_of(request) == "generator" and broken["on"]:
            return fault
        return good(request)

    with FakeServer({"/v1/chat/completions": respond}, max_lifetime=120) as server:
        ctx = _llm_context(server.url, banking_kb)
        with sqlite_graph(tmp_path) as app:
            first, elapsed, streamed = _turn(app, case, FEE_Q, ctx, stream=True)
            broken["on"] = False
            reset_endpoints()
            second, _, streamed2 = _turn(app, case, SILVER_Q, ctx, stream=True)
            messages = app.get_state({"configurable": {"thread_id": case}}).values["messages"]

    assert streamed.startswith("A Bronze Account"), streamed[:80]
    assert "$20" in first["answer"] and "extractive" in first["answer"]
    reason = "the connection dropped" if case == "dropped" else "no answer within 1 s"
    endpoint = f"gpt-4o-mini at {server.url}/v1"
    generator, checker = first["errors"]
    assert generator.startswith(f"generator model failed ({endpoint}: {reason}")
    assert generator.endswith("used the extractive answer")
    assert checker.startswith(f"checker model failed ({endpoint}: not called (failed")
    assert first["usage"]["llm_calls"] == 2  # router and grader; the checker skipped it
    assert elapsed < LLM_BOUND
    assert second["answer"].startswith(ANSWER) and streamed2.startswith(ANSWER)
    assert [m.type for m in messages] == ["human", "ai", "human", "ai"]


def test_an_endpoint_that_did_not_answer_is_skipped_then_tried_again(
    banking_kb, tmp_path, monkeypatch
):
    """Within the cooldown the other roles (and turns) skip a dead endpoint at once; after
    it, the endpoint is called again, and once it answers the LLM path is back."""
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setattr(models, "ENDPOINT_COOLDOWN_SECONDS", 3.0)
    good = openai_script(REPLIES)
    state = {"down": True}

    def respond(request):
        return FakeResponse(body=BODY, delay=30) if state["down"] else good(request)

    with FakeServer({"/v1/chat/completions": respond}, max_lifetime=120) as server:
        ctx = _llm_context(server.url, banking_kb)
        with sqlite_graph(tmp_path) as app:
            down, _, _ = _turn(app, "cool", FEE_Q, ctx)
            skipped, quick, _ = _turn(app, "cool", SILVER_Q, ctx)
            assert len(server.requests) == 1
            state["down"] = False
            time.sleep(models.ENDPOINT_COOLDOWN_SECONDS)
            back, _, _ = _turn(app, "cool", FEE_Q, ctx)

    assert all("not called (failed" in e for e in down["errors"][1:4]), down["errors"]
    assert all("not called (failed" in e for e in skipped["errors"]), skipped["errors"]
    assert quick < SLACK
    assert back["answer"].startswith(ANSWER) and not back["errors"]
    assert back["usage"]["llm_calls"] == 4


# --- a remote embedder (the knowledge base was built with openai:text-embedding-3-small) ----

EMBED_CASES = [
    ("refused", "refused", "could not connect"),
    (
        "429",
        FakeResponse(status=429, body=_error("slow down"), headers={"retry-after": "30"}),
        "HTTP 429",
    ),
    ("500", FakeResponse(status=500, body=_error("boom")), "HTTP 500"),
    ("silent", "silent", "no answer within 1 s"),
    ("dropped", FakeResponse(body={"data": [0.1] * 200}, drop_after=20), "dropped mid-response"),
]


@pytest.fixture(scope="module")
def openai_kb(tmp_path_factory):
    """8 banking documents indexed with an OpenAI-compatible embedder (a fake one)."""
    root = tmp_path_factory.mktemp("openai-kb")
    export_banking_corpus(root / "corpus", limit=8)
    with (
        FakeServer({"/v1/embeddings": embeddings_endpoint()}, max_lifetime=120) as server,
        pytest.MonkeyPatch.context() as patch,
    ):
        patch.setenv("OPENAI_API_KEY", KEY)
        patch.setenv("OPENAI_BASE_URL", f"{server.url}/v1")
        report = ingest_paths(
            [root / "corpus"], data_dir=str(root / "data"), embedding_model="openai:e-64"
        )
    assert report.ok and report.chunks_added > 0
    return str(root / "data")


@pytest.mark.parametrize(("case", "script", "reason"), EMBED_CASES, ids=[c[0] for c in EMBED_CASES])
def test_embedder_failure_is_one_line_naming_it(
    openai_kb, tmp_path, monkeypatch, case, script, reason
):
    """The query cannot be embedded: the turn says so in one line naming the embedder and its
    endpoint, within the timeout, and the thread goes on."""
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    with ExitStack() as stack:
        url, _ = _base_url(stack, script, {"/v1/embeddings": script})
        ctx = Context(data_dir=openai_kb, openai_base_url=f"{url}/v1", request_timeout=TIMEOUT)
        with sqlite_graph(tmp_path) as app:
            first, elapsed, _ = _turn(app, case, FEE_Q, ctx)
            second, _, _ = _turn(app, case, SILVER_Q, ctx)
            messages = app.get_state({"configurable": {"thread_id": case}}).values["messages"]

    lines = [e for e in first["errors"] if e.startswith("embedder ")]
    assert lines and lines[0].startswith(f"embedder e-64 at {url}/v1 failed: "), first["errors"]
    assert reason in lines[0]
    _one_line(first["errors"])
    assert first["answer"].strip()
    assert elapsed < (models.ATTEMPTS * TIMEOUT + 1) * 3 + SLACK  # up to 3 searches per turn
    assert second["answer"].strip()
    assert [m.type for m in messages] == ["human", "ai", "human", "ai"]


# --- web and arXiv: the failures test_source_failures_graph.py does not cover -------------

TAVILY_BODY = json.dumps(tavily_search_response()).encode()
SOURCE_CASES = [
    ("web", "dropped", FakeResponse(body=TAVILY_BODY, drop_after=50), "dropped mid-response"),
    ("web", "stalled", FakeResponse(body=TAVILY_BODY, hang_after=50), "within 1 s"),
    ("arxiv", "401", FakeResponse(status=401, body="unauthorized"), "HTTP 401"),
    ("arxiv", "500", FakeResponse(status=500, body="boom"), "HTTP 500"),
    ("arxiv", "dropped", FakeResponse(body=arxiv_feed(), drop_after=300), "dropped mid-response"),
    ("arxiv", "stalled", FakeResponse(body=arxiv_feed(), hang_after=300), "within 1 s"),
]


@pytest.mark.parametrize(
    ("source", "case", "fault", "reason"),
    SOURCE_CASES,
    ids=[f"{s}-{c}" for s, c, *_ in SOURCE_CASES],
)
def test_web_and_arxiv_cut_mid_response(
    banking_kb, tmp_path, monkeypatch, source, case, fault, reason
):
    monkeypatch.setattr(tools.base, "RETRY_BACKOFF_SECONDS", 0.05)
    path, env = (
        ("/search", "TAVILY_BASE_URL") if source == "web" else ("/api/query", "ARXIV_API_URL")
    )
    with FakeServer({path: fault}, max_lifetime=60) as server:
        monkeypatch.setenv("TAVILY_API_KEY", KEY)
        monkeypatch.setenv(env, server.url)
        routed = plan(FEE_Q, sources=("vectorstore", source))
        with scripted(router=[routed, routed]) as roles, sqlite_graph(tmp_path) as app:
            ctx = Context(data_dir=banking_kb, request_timeout=TIMEOUT, arxiv_search=True, **roles)
            first, elapsed, _ = _turn(app, case, FEE_Q, ctx)
            second, _, _ = _turn(app, case, SILVER_Q, ctx)
            messages = app.get_state({"configurable": {"thread_id": case}}).values["messages"]

    assert "$20" in first["answer"], "the knowledge base still answers"
    failed = [e for e in first["errors"] if e.startswith(f"{source}: ")]
    assert len(failed) == 1 and reason in failed[0], first["errors"]
    _one_line(first["errors"])
    assert elapsed < TIMEOUT * tools.base.RETRY_ATTEMPTS + SLACK
    assert second["answer"].strip()
    assert [m.type for m in messages] == ["human", "ai", "human", "ai"]


# --- the Chroma server ----------------------------------------------------------------------

CHROMA = Path(sys.executable).with_name("chroma")


def _chroma_run(path: Path, port: int | None = None) -> DevServer:
    """A real ``chroma run`` on 127.0.0.1 (a free port, or ``port``), stopped by the caller."""
    if not CHROMA.exists():
        pytest.skip("the chroma CLI is not installed")
    port = port or free_port()
    log_path = path.parent / f"chroma-{port}-{time.monotonic_ns()}.log"
    log = log_path.open("wb")
    process = subprocess.Popen(
        [str(CHROMA), "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)],
        env={k: v for k, v in os.environ.items() if not k.startswith("CHROMA_")},
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    server = DevServer(f"http://127.0.0.1:{port}", port, process, log_path, log)
    problem = wait_until_ready(process, server.url, log_path, 60, "/api/v2/heartbeat", None)
    if problem is not None:
        server.stop()
        pytest.fail(f"chroma run did not start: {problem}")
    return server


@contextmanager
def _chroma_env(port: int) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CHROMA_HOST", "127.0.0.1")
        patch.setenv("CHROMA_PORT", str(port))
        patch.setenv("CHROMA_TIMEOUT", str(TIMEOUT))
        reset_clients()
        try:
            yield
        finally:
            reset_clients()


@pytest.fixture(scope="module")
def chroma_kb(tmp_path_factory):
    """A real ``chroma run`` holding 8 banking documents; yields (port, data_dir)."""
    root = tmp_path_factory.mktemp("chroma-kb")
    export_banking_corpus(root / "corpus", limit=8)
    server = _chroma_run(root / "db")
    try:
        with _chroma_env(server.port):
            report = ingest_paths([root / "corpus"], data_dir=str(root / "data"))
        assert report.ok and report.chunks_added > 0
        yield server.port, str(root / "data")
    finally:
        server.stop()


@pytest.fixture
def fee_web(monkeypatch):
    """A working fake Tavily whose one result answers the fee question."""
    with FakeServer(
        {"/search": FakeResponse(body=tavily_search_response(FEE_Q, [FEE_PAGE]))},
        max_lifetime=120,
    ) as server:
        monkeypatch.setenv("TAVILY_API_KEY", KEY)
        monkeypatch.setenv("TAVILY_BASE_URL", server.url)
        yield server


def _web_fallback_turns(app: Any, thread: str, data_dir: str, turns: list[str]):
    routed = plan(FEE_Q, sources=("vectorstore", "web"))
    with scripted(router=[routed] * len(turns)) as roles:
        ctx = Context(data_dir=data_dir, request_timeout=TIMEOUT, **roles)
        return [_turn(app, thread, question, ctx) for question in turns]


def _failures(values: dict[str, Any], prefix: str) -> list[str]:
    unavailable = [f"{s}: {why}" for s, why in values["route"].get("unavailable", {}).items()]
    return [line for line in values["errors"] + unavailable if prefix in line]


def _graded(values: dict[str, Any]) -> set[str]:
    """The sources of the documents the turn retrieved and graded."""
    return {g["source"] for g in values["grades"]}


def _dead_heartbeat(request: Any) -> FakeResponse:
    return FakeResponse(body={"nanosecond heartbeat": 1})


CHROMA_FAULTS = [
    ("401", FakeResponse(status=401, body={"error": "AuthError", "message": "bad token"})),
    ("403", FakeResponse(status=403, body={"error": "AuthError", "message": "forbidden"})),
    ("429", FakeResponse(status=429, body={"error": "RateLimitError", "message": "slow"})),
    ("500", FakeResponse(status=500, body={"error": "InternalError", "message": "boom"})),
    ("malformed", FakeResponse(body="{not json", content_type="application/json")),
    ("timeout", FakeResponse(body={}, delay=30)),
    ("dropped", FakeResponse(body={"ids": [["x" * 200]]}, drop_after=20)),
    ("stalled", FakeResponse(body={"ids": [["x" * 200]]}, hang_after=20)),
]
CHROMA_REASONS = {
    "401": "ChromaAuthError",
    "403": "ChromaAuthError",
    "429": "RateLimitError",
    "500": "InternalError: boom",
    "malformed": "JSONDecodeError",
    "timeout": "no answer within 1 s",
    "dropped": "peer closed connection",
    "stalled": "no answer within 1 s",
}


@pytest.mark.parametrize(("case", "fault"), CHROMA_FAULTS, ids=[c[0] for c in CHROMA_FAULTS])
def test_chroma_server_failing_mid_session_falls_back_to_the_web(
    chroma_kb, fee_web, tmp_path, case, fault
):
    """The Chroma server fails every collection request (the client connected fine): the
    turn answers from the web with one line naming the Chroma server; healed, the knowledge
    base is searched again on the same thread."""
    port, data_dir = chroma_kb
    with (
        FaultProxy(f"http://127.0.0.1:{port}") as proxy,
        _chroma_env(proxy.port),
        sqlite_graph(tmp_path) as app,
    ):
        proxy.fail(fault, lambda path: "/collections/" in path)
        [(broken, elapsed, _)] = _web_fallback_turns(app, case, data_dir, [FEE_Q])
        proxy.fail(None)
        reset_clients()
        [(healed, _, _)] = _web_fallback_turns(app, case, data_dir, [SILVER_Q])
        messages = app.get_state({"configurable": {"thread_id": case}}).values["messages"]

    assert proxy.faulted > 0
    lines = _failures(broken, f"Chroma server {proxy.url}")
    assert lines and CHROMA_REASONS[case] in lines[0], broken["errors"] + [str(broken["route"])]
    _one_line(broken["errors"])
    assert "$20" in broken["answer"] and {c["source"] for c in broken["citations"]} == {"web"}
    assert elapsed < 3 * (TIMEOUT + 1) + SLACK
    assert not _failures(healed, "Chroma server") and "vectorstore" in _graded(healed)
    assert [m.type for m in messages] == ["human", "ai", "human", "ai"]


CHROMA_DOWN = [
    ("refused", "refused", "unreachable (ConnectError"),
    ("silent", "silent", "unreachable (ReadTimeout: no answer within 1 s)"),
    ("silent-after-heartbeat", "hang", "ReadTimeout: no answer within 1 s"),
]


@pytest.mark.parametrize(("case", "how", "reason"), CHROMA_DOWN, ids=[c[0] for c in CHROMA_DOWN])
def test_chroma_server_unreachable_falls_back_to_the_web(
    chroma_kb, fee_web, tmp_path, case, how, reason
):
    """No Chroma server at CHROMA_HOST, one that never answers, or one that answers its
    heartbeat and then hangs: bounded by CHROMA_TIMEOUT, answered from the web."""
    _, data_dir = chroma_kb
    with ExitStack() as stack:
        if how == "hang":
            hanging = FakeServer(
                {"/api/v2/heartbeat": _dead_heartbeat},
                fallback=FakeResponse(body={}, delay=30),
                max_lifetime=60,
            )
            url = stack.enter_context(hanging).url
        else:
            url, _ = _base_url(stack, how, {})
        stack.enter_context(_chroma_env(int(url.rsplit(":", 1)[1])))
        with sqlite_graph(tmp_path) as app:
            (first, elapsed, _), (second, _, _) = _web_fallback_turns(
                app, case, data_dir, [FEE_Q, SILVER_Q]
            )
            messages = app.get_state({"configurable": {"thread_id": case}}).values["messages"]

    lines = _failures(first, f"Chroma server {url}")
    assert lines and reason in lines[0], first["errors"] + [str(first["route"])]
    _one_line(lines)
    assert "$20" in first["answer"] and {c["source"] for c in first["citations"]} == {"web"}
    assert elapsed < 2 * TIMEOUT + SLACK
    assert second["answer"].strip()
    assert [m.type for m in messages] == ["human", "ai", "human", "ai"]


def test_chroma_server_killed_mid_session_and_restarted(tmp_path, fee_web):
    """A real ``chroma run`` is killed (SIGKILL) between two turns and restarted on its data:
    the turn in between answers from the web naming the server; the next one uses it again."""
    export_banking_corpus(tmp_path / "corpus", limit=4)
    server = _chroma_run(tmp_path / "db")
    port = server.port
    try:
        with _chroma_env(port), sqlite_graph(tmp_path) as app:
            assert ingest_paths([tmp_path / "corpus"], data_dir=str(tmp_path / "data")).ok
            data_dir = str(tmp_path / "data")
            [(before, _, _)] = _web_fallback_turns(app, "killed", data_dir, [FEE_Q])
            os.killpg(server.process.pid, signal.SIGKILL)
            server.process.wait(timeout=30)
            [(down, elapsed, _)] = _web_fallback_turns(app, "killed", data_dir, [SILVER_Q])
            server.stop()
            server = _chroma_run(tmp_path / "db", port=port)
            [(after, _, _)] = _web_fallback_turns(app, "killed", data_dir, [FEE_Q])
            messages = app.get_state({"configurable": {"thread_id": "killed"}}).values["messages"]
    finally:
        server.stop()

    assert "vectorstore" in _graded(before)
    lines = _failures(down, f"Chroma server http://127.0.0.1:{port}")
    assert lines and "ConnectError" in lines[0], down["errors"] + [str(down["route"])]
    _one_line(lines)
    assert {c["source"] for c in down["citations"]} == {"web"} and elapsed < SLACK
    assert not _failures(after, "Chroma server") and "vectorstore" in _graded(after)
    assert [m.type for m in messages] == ["human", "ai"] * 3


# --- the Postgres checkpointer ----------------------------------------------------------------

PASSWORD = "s3cr3t-pw"
CLI = str(Path(sys.executable).with_name("agentic-rag"))


def _admin(pg_server: Any, sql: str) -> None:
    with psycopg.connect(pg_server.get_uri(), autocommit=True) as conn:
        conn.execute(sql)


def _as_role(url: str, role: str) -> str:
    scheme, rest = url.split("://", 1)
    return f"{scheme}://{role}:{PASSWORD}@{rest.split('@', 1)[1]}"


def _database(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def _tcp(url: str) -> str:
    return f"postgresql://bob:{PASSWORD}@127.0.0.1:{url.rsplit(':', 1)[1]}/app?connect_timeout=2"


@contextmanager
def _garbage_listener() -> Iterator[str]:
    """A port on 127.0.0.1 that answers every connection with an HTTP error page at once."""
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            with conn:
                conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(timeout=5)
        server.close()


@contextmanager
def _postgres_down(how: str, request: Any) -> Iterator[tuple[str, str]]:
    """A checkpointer URL that cannot be opened, and the words its error must hold."""
    if how == "refused":
        yield _tcp(refused_url()), "refused"
    elif how == "silent":
        with silent_listener() as url:
            yield _tcp(url), "timeout"
    elif how == "malformed":
        with _garbage_listener() as url:
            yield _tcp(url), "invalid response"
    else:
        pg, url = request.getfixturevalue("pg_server"), request.getfixturevalue("postgres_url")
        role = f"r_{how.replace('-', '_')}_{os.getpid()}"
        limit = "LOGIN CONNECTION LIMIT 0" if how == "too-many" else "NOLOGIN"
        _admin(pg, f"DROP ROLE IF EXISTS {role}")
        _admin(pg, f"CREATE ROLE {role} {limit}")
        try:
            words = "too many connections" if how == "too-many" else "not permitted to log in"
            yield _as_role(url, role), words
        finally:
            _admin(pg, f"DROP ROLE IF EXISTS {role}")


POSTGRES_DOWN = ["refused", "silent", "malformed", "no-login", "too-many"]


@pytest.mark.parametrize("how", POSTGRES_DOWN)
def test_postgres_checkpointer_that_cannot_be_opened_is_one_line(request, tmp_path, how):
    """Refused, never answering (bounded by connect_timeout), not Postgres at all, a role
    refused (the 401/403 of Postgres), or too many connections (its 429)."""
    with _postgres_down(how, request) as (url, words):
        start = time.monotonic()
        with pytest.raises(CheckpointerError) as caught, open_checkpointer(url, str(tmp_path)):
            pass
        elapsed = time.monotonic() - start
    message = str(caught.value)
    assert message.startswith("cannot open postgres checkpointer postgresql://"), message
    assert words in message.lower() and "\n" not in message and PASSWORD not in message
    assert elapsed < 2 + SLACK


def test_cli_with_an_unreachable_postgres_exits_2_with_one_line(banking_kb):
    url = _tcp(refused_url())
    done = subprocess.run(
        [CLI, "ask", FEE_Q],
        env=cli_env(banking_kb, url, {}),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith("error: cannot open postgres checkpointer postgresql://bob@")
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert PASSWORD not in done.stderr


class _DropsTheConnection(GenericFakeChatModel):
    """A generator that, while it answers, has the server drop the checkpointer's connection."""

    admin_uri: str = ""
    database: str = ""
    dropped: int = 0

    def _generate(self, *args: Any, **kwargs: Any) -> Any:
        with psycopg.connect(self.admin_uri, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (self.database,),
            ).fetchall()
        self.dropped += len(rows)
        return super()._generate(*args, **kwargs)


def test_postgres_connection_dropped_mid_run_is_replaced(banking_kb, pg_server, postgres_url):
    """The server drops the checkpointer's connection in the middle of a run (a restart, a
    failover): the pool reconnects, the run finishes and the thread is intact."""
    database = _database(postgres_url)
    model = _DropsTheConnection(
        messages=iter([reply(ANSWER)]), admin_uri=pg_server.get_uri(), database=database
    )
    register_chat_model("faults:drops", model)
    try:
        with open_checkpointer(postgres_url, banking_kb) as saver:
            app = build_graph(checkpointer=saver)
            ctx = Context(data_dir=banking_kb, generator_model="faults:drops")
            out, _, _ = _turn(app, "dropped", FEE_Q, ctx)
            second, _, _ = _turn(app, "dropped", SILVER_Q, Context(data_dir=banking_kb))
            history = list(app.get_state_history({"configurable": {"thread_id": "dropped"}}))
    finally:
        unregister_chat_model("faults:drops")
    assert model.dropped == 1, "the checkpointer's connection was dropped mid-run"
    assert out["answer"].startswith(ANSWER) and not out["errors"]
    assert [m.type for m in second["messages"]] == ["human", "ai", "human", "ai"]
    assert [h.metadata["step"] for h in history] == list(range(history[0].metadata["step"], -2, -1))


def test_postgres_stopped_mid_run_fails_the_cli_in_one_line_and_the_run_continues(
    banking_kb, pg_server, postgres_url
):
    """The database stops accepting connections while ``ask`` waits for the generator: the
    next checkpoint write fails, ``ask`` exits 1 with one line naming the checkpointer (after
    its connect timeout, not forever); once the database is back, ``--continue`` finishes the
    run from the generator, with the nodes before it not run again."""
    url = f"{postgres_url}&connect_timeout=2"
    database = _database(postgres_url)
    held = HeldEndpoint("generator")
    with held.server:
        env = cli_env(banking_kb, url, held.env())
        process = subprocess.Popen(
            [CLI, "ask", FEE_Q, "--thread", "stopped", "--json"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.monotonic() + 90
            while "generator" not in held.calls():
                assert process.poll() is None, process.communicate()
                assert time.monotonic() < deadline, "no generator call"
                time.sleep(0.1)
            _admin(pg_server, f"ALTER DATABASE {database} ALLOW_CONNECTIONS false")
            _admin(
                pg_server,
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                f"WHERE datname = '{database}'",
            )
            seen = held.release()
            start = time.monotonic()
            out, err = process.communicate(timeout=60)
            elapsed = time.monotonic() - start
        finally:
            if process.poll() is None:
                process.kill()
            _admin(pg_server, f"ALTER DATABASE {database} ALLOW_CONNECTIONS true")
        resumed = subprocess.run(
            [CLI, "ask", "--thread", "stopped", "--continue", "--json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    assert process.returncode == 1 and out == ""
    assert err.startswith("error: postgres checkpointer postgresql://") and "failed" in err
    assert "--continue" in err and err.count("\n") == 1 and "Traceback" not in err
    assert elapsed < 2 * 2 + SLACK
    assert resumed.returncode == 0, resumed.stderr
    answer = json.loads(resumed.stdout)
    assert answer["answer"].startswith(ANSWER) and answer["trace"].count("rewrite_query") == 1
    assert answer["trace"][-3:] == ["generate", "check_answer", "finalize"]
    assert held.calls(seen) == ["generator"], "only the generator ran again"
