"""Long-term user memories in a LangGraph store, and the `Retriever` that searches them.

Each user's memories live in ONE namespace, `memory_namespace(user_id)`; every read, write and
search goes through it, so one user's search never sees another user's memories.

Any LangGraph store with ``memory_index()`` works; `tools.stores.open_store` opens the
embedded SQLite, in-memory or Postgres one.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from langgraph.store.base import BaseStore, PutOp

from state.context import Context
from state.document import Doc, make_doc
from tools.base import SourceError
from tools.embedder import DIMS, get_embedder

NAMESPACE_ROOT = "memories"
_PAGE = 100


def memory_namespace(user_id: str) -> tuple[str, str]:
    """The store namespace holding one user's memories.

    Store labels cannot contain ``.`` or NUL, so those and ``%`` are percent-encoded; any
    other id is used unchanged.

    Example:
        >>> memory_namespace("alice")
        ('memories', 'alice')
        >>> memory_namespace("a.b@example.com")
        ('memories', 'a%2Eb@example%2Ecom')
    """
    if not isinstance(user_id, str) or not user_id.strip():
        raise ValueError("user_id must be a non-empty string")
    return (NAMESPACE_ROOT, user_id.replace("%", "%25").replace(".", "%2E").replace("\x00", "%00"))


def memory_key(text: str) -> str:
    """The key of a memory: a hash of its normalised text (case and spacing ignored)."""
    normalised = " ".join(text.split()).casefold()
    return hashlib.sha256(normalised.encode("utf-8")).hexdigest()[:32]


def memory_index() -> dict[str, Any]:
    """The semantic index of memory stores: the local embedder over each memory's ``text``.

    Example:
        >>> sorted(memory_index())
        ['dims', 'embed', 'fields']
    """
    return {"embed": get_embedder(), "dims": DIMS, "fields": ["text"]}


def put_memory(store: BaseStore, user_id: str, text: str) -> str:
    """Save a memory for ``user_id`` and return its key (saving the same text again dedupes).

    Raises:
        ValueError: ``text`` is blank.
    """
    text = " ".join(text.split())
    if not text:
        raise ValueError("a memory needs some text")
    key = memory_key(text)
    namespace = memory_namespace(user_id)
    existing = store.get(namespace, key)
    created = existing.value.get("created_at") if existing else None
    value = {"text": text, "created_at": created or datetime.now(UTC).isoformat()}
    store.put(namespace, key, value)
    return key


def list_memories(store: BaseStore, user_id: str) -> list[dict[str, str]]:
    """All of a user's memories as ``{"key", "text", "created_at"}`` dicts, oldest first."""
    namespace = memory_namespace(user_id)
    memories: list[dict[str, str]] = []
    offset = 0
    while True:
        page = store.search(namespace, limit=_PAGE, offset=offset)
        for item in page:
            if item.namespace != namespace:
                continue
            memories.append(
                {
                    "key": item.key,
                    "text": str(item.value.get("text", "")),
                    "created_at": str(item.value.get("created_at", "")),
                }
            )
        if len(page) < _PAGE:
            return sorted(memories, key=lambda m: (m["created_at"], m["key"]))
        offset += _PAGE


def delete_memory(store: BaseStore, user_id: str, key: str) -> bool:
    """Delete one memory; return whether it existed."""
    namespace = memory_namespace(user_id)
    if store.get(namespace, key) is None:
        return False
    store.delete(namespace, key)
    return True


def clear_memories(store: BaseStore, user_id: str) -> int:
    """Delete all of a user's memories; return how many there were."""
    namespace = memory_namespace(user_id)
    keys = [m["key"] for m in list_memories(store, user_id)]
    if keys:
        store.batch([PutOp(namespace, key, None) for key in keys])
    return len(keys)


class MemoryRetriever:
    """Search the current user's long-term memories in the graph's store.

    Example:
        >>> MemoryRetriever().unavailable(Context(), store=None)
        'no long-term memory store is attached'
    """

    name = "memory"

    def unavailable(self, ctx: Context, store: Any = None) -> str | None:
        """Why memory search cannot run now (no store attached), or None."""
        return "no long-term memory store is attached" if store is None else None

    def retrieve(self, query: str, ctx: Context, *, k: int, store: Any = None) -> list[Doc]:
        """Return up to ``k`` of ``ctx.user_id``'s memories closest to ``query``.

        Raises:
            SourceError: No store is attached, or the store failed.
        """
        if store is None:
            raise SourceError("memory: no long-term memory store is attached")
        try:
            namespace = memory_namespace(ctx.user_id)
            items = store.search(namespace, query=query, limit=k)
        except Exception as exc:
            raise SourceError(f"memory: search failed ({type(exc).__name__})") from exc
        docs: list[Doc] = []
        for item in items:
            text = item.value.get("text") if isinstance(item.value, dict) else None
            if item.namespace != namespace or not text:
                continue
            docs.append(
                make_doc(
                    id=item.key,
                    content=str(text),
                    source="memory",
                    title="Memory",
                    location=f"memory://{ctx.user_id}/{item.key}",
                    score=item.score or 0.0,
                    query=query,
                    metadata={"created_at": str(item.value.get("created_at", ""))},
                )
            )
        return docs[:k]
