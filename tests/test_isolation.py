"""Reliability promise 5: one user never sees another user's memories or documents.

Per-user documents are ingested with ``agentic-rag ingest PATH --user alice`` (Python:
``ingest_paths(..., owner="alice")``): their chunks carry ``owner=alice`` and are returned
only to searches by ``user_id="alice"``; unowned chunks are returned to everyone. Memories
live in ``("memories", user_id)``. Alice and bob each own a ``notes/plan.md`` (same path,
different content), alice also owns a dentist note and has a memory; shared documents are
unowned.

Bob (and the anonymous ``default`` user) then ask the questions that retrieve alice's items,
through Python (the graph with a real store), the CLI (subprocesses of the real
``agentic-rag``) and ``langgraph dev`` with ``AGENTIC_RAG_AUTH_TOKENS`` (bob authenticated,
claiming ``user_id=alice`` in the context or the config, asking for an ``owner`` filter,
searching alice's memory namespace). Nothing of alice's may appear in an answer, a citation,
a retrieved document, a grade, a memory listing or a store search; alice herself gets them
(controls, so every check can fail).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.store.memory import InMemoryStore
from langgraph_sdk import get_client

from graphs import build_graph
from state.context import Context
from tests.dev_server import dev_server, server_config, server_env
from tools.ingest import ingest_paths
from tools.memory import list_memories, memory_index, put_memory
from tools.vectorstore import VectorStoreRetriever, open_kb

pytestmark = pytest.mark.isolation

AGENTIC_RAG = Path(sys.executable).with_name("agentic-rag")
SHARED = {
    "zephyr-wires.md": "# Zephyr wire transfers\n\nOutgoing Zephyr wire transfers cost $28 each. "
    "Wires sent before 3 pm settle on the same business day.\n",
    "zephyr-savings.md": "# Zephyr savings plans\n\nA Zephyr savings plan can receive automatic "
    "transfers every week or every month. Savings plans have no fees.\n",
}
ALICE = {
    "notes/plan.md": "# My savings plan\n\nThe Tenerife trip fund holds $4,200. I move $300 "
    "into the Tenerife trip fund on the first Monday of each month.\n",
    "notes/dentist.md": "# Dentist appointment\n\nThe dentist appointment for the crown is on "
    "14 March at Harbour Dental, with Dr Okafor.\n",
}
BOB = {
    "notes/plan.md": "# My savings plan\n\nThe motorbike fund holds $1,150. I move $80 into "
    "the motorbike fund every Friday.\n",
}
ALICE_MEMORY = "My favourite branch is the Riverside branch."
ALICE_MARKERS = ("4,200", "$300", "first Monday", "14 March", "Okafor", "Riverside")
"""Words only alice's documents and memory hold (her questions name neither)."""
BOB_MARKERS = ("motorbike", "1,150")
QUESTIONS = {
    "trip-fund": "How much is in the Tenerife trip fund?",
    "dentist": "When is the dentist appointment for the crown at Harbour Dental?",
    "savings-plan": "How much does the fund in my savings plan hold?",
    "memory": "What is my favourite branch?",
}
EXPECTED_FOR_ALICE = {
    "trip-fund": "4,200",
    "dentist": "14 March",
    "savings-plan": "4,200",
    "memory": "Riverside",
}
TOKENS = {"alice": "alice-token-5", "bob": "bob-token-6"}


def _write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    return root


def leaks(payload: Any, markers: tuple[str, ...] = ALICE_MARKERS) -> list[str]:
    """The markers of someone else's data found anywhere in ``payload``."""
    text = json.dumps(payload, default=str, ensure_ascii=False).casefold()
    return [m for m in markers if m.casefold() in text]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("isolation-corpus")
    return {
        "shared": _write(root / "shared", SHARED),
        "alice": _write(root / "alice", ALICE),
        "bob": _write(root / "bob", BOB),
    }


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory, corpus) -> str:
    """One knowledge base: shared documents, alice's and bob's (each their own notes/plan.md)."""
    data = str(tmp_path_factory.mktemp("isolation") / "data")
    for owner in (None, "alice", "bob"):
        folder = corpus[owner or "shared"]
        report = ingest_paths(sorted(folder.iterdir()), data_dir=data, owner=owner)
        assert report.ok and report.chunks_added > 0, report
    return data


