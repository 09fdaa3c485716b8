"""Suite-wide guards (loopback-only network, no tracing, an isolated data directory) and the
shared fixtures: the banking knowledge base and the session's PostgreSQL."""

from __future__ import annotations

import os

import pytest

from tests.postgres import fresh_database, postgres_server

os.environ["LANGSMITH_TRACING"] = "false"
os.environ.pop("LANGCHAIN_TRACING_V2", None)
for _key in ("OPENAI_API_KEY", "TAVILY_API_KEY", "ANTHROPIC_API_KEY"):
    os.environ.pop(_key, None)
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ["ANONYMIZED_TELEMETRY"] = "False"


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    """A fresh data directory for indexes and checkpoints."""
    path = tmp_path / "data"
    path.mkdir()
    monkeypatch.setenv("AGENTIC_RAG_DATA_DIR", str(path))
    return path


@pytest.fixture(scope="session")
def banking_kb(tmp_path_factory):
    """A real index (Chroma + BM25) of the first 40 tau2-bench banking documents."""
    from tools.demo_corpus import export_banking_corpus
    from tools.ingest import ingest_paths

    root = tmp_path_factory.mktemp("banking")
    corpus = root / "corpus"
    export_banking_corpus(corpus, limit=40)
    report = ingest_paths([corpus], data_dir=str(root / "data"), kb="default")
    assert report.ok and report.chunks_added > 0
    return str(root / "data")


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory):
    """The session's throwaway PostgreSQL (`tests.postgres`), started on first use."""
    yield from postgres_server(tmp_path_factory)


@pytest.fixture
def postgres_url(pg_server):
    """A fresh, empty Postgres database on the session's server."""
    with fresh_database(pg_server) as url:
        yield url
