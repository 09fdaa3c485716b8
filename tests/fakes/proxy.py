"""A fault-injecting HTTP proxy on 127.0.0.1 in front of a real server (e.g. ``chroma run``).

Every request is forwarded to the upstream server and its answer relayed, except while a
fault is set: requests whose path matches then get the scripted `FakeResponse` instead (an
error status, a malformed body, a delay, a response dropped or stalled mid-way).

Example:
    >>> with FakeServer({"/x": FakeResponse(body={"ok": 1})}) as real:
    ...     with FaultProxy(real.url) as proxy:
    ...         import requests
    ...         ok = requests.get(proxy.url + "/x", timeout=5).json()
    ...         proxy.fail(FakeResponse(status=503, body="down"))
    ...         down = requests.get(proxy.url + "/x", timeout=5).status_code
    >>> ok, down
    ({'ok': 1}, 503)
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode

import httpx

from tests.fakes.servers import FakeResponse, FakeServer, RecordedRequest

_HOP_BY_HOP = {"host", "content-length", "connection", "transfer-encoding", "accept-encoding"}


class FaultProxy:
    """Relays to ``upstream``; `fail` makes matching requests get a scripted response.

    Attributes:
        url: The proxy's base URL.
        faulted: How many requests got the fault.
    """

    def __init__(self, upstream: str, *, max_lifetime: float = 300.0, timeout: float = 30.0):
        self.upstream = upstream.rstrip("/")
        self.timeout = timeout
        self.fault: FakeResponse | None = None
        self.matches: Callable[[str], bool] = lambda path: True
        self.faulted = 0
        self.server = FakeServer(max_lifetime=max_lifetime, fallback=self._relay)

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def fail(self, fault: FakeResponse | None, matches: Callable[[str], bool] | None = None):
        """Answer the requests whose path ``matches`` (default: all) with ``fault``; None
        relays everything again."""
        self.fault = fault
        self.matches = matches or (lambda path: True)

    def _relay(self, request: RecordedRequest) -> FakeResponse:
        if self.fault is not None and self.matches(request.path):
            self.faulted += 1
            return self.fault
        query = f"?{urlencode(request.query, doseq=True)}" if request.query else ""
        headers = {k: v for k, v in request.headers.items() if k not in _HOP_BY_HOP}
        try:
            answer = httpx.request(
                request.method,
                f"{self.upstream}{request.path}{query}",
                content=request.body,
                headers=headers,
                timeout=self.timeout,
            )
        except httpx.HTTPError as exc:
            return FakeResponse(status=502, body=f"proxy: {type(exc).__name__}")
        return FakeResponse(
            status=answer.status_code,
            body=answer.content,
            content_type=answer.headers.get("content-type", "application/octet-stream"),
        )

    def __enter__(self) -> FaultProxy:
        self.server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stop()
