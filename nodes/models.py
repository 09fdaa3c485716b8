"""Chat models per role: resolution from `provider:model` strings, and tagged calls.

``auto`` means ``openai:gpt-4o-mini`` when ``OPENAI_API_KEY`` is set, else ``local`` (the
offline engine in `nodes.local`). Any other string goes to langchain's ``init_chat_model``;
``openai:`` models honour ``Context.openai_base_url`` / ``OPENAI_BASE_URL`` so any
OpenAI-compatible server (vLLM, Ollama, llama.cpp) works. Custom models (or scripted fakes
in tests) can be registered under a name with `register_chat_model`.

Every call is bounded by the request timeout: the provider client does not retry (it would
honour a ``Retry-After`` of up to two minutes); `call_model` retries 429, 5xx and refused
connections once, and only while the first attempt's timeout has not run out. A failure
raises `ModelCallError`, one line naming the model and its endpoint. An endpoint that did
not answer (refused, timed out, dropped mid-response) is skipped for
`ENDPOINT_COOLDOWN_SECONDS`, so a turn whose roles share a dead endpoint waits for it once.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from functools import lru_cache
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage

from state.context import Context, ModelConfigError
from tools.base import one_line, with_retries
from tools.remote_errors import failure_reason, mask, retryable, timeout_seconds, unanswered

INTERNAL_TAGS = ["nostream"]
"""Tags that keep router, grader and checker calls out of ``stream_mode="messages"``."""

ATTEMPTS = 2
"""Calls per model request at most (one retry of a 429, a 5xx or a refused connection)."""
ENDPOINT_COOLDOWN_SECONDS = 30.0
"""How long an endpoint that did not answer is skipped before it is tried again."""
DEFAULT_TIMEOUT = 20.0

_REGISTRY: dict[str, BaseChatModel] = {}
_down: dict[str, tuple[float, str]] = {}
_down_lock = threading.Lock()


class ModelCallError(RuntimeError):
    """A model call failed; the message is one line naming the model, its endpoint and why."""


def register_chat_model(name: str, model: BaseChatModel) -> None:
    """Make ``model`` selectable in the `Context` as ``name``.

    Example:
        >>> from langchain_core.language_models import FakeListChatModel
        >>> register_chat_model("fake:echo", FakeListChatModel(responses=["hi"]))
    """
    _REGISTRY[name] = model


def unregister_chat_model(name: str) -> None:
    _REGISTRY.pop(name, None)


def resolve_spec(spec: str) -> str:
    """Turn ``auto`` into a concrete choice; strip whitespace."""
    spec = (spec or "auto").strip()
    if spec == "auto":
        return "openai:gpt-4o-mini" if os.environ.get("OPENAI_API_KEY") else "local"
    return spec


def get_chat_model(spec: str, ctx: Context) -> BaseChatModel | None:
    """The chat model for ``spec``, or None for the local engine (``local``/``off``)."""
    spec = resolve_spec(spec)
    if spec in ("local", "off"):
        return None
    if spec in _REGISTRY:
        return _REGISTRY[spec]
    base_url = ""
    if spec.startswith("openai:"):
        base_url = ctx.openai_base_url or os.environ.get("OPENAI_BASE_URL", "")
    return _init_model(spec, base_url, float(ctx.request_timeout))


@lru_cache(maxsize=16)
def _init_model(spec: str, base_url: str, timeout: float) -> BaseChatModel:
    from langchain.chat_models import init_chat_model

    if ":" not in spec:
        raise ModelConfigError(
            f"unknown model {spec!r}: use 'local', 'auto' or 'provider:model' "
            "(e.g. 'openai:gpt-4o-mini')"
        )
    kwargs: dict[str, Any] = {"timeout": timeout, "max_retries": 0, "temperature": 0}
    if base_url:
        kwargs["base_url"] = base_url
        kwargs.setdefault("api_key", os.environ.get("OPENAI_API_KEY") or "not-needed")
    try:
        return init_chat_model(spec, **kwargs)
    except Exception as exc:  # noqa: BLE001 - providers raise many types for bad settings
        raise ModelConfigError(f"cannot use model {spec!r}: {describe_error(exc)}") from exc


def call_model(
    model: BaseChatModel, messages: list[BaseMessage], *, role: str, internal: bool = True
) -> tuple[AIMessage, dict[str, int]]:
    """Invoke ``model`` for one role and report the usage it cost.

    Internal roles are tagged ``nostream`` so only the generator's tokens stream.

    Raises:
        ModelCallError: The call failed, or its endpoint is being skipped after failing to
            answer; the message is one line without the API key.
    """
    tags = [*INTERNAL_TAGS, f"role:{role}"] if internal else [f"role:{role}"]
    endpoint = endpoint_of(model)
    timeout = _timeout_of(model)
    _check_endpoint(endpoint)
    try:
        message = with_retries(
            lambda: model.invoke(messages, config={"tags": tags, "run_name": role}),
            retryable=retryable,
            deadline_seconds=timeout,
            attempts=ATTEMPTS,
        )
    except Exception as exc:
        reason = _mask(failure_reason(exc, timeout), model)
        if unanswered(exc):
            with _down_lock:
                _down[endpoint] = (time.monotonic(), reason)
        raise ModelCallError(f"{endpoint}: {reason}") from exc
    with _down_lock:
        _down.pop(endpoint, None)
    usage = getattr(message, "usage_metadata", None) or {}
    return message, {"llm_calls": 1, "tokens": int(usage.get("total_tokens", 0))}


def endpoint_of(model: BaseChatModel) -> str:
    """``model-name at base-url`` (or the model's name alone), for messages and the cooldown.

    Example:
        >>> from langchain_core.language_models import FakeListChatModel
        >>> endpoint_of(FakeListChatModel(responses=["hi"]))
        'FakeListChatModel'
    """
    name = getattr(model, "model_name", None) or getattr(model, "model", None)
    base = getattr(model, "openai_api_base", None) or getattr(model, "base_url", None)
    label = str(name) if isinstance(name, str) and name else type(model).__name__
    return f"{label} at {base}" if isinstance(base, str) and base else label


def reset_endpoints() -> None:
    """Forget every endpoint failure (the next call tries every endpoint again)."""
    with _down_lock:
        _down.clear()


def _check_endpoint(endpoint: str) -> None:
    with _down_lock:
        failed = _down.get(endpoint)
    if failed is None:
        return
    ago = time.monotonic() - failed[0]
    if ago >= ENDPOINT_COOLDOWN_SECONDS:
        return
    raise ModelCallError(
        f"{endpoint}: not called (failed {ago:.0f} s ago: {failed[1]}; "
        f"tried again after {ENDPOINT_COOLDOWN_SECONDS:g} s)"
    )


def _timeout_of(model: Any) -> float:
    value = getattr(model, "request_timeout", None)
    if value is None:
        value = getattr(model, "timeout", None)
    return timeout_seconds(value, DEFAULT_TIMEOUT)


def _mask(text: str, model: BaseChatModel) -> str:
    key = getattr(model, "openai_api_key", None)
    own = key.get_secret_value() if hasattr(key, "get_secret_value") else ""
    return mask(text, os.environ.get("OPENAI_API_KEY", ""), own)


_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$", re.MULTILINE)


def parse_json_object(text: Any) -> dict[str, Any]:
    """Parse the JSON object in a model reply (code fences and chatter around it allowed).

    Raises:
        ValueError: when no JSON object can be read.

    Example:
        >>> parse_json_object('Sure! ```json\\n{"a": 1}\\n```')
        {'a': 1}
    """
    if isinstance(text, list):
        text = "".join(p.get("text", "") if isinstance(p, dict) else str(p) for p in text)
    text = _FENCE.sub("", str(text)).strip()
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        raise ValueError("no JSON object in the model reply")
    value = json.loads(text[start : end + 1])
    if not isinstance(value, dict):
        raise ValueError("the model reply is not a JSON object")
    return value


def describe_error(exc: BaseException) -> str:
    """``Type: message`` on one line, safe to show to a user (a `ModelCallError`: its message)."""
    text = one_line(exc)
    if isinstance(exc, ModelCallError):
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
