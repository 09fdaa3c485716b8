"""A fake OpenAI-compatible server and Tavily ``/search`` that can hold one call.

Used to stop a real ``agentic-rag`` (or ``langgraph dev``) process at a known node: the held
call is answered only after `HOLD` seconds (cut short when the server stops), long enough
for a test to kill the process or break a dependency while the node waits.

Example:
    >>> with HeldEndpoint("generator").server as server:
    ...     server.url.startswith("http://127.0.0.1:")
    True
"""

from __future__ import annotations

import json
import threading
from typing import Any

from tests.fakes.openai_server import chat_completion, openai_script, role_of
from tests.fakes.servers import FakeResponse, FakeServer, tavily_search_response

HOLD = 120.0
QUESTION = "What is the early closure fee for a Bronze savings account?"
ANSWER = "A Bronze Account closed within 60 days has a $20 early closure fee [1]."


def _plan(*sources: str) -> str:
    return json.dumps(
        {
            "query": QUESTION,
            "decision": "single",
            "sub_questions": [],
            "sources": list(sources),
            "reasons": {s: "policy" for s in sources},
        }
    )


def _grades(n: int = 4) -> str:
    return json.dumps({"scores": [{"id": i, "score": 0.9 - 0.1 * i} for i in range(1, n + 1)]})


class HeldEndpoint:
    """A fake OpenAI-compatible server (and Tavily ``/search``) that can hold one call.

    While ``held`` names a role (``generator``) or ``web``, that call is answered only after
    `HOLD` seconds (cut short when the server stops) or until `release`, which also answers
    every later call at once.
    """

    def __init__(self, held: str, sources: tuple[str, ...] = ("vectorstore",)) -> None:
        self.held: str | None = held
        self.released = threading.Event()
        self.replies = {"router": _plan(*sources), "grader": _grades(), "generator": ANSWER}
        self.server = FakeServer(
            {"/v1/chat/completions": self._chat, "/search": self._web}, max_lifetime=600
        )

    def _chat(self, request: Any) -> FakeResponse:
        if role_of(request) == self.held:
            return FakeResponse(body=chat_completion(ANSWER), delay=HOLD, release=self.released)
        return openai_script(self.replies)(request)

    def _web(self, request: Any) -> FakeResponse:
        delay = HOLD if self.held == "web" else 0
        return FakeResponse(body=tavily_search_response(), delay=delay, release=self.released)

    def release(self) -> int:
        """Stop holding (a held call is answered now); returns how many requests were received
        so far."""
        self.held = None
        self.released.set()
        return len(self.server.requests)

    def calls(self, since: int = 0) -> list[str]:
        """What was called from request ``since`` on: roles, and ``web`` for Tavily."""
        return ["web" if r.path == "/search" else role_of(r) for r in self.server.requests[since:]]

    def env(self) -> dict[str, str]:
        """Every role an LLM on this server (the router even for plain questions; the checker
        stays local), web search on it."""
        return {
            "OPENAI_API_KEY": "sk-durability",
            "OPENAI_BASE_URL": f"{self.server.url}/v1",
            "TAVILY_API_KEY": "tvly-durability",
            "TAVILY_BASE_URL": self.server.url,
            "AGENTIC_RAG_REQUEST_TIMEOUT": str(HOLD + 60),
            "AGENTIC_RAG_ROUTER_SKIP_PLAIN": "false",
        }


__all__ = ["ANSWER", "HOLD", "QUESTION", "HeldEndpoint"]
