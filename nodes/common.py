"""What every node shares: the trace/timing wrapper and small message helpers."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Collection, Mapping
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

from state.reducers import RESET


def traced(fn: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
    """Append the node's name to ``trace`` and its wall time to ``usage.ms_per_node``.

    A node that starts a new turn returns ``trace=[RESET]`` and ``usage={RESET: True}``;
    its own entry is added after the reset.
    """
    name = fn.__name__

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> dict[str, Any]:
        start = time.perf_counter()
        update = dict(fn(*args, **kwargs) or {})
        ms = round((time.perf_counter() - start) * 1000, 2)
        update["trace"] = [*update.get("trace", []), name]
        usage = dict(update.get("usage", {}))
        usage["ms_per_node"] = {**usage.get("ms_per_node", {}), name: ms}
        update["usage"] = usage
        return update

    return wrapper


def latest_human(messages: list[BaseMessage]) -> HumanMessage | None:
    """The last human message, or None."""
    for message in reversed(messages):
        if isinstance(message, HumanMessage):
            return message
    return None


def text_of(message: BaseMessage | None) -> str:
    """A message's text content (multi-part contents joined)."""
    if message is None:
        return ""
    content = message.content
    if isinstance(content, list):
        content = " ".join(p.get("text", "") if isinstance(p, dict) else str(p) for p in content)
    return str(content)


def history_before(messages: list[BaseMessage], current: BaseMessage | None) -> list[BaseMessage]:
    """Human and AI messages before ``current`` (the conversation so far)."""
    out: list[BaseMessage] = []
    for message in messages:
        if message is current:
            break
        if isinstance(message, HumanMessage | AIMessage):
            out.append(message)
    return out


CLARIFICATION = "clarification"
"""The ``name`` of the assistant message that asks the human a clarifying question."""


def clarified_question(messages: list[BaseMessage], current: BaseMessage | None) -> str | None:
    """The original question plus the human's answer, when ``current`` answers a
    clarifying question; else None.

    Example:
        >>> from langchain_core.messages import AIMessage as A, HumanMessage as H
        >>> msgs = [H("How much is it?"), A("Which one?", name=CLARIFICATION), H("Bronze")]
        >>> clarified_question(msgs, msgs[-1])
        'How much is it? (Bronze)'
    """
    history = history_before(messages, current)
    if len(history) < 2 or getattr(history[-1], "name", None) != CLARIFICATION:
        return None
    return f"{text_of(history[-2]).strip()} ({text_of(current).strip()})"


PER_TURN_RESET: dict[str, Any] = {
    "documents": [RESET],
    "errors": [RESET],
    "notes": [RESET],
    "trace": [RESET],
    "usage": {RESET: True},
    "grades": [],
    "grade": None,
    "context_docs": [],
    "answer": "",
    "answer_id": None,
    "citations": [],
    "checks": {},
    "plan": {},
    "route": {},
    "remembered": [],
    "rewrites": 0,
    "generations": 0,
    "web_searches": 0,
}
"""The update that clears every per-turn field at the start of a turn."""

_CLEARED: dict[str, Any] = {"documents": [], "errors": [], "notes": [], "trace": [], "usage": {}}
"""What the fields reset through their reducers hold once cleared."""


def turn_reset(state: Mapping[str, Any], always: Collection[str] = ()) -> dict[str, Any]:
    """The part of `PER_TURN_RESET` that changes ``state``: fields already clear are not
    written again (every write is stored with each checkpoint of the turn).

    An absent field counts as clear, unless it is in ``always`` (fields a caller reads
    after the turn, which must then exist).

    Example:
        >>> sorted(turn_reset({"answer": "Fee: $5.", "rewrites": 0, "grades": []}))
        ['answer']
        >>> sorted(turn_reset({}, always={"answer"}))
        ['answer']
    """
    update: dict[str, Any] = {}
    for key, reset in PER_TURN_RESET.items():
        if key not in state:
            if key in always:
                update[key] = reset
        elif state[key] != _CLEARED.get(key, reset):
            update[key] = reset
    return update
