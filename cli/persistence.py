"""The embedded default persistence: a SQLite checkpointer under the data directory."""

from __future__ import annotations

import sqlite3
from contextlib import contextmanager
from pathlib import Path

from langgraph.checkpoint.sqlite import SqliteSaver


@contextmanager
def sqlite_checkpointer(data_dir: str):
    """A `SqliteSaver` on ``<data_dir>/checkpoints.sqlite`` (WAL, synchronous=NORMAL)."""
    path = Path(data_dir).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path / "checkpoints.sqlite", check_same_thread=False)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        yield SqliteSaver(conn)
    finally:
        conn.close()
