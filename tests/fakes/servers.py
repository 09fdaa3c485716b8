"""A scripted HTTP server on 127.0.0.1 and canned Tavily / arXiv responses.

Example:
    >>> with FakeServer({"/search": FakeResponse(body={"results": []})}) as server:
    ...     import requests
    ...     requests.post(server.url + "/search", timeout=5).json()
    {'results': []}
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit
from xml.sax.saxutils import escape


@dataclass(frozen=True)
class FakeResponse:
    """One scripted answer.

    Attributes:
        status: HTTP status code.
        body: Bytes or text sent as is; a dict or list is sent as JSON.
        delay: Seconds to wait before answering (cut short when the server stops).
        content_type: Defaults to JSON for dicts and lists, else ``text/plain``.
        headers: Extra response headers.
        drop_after: Send only this many bytes of the body (the headers announce all of it),
            then close the connection: a response dropped mid-stream.
        hang_after: Send only this many bytes of the body, then send nothing more until the
            server stops: a response that stalls mid-stream.
        release: Answer before ``delay`` is over once this event is set.
    """

    status: int = 200
    body: bytes | str | dict[str, Any] | list[Any] = b""
    delay: float = 0.0
    content_type: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    drop_after: int | None = None
    hang_after: int | None = None
    release: threading.Event | None = field(default=None, compare=False, repr=False)

    def encoded(self) -> tuple[bytes, str]:
        """The body as bytes and its content type."""
        if isinstance(self.body, dict | list):
            return json.dumps(self.body).encode(), self.content_type or "application/json"
        data = self.body.encode() if isinstance(self.body, str) else bytes(self.body)
        return data, self.content_type or "text/plain; charset=utf-8"


@dataclass(frozen=True)
class RecordedRequest:
    """A request the fake server received (``at``: its `time.monotonic` arrival time)."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.monotonic)

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body or b"null")