def _visible(data_dir: str, user: str, query: str, mode: str) -> list[dict[str, Any]]:
    return open_kb(data_dir, "default").search(query, 20, mode=mode, viewer=user)


# --- retrieval itself ---------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["hybrid", "dense", "bm25"])
@pytest.mark.parametrize("viewer", ["bob", "default", None])
def test_a_search_never_returns_another_users_chunks(data_dir, viewer, mode):
    for text in [*ALICE.values(), *QUESTIONS.values()]:
        docs = _visible(data_dir, viewer, text, mode)
        assert docs or mode == "bm25", text  # the shared documents stay visible
        assert {d["metadata"].get("owner") for d in docs} <= {None, viewer}
        found = [{k: v for k, v in d.items() if k != "query"} for d in docs]
        assert leaks(found) == [], (text, leaks(found))
    own = _visible(data_dir, "alice", ALICE["notes/plan.md"], mode)
    assert own[0]["metadata"]["owner"] == "alice" and "4,200" in own[0]["content"]


def test_each_user_keeps_their_own_copy_of_the_same_path(data_dir, corpus, tmp_path):
    """Same relative path for two users: two documents; one user's --sync leaves the other's."""
    kb = open_kb(data_dir, "default")
    rows = kb.collection.get(where={"path": "notes/plan.md"}, include=["metadatas"])
    assert sorted(m["owner"] for m in rows["metadatas"]) == ["alice", "bob"]
    empty = tmp_path / "empty"
    empty.mkdir()
    copy = tmp_path / "copy"
    _write(copy, {"notes/plan.md": BOB["notes/plan.md"]})
    again = ingest_paths([copy / "notes"], data_dir=data_dir, owner="bob", sync=True)
    assert again.ok and again.chunks_added == 0 and again.chunks_removed == 0, again
    assert _visible(data_dir, "alice", "Tenerife trip fund", "bm25")[0]["metadata"]["owner"] == (
        "alice"
    )
    with pytest.raises(ValueError, match="reserved"):
        ingest_paths([empty], data_dir=data_dir, metadata={"owner": "alice"})
    with pytest.raises(ValueError, match="owner"):
        Context(filters={"owner": "alice"})


def test_the_retriever_follows_user_id(data_dir):
    retriever = VectorStoreRetriever()
    for user, markers, own in (
        ("bob", ALICE_MARKERS, "motorbike"),
        ("alice", BOB_MARKERS, "4,200"),
    ):
        ctx = Context(data_dir=data_dir, user_id=user)
        docs = retriever.retrieve("savings plan fund", ctx, k=8)
        assert leaks(docs, markers) == [] and any(own in d["content"] for d in docs), docs


# --- Python: the whole graph ----------------------------------------------------------------


@pytest.fixture(scope="module")
def python_runs(data_dir) -> dict[tuple[str, str], dict[str, Any]]:
    """Every (user, question) through the graph with a real store holding alice's memory."""
    store = InMemoryStore(index=memory_index())
    put_memory(store, "alice", ALICE_MEMORY)
    app = build_graph(checkpointer=InMemorySaver(), store=store)
    out = {}
    for user in ("alice", "bob", "default"):
        for name, question in QUESTIONS.items():
            config = {"configurable": {"thread_id": f"{user}-{name}"}}
            ctx = Context(data_dir=data_dir, user_id=user)
            app.invoke({"messages": [("user", question)]}, config, context=ctx)
            out[(user, name)] = app.get_state(config).values
    out[("bob", "__listed__")] = {"memories": list_memories(store, "bob")}
    out[("default", "__listed__")] = {"memories": list_memories(store, "default")}
    return out


def _shown(state: dict[str, Any]) -> dict[str, Any]:
    keys = ("answer", "citations", "documents", "context_docs", "grades", "messages", "memories")
    return {k: state.get(k) for k in keys}


