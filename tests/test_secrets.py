"""Reliability promise 7: API keys never appear in logs, files written to disk, checkpoints,
memories, command output or error messages.

Distinctive fake keys (OpenAI, Tavily, a LangSmith key, bearer tokens for the server) are set,
and the real clients talk to fake servers on 127.0.0.1 that answer the way a careless provider
or proxy might: a 401 whose body echoes the key it was sent, a 500 that does the same, and, for
comparison, a working endpoint. Every ``agentic-rag`` command runs as a real process with every
library logging at DEBUG to a file (and ``OPENAI_LOG=debug``); the real ``langgraph dev``
server runs with its own log. Afterwards the raw bytes of every file under the data directory,
the server's working directory (``.langgraph_api/`` included), the logs, stdout and stderr are
searched for every key.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.dev_server import dev_server, server_config, server_env
from tests.fakes.openai_server import embeddings_endpoint, openai_script
from tests.fakes.servers import FakeResponse, FakeServer, RecordedRequest, tavily_search_response

pytestmark = pytest.mark.secrets

OPENAI_KEY = "sk-test-SECRET-openai-4f9c2a7e1b5d"
TAVILY_KEY = "tvly-SECRET-tavily-8d3e6b1f0a2c"
LANGSMITH_KEY = "lsv2_pt_SECRET_langsmith_77e1c0b9"
TOKEN = "tok-SECRET-alice-5a1c9e3d7f"
WRONG_TOKEN = "tok-SECRET-wrong-0b8d2e6a4c"
SECRETS = {
    "OPENAI_API_KEY": OPENAI_KEY,
    "TAVILY_API_KEY": TAVILY_KEY,
    "LANGSMITH_API_KEY": LANGSMITH_KEY,
    "auth token": TOKEN,
    "rejected token": WRONG_TOKEN,
}
BRONZE = "What is the early closure fee for a Bronze savings account?"
NEWS = "What is the latest news about interest rates today?"
ROUTER = {
    "query": BRONZE,
    "decision": "single",
    "sub_questions": [],
    "sources": ["vectorstore"],
    "reasons": {"vectorstore": "policy"},
}
REPLIES = {
    "router": json.dumps(ROUTER),
    "grader": json.dumps({"scores": [{"id": i, "score": 0.9} for i in range(1, 9)]}),
    "generator": "A Bronze Account closed within 60 days costs $20 [1].",
    "checker": json.dumps({"grounded": True, "relevant": True}),
}
DRIVER = """
import logging, sys
logging.basicConfig(
    level=logging.DEBUG, filename=sys.argv[1], format="%(name)s %(levelname)s %(message)s"
)
logging.captureWarnings(True)
sys.argv = ["agentic-rag", *sys.argv[2:]]
from cli.main import main
main()
"""


def found(blob: bytes) -> list[str]:
    """The names of the secrets whose bytes occur in ``blob``."""
    return [name for name, value in SECRETS.items() if value.encode() in blob]


def files_under(*roots: Path) -> dict[Path, bytes]:
    out = {}
    for root in roots:
        for path in root.rglob("*"):
            if path.is_file() and not path.is_symlink():
                out[path] = path.read_bytes()
    return out


def _echo(status: int, where: str):
    """A handler answering ``status`` with the credentials it received echoed in the body."""

    def respond(request: RecordedRequest) -> FakeResponse:
        sent = (
            request.headers.get("authorization", "") + " " + request.body.decode(errors="replace")
        )
        body = {
            "error": {
                "message": f"{where}: Incorrect API key provided: {sent}",
                "type": "invalid_request_error",
                "code": "invalid_api_key",
            },
            "detail": {"error": f"Unauthorized: {sent}"},
        }
        return FakeResponse(status=status, body=body)

    return respond


@pytest.fixture(scope="module")
def servers():
    """The fake providers: OpenAI that rejects (401), fails (500) or works; Tavily alike."""
    routes_401 = {p: _echo(401, "openai") for p in ("/v1/chat/completions", "/v1/embeddings")}
    routes_500 = {p: _echo(500, "openai") for p in ("/v1/chat/completions", "/v1/embeddings")}
    working = {
        "/v1/chat/completions": openai_script(REPLIES),
        "/v1/embeddings": embeddings_endpoint(),
    }
    tavily_401 = {"/search": _echo(401, "tavily"), "/extract": _echo(401, "tavily")}
    tavily_500 = {"/search": _echo(500, "tavily")}
    tavily_ok = {"/search": FakeResponse(body=tavily_search_response("interest rates"))}
    with (
        FakeServer(routes_401, max_lifetime=600) as openai_401,
        FakeServer(routes_500, max_lifetime=600) as openai_500,
        FakeServer(working, max_lifetime=600) as openai_ok,
        FakeServer(tavily_401, max_lifetime=600) as web_401,
        FakeServer(tavily_500, max_lifetime=600) as web_500,
        FakeServer(tavily_ok, max_lifetime=600) as web_ok,
    ):
        yield {
            "openai_401": openai_401,
            "openai_500": openai_500,
            "openai_ok": openai_ok,
            "tavily_401": web_401,
            "tavily_500": web_500,
            "tavily_ok": web_ok,
        }


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    from tools.demo_corpus import export_banking_corpus
    from tools.ingest import ingest_paths

    base = tmp_path_factory.mktemp("secrets")
    export_banking_corpus(base / "corpus", limit=8)
    assert ingest_paths([base / "corpus"], data_dir=str(base / "data")).ok
    return base


def secret_env(servers, openai: str, tavily: str) -> dict[str, str]:
    return {
        "OPENAI_API_KEY": OPENAI_KEY,
        "TAVILY_API_KEY": TAVILY_KEY,
        "LANGSMITH_API_KEY": LANGSMITH_KEY,
        "LANGSMITH_TRACING": "false",
        "OPENAI_LOG": "debug",
        "OPENAI_BASE_URL": servers[openai].url + "/v1",
        "TAVILY_BASE_URL": servers[tavily].url,
        "AGENTIC_RAG_REQUEST_TIMEOUT": "5",
        "AGENTIC_RAG_ROUTER_SKIP_PLAIN": "false",
    }


def agentic_rag(root: Path, name: str, args: list[str], env: dict, stdin: str | None = None):
    """Run one command with DEBUG logging of every library to ``root/logs/NAME.log``."""
    (root / "logs").mkdir(exist_ok=True)
    full = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "TAVILY_"))}
    full.update(
        env,
        AGENTIC_RAG_DATA_DIR=str(root / "data"),
        PYTHONPATH=str(Path(__file__).resolve().parent.parent),
    )
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", DRIVER, str(root / "logs" / f"{name}.log"), *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=full,
        cwd=root,
        timeout=180,
    )
    seconds = time.monotonic() - started
    (root / "logs" / f"{name}.out").write_text(f"{seconds:.1f} s\n{done.stdout}\n{done.stderr}")
    return done


COMMANDS = [
    # name, args, OpenAI server, Tavily server, expected exit code
    ("ask-llm-ok", ["ask", BRONZE, "--json", "--thread", "ok"], "openai_ok", "tavily_ok", 0),
    ("ask-401", ["ask", NEWS, "--json", "--thread", "t401"], "openai_401", "tavily_401", 0),
    ("ask-500", ["ask", NEWS, "--json", "--thread", "t500"], "openai_500", "tavily_500", 0),
    ("ask-web-ok", ["ask", NEWS, "--thread", "web"], "openai_401", "tavily_ok", 0),
    (
        "ingest-openai-401",
        ["ingest", "corpus", "--kb", "oa", "--embedding-model", "openai:text-embedding-3-small"],
        "openai_401",
        "tavily_401",
        2,
    ),
]


@pytest.fixture(scope="module")
def ran(root, servers):
    """Every command (three at a time: each is its own thread or knowledge base)."""
    chat = "\n".join([NEWS, "Remember that my account is a business account.", "/quit", ""])
    runs = [
        (name, args, secret_env(servers, openai, tavily), None)
        for name, args, openai, tavily, _ in COMMANDS
    ]
    runs.append(
        (
            "chat-401",
            ["chat", "--thread", "c401"],
            secret_env(servers, "openai_401", "tavily_401"),
            chat,
        )
    )
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = {name: pool.submit(agentic_rag, root, name, *rest) for name, *rest in runs}
        return {name: future.result() for name, future in futures.items()}


@pytest.mark.parametrize("name", [c[0] for c in COMMANDS])
def test_each_command_ran_as_expected(ran, name):
    code = next(c[4] for c in COMMANDS if c[0] == name)
    done = ran[name]
    assert done.returncode == code, done.stdout + done.stderr
    assert "Traceback" not in done.stderr


def test_the_keys_reached_the_providers_and_came_back_in_their_errors(ran, servers):
    """Not vacuous: each key was sent, and each failing provider echoed it back."""
    sent = servers["openai_401"].requests + servers["openai_500"].requests
    assert sent and all(r.headers["authorization"] == f"Bearer {OPENAI_KEY}" for r in sent)
    web = servers["tavily_401"].requests + servers["tavily_500"].requests
    assert web and all(TAVILY_KEY in r.headers.get("authorization", "") for r in web)
    failed = json.loads(ran["ask-401"].stdout)["errors"]
    assert any("Incorrect API key provided: Bearer ***" in line for line in failed), failed
    assert any(line.startswith("web: Tavily rejected the API key") for line in failed), failed
    assert "web" in json.loads(ran["ask-500"].stdout)["route"]["sources"]
    searched = servers["tavily_ok"].requests
    assert searched and all(TAVILY_KEY in r.headers["authorization"] for r in searched)
    assert "Incorrect API key provided: Bearer ***" in ran["ingest-openai-401"].stderr
    worked = json.loads(ran["ask-llm-ok"].stdout)
    assert worked["usage"]["llm_calls"] >= 2 and "$20" in worked["answer"]


def test_no_key_in_output_logs_or_any_file_written(ran, root):
    written = files_under(root)
    assert (root / "data" / "checkpoints.sqlite").exists() and (root / "data" / "chroma").is_dir()
    assert any(path.suffix == ".log" and path.stat().st_size > 10_000 for path in written)
    leaks = {str(path): found(blob) for path, blob in written.items() if found(blob)}
    for name, done in ran.items():
        if found((done.stdout + done.stderr).encode()):
            leaks[f"{name} stdout/stderr"] = found((done.stdout + done.stderr).encode())
    assert leaks == {}


def test_no_key_reaches_the_dev_server_log_threads_or_store(tmp_path, root, servers):
    """The real server with bearer-token auth, failing providers, a refused token."""
    cwd = tmp_path / "server"
    server_config(cwd)
    env = server_env(
        {
            **secret_env(servers, "openai_401", "tavily_401"),
            "AGENTIC_RAG_DATA_DIR": str(root / "data"),
            "AGENTIC_RAG_AUTH_TOKENS": f"{TOKEN}:alice",
            "LOG_LEVEL": "DEBUG",
        }
    )
    responses = []
    with dev_server(cwd, env) as running:
        wrong = httpx.post(
            f"{running.url}/threads", json={}, headers={"Authorization": f"Bearer {WRONG_TOKEN}"}
        )
        assert wrong.status_code == 401
        responses.append(wrong.content)
        with httpx.Client(
            base_url=running.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60
        ) as client:
            tid = client.post("/threads", json={}).json()["thread_id"]
            for question in (NEWS, "Remember that my account is a business account."):
                run = client.post(
                    f"/threads/{tid}/runs/wait",
                    json={
                        "assistant_id": "agentic_rag",
                        "input": {"messages": [{"role": "user", "content": question}]},
                    },
                )
                responses.append(run.content)
                assert run.status_code == 200, run.text
            state = client.get(f"/threads/{tid}/state")
            responses += [state.content, client.get(f"/threads/{tid}/history").content]
            errors = state.json()["values"]["errors"]
            assert any("Incorrect API key provided: Bearer ***" in line for line in errors), errors
            memories = client.post("/store/items/search", json={"namespace_prefix": ["memories"]})
            responses.append(memories.content)
        assert servers["tavily_401"].requests and servers["openai_401"].requests
    written = files_under(cwd)
    assert any(".langgraph_api" in str(path) for path in written), sorted(written)
    leaks = {str(path): found(blob) for path, blob in written.items() if found(blob)}
    leaks |= {f"response {i}": found(body) for i, body in enumerate(responses) if found(body)}
    assert leaks == {}
