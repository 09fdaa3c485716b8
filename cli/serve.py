"""``agentic-rag serve``: the LangGraph dev server (``langgraph dev``) for this project.

Runs ``langgraph dev`` from the checkout holding ``langgraph.json`` (API, Studio, threads,
store), with the data directory passed as ``AGENTIC_RAG_DATA_DIR``, no usage analytics, no
version check and LangSmith tracing off unless the environment sets it. Needs the ``serve``
extra: ``pip install 'agentic-rag[serve]'``.

Example:
    >>> (find_project_root() / "langgraph.json").exists()
    True
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from cli.console import err, fail
from cli.langgraph_config import GRAPH_ID, config_problem, nearest_config, read_config
from state.context import DEFAULT_DATA_DIR

INSTALL_HINT = "pip install 'agentic-rag[serve]'"
SERVER_DEFAULTS = {
    "LANGGRAPH_CLI_NO_ANALYTICS": "1",
    "LANGGRAPH_NO_VERSION_CHECK": "true",
    "LANGSMITH_TRACING": "false",
}


def _serves_this_graph(config: Path) -> bool:
    try:
        return GRAPH_ID in json.loads(config.read_text(encoding="utf-8")).get("graphs", {})
    except (OSError, ValueError, AttributeError):
        return False


def find_project_root(start: Path | None = None) -> Path | None:
    """The nearest folder (``start`` or cwd, then their parents, then this checkout) holding a
    ``langgraph.json`` that serves graph ``agentic_rag``; None when there is none."""
    here = (start or Path.cwd()).resolve()
    checkout = Path(__file__).resolve().parent.parent
    for folder in (here, *here.parents, checkout):
        if _serves_this_graph(folder / "langgraph.json"):
            return folder
    return None


def _server_installed() -> bool:
    return all(
        importlib.util.find_spec(name) is not None for name in ("langgraph_cli", "langgraph_api")
    )


def _env_file_values(root: Path) -> dict[str, str]:
    """The variables of the ``env`` file named in ``root/langgraph.json`` (if any)."""
    try:
        name = json.loads((root / "langgraph.json").read_text(encoding="utf-8")).get("env")
        if not isinstance(name, str) or not (root / name).is_file():
            return {}
        from dotenv import dotenv_values

        return {k: v for k, v in dotenv_values(root / name).items() if v is not None}
    except (ImportError, OSError, ValueError):
        return {}


def _port_free(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def serve(
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 2024,
    host: Annotated[
        str, typer.Option("--host", help="Interface to bind (0.0.0.0: every interface).")
    ] = "127.0.0.1",
    data_dir: Annotated[
        str,
        typer.Option(
            "--data-dir",
            envvar="AGENTIC_RAG_DATA_DIR",
            help="Index and thread storage the graph reads (passed as AGENTIC_RAG_DATA_DIR).",
        ),
    ] = DEFAULT_DATA_DIR,
    no_browser: Annotated[
        bool,
        typer.Option("--no-browser/--browser", help="Do not open LangGraph Studio in a browser."),
    ] = True,
    reload: Annotated[
        bool, typer.Option("--reload/--no-reload", help="Restart when source files change.")
    ] = False,
) -> None:
    """Serve the graph with the LangGraph dev server (API + Studio) on HOST:PORT."""
    if not _server_installed():
        fail(f"the LangGraph dev server is not installed: {escape(INSTALL_HINT)}")
    nearest = nearest_config(Path.cwd().resolve())
    if nearest is not None and (problem := read_config(nearest)[1]):
        fail(escape(problem))
    root = find_project_root()
    if root is None:
        fail(
            "langgraph.json (serving graph 'agentic_rag') not found in this folder or its "
            "parents: run from the agentic-rag checkout"
        )
    config, problem = read_config(root / "langgraph.json")
    problem = problem or config_problem(config or {}, root)
    if problem:
        fail(escape(f"{root / 'langgraph.json'}: {problem}"))
    if not 0 < port < 65536:
        fail(f"--port must be between 1 and 65535, got {port}")
    if not _port_free(host, port):
        # langgraph dev would silently move to another port.
        fail(f"port {port} on {host} is already in use: pass --port")
    data = Path(data_dir).expanduser().resolve()  # relative to where the command was run
    if not data.exists():
        err.print(
            f"[yellow]warning:[/yellow] {escape(str(data))} does not exist yet: ingest "
            f"documents first (agentic-rag ingest PATH --data-dir {escape(data_dir)})",
            highlight=False,
            soft_wrap=True,
        )
    overridden = _env_file_values(root).get("AGENTIC_RAG_DATA_DIR")
    if overridden is not None and overridden != str(data):
        # langgraph dev applies the env file over the process environment
        err.print(
            f"[yellow]warning:[/yellow] the .env file sets AGENTIC_RAG_DATA_DIR="
            f"{escape(overridden)}, which wins over --data-dir",
            highlight=False,
            soft_wrap=True,
        )
    env = dict(os.environ)
    for key, value in SERVER_DEFAULTS.items():
        env.setdefault(key, value)
    env["AGENTIC_RAG_DATA_DIR"] = str(data)
    args = [sys.executable, "-m", "langgraph_cli", "dev", "--host", host, "--port", str(port)]
    args += ["--no-browser"] if no_browser else []
    args += [] if reload else ["--no-reload"]
    err.print(
        f"serving {root / 'langgraph.json'} on http://{host}:{port} (data: {data})",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    process = subprocess.Popen(args, cwd=root, env=env)
    previous = signal.signal(signal.SIGTERM, lambda *_: process.terminate())
    try:
        code = process.wait()
    except KeyboardInterrupt:
        process.send_signal(signal.SIGINT)
        try:
            code = process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            code = process.wait()
    finally:
        signal.signal(signal.SIGTERM, previous)
    if code not in (0, -signal.SIGTERM, -signal.SIGINT):
        raise typer.Exit(code if code > 0 else 1)
