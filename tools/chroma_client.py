"""Chroma clients: embedded in ``<data_dir>/chroma`` by default, a server when configured.

``CHROMA_HOST`` (with ``CHROMA_PORT``, default 8000) selects a Chroma server (``chroma run``)
through ``chromadb.HttpClient``; ``CHROMA_TENANT`` / ``CHROMA_DATABASE`` pick its tenant and
database and ``CHROMA_TIMEOUT`` (seconds, default 10) bounds every request.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tools.base import SourceError, one_line

_lock = threading.RLock()
_clients: dict[Any, Any] = {}
_failures: dict[Any, tuple[float, ChromaUnavailable]] = {}

RECHECK_SECONDS = 5.0
"""How long a server that could not be reached is reported down without probing it again
(one turn may ask several times; each probe of a silent server costs its whole timeout)."""


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
                failed = _failures.get(server)
                if failed is not None and time.monotonic() - failed[0] < RECHECK_SECONDS:
                    raise ChromaUnavailable(str(failed[1]))
                try:
                    _clients[key] = _http_client(server)
                except ChromaUnavailable as exc:
                    _failures[server] = (time.monotonic(), exc)
                    raise
                _failures.pop(server, None)
        return _clients[key]


def _http_client(server: ChromaServer) -> Any:
    """An HttpClient whose every request times out after ``server.timeout`` seconds.

    chromadb's HttpClient has no timeout setting (its httpx session waits forever, even for
    the identity request its constructor sends), so the server is probed first with a
    bounded heartbeat and the session's timeout is set before the constructor's requests.
    """
    import httpx
    from chromadb.api.client import Client
    from chromadb.config import Settings

    class BoundedClient(Client):
        def get_user_identity(self) -> Any:
            session = getattr(self._server, "_session", None)
            if isinstance(session, httpx.Client):
                session.timeout = httpx.Timeout(server.timeout)
            return super().get_user_identity()

    try:
        httpx.get(f"{server.url}/api/v2/heartbeat", timeout=server.timeout).raise_for_status()
    except httpx.HTTPError as exc:
        raise ChromaUnavailable(
            f"Chroma server {server.url} is unreachable ({_reason(exc, server.timeout)}): "
            "start it (`chroma run`) or unset CHROMA_HOST"
        ) from exc
    settings = Settings(
        anonymized_telemetry=False,
        chroma_api_impl="chromadb.api.fastapi.FastAPI",
        chroma_server_host=server.host,
        chroma_server_http_port=server.port,
    )
    try:
        http = BoundedClient(tenant=server.tenant, database=server.database, settings=settings)
    except Exception as exc:
        raise _unavailable(server, exc) from exc
    _name_the_server(http, server)
    return http


def _name_the_server(http: Any, server: ChromaServer) -> None:
    """Make every later request failure of ``http`` (the server went away, timed out, sent
    garbage, refused us) a `ChromaUnavailable` naming the server; answers about the data
    itself (a missing collection, a bad argument) keep chromadb's own errors."""
    from chromadb.errors import ChromaError

    api = getattr(http, "_server", None)
    request = getattr(api, "_make_request", None)
    if request is None:
        return

    def make_request(method: str, path: str, **kwargs: Any) -> Any:
        try:
            return request(method, path, **kwargs)
        except ChromaError as exc:
            if exc.code() < 500 and exc.code() not in (401, 403, 429):
                raise
            raise _unavailable(server, exc) from exc
        except Exception as exc:
            raise _unavailable(server, exc) from exc

    api._make_request = make_request


def _unavailable(server: ChromaServer, exc: BaseException) -> ChromaUnavailable:
    return ChromaUnavailable(f"Chroma server {server.url}: {_reason(exc, server.timeout)}")


def _reason(exc: BaseException, timeout: float) -> str:
    """One line: a timeout says how long was waited, anything else its type and message."""
    name = type(exc).__name__
    if "timed out" in str(exc).lower() or "Timeout" in name:
        return f"{name if 'Timeout' in name else 'ReadTimeout'}: no answer within {timeout:g} s"
    return f"{name}: {one_line(exc, 120)}"


def reset() -> None:
    """Forget every cached client (after changing the CHROMA_* variables)."""
    with _lock:
        _clients.clear()
        _failures.clear()
