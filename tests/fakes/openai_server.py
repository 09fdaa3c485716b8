"""A fake OpenAI-compatible ``/v1/chat/completions`` endpoint (JSON and SSE streaming)."""

from __future__ import annotations

import json
from collections.abc import Callable

from tests.fakes.servers import FakeResponse, RecordedRequest

USAGE = {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}


def chat_completion(content: str) -> dict:
    """A non-streaming completion body."""
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 0,
        "model": "gpt-4o-mini",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
        "usage": USAGE,
    }


def chat_stream(content: str) -> bytes:
    """The same reply as server-sent events, one chunk per word."""
    words = content.split(" ")
    events = []
    for i, word in enumerate(words):
        delta = {"content": word + (" " if i < len(words) - 1 else "")}
        if i == 0:
            delta["role"] = "assistant"
        events.append(
            {
                "id": "chatcmpl-fake",
                "object": "chat.completion.chunk",
                "created": 0,
                "model": "gpt-4o-mini",
                "choices": [{"index": 0, "delta": delta, "finish_reason": None}],
            }
        )
    events.append(
        {
            "id": "chatcmpl-fake",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": "gpt-4o-mini",
            "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
            "usage": USAGE,
        }
    )
    body = "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"
    return body.encode()


def role_of(request: RecordedRequest) -> str:
    """Which graph role sent a request, from its system prompt."""
    system = request.json()["messages"][0]["content"]
    for marker, role in (
        ("You plan retrieval", "router"),
        ("retrieval evaluator", "grader"),
        ("You answer questions using ONLY", "generator"),
        ("You check an answer", "checker"),
    ):
        if marker in system:
            return role
    return "other"


def openai_script(replies: dict[str, str]) -> Callable[[RecordedRequest], FakeResponse]:
    """Answer each role's request with its scripted reply (streamed when asked to)."""

    def respond(request: RecordedRequest) -> FakeResponse:
        content = replies[role_of(request)]
        if request.json().get("stream"):
            return FakeResponse(body=chat_stream(content), content_type="text/event-stream")
        return FakeResponse(body=chat_completion(content))

    return respond


EMBEDDING_DIMS = 64


def bag_of_words_vector(text: str, dims: int = EMBEDDING_DIMS) -> list[float]:
    """A deterministic embedding: hashed word counts, so shared words mean similar vectors."""
    import hashlib
    import re

    vector = [0.0] * dims
    for word in re.findall(r"[a-z0-9]+", text.lower()):
        vector[int(hashlib.md5(word.encode()).hexdigest(), 16) % dims] += 1.0
    return vector


def embeddings_endpoint(dims: int = EMBEDDING_DIMS) -> Callable[[RecordedRequest], FakeResponse]:
    """``/v1/embeddings``: bag-of-words vectors, base64 float32 when the client asks for it
    (the openai client does by default) and JSON floats otherwise."""
    import base64
    import struct

    def respond(request: RecordedRequest) -> FakeResponse:
        body = request.json()
        texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
        data = []
        for i, text in enumerate(texts):
            vector = bag_of_words_vector(str(text), dims)
            if body.get("encoding_format") == "base64":
                packed = struct.pack(f"<{dims}f", *vector)
                embedding: str | list[float] = base64.b64encode(packed).decode()
            else:
                embedding = vector
            data.append({"object": "embedding", "index": i, "embedding": embedding})
        tokens = sum(len(str(t).split()) for t in texts)
        return FakeResponse(
            body={
                "object": "list",
                "data": data,
                "model": body.get("model", ""),
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
        )

    return respond