@pytest.mark.parametrize("name", [*QUESTIONS, "__listed__"])
@pytest.mark.parametrize("user", ["bob", "default"])
def test_python_another_user_gets_nothing_of_alices(python_runs, user, name):
    assert leaks(_shown(python_runs[(user, name)])) == []


@pytest.mark.parametrize("name", list(QUESTIONS))
def test_python_alice_gets_her_own(python_runs, name):
    state = python_runs[("alice", name)]
    assert EXPECTED_FOR_ALICE[name] in json.dumps(_shown(state), default=str)
    assert EXPECTED_FOR_ALICE[name] in state["answer"], state["answer"]
    assert any(EXPECTED_FOR_ALICE[name] in c["snippet"] for c in state["citations"])
    assert leaks(_shown(state), BOB_MARKERS) == []
    if name == "savings-plan":  # the same question, bob's own answer
        assert "1,150" in python_runs[("bob", name)]["answer"]


# --- the CLI ---------------------------------------------------------------------------------


def cli(*args: str, data_dir: str, user: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "AGENTIC_RAG_DATA_DIR": data_dir, "COLUMNS": "200"}
    env.pop("AGENTIC_RAG_USER_ID", None)
    extra = ["--user", user] if user else []
    return subprocess.run(
        [str(AGENTIC_RAG), *args, *extra],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


@pytest.fixture(scope="module")
def cli_runs(tmp_path_factory, corpus) -> dict[str, subprocess.CompletedProcess]:
    data = str(tmp_path_factory.mktemp("isolation-cli") / "data")
    done = {
        "ingest-shared": cli("ingest", str(corpus["shared"]), data_dir=data),
        "ingest-alice": cli("ingest", str(corpus["alice"] / "notes"), data_dir=data, user="alice"),
        "ingest-bob": cli("ingest", str(corpus["bob"] / "notes"), data_dir=data, user="bob"),
        "remember": cli("ask", f"Remember that {ALICE_MEMORY}", data_dir=data, user="alice"),
    }
    calls = {}
    for user in ("alice", "bob", None):
        calls[f"memory-list-{user}"] = (user, "memory", "list", "--json")
        for name in ("trip-fund", "memory"):
            calls[f"ask-{name}-{user}"] = (user, "ask", QUESTIONS[name], "--json")
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = {
            key: pool.submit(cli, *args, data_dir=data, user=user)
            for key, (user, *args) in calls.items()
        }
        done.update({key: future.result() for key, future in futures.items()})
    return done


def test_cli_ingests_per_user_documents(cli_runs):
    for key in ("ingest-shared", "ingest-alice", "ingest-bob", "remember"):
        assert cli_runs[key].returncode == 0, cli_runs[key].stdout + cli_runs[key].stderr


@pytest.mark.parametrize("user", ["bob", None])
@pytest.mark.parametrize("command", ["ask-trip-fund", "ask-memory", "memory-list"])
def test_cli_another_user_gets_nothing_of_alices(cli_runs, command, user):
    done = cli_runs[f"{command}-{user}"]
    assert done.returncode == 0, done.stderr
    json.loads(done.stdout)
    assert leaks(done.stdout + done.stderr) == []


@pytest.mark.parametrize("command", ["ask-trip-fund", "ask-memory", "memory-list"])
def test_cli_alice_gets_her_own(cli_runs, command):
    done = cli_runs[f"{command}-alice"]
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    expected = "Riverside" if command != "ask-trip-fund" else "4,200"
    assert expected in json.dumps(result), result


# --- langgraph dev with bearer tokens --------------------------------------------------------


def user_msg(text: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": text}]}


def _status(exc: BaseException) -> int | None:
    return getattr(getattr(exc, "response", None), "status_code", None)


async def _server_session(url: str) -> dict[str, Any]:
    alice = get_client(url=url, headers={"Authorization": f"Bearer {TOKENS['alice']}"})
    bob = get_client(url=url, headers={"Authorization": f"Bearer {TOKENS['bob']}"})
    out: dict[str, Any] = {}
    thread = await alice.threads.create()
    await alice.runs.wait(
        thread["thread_id"], "agentic_rag", input=user_msg(f"Remember that {ALICE_MEMORY}")
    )
    out["alice"] = {}
    for name, question in QUESTIONS.items():
        thread = await alice.threads.create()
        out["alice"][name] = await alice.runs.wait(
            thread["thread_id"], "agentic_rag", input=user_msg(question)
        )
    out["bob"] = {}
    for name, question in QUESTIONS.items():
        claims = {
            "context": {"context": {"user_id": "alice"}},
            "config": {"config": {"configurable": {"user_id": "alice"}}},
        }
        for how, kwargs in claims.items():
            thread = await bob.threads.create()
            tid = thread["thread_id"]
            result = await bob.runs.wait(tid, "agentic_rag", input=user_msg(question), **kwargs)
            state = await bob.threads.get_state(tid)
            out["bob"][f"{name}/{how}"] = {"result": result, "state": state["values"]}
        out["bob"][f"{name}/stateless"] = await bob.runs.wait(
            None, "agentic_rag", input=user_msg(question), context={"user_id": "alice"}
        )
    try:
        forged = await bob.runs.wait(
            None,
            "agentic_rag",
            input=user_msg(QUESTIONS["trip-fund"]),
            context={"filters": {"owner": "alice"}},
        )
    except Exception as exc:  # noqa: BLE001 - the SDK raises the run's error as Exception
        forged = {"status": _status(exc), "error": str(exc)}
    out["bob"]["owner-filter"] = forged
    listed = {
        "own": await bob.store.search_items(("memories",), query="favourite branch"),
        "namespaces": (await bob.store.list_namespaces(prefix=["memories"]))["namespaces"],
        "all_namespaces": (await bob.store.list_namespaces())["namespaces"],
    }
    try:
        listed["alice"] = await bob.store.search_items(("memories", "alice"), query="branch")
    except httpx.HTTPStatusError as exc:
        listed["alice_status"] = _status(exc)
    listed["threads"] = await bob.threads.search(limit=100)
    out["bob"]["listed"] = listed
    out["alice_memories"] = await alice.store.search_items(("memories", "alice"), query="branch")
    out["alice_namespaces"] = (await alice.store.list_namespaces())["namespaces"]
    return out


@pytest.fixture(scope="module")
def server_runs(tmp_path_factory, data_dir) -> dict[str, Any]:
    cwd = tmp_path_factory.mktemp("isolation-dev")
    server_config(cwd)
    tokens = ",".join(f"{token}:{name}" for name, token in TOKENS.items())
    env = server_env({"AGENTIC_RAG_DATA_DIR": data_dir, "AGENTIC_RAG_AUTH_TOKENS": tokens})
    with dev_server(cwd, env) as running:
        return asyncio.run(asyncio.wait_for(_server_session(running.url), timeout=240))


SERVER_CASES = [f"{name}/{how}" for name in QUESTIONS for how in ("context", "config", "stateless")]


@pytest.mark.parametrize("case", [*SERVER_CASES, "owner-filter", "listed"])
def test_server_bob_gets_nothing_of_alices(server_runs, case):
    payload = server_runs["bob"][case]
    assert leaks(payload) == [], leaks(payload)
    if case == "listed":
        assert payload.get("alice_status") == 403
        namespaces = payload["namespaces"] + payload["all_namespaces"]
        assert all(tuple(ns)[:2] == ("memories", "bob") for ns in namespaces), namespaces
    elif case == "owner-filter":
        assert "'owner' is not a metadata filter" in payload.get("error", ""), payload


@pytest.mark.parametrize("name", list(QUESTIONS))
def test_server_alice_gets_her_own(server_runs, name):
    result = server_runs["alice"][name]
    assert EXPECTED_FOR_ALICE[name] in result["answer"], result["answer"]
    assert result["citations"]
    assert any("Riverside" in i["value"]["text"] for i in server_runs["alice_memories"]["items"])
    assert [tuple(ns) for ns in server_runs["alice_namespaces"]] == [("memories", "alice")]
