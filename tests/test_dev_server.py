"""The graph behind the real ``langgraph dev`` server, through langgraph-sdk and RemoteGraph.

Two servers (module-scoped, each in its own scratch directory, always stopped): one open (no
``AGENTIC_RAG_AUTH_TOKENS``: the dev default) and one with bearer tokens for alice, bob and
mallory. Both search a real 8-document index and a fake Tavily server on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from langgraph_cli.schemas import IndexConfig, ThreadTTLConfig, TTLConfig
from langgraph_sdk import get_client

from tests.dev_server import (
    LANGGRAPH,
    ROOT,
    dev_server,
    http_status,
    server_config,
    server_env,
    start_dev_server,
)
from tests.fakes.servers import FakeResponse, FakeServer, tavily_search_response

BRONZE = "What is the early closure fee for a Bronze savings account?"
SILVER = "and what about a Silver account?"
REMEMBER = "Remember that my account is a business account."
NEWS = "What is the latest news about interest rates today?"
TOKENS = {"alice": "alice-token-1", "bob": "bob-token-2", "mallory": "mallory-token-3"}


def run(coro):
    return asyncio.run(coro)


def user(text: str) -> dict:
    return {"messages": [{"role": "user", "content": text}]}


def status_of(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None)
    return getattr(response, "status_code", None)


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory) -> Path:
    """A real index (Chroma + BM25) of the first 8 tau2-bench banking documents."""
    from tools.demo_corpus import export_banking_corpus
    from tools.ingest import ingest_paths

    root = tmp_path_factory.mktemp("dev-index")
    export_banking_corpus(root / "corpus", limit=8)
    report = ingest_paths([root / "corpus"], data_dir=str(root / "data"), kb="default")
    assert report.ok and report.chunks_added > 0
    return root / "data"


@pytest.fixture(scope="module")
def tavily():
    with FakeServer(
        {"/search": FakeResponse(body=tavily_search_response())}, max_lifetime=300
    ) as server:
        yield server


def _env(index_dir: Path, tavily: FakeServer, **extra: str) -> dict[str, str]:
    return server_env(
        {
            "AGENTIC_RAG_DATA_DIR": str(index_dir),
            "TAVILY_API_KEY": "x",
            "TAVILY_BASE_URL": tavily.url,
            **extra,
        }
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory, index_dir, tavily):
    cwd = tmp_path_factory.mktemp("dev-open")
    server_config(cwd)
    with dev_server(cwd, _env(index_dir, tavily)) as running:
        yield running


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory, index_dir, tavily):
    cwd = tmp_path_factory.mktemp("dev-auth")
    server_config(cwd)
    tokens = ",".join(f"{token}:{name}" for name, token in TOKENS.items())
    with dev_server(cwd, _env(index_dir, tavily, AGENTIC_RAG_AUTH_TOKENS=tokens)) as running:
        yield running


def as_user(server, name: str):
    return get_client(url=server.url, headers={"Authorization": f"Bearer {TOKENS[name]}"})


# --- langgraph.json, without a server ------------------------------------------------------


def _keys(typed_dict) -> set[str]:
    return set(typed_dict.__annotations__)


def test_langgraph_json_keeps_the_graph_store_index_and_valid_ttls():
    config = json.loads((ROOT / "langgraph.json").read_text(encoding="utf-8"))
    assert config["graphs"] == {"agentic_rag": "./graphs/agentic_rag.py:graph"}
    index = config["store"]["index"]
    assert set(index) <= _keys(IndexConfig)
    assert index == {"embed": "./tools/embedder.py:embeddings", "dims": 384, "fields": ["text"]}
    assert set(config["store"]["ttl"]) <= _keys(TTLConfig)
    assert set(config["checkpointer"]["ttl"]) <= _keys(ThreadTTLConfig)
    assert config["checkpointer"]["ttl"]["strategy"] in {"delete", "keep_latest"}
    assert config["auth"] == {"path": "./tools/auth.py:auth", "disable_studio_auth": True}
    # a missing .env must not matter (python-dotenv reads a missing file as empty)
    assert config.get("env") in (None, ".env", {})


def test_langgraph_dockerfile_is_generated_without_docker(tmp_path):
    dockerfile = tmp_path / "Dockerfile"
    done = subprocess.run(
        [str(LANGGRAPH), "dockerfile", str(dockerfile)],
        cwd=ROOT,
        env=server_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    text = dockerfile.read_text(encoding="utf-8")
    assert text.startswith("FROM langchain/langgraph-api:3.11")
    env = {
        line.split("=", 1)[0][4:]: json.loads(line.split("=", 1)[1].strip("'"))
        for line in text.splitlines()
        if line.startswith("ENV ")
    }
    assert env["LANGSERVE_GRAPHS"] == {"agentic_rag": "/deps/main/graphs/agentic_rag.py:graph"}
    assert env["LANGGRAPH_AUTH"]["path"] == "/deps/main/tools/auth.py:auth"
    assert env["LANGGRAPH_STORE"]["index"]["dims"] == 384
    assert env["LANGGRAPH_STORE"]["ttl"]["default_ttl"] > 0
    assert env["LANGGRAPH_CHECKPOINTER"]["ttl"]["default_ttl"] > 0
    assert "TAVILY" not in text and "OPENAI" not in text  # no secrets baked in


# --- the open dev server ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def bronze(server):
    """One streamed turn on a new thread: the message events and the final state."""

    async def go():
        client = get_client(url=server.url)
        thread = await client.threads.create()
        events = [
            (part.event, part.data)
            async for part in client.runs.stream(
                thread["thread_id"], "agentic_rag", input=user(BRONZE), stream_mode="messages-tuple"
            )
        ]
        state = await client.threads.get_state(thread["thread_id"])
        return thread["thread_id"], events, state

    return run(go())


def test_streamed_messages_carry_only_the_answer(bronze):
    _, events, state = bronze
    assert not [data for event, data in events if event == "error"]
    messages = [data for event, data in events if event == "messages"]
    assert messages, events
    nodes = {meta.get("langgraph_node") for _, meta in messages}
    assert nodes <= {"finalize", "generate"}, nodes
    text = "".join(str(chunk.get("content") or "") for chunk, _ in messages)
    assert not text.lstrip().startswith(("{", "[")), text  # no router/grader JSON
    answer = state["values"]["answer"]
    assert "$20" in answer and answer.strip() in text
    assert state["values"]["citations"]


def test_follow_up_on_the_same_thread_and_a_second_thread(server, bronze):
    thread_id, _, _ = bronze

    async def go():
        client = get_client(url=server.url)
        await client.runs.wait(thread_id, "agentic_rag", input=user(SILVER))
        first = await client.threads.get_state(thread_id)
        other = await client.threads.create()
        await client.runs.wait(other["thread_id"], "agentic_rag", input=user(BRONZE))
        second = await client.threads.get_state(other["thread_id"])
        return first, second

    first, second = run(go())
    roles = [m["type"] for m in first["values"]["messages"]]
    assert roles == ["human", "ai", "human", "ai"]
    assert first["values"]["messages"][2]["content"] == SILVER
    assert first["values"]["answer"]
    texts = [m["content"] for m in second["values"]["messages"]]
    assert len(texts) == 2 and SILVER not in texts


def test_remote_graph_invoke(server):
    from langgraph.pregel.remote import RemoteGraph

    remote = RemoteGraph("agentic_rag", url=server.url)
    out = remote.invoke(user(BRONZE))
    assert "$20" in out["answer"]
    assert out["citations"]


def test_memory_is_written_per_user_through_the_server(server):
    async def go():
        client = get_client(url=server.url)
        thread = await client.threads.create()
        await client.runs.wait(
            thread["thread_id"], "agentic_rag", input=user(REMEMBER), context={"user_id": "alice"}
        )
        alice = await client.store.search_items(("memories", "alice"), query="account")
        bob = await client.store.search_items(("memories", "bob"), query="account")
        return alice["items"], bob["items"]

    alice, bob = run(go())
    assert any("business account" in item["value"]["text"] for item in alice), alice
    assert bob == []


def _interrupts(state: dict) -> list[dict]:
    return [i for task in state.get("tasks") or [] for i in task.get("interrupts") or []]


def test_web_search_waits_for_approval_and_runs_the_edited_query(server, tavily):
    context = {"web_approval": "ask"}

    async def go():
        client = get_client(url=server.url)
        thread = await client.threads.create()
        tid = thread["thread_id"]
        before = len(tavily.requests)
        await client.runs.wait(tid, "agentic_rag", input=user(NEWS), context=context)
        status = (await client.threads.get(tid))["status"]
        paused = await client.threads.get_state(tid)
        asked = len(tavily.requests)
        resume = {"resume": {"action": "edit", "queries": ["interest rates news"]}}
        await client.runs.wait(tid, "agentic_rag", command=resume, context=context)
        searched = [r.json()["query"] for r in tavily.requests[asked:] if r.path == "/search"]
        resumed = await client.threads.get_state(tid)
        await client.runs.wait(tid, "agentic_rag", input=user(BRONZE), context=context)
        final = await client.threads.get_state(tid)
        final_status = (await client.threads.get(tid))["status"]
        return before, asked, status, paused, searched, resumed, final, final_status

    before, asked, status, paused, searched, resumed, final, final_status = run(go())
    assert status == "interrupted"  # the run itself reports success
    assert asked == before, "no web search before approval"
    [interrupt] = _interrupts(paused)
    value = interrupt["value"]
    assert set(value) == {"type", "question", "queries", "allowed"}
    assert value["type"] == "approve_web_search"
    assert isinstance(value["question"], str) and value["question"].strip()  # asked of the human
    assert value["queries"] and all(isinstance(q, str) and q for q in value["queries"])
    assert value["allowed"] == ["approve", "edit", "refuse"]
    assert searched == ["interest rates news"]
    assert [m["type"] for m in resumed["values"]["messages"]] == ["human", "ai"]
    assert not _interrupts(resumed)
    assert final_status == "idle"
    messages = final["values"]["messages"]
    assert [m["type"] for m in messages] == ["human", "ai", "human", "ai"]
    assert messages[2]["content"] == BRONZE and "$20" in final["values"]["answer"]


def test_server_answers_from_a_chroma_server(tmp_path, index_dir):
    """`CHROMA_HOST=... agentic-rag ingest`, then a server with an empty data dir (it rebuilds
    its BM25 index from the collection) answers from the Chroma server."""
    chroma_cli = Path(sys.executable).with_name("chroma")
    if not chroma_cli.exists():
        pytest.skip("the chroma CLI is not installed")
    db = ["run", "--path", str(tmp_path / "chroma"), "--host", "127.0.0.1", "--port", "{port}"]
    chroma = start_dev_server(
        tmp_path,
        server_env(),
        command=[str(chroma_cli), *db],
        health="/api/v2/heartbeat",
        ready_line=None,
        timeout=30,
    )
    try:
        chroma_env = {"CHROMA_HOST": "127.0.0.1", "CHROMA_PORT": str(chroma.port)}
        ingest = subprocess.run(
            [
                str(Path(sys.executable).with_name("agentic-rag")),
                "ingest",
                str(index_dir.parent / "corpus"),
                "--data-dir",
                str(tmp_path / "ingest-data"),
            ],
            env=server_env(chroma_env),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert ingest.returncode == 0, ingest.stdout + ingest.stderr
        cwd = tmp_path / "server"
        server_config(cwd)
        env = server_env({**chroma_env, "AGENTIC_RAG_DATA_DIR": str(tmp_path / "server-data")})
        with dev_server(cwd, env) as running:
            out = run(
                get_client(url=running.url).runs.wait(None, "agentic_rag", input=user(BRONZE))
            )
        assert "$20" in out["answer"] and not out.get("errors")
        assert (tmp_path / "server-data" / "bm25" / "default").is_dir()
    finally:
        chroma.stop()


# --- bearer-token auth ----------------------------------------------------------------------


def test_auth_handler_without_a_server(monkeypatch):
    from langgraph_sdk import Auth

    from tools import auth

    assert auth.parse_tokens(" a:alice ,b:bob,") == {"a": "alice", "b": "bob"}
    for bad in ("a", "a:", ":alice", "a:alice,a:bob"):
        with pytest.raises(ValueError, match="AGENTIC_RAG_AUTH_TOKENS"):
            auth.parse_tokens(bad)
    monkeypatch.delenv("AGENTIC_RAG_AUTH_TOKENS", raising=False)
    monkeypatch.delenv("AGENTIC_RAG_AUTH_OPEN", raising=False)
    monkeypatch.setenv("LANGSMITH_LANGGRAPH_API_VARIANT", "local_dev")
    assert run(auth.authenticate(None))["identity"] == auth.ANONYMOUS
    # outside `langgraph dev`, no tokens means no access unless opened explicitly
    monkeypatch.setenv("LANGSMITH_LANGGRAPH_API_VARIANT", "licensed")
    with pytest.raises(Auth.exceptions.HTTPException) as refused:
        run(auth.authenticate(None))
    assert refused.value.status_code == 401
    monkeypatch.setenv("AGENTIC_RAG_AUTH_OPEN", "true")
    assert run(auth.authenticate(None))["identity"] == auth.ANONYMOUS
    monkeypatch.setenv("AGENTIC_RAG_AUTH_TOKENS", "t1:alice")
    assert run(auth.authenticate("Bearer t1"))["identity"] == "alice"
    for header in (None, "t1", "Basic t1", "Bearer t2", "Bearer "):
        with pytest.raises(Auth.exceptions.HTTPException):
            run(auth.authenticate(header))


def test_auth_needs_a_known_bearer_token(auth_server):
    url = auth_server.url + "/threads"
    assert http_status(auth_server.url + "/ok") == 200
    assert httpx.post(url, json={}).status_code == 401
    assert httpx.post(url, json={}, headers={"Authorization": "Bearer nope"}).status_code == 401
    # the dev server's Studio shortcut is disabled (disable_studio_auth)
    assert httpx.post(url, json={}, headers={"x-auth-scheme": "langsmith"}).status_code == 401
    ok = httpx.post(url, json={}, headers={"Authorization": f"Bearer {TOKENS['alice']}"})
    assert ok.status_code == 200 and ok.json()["metadata"]["owner"] == "alice"


def test_threads_are_private_and_runs_execute_as_the_caller(auth_server):
    async def go():
        alice, bob = as_user(auth_server, "alice"), as_user(auth_server, "bob")
        mallory = as_user(auth_server, "mallory")
        thread = await alice.threads.create()
        tid = thread["thread_id"]
        refused = []
        for call in (
            bob.threads.get(tid),
            bob.threads.get_state(tid),
            bob.runs.wait(tid, "agentic_rag", input=user(BRONZE)),
        ):
            try:
                await call
                refused.append(None)
            except httpx.HTTPStatusError as exc:
                refused.append(status_of(exc))
        bob_sees = [t["thread_id"] for t in await bob.threads.search()]
        shared = [a["graph_id"] for a in await bob.assistants.search()]
        await alice.runs.wait(
            tid, "agentic_rag", input=user(REMEMBER), context={"user_id": "mallory"}
        )
        mine = await alice.store.search_items(("memories", "alice"), query="account")
        theirs = await mallory.store.search_items(("memories", "mallory"), query="account")
        try:
            await alice.store.search_items(("memories", "bob"), query="account")
            cross = None
        except httpx.HTTPStatusError as exc:
            cross = status_of(exc)
        return refused, bob_sees, tid, shared, mine["items"], theirs["items"], cross

    refused, bob_sees, tid, shared, mine, theirs, cross = run(go())
    assert all(code in (403, 404) for code in refused), refused
    assert tid not in bob_sees
    assert "agentic_rag" in shared
    assert any("business account" in item["value"]["text"] for item in mine), mine
    assert theirs == []
    assert cross == 403


# --- agentic-rag serve ------------------------------------------------------------------------


def test_serve_starts_the_dev_server(tmp_path, index_dir):
    server_config(tmp_path)  # serve() uses the langgraph.json of the folder it runs in
    script = "import typer; from cli.serve import serve; typer.run(serve)"
    command = [sys.executable, "-c", script, "--port", "{port}", "--data-dir", str(index_dir)]
    running = start_dev_server(tmp_path, server_env(), command=command)
    try:
        assert http_status(running.url + "/info") == 200
        assert "Application started up" in running.log_path.read_text(errors="replace")
    finally:
        running.stop()
    assert running.process.returncode is not None


def test_serve_explains_a_missing_server_install(monkeypatch, capsys):
    import typer

    from cli import serve as serve_module

    monkeypatch.setattr(serve_module, "_server_installed", lambda: False)
    with pytest.raises(typer.Exit):
        serve_module.serve()
    assert "pip install 'agentic-rag[serve]'" in capsys.readouterr().err
