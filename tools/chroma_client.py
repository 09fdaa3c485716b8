"""Chroma clients: embedded in ``<data_dir>/chroma`` by default, a server when configured.

``CHROMA_HOST`` (with ``CHROMA_PORT``, default 8000) selects a Chroma server (``chroma run``)
through ``chromadb.HttpClient``; ``CHROMA_TENANT`` / ``CHROMA_DATABASE`` pick its tenant and
database and ``CHROMA_TIMEOUT`` (seconds, default 10) bounds every request.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tools.base import SourceError, one_line

_lock = threading.RLock()
_clients: dict[Any, Any] = {}


class ChromaUnavailable(SourceError):
    """The configured Chroma server cannot be reached (one-line reason)."""


@dataclass(frozen=True)
class ChromaServer:
    """Where a Chroma server is, from ``CHROMA_HOST`` / ``CHROMA_PORT`` (default 8000),
    ``CHROMA_TENANT``, ``CHROMA_DATABASE`` and ``CHROMA_TIMEOUT`` (seconds, default 10).

    With a shared server each machine keeps its own BM25 index under its ``data_dir`` and
    rebuilds it from the collection when their chunk counts differ.
    """

    host: str
    port: int = 8000
    tenant: str = "default_tenant"
    database: str = "default_database"
    timeout: float = 10.0

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


def chroma_server() -> ChromaServer | None:
    """The Chroma server configured in the environment, or None for embedded Chroma.

    Raises:
        ValueError: ``CHROMA_PORT`` or ``CHROMA_TIMEOUT`` is not a number.
    """
    host = os.environ.get("CHROMA_HOST", "").strip()
    if not host:
        return None
    try:
        port = int(os.environ.get("CHROMA_PORT") or 8000)
        timeout = float(os.environ.get("CHROMA_TIMEOUT") or 10.0)
    except ValueError as exc:
        raise ValueError(f"CHROMA_PORT / CHROMA_TIMEOUT must be numbers: {exc}") from exc
    return ChromaServer(
        host=host,
        port=port,
        tenant=os.environ.get("CHROMA_TENANT") or "default_tenant",
        database=os.environ.get("CHROMA_DATABASE") or "default_database",
        timeout=timeout,
    )


def data_key(data_dir: str | os.PathLike[str]) -> str:
    """``data_dir`` as an absolute path (the cache key of its embedded client)."""
    return os.path.abspath(os.fspath(data_dir))


def chroma_path(data_dir: str | os.PathLike[str]) -> Path:
    """Where the embedded Chroma database of ``data_dir`` lives."""
    return Path(data_key(data_dir)) / "chroma"


def client(data_dir: str | os.PathLike[str]) -> Any:
    """The (cached) Chroma client for ``data_dir``: the configured server, else embedded.

    Raises:
        ChromaUnavailable: The configured server does not answer within its timeout.
    """
    import chromadb
    from chromadb.config import Settings

    server = chroma_server()
    key = server or data_key(data_dir)
    with _lock:
        if key not in _clients:
            if server is None:
                _clients[key] = chromadb.PersistentClient(
                    path=str(chroma_path(key)), settings=Settings(anonymized_telemetry=False)
                )
            else:
                _clients[key] = _http_client(server)
        return _clients[key]


def _http_client(server: ChromaServer) -> Any:
    """An HttpClient whose every request times out after ``server.timeout`` seconds.

    chromadb's HttpClient has no timeout setting (its httpx session waits forever), so the
    server is probed first with a bounded heartbeat and the session's timeout is then set.
    """
    import chromadb
    import httpx
    from chromadb.config import Settings

    try:
        httpx.get(f"{server.url}/api/v2/heartbeat", timeout=server.timeout).raise_for_status()
    except httpx.HTTPError as exc:
        raise ChromaUnavailable(
            f"Chroma server {server.url} is unreachable ({type(exc).__name__}: "
            f"{one_line(exc, 120)}): start it (`chroma run`) or unset CHROMA_HOST"
        ) from exc
    try:
        http = chromadb.HttpClient(
            host=server.host,
            port=server.port,
            settings=Settings(anonymized_telemetry=False),
            tenant=server.tenant,
            database=server.database,
        )
    except Exception as exc:
        raise ChromaUnavailable(f"Chroma server {server.url}: {one_line(exc, 200)}") from exc
    session = getattr(getattr(http, "_server", None), "_session", None)
    if isinstance(session, httpx.Client):
        session.timeout = httpx.Timeout(server.timeout)
    return http


def reset() -> None:
    """Forget every cached client (after changing the CHROMA_* variables)."""
    with _lock:
        _clients.clear()
