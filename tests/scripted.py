"""Scripted chat models for driving graph branches (registered by name in the Context)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from langchain_core.language_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

from nodes.models import register_chat_model, unregister_chat_model


def reply(value: Any) -> AIMessage:
    """A model reply: dicts become JSON text."""
    return AIMessage(content=json.dumps(value) if isinstance(value, dict) else str(value))


@contextmanager
def scripted(**roles: list[Any]) -> Iterator[dict[str, str]]:
    """Register one scripted model per role; yields the Context fields selecting them.

    Example: ``with scripted(router=[{...}], generator=["Answer [1]."]) as models:``
    then ``Context(**models)``. Scripting a router also turns off ``router_skip_plain``.
    """
    names = {}
    try:
        for role, replies in roles.items():
            name = f"scripted:{role}"
            register_chat_model(name, GenericFakeChatModel(messages=iter(map(reply, replies))))
            names[f"{role}_model"] = name
        if "router" in roles:  # a scripted router is there to be consulted, even when plain
            names["router_skip_plain"] = False
        yield names
    finally:
        for name in names.values():
            unregister_chat_model(name)


def plan(query: str, decision: str = "single", sources=("vectorstore",), subs=()) -> dict:
    """A router-model plan."""
    return {
        "query": query,
        "decision": decision,
        "sub_questions": list(subs),
        "sources": list(sources),
        "reasons": {s: "scripted" for s in sources},
    }
