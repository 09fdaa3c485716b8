"""Chat models per role: resolution from `provider:model` strings, and tagged calls.

``auto`` means ``openai:gpt-4o-mini`` when ``OPENAI_API_KEY`` is set, else ``local`` (the
offline engine in `nodes.local`). Any other string goes to langchain's ``init_chat_model``;
``openai:`` models honour ``Context.openai_base_url`` / ``OPENAI_BASE_URL`` so any
OpenAI-compatible server (vLLM, Ollama, llama.cpp) works. Custom models (or scripted fakes
in tests) can be registered under a name with `register_chat_model`.
"""

from __future__ import annotations

import json
import os
import re
from functools import lru_cache
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage

from state.context import Context
from tools.base import one_line

INTERNAL_TAGS = ["nostream"]
"""Tags that keep router, grader and checker calls out of ``stream_mode="messages"``."""

_REGISTRY: dict[str, BaseChatModel] = {}


class ModelConfigError(ValueError):
    """A model string that cannot be resolved; the message says why."""


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
    kwargs: dict[str, Any] = {"timeout": timeout, "max_retries": 1, "temperature": 0}
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
    """
    tags = [*INTERNAL_TAGS, f"role:{role}"] if internal else [f"role:{role}"]
    message = model.invoke(messages, config={"tags": tags, "run_name": role})
    usage = getattr(message, "usage_metadata", None) or {}
    return message, {"llm_calls": 1, "tokens": int(usage.get("total_tokens", 0))}


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
    """``Type: message`` on one line, safe to show to a user."""
    text = one_line(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