Script = FakeResponse | Sequence[FakeResponse] | Callable[[RecordedRequest], FakeResponse]


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        parts = urlsplit(self.path)
        request = RecordedRequest(
            method=self.command,
            path=parts.path,
            query=parse_qs(parts.query),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=self.rfile.read(length) if length else b"",
        )
        response = self.server.owner._respond(request)
        if response.delay and self._waited_out(response):
            return
        data, content_type = response.encoded()
        self.send_response(response.status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        cut = response.drop_after if response.hang_after is None else response.hang_after
        self.wfile.write(data if cut is None else data[:cut])
        if cut is None:
            return
        self.wfile.flush()
        if response.hang_after is not None:
            self.server.owner.stopping.wait()
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _waited_out(self, response: FakeResponse) -> bool:
        """Wait for the response's delay (or its release); True when the server stopped."""
        stopping = self.server.owner.stopping
        if response.release is None:
            return stopping.wait(response.delay)
        end = time.monotonic() + response.delay
        while (left := end - time.monotonic()) > 0 and not response.release.is_set():
            if stopping.wait(min(left, 0.05)):
                return True
        return False

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle

    def log_message(self, format: str, *args: Any) -> None:
        return


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    owner: FakeServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        return


class FakeServer:
    """A threaded HTTP server on 127.0.0.1 (random port) answering from a script per path.

    A path's script is one `FakeResponse` (always), a sequence (served in order, the last one
    repeating) or a callable taking the `RecordedRequest`. Unknown paths get ``fallback``
    (a script for every other path), else 404. The server stops on leaving the ``with``
    block, or by itself after ``max_lifetime`` seconds.

    Attributes:
        url: Base URL, e.g. ``http://127.0.0.1:54321``.
        requests: Every request received, in order.
        stopping: Set once the server is stopping.
    """

    def __init__(
        self,
        routes: Mapping[str, Script] | None = None,
        *,
        max_lifetime: float = 60.0,
        fallback: Script | None = None,
    ):
        self.routes: dict[str, Script] = dict(routes or {})
        self.fallback = fallback
        self.requests: list[RecordedRequest] = []
        self.stopping = threading.Event()
        self._served: dict[str, int] = {}
        self._lock = threading.Lock()
        self._httpd = _HTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.owner = self
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._timer = threading.Timer(max_lifetime, self.stop)
        self._timer.daemon = True
        self._stopped = False

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def route(self, path: str, script: Script) -> None:
        """Set (or replace) the script for ``path``."""
        with self._lock:
            self.routes[path] = script
            self._served.pop(path, None)

    def paths(self) -> list[str]:
        """The paths requested so far, in order."""
        return [r.path for r in self.requests]

    def _respond(self, request: RecordedRequest) -> FakeResponse:
        with self._lock:
            self.requests.append(request)
            script = self.routes.get(request.path, self.fallback)
            if script is None:
                return FakeResponse(status=404, body={"detail": "not found"})
            if isinstance(script, FakeResponse):
                return script
            if callable(script):
                return script(request)
            index = self._served.get(request.path, 0)
            self._served[request.path] = index + 1
            return script[min(index, len(script) - 1)]

    def start(self) -> FakeServer:
        """Start serving (idempotent)."""
        if not self._thread.is_alive() and not self._stopped:
            self._thread.start()
            self._timer.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port (idempotent, safe from any thread)."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        self.stopping.set()
        self._timer.cancel()
        if self._thread.is_alive():
            self._httpd.shutdown()
            self._thread.join(timeout=5)
        self._httpd.server_close()

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def fake_server(routes: Mapping[str, Script] | None = None, **kwargs: Any) -> FakeServer:
    """A started-on-enter `FakeServer`; use as ``with fake_server({...}) as server:``."""
    return FakeServer(routes, **kwargs)


@contextmanager
def silent_listener() -> Iterator[str]:
    """The base URL of a port on 127.0.0.1 that accepts connections but never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


def refused_url() -> str:
    """The base URL of a port on 127.0.0.1 where nothing listens (connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


HTML_ERROR_PAGE = FakeResponse(
    body="<!DOCTYPE html><html><head><title>Service Unavailable</title></head>"
    "<body><h1>We are down for maintenance</h1></body></html>",
    content_type="text/html; charset=utf-8",
)


TAVILY_RESULTS: list[dict[str, Any]] = [
    {
        "title": "Corrective Retrieval Augmented Generation - arXiv",
        "url": "https://arxiv.org/abs/2401.15884",
        "content": (
            "CRAG adds a lightweight retrieval evaluator that scores the documents retrieved "
            "for a query and, when they look irrelevant, falls back to web search."
        ),
        "score": 0.91,
        "raw_content": None,
    },
    {
        "title": "What is retrieval-augmented generation? | Example Docs",
        "url": "https://docs.example.com/rag/overview",
        "content": (
            "Retrieval-augmented generation (RAG) grounds a language model's answer in "
            "documents fetched from a knowledge base at question time."
        ),
        "score": 0.74,
        "raw_content": None,
        "published_date": "2025-03-14",
    },
]


def tavily_search_response(
    query: str = "what is corrective rag", results: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """A Tavily ``POST /search`` success body, shaped like the real API's."""
    return {
        "query": query,
        "follow_up_questions": None,
        "answer": None,
        "images": [],
        "results": TAVILY_RESULTS if results is None else results,
        "response_time": 0.82,
        "request_id": "3f1c9a52-6a1e-4b1e-9d55-0c1f2f6f9b10",
    }


def tavily_extract_response(
    pages: Mapping[str, str], failed: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """A Tavily ``POST /extract`` success body: page text by url, and error by failed url."""
    return {
        "results": [{"url": url, "raw_content": text, "images": []} for url, text in pages.items()],
        "failed_results": [{"url": url, "error": error} for url, error in (failed or {}).items()],
        "response_time": 0.41,
        "request_id": "9b0e7c1d-2f43-4d8a-a1c6-5e7f3b2d4c10",
    }


def tavily_error(message: str) -> dict[str, Any]:
    """A Tavily error body (``{"detail": {"error": ...}}``)."""
    return {"detail": {"error": message}}


@dataclass(frozen=True)
class ArxivEntry:
    """The fields of one arXiv Atom ``<entry>``."""

    arxiv_id: str
    title: str
    summary: str
    authors: tuple[str, ...]
    published: str
    category: str


ARXIV_ENTRIES: tuple[ArxivEntry, ...] = (
    ArxivEntry(
        arxiv_id="2401.15884v3",
        title="Corrective Retrieval Augmented\n  Generation",
        summary=(
            "Large language models hallucinate when the documents they are given are wrong.\n"
            "  We add a retrieval evaluator that grades the retrieved documents and triggers\n"
            "  a web search when they are judged incorrect, then refines the knowledge into\n"
            "  strips before generation."
        ),
        authors=("Shi-Qi Yan", "Jia-Chen Gu", "Yun Zhu", "Zhen-Hua Ling"),
        published="2024-01-29T17:24:01Z",
        category="cs.CL",
    ),
    ArxivEntry(
        arxiv_id="2310.11511v1",
        title="Self-RAG: Learning to Retrieve, Generate, and Critique through Self-Reflection",
        summary=(
            "We train a single model that decides on demand whether to retrieve, and that\n"
            "  emits reflection tokens judging the relevance of passages and the support of\n"
            "  its own output."
        ),
        authors=("Akari Asai", "Zeqiu Wu", "Yizhong Wang", "Avirup Sil", "Hannaneh Hajishirzi"),
        published="2023-10-17T17:59:32Z",
        category="cs.CL",
    ),
)


def _entry_xml(entry: ArxivEntry) -> str:
    authors = "".join(f"<author><name>{escape(name)}</name></author>" for name in entry.authors)
    abs_url = f"http://arxiv.org/abs/{entry.arxiv_id}"
    pdf_url = f"http://arxiv.org/pdf/{entry.arxiv_id}"
    return f"""
  <entry>
    <id>{abs_url}</id>
    <updated>{entry.published}</updated>
    <published>{entry.published}</published>
    <title>{escape(entry.title)}</title>
    <summary>  {escape(entry.summary)}
</summary>
    {authors}
    <arxiv:comment>12 pages, 4 figures</arxiv:comment>
    <link href="{abs_url}" rel="alternate" type="text/html"/>
    <link title="pdf" href="{pdf_url}" rel="related" type="application/pdf"/>
    <arxiv:primary_category term="{entry.category}" scheme="http://arxiv.org/schemas/atom"/>
    <category term="{entry.category}" scheme="http://arxiv.org/schemas/atom"/>
    <category term="cs.AI" scheme="http://arxiv.org/schemas/atom"/>
  </entry>"""


def arxiv_feed(entries: Sequence[ArxivEntry] = ARXIV_ENTRIES) -> bytes:
    """An arXiv API ``/api/query`` Atom response holding ``entries``."""
    body = "".join(_entry_xml(entry) for entry in entries)
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"
      xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/"
      xmlns:arxiv="http://arxiv.org/schemas/atom">
  <id>https://arxiv.org/api/8Nh0TVvbhvT4kMqVwZyZ1Mk1v0E</id>
  <title>arXiv Query: search_query=all:corrective AND all:rag&amp;start=0&amp;max_results=4
  </title>
  <updated>2026-11-20T00:00:00Z</updated>
  <link href="https://arxiv.org/api/query?search_query=all:corrective&amp;max_results=4"
        type="application/atom+xml"/>
  <opensearch:itemsPerPage>{len(entries)}</opensearch:itemsPerPage>
  <opensearch:totalResults>{len(entries)}</opensearch:totalResults>
  <opensearch:startIndex>0</opensearch:startIndex>{body}
</feed>
""".encode()


ARXIV_FEED: bytes = arxiv_feed()
