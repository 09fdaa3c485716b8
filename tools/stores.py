"""Open the long-term memory store: one opener for the CLI and for Python.

A *store spec* picks the backend; ``open_store(None, ...)`` reads it from the environment
variable ``AGENTIC_RAG_STORE`` and falls back to the embedded SQLite file:

- ``""`` or ``"sqlite"``: ``<data_dir>/memory.sqlite`` (the default);
- ``"sqlite:PATH"``: a SQLite file at ``PATH``;
- ``"memory"``: an in-process ``InMemoryStore`` (gone when the process exits);
- ``"postgresql://USER:PASSWORD@HOST:PORT/DB"`` (or ``postgres://``): a ``PostgresStore``
  searching with pgvector (``pip install 'agentic-rag[postgres]'``; the role needs the
  ``vector`` extension or the right to create it).

Every store carries the memory semantic index (`tools.memory.memory_index`), so
``store.search(namespace, query=...)`` ranks memories by meaning.

Example:
    >>> import tempfile
    >>> from tools.memory import list_memories, put_memory
    >>> with open_store("memory", tempfile.gettempdir()) as store:
    ...     key = put_memory(store, "alice", "I bank at the Riverside branch.")
    ...     [m["text"] for m in list_memories(store, "alice")]
    ['I bank at the Riverside branch.']
"""

from __future__ import annotations

import functools
import importlib
import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

from langgraph.store.base import BaseStore

from tools.persistence import describe_target, one_line, parse_spec, pg_params

STORE_ENV = "AGENTIC_RAG_STORE"
SPEC_FORMS = (
    "'sqlite' (default: <data_dir>/memory.sqlite), 'sqlite:PATH', 'memory', "
    "or 'postgresql://USER:PASSWORD@HOST:PORT/DB'"
)
SQLITE_MODULES = ("sqlite3", "pysqlite3.dbapi2")


class StoreError(RuntimeError):
    """The store could not be opened (no SQLite extension support, unreachable Postgres)."""


def parse_store_spec(spec: str | None, data_dir: str) -> tuple[str, str]:
    """Resolve a store spec to ``(kind, target)``; ``kind`` is sqlite, memory or postgres.

    Args:
        spec: A store spec (see the module docstring); None reads ``AGENTIC_RAG_STORE``.
        data_dir: Directory of the default SQLite file.

    Raises:
        ValueError: ``spec`` is not one of the valid forms.

    Example:
        >>> parse_store_spec("sqlite", "/data")
        ('sqlite', '/data/memory.sqlite')
        >>> parse_store_spec("memory", "/data")
        ('memory', '')
    """
    if spec is None:
        spec = os.environ.get(STORE_ENV, "")
    return parse_spec(spec, "memory.sqlite", data_dir, "store", SPEC_FORMS)


def describe_store(spec: str | None, data_dir: str) -> str:
    """A printable name of the store a spec opens, with any password left out.

    Example:
        >>> describe_store("postgresql://bob:secret@db.internal:5432/app", "/data")
        'postgresql://bob@db.internal:5432/app'
    """
    kind, target = parse_store_spec(spec, data_dir)
    params = None
    if kind == "postgres":
        try:
            params = pg_params(target, "store", SPEC_FORMS)
        except (ValueError, ImportError):
            params = None
    return describe_target(kind, target, params)


@functools.cache
def sqlite_module(candidates: tuple[str, ...] = SQLITE_MODULES) -> ModuleType:
    """The first DB-API SQLite module in ``candidates`` that can load sqlite-vec.

    The standard ``sqlite3`` is preferred; some Python builds cannot load extensions, and
    then ``pysqlite3`` (from ``pysqlite3-binary``) is used.

    Raises:
        StoreError: None of them can load SQLite extensions.
    """
    import sqlite_vec

    for name in candidates:
        try:
            module = importlib.import_module(name)
            conn = module.connect(":memory:")
            try:
                conn.enable_load_extension(True)
                sqlite_vec.load(conn)
            finally:
                conn.close()
        except Exception:  # ImportError, AttributeError, or the module's own OperationalError
            continue
        return module
    raise StoreError(
        "this Python's SQLite cannot load extensions, which memory search needs: "
        f"pip install pysqlite3-binary, or set {STORE_ENV}=postgresql://... (or 'memory')"
    )


@contextmanager
def open_store(spec: str | None, data_dir: str) -> Iterator[BaseStore]:
    """Open the memory store named by ``spec`` and close it when the block ends.

    Args:
        spec: A store spec (see the module docstring); None reads ``AGENTIC_RAG_STORE``.
        data_dir: Directory of the default SQLite file (created when missing).

    Yields:
        A set-up `BaseStore` with the memory semantic index.

    Raises:
        ValueError: ``spec`` is not a valid store spec.
        StoreError: The store cannot be opened; the message is one line without secrets.
    """
    from tools.memory import memory_index

    kind, target = parse_store_spec(spec, data_dir)
    if kind == "memory":
        from langgraph.store.memory import InMemoryStore

        yield InMemoryStore(index=memory_index())
    elif kind == "sqlite":
        # SqliteStore reads "text_fields", not "fields" (langchain-ai/langgraph#8808): without
        # it each memory's whole JSON, dates included, is embedded (3x slower, noisier).
        with _open_sqlite(target, {**memory_index(), "text_fields": ["text"]}) as store:
            yield store
    else:
        # Exact search: pgvector's HNSW filters by user AFTER its approximate top-40, so a
        # user holding a small share of all memories got fewer than k (measured: 1 of 4).
        index = {**memory_index(), "ann_index_config": {"kind": "flat"}}
        with _open_postgres(target, index) as store:
            yield store


@contextmanager
def _open_sqlite(path: str, index: dict[str, Any]) -> Iterator[BaseStore]:
    from langgraph.store.sqlite import SqliteStore

    module = sqlite_module()
    conn = None
    try:
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        conn = module.connect(path, check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        store = SqliteStore(conn, index=index)
        store.setup()
    except (OSError, module.Error) as exc:
        if conn is not None:
            conn.close()
        raise StoreError(f"cannot open memory store {path}: {one_line(exc)}") from None
    try:
        yield store
    finally:
        conn.close()


@contextmanager
def _open_postgres(url: str, index: dict[str, Any]) -> Iterator[BaseStore]:
    try:
        from langgraph.store.postgres import PostgresStore
        from psycopg import Error
        from psycopg.conninfo import make_conninfo
    except ImportError:
        raise StoreError("a postgres store needs: pip install 'agentic-rag[postgres]'") from None
    params = pg_params(url, "store", SPEC_FORMS)
    name = describe_store(url, "")
    with ExitStack() as stack:
        try:
            store = stack.enter_context(
                PostgresStore.from_conn_string(make_conninfo(**params), index=index)
            )
            store.setup()
        except Error as exc:
            reason = one_line(exc, secret=params.get("password", ""))
            raise StoreError(f"cannot open postgres store {name}: {reason}") from None
        yield store
