"""Start the real ``langgraph dev`` server for tests, and always stop it.

The server runs in a scratch directory (it writes ``.langgraph_api/`` into its working
directory) from a copy of the project's ``langgraph.json`` whose ``./`` paths point back at
the checkout, with ``--no-reload`` (others edit the sources while tests run) and without
``--allow-blocking``. ``env`` (a ``.env`` file) is dropped so a developer's ``.env`` cannot
leak keys into the tests: ``langgraph dev`` lets ``.env`` values override the process
environment.

Example:
    >>> free_port() > 0
    True
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
LANGGRAPH = Path(sys.executable).with_name("langgraph")
STARTUP_TIMEOUT = 60.0
READY_LINE = "Application started up"
SERVER_ENV = {
    "LANGGRAPH_CLI_NO_ANALYTICS": "1",
    "LANGGRAPH_NO_VERSION_CHECK": "true",
    "LANGSMITH_TRACING": "false",
    "LANGCHAIN_TRACING_V2": "false",
    "ANONYMIZED_TELEMETRY": "False",
    "NO_PROXY": "127.0.0.1,localhost",
    "no_proxy": "127.0.0.1,localhost",
}
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_SCRUBBED = ("OPENAI_", "ANTHROPIC_", "TAVILY_", "ARXIV_", "CHROMA_", "AGENTIC_RAG_", "POSTGRES_")


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on right now (the server re-checks: see `start_dev_server`)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _absolute(spec: str, root: Path) -> str:
    return str(root / spec[2:]) if spec.startswith("./") else spec


def server_config(dest: Path, *, root: Path = ROOT, env: Any = None) -> Path:
    """Write ``dest/langgraph.json``: the project's config with ``./`` paths made absolute.

    Args:
        dest: The server's working directory.
        root: The checkout holding ``langgraph.json``.
        env: The ``env`` entry to use (default: none).
    """
    config = json.loads((root / "langgraph.json").read_text(encoding="utf-8"))
    config["dependencies"] = [_absolute(dep, root) for dep in config.get("dependencies", [])]
    config["graphs"] = {
        name: _absolute(spec, root) if isinstance(spec, str) else spec
        for name, spec in config["graphs"].items()
    }
    for section, key in (("auth", "path"), ("checkpointer", "path"), ("store", "path")):
        if isinstance(config.get(section), dict) and key in config[section]:
            config[section][key] = _absolute(config[section][key], root)
    index = (config.get("store") or {}).get("index") or {}
    if isinstance(index.get("embed"), str):
        index["embed"] = _absolute(index["embed"], root)
    config.pop("env", None)
    if env is not None:
        config["env"] = env
    dest.mkdir(parents=True, exist_ok=True)
    path = dest / "langgraph.json"
    path.write_text(json.dumps(config, indent=2), encoding="utf-8")
    return path


def server_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without model/source keys, plus the quiet-server defaults."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUBBED)}
    env.pop("LANGSMITH_API_KEY", None)
    env.update(SERVER_ENV)
    env.update(extra or {})
    return env


@dataclass
class DevServer:
    """A running server: ``url``, its process (own process group) and its log file."""

    url: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    _log: Any = field(repr=False, default=None)

    def log_tail(self, lines: int = 40) -> str:
        """The last ``lines`` lines of the server log."""
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(_ANSI.sub("", text).splitlines()[-lines:])

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the whole process group: SIGTERM, then SIGKILL after ``timeout`` s."""
        stop_process_group(self.process, timeout)
        if self._log is not None:
            self._log.close()
            self._log = None


def stop_process_group(process: subprocess.Popen[Any], timeout: float = 10.0) -> None:
    """SIGTERM the process group of ``process`` (started with a new session), then SIGKILL."""
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    with suppress(subprocess.TimeoutExpired):
        process.wait(timeout=timeout)
    # Children may outlive the leader: kill whatever is left of the group.
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with suppress(subprocess.TimeoutExpired):
        process.wait(timeout=5)


def http_status(url: str, headers: Mapping[str, str] | None = None, timeout: float = 2.0) -> int:
    """The status of ``GET url`` (0 when nothing answers), never through a proxy."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    request = urllib.request.Request(url, headers=dict(headers or {}))
    try:
        with opener.open(request, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (OSError, urllib.error.URLError):
        return 0


def wait_until_ready(
    process: subprocess.Popen[Any],
    url: str,
    log_path: Path,
    timeout: float,
    health: str = "/ok",
    ready_line: str | None = READY_LINE,
) -> str | None:
    """None once ``url + health`` answers 200 (and the log holds ``ready_line``); else why not."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return f"the server exited with code {process.returncode}"
        log = log_path.read_text(encoding="utf-8", errors="replace")
        if "is already in use" in log:
            return "port taken"
        if (ready_line is None or ready_line in log) and http_status(url + health) == 200:
            return None
        time.sleep(0.2)
    return f"no answer on {url}{health} within {timeout:.0f} s"


def start_dev_server(
    cwd: Path,
    env: Mapping[str, str],
    *,
    command: Sequence[str] | None = None,
    timeout: float = STARTUP_TIMEOUT,
    attempts: int = 3,
    health: str = "/ok",
    ready_line: str | None = READY_LINE,
) -> DevServer:
    """Start ``langgraph dev --no-browser --no-reload`` on a free port in ``cwd``.

    ``langgraph dev`` silently moves to another port when the one asked for is taken; that
    is detected in its log and retried on a new port.

    Args:
        cwd: Working directory (holds ``langgraph.json``; gets ``.langgraph_api/``).
        env: The server's whole environment.
        command: The command to run instead, with ``{port}`` in place of the port number.
        timeout: Seconds to wait for the server to answer ``health``.
        attempts: Ports to try.
        health: The path that answers 200 once the server is up.
        ready_line: Text the log must hold too (None: the health check alone).

    Raises:
        RuntimeError: The server did not come up; the message ends with its log tail.
    """
    failure = ""
    for _ in range(attempts):
        port = free_port()
        if command is None:
            args = [str(LANGGRAPH), "dev", "--no-browser", "--no-reload"]
            args += ["--host", "127.0.0.1", "--port", str(port)]
        else:
            args = [part.format(port=port) for part in command]
        log_path = cwd / f"server-{port}.log"
        log = log_path.open("wb")
        process = subprocess.Popen(
            args,
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        server = DevServer(f"http://127.0.0.1:{port}", port, process, log_path, log)
        try:
            problem = wait_until_ready(process, server.url, log_path, timeout, health, ready_line)
        except BaseException:
            server.stop()
            raise
        if problem is None:
            return server
        failure = f"{problem}; log tail:\n{server.log_tail()}"
        server.stop()
        if problem != "port taken":
            break
    raise RuntimeError(f"the server did not start ({' '.join(args)}): {failure}")


@contextmanager
def dev_server(cwd: Path, env: Mapping[str, str], **kwargs: Any) -> Iterator[DevServer]:
    """`start_dev_server` as a context manager that always stops the server."""
    server = start_dev_server(cwd, env, **kwargs)
    try:
        yield server
    finally:
        server.stop()
