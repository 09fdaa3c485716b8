"""Open the thread checkpointer: one setting, one opener for the CLI, Python and async code.

A *checkpointer spec* picks the backend; ``open_checkpointer(None, ...)`` reads it from the
environment variable ``AGENTIC_RAG_CHECKPOINTER`` and falls back to the embedded SQLite file:

- ``""`` or ``"sqlite"``: ``<data_dir>/checkpoints.sqlite`` (the default);
- ``"sqlite:PATH"``: a SQLite file at ``PATH``;
- ``"memory"``: an in-process ``InMemorySaver`` (threads are gone when the process exits);
- ``"postgresql://USER:PASSWORD@HOST:PORT/DB"`` (or ``postgres://``): a ``PostgresSaver``
  (``pip install 'agentic-rag[postgres]'``); its tables are created on first use.

SQLite files are opened with ``journal_mode=WAL`` and ``synchronous=NORMAL``: a checkpoint is
written at every step, and the default ``FULL`` fsyncs each one (~50 ms instead of ~8 ms per
invoke of a small graph). A crash can lose the last steps, never corrupt the file.

`open_checkpointer` yields a saver for ``invoke``/``stream``; `aopen_checkpointer` yields one
for ``ainvoke``/``astream`` (the sync savers reject async calls, and vice versa).

Example:
    >>> import tempfile
    >>> from graphs import build_graph
    >>> with open_checkpointer("memory", tempfile.gettempdir()) as saver:
    ...     app = build_graph(checkpointer=saver)
    ...     type(saver).__name__
    'InMemorySaver'
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, ExitStack, asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver

from tools.persistence import describe_target, one_line, parse_spec, pg_params

CHECKPOINTER_ENV = "AGENTIC_RAG_CHECKPOINTER"
DEFAULT_FILE = "checkpoints.sqlite"
SPEC_FORMS = (
    f"'sqlite' (default: <data_dir>/{DEFAULT_FILE}), 'sqlite:PATH', 'memory', "
    "or 'postgresql://USER:PASSWORD@HOST:PORT/DB'"
)
_PRAGMAS = ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL")
_PG_EXTRA = "a postgres checkpointer needs: pip install 'agentic-rag[postgres]'"


logging.getLogger("psycopg.pool").addHandler(logging.NullHandler())


class CheckpointerError(RuntimeError):
    """The checkpointer could not be opened (unwritable file, unreachable Postgres)."""


def parse_checkpointer_spec(spec: str | None, data_dir: str) -> tuple[str, str]:
    """Resolve a checkpointer spec to ``(kind, target)``; ``kind`` is sqlite, memory or postgres.

    Args:
        spec: A checkpointer spec (see the module docstring); None reads
            ``AGENTIC_RAG_CHECKPOINTER``.
        data_dir: Directory of the default SQLite file.

    Raises:
        ValueError: ``spec`` is not one of the valid forms.

    Example:
        >>> parse_checkpointer_spec("sqlite", "/data")
        ('sqlite', '/data/checkpoints.sqlite')
        >>> parse_checkpointer_spec("sqlite:/tmp/t.db", "/data")
        ('sqlite', '/tmp/t.db')
        >>> parse_checkpointer_spec("memory", "/data")
        ('memory', '')
    """
    if spec is None:
        spec = os.environ.get(CHECKPOINTER_ENV, "")
    return parse_spec(spec, DEFAULT_FILE, data_dir, "checkpointer", SPEC_FORMS)


def describe_checkpointer(spec: str | None, data_dir: str) -> str:
    """A printable name of the checkpointer a spec opens, with any password left out.

    Example:
        >>> describe_checkpointer("postgresql://bob:secret@db.internal:5432/app", "/data")
        'postgresql://bob@db.internal:5432/app'
        >>> describe_checkpointer("sqlite", "/data")
        'sqlite:/data/checkpoints.sqlite'
    """
    kind, target = parse_checkpointer_spec(spec, data_dir)
    params = None
    if kind == "postgres":
        try:
            params = _pg_params(target)
        except (ValueError, CheckpointerError):
            params = None
    return describe_target(kind, target, params)


@contextmanager
def open_checkpointer(spec: str | None, data_dir: str) -> Iterator[BaseCheckpointSaver]:
    """Open the checkpointer named by ``spec`` for sync use and close it when the block ends.

    Args:
        spec: A checkpointer spec (see the module docstring); None reads
            ``AGENTIC_RAG_CHECKPOINTER``.
        data_dir: Directory of the default SQLite file (created when missing).

    Yields:
        A set-up ``InMemorySaver``, ``SqliteSaver`` or ``PostgresSaver``.

    Raises:
        ValueError: ``spec`` is not a valid checkpointer spec.
        CheckpointerError: It cannot be opened; the message is one line without secrets.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as data_dir:
        ...     with open_checkpointer("sqlite", data_dir) as saver:
        ...         mode = saver.conn.execute("PRAGMA journal_mode").fetchone()[0]
        ...         print(type(saver).__name__, mode)
        SqliteSaver wal
    """
    kind, target = parse_checkpointer_spec(spec, data_dir)
    if kind == "memory":
        from langgraph.checkpoint.memory import InMemorySaver

        yield InMemorySaver()
    elif kind == "sqlite":
        with _open_sqlite(target) as saver:
            yield saver
    else:
        with _open_postgres(target) as saver:
            yield saver


@asynccontextmanager
async def aopen_checkpointer(spec: str | None, data_dir: str) -> AsyncIterator[BaseCheckpointSaver]:
    """Open the checkpointer named by ``spec`` for async use (``ainvoke``, ``astream``).

    Args:
        spec: A checkpointer spec (see the module docstring); None reads
            ``AGENTIC_RAG_CHECKPOINTER``.
        data_dir: Directory of the default SQLite file (created when missing).

    Yields:
        A set-up ``InMemorySaver``, ``AsyncSqliteSaver`` or ``AsyncPostgresSaver``.

    Raises:
        ValueError: ``spec`` is not a valid checkpointer spec.
        CheckpointerError: It cannot be opened; the message is one line without secrets.

    Example:
        >>> import asyncio, tempfile
        >>> async def main(data_dir):
        ...     async with aopen_checkpointer("sqlite", data_dir) as saver:
        ...         return type(saver).__name__
        >>> with tempfile.TemporaryDirectory() as data_dir:
        ...     asyncio.run(main(data_dir))
        'AsyncSqliteSaver'
    """
    kind, target = parse_checkpointer_spec(spec, data_dir)
    if kind == "memory":
        from langgraph.checkpoint.memory import InMemorySaver

        yield InMemorySaver()
    elif kind == "sqlite":
        async with _aopen_sqlite(target) as saver:
            yield saver
    else:
        async with _aopen_postgres(target) as saver:
            yield saver


def _sqlite_failure(path: str, exc: BaseException) -> CheckpointerError:
    return CheckpointerError(f"cannot open checkpointer sqlite:{path}: {one_line(exc)}")


def _make_parent(path: str) -> None:
    if path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)


@contextmanager
def _open_sqlite(path: str) -> Iterator[BaseCheckpointSaver]:
    from langgraph.checkpoint.sqlite import SqliteSaver

    conn = None
    try:
        _make_parent(path)
        conn = sqlite3.connect(path, check_same_thread=False)
        for pragma in _PRAGMAS:
            conn.execute(pragma)
        saver = SqliteSaver(conn)
        saver.setup()
    except (OSError, sqlite3.Error) as exc:
        if conn is not None:
            conn.close()
        raise _sqlite_failure(path, exc) from None
    try:
        yield saver
    finally:
        conn.close()


@asynccontextmanager
async def _aopen_sqlite(path: str) -> AsyncIterator[BaseCheckpointSaver]:
    import aiosqlite
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    async with AsyncExitStack() as stack:
        try:
            _make_parent(path)
            conn = await stack.enter_async_context(aiosqlite.connect(path))
            for pragma in _PRAGMAS:
                await conn.execute(pragma)
            saver = AsyncSqliteSaver(conn)
            await saver.setup()
        except (OSError, sqlite3.Error) as exc:
            raise _sqlite_failure(path, exc) from None
        yield saver


def _pg_params(url: str) -> dict[str, str]:
    try:
        return pg_params(url, "checkpointer", SPEC_FORMS)
    except ImportError:
        raise CheckpointerError(_PG_EXTRA) from None


def _pg_failure(url: str, params: dict[str, str], exc: BaseException) -> CheckpointerError:
    reason = one_line(exc, secret=params.get("password", ""))
    name = describe_checkpointer(url, "")
    return CheckpointerError(f"cannot open postgres checkpointer {name}: {reason}")


class _LostConnection(CheckpointerError):
    """The connection broke under a query; the pool replaces it, so one retry may succeed."""


_RETRIED = ("put", "put_writes", "get_tuple")


def _guarded(base: type, name: str, secret: str) -> type:
    """``base`` (a Postgres saver class) whose database errors are `CheckpointerError`s.

    Every query of the savers goes through their ``_cursor`` context manager; a psycopg
    error or a pool timeout there (the server went away mid-run and did not come back within
    the connect timeout) becomes one line naming the checkpointer, without the password.
    A write or read whose connection broke under it (a restart, a failover, a killed backend)
    is tried once more on a fresh connection: checkpoint writes are idempotent upserts.
    """
    from psycopg import Error, OperationalError
    from psycopg_pool import PoolTimeout

    def failure(exc: BaseException) -> CheckpointerError:
        kind = _LostConnection if isinstance(exc, OperationalError) else CheckpointerError
        return kind(f"postgres checkpointer {name} failed: {one_line(exc, secret=secret)[:300]}")

    def retried_sync(method: str) -> Any:
        def call(self: Any, *args: Any, **kwargs: Any) -> Any:
            parent = getattr(super(guarded, self), method)
            try:
                return parent(*args, **kwargs)
            except _LostConnection:
                return parent(*args, **kwargs)

        return call

    def retried_async(method: str) -> Any:
        async def call(self: Any, *args: Any, **kwargs: Any) -> Any:
            parent = getattr(super(guarded, self), method)
            try:
                return await parent(*args, **kwargs)
            except _LostConnection:
                return await parent(*args, **kwargs)

        return call

    if base.__name__.startswith("Async"):

        class AsyncGuarded(base):
            @asynccontextmanager
            async def _cursor(self, *, pipeline: bool = False):
                try:
                    async with super()._cursor(pipeline=pipeline) as cur:
                        yield cur
                except (Error, PoolTimeout) as exc:
                    raise failure(exc) from None

        guarded: type = AsyncGuarded
        for method in _RETRIED:
            setattr(guarded, f"a{method}", retried_async(f"a{method}"))
        return guarded

    class Guarded(base):
        @contextmanager
        def _cursor(self, *, pipeline: bool = False):
            try:
                with super()._cursor(pipeline=pipeline) as cur:
                    yield cur
            except (Error, PoolTimeout) as exc:
                raise failure(exc) from None

    guarded = Guarded
    for method in _RETRIED:
        setattr(guarded, method, retried_sync(method))
    return guarded


_CONN_KWARGS = {"autocommit": True, "prepare_threshold": 0}


def _fail_fast(base: type) -> type:
    """``base`` (a psycopg pool class) that, once a wait for a connection timed out, fails
    at once for the next ``timeout`` seconds, so the writes a run has queued do not each
    wait for a server that is down."""
    from psycopg_pool import PoolTimeout

    def recent(pool: Any) -> None:
        failed = getattr(pool, "_failed", None)
        if failed is not None and time.monotonic() - failed[0] < pool.timeout:
            raise PoolTimeout(failed[1])

    def failed(pool: Any, exc: BaseException) -> None:
        pool._failed = (time.monotonic(), str(exc))

    if base.__name__.startswith("Async"):

        class AsyncFailFast(base):
            async def getconn(self, timeout: float | None = None) -> Any:
                recent(self)
                try:
                    conn = await super().getconn(timeout)
                except PoolTimeout as exc:
                    failed(self, exc)
                    raise
                self._failed = None
                return conn

        return AsyncFailFast

    class FailFast(base):
        def getconn(self, timeout: float | None = None) -> Any:
            recent(self)
            try:
                conn = super().getconn(timeout)
            except PoolTimeout as exc:
                failed(self, exc)
                raise
            self._failed = None
            return conn

    return FailFast


@contextmanager
def _open_postgres(url: str) -> Iterator[BaseCheckpointSaver]:
    """A `PostgresSaver` on a one-connection pool that reconnects.

    The pool checks its connection before each use, so a connection the server dropped
    (a restart, a failover, an idle timeout) is replaced and the run goes on; a server still
    down after the connect timeout fails the run with a `CheckpointerError`. A first direct
    connection gives a clear message when the server cannot be reached at all.
    """
    params = _pg_params(url)
    try:
        from langgraph.checkpoint.postgres import PostgresSaver
        from psycopg import Connection, Error
        from psycopg.conninfo import make_conninfo
        from psycopg_pool import ConnectionPool, PoolTimeout
    except ImportError:
        raise CheckpointerError(_PG_EXTRA) from None
    conninfo = make_conninfo(**params)
    timeout = float(params["connect_timeout"])
    name, secret = describe_checkpointer(url, ""), params.get("password", "")
    saver_class = _guarded(PostgresSaver, name, secret)
    with ExitStack() as stack:
        try:
            Connection.connect(conninfo).close()
            pool = _fail_fast(ConnectionPool)(conninfo, **_pool_options(ConnectionPool, timeout))
            stack.callback(pool.close)
            pool.open(wait=True, timeout=timeout)
            saver = saver_class(pool)
        except (Error, PoolTimeout) as exc:
            raise _pg_failure(url, params, exc) from None
        saver.setup()
        yield saver


def _pool_options(pool_class: type, timeout: float) -> dict[str, Any]:
    """One connection, checked before each use, dict rows (what the Postgres savers expect)."""
    from psycopg.rows import dict_row

    return {
        "min_size": 1,
        "max_size": 1,
        "kwargs": {**_CONN_KWARGS, "row_factory": dict_row},
        "check": pool_class.check_connection,
        "timeout": timeout,
        "open": False,
    }


@asynccontextmanager
async def _aopen_postgres(url: str) -> AsyncIterator[BaseCheckpointSaver]:
    """An `AsyncPostgresSaver` on a one-connection pool that reconnects (see `_open_postgres`)."""
    params = _pg_params(url)
    try:
        from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
        from psycopg import AsyncConnection, Error
        from psycopg.conninfo import make_conninfo
        from psycopg_pool import AsyncConnectionPool, PoolTimeout
    except ImportError:
        raise CheckpointerError(_PG_EXTRA) from None
    conninfo = make_conninfo(**params)
    timeout = float(params["connect_timeout"])
    name, secret = describe_checkpointer(url, ""), params.get("password", "")
    saver_class = _guarded(AsyncPostgresSaver, name, secret)
    async with AsyncExitStack() as stack:
        try:
            await (await AsyncConnection.connect(conninfo)).close()
            options = _pool_options(AsyncConnectionPool, timeout)
            pool = _fail_fast(AsyncConnectionPool)(conninfo, **options)
            stack.push_async_callback(pool.close)
            await pool.open(wait=True, timeout=timeout)
            saver = saver_class(pool)
        except (Error, PoolTimeout) as exc:
            raise _pg_failure(url, params, exc) from None
        await saver.setup()
        yield saver
