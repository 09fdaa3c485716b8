"""`tools.stores.open_store` and the memory helpers on real stores: in-memory, SQLite, Postgres."""

from __future__ import annotations

import sqlite3

import pytest
from langgraph.store.memory import InMemoryStore

from state.context import Context
from tools.memory import (
    MemoryRetriever,
    clear_memories,
    delete_memory,
    list_memories,
    memory_namespace,
    put_memory,
)
from tools.stores import (
    StoreError,
    describe_store,
    open_store,
    parse_store_spec,
    sqlite_module,
)

BACKENDS = ["memory", "sqlite", "postgres"]
QUERY = "Which branch is my checking account at?"


def _spec(request, tmp_path) -> str:
    if request.param == "postgres":
        return request.getfixturevalue("postgres_url")  # a fresh database
    if request.param == "sqlite":
        return f"sqlite:{tmp_path / 'memories.sqlite'}"
    return "memory"


@pytest.fixture(params=BACKENDS)
def spec(request, tmp_path) -> str:
    """A store spec for each backend."""
    return _spec(request, tmp_path)


@pytest.fixture(params=[b for b in BACKENDS if b != "memory"])
def durable_spec(request, tmp_path) -> str:
    """A store spec for each backend that outlives its process."""
    return _spec(request, tmp_path)


def _search(store, user: str, query: str = QUERY, k: int = 10) -> list[dict]:
    return MemoryRetriever().retrieve(query, Context(user_id=user), k=k, store=store)


def test_put_list_delete_and_dedupe(spec, tmp_path):
    with open_store(spec, str(tmp_path)) as store:
        first = put_memory(store, "alice", "I prefer  answers with bullet points.")
        second = put_memory(store, "alice", "My checking account is at the Hillcrest branch.")
        assert put_memory(store, "alice", "i prefer answers with bullet points. ") == first
        memories = list_memories(store, "alice")
        assert [m["key"] for m in memories] == [first, second]
        assert memories[0]["text"] == "i prefer answers with bullet points."  # latest wording
        assert memories[0]["created_at"] <= memories[1]["created_at"]
        assert delete_memory(store, "alice", first) is True
        assert delete_memory(store, "alice", first) is False
        assert [m["key"] for m in list_memories(store, "alice")] == [second]
        assert clear_memories(store, "alice") == 1
        assert list_memories(store, "alice") == []
        assert clear_memories(store, "alice") == 0


def test_search_returns_the_users_relevant_memory_first(spec, tmp_path):
    with open_store(spec, str(tmp_path)) as store:
        put_memory(store, "alice", "I have two cats called Miso and Tofu.")
        target = put_memory(store, "alice", "My checking account is at the Hillcrest branch.")
        put_memory(store, "alice", "I prefer answers with bullet points.")
        # bob's memory matches the query even better: it must still never reach alice
        put_memory(store, "bob", "My checking account is at the Riverside branch.")
        docs = _search(store, "alice")
        assert [d["id"] for d in docs][:1] == [target]
        assert len(docs) == 3
        assert all(d["location"].startswith("memory://alice/") for d in docs)
        assert docs[0]["score"] > docs[-1]["score"]
        assert "Riverside" in _search(store, "bob")[0]["content"]


USERS = ["alice", "Alice", "alice.x", "ali", "a_b", "axb", "a%b", "a%25b", "al.i.ce", "ünï"]


def test_one_users_memories_are_never_visible_to_another(spec, tmp_path):
    with open_store(spec, str(tmp_path)) as store:
        texts = {u: f"My checking account number is {u}-{i:03d}." for i, u in enumerate(USERS)}
        keys = {u: put_memory(store, u, texts[u]) for u in USERS}
        for user in USERS:
            mine = [(user, keys[user])]
            assert [(user, m["key"]) for m in list_memories(store, user)] == mine
            docs = _search(store, user)
            assert [d["location"] for d in docs] == [f"memory://{user}/{keys[user]}"]
            raw = store.search(memory_namespace(user), query=QUERY, limit=50)
            assert {tuple(item.namespace) for item in raw} == {memory_namespace(user)}
        assert store.get(memory_namespace("bob"), keys["alice"]) is None
        assert delete_memory(store, "Alice", keys["alice"]) is False
        assert clear_memories(store, "ali") == 1
        assert clear_memories(store, "a%b") == 1
        assert all(list_memories(store, u) for u in USERS if u not in ("ali", "a%b"))
        assert _search(store, "nobody") == []


def test_memories_persist_across_close_and_reopen(durable_spec, tmp_path):
    with open_store(durable_spec, str(tmp_path)) as store:
        key = put_memory(store, "alice", "My checking account is at the Hillcrest branch.")
        put_memory(store, "bob", "I have a savings account with a $500 balance.")
    with open_store(durable_spec, str(tmp_path)) as store:
        assert [m["key"] for m in list_memories(store, "alice")] == [key]
        assert [d["id"] for d in _search(store, "alice")] == [key]
        assert delete_memory(store, "alice", key) is True
    with open_store(durable_spec, str(tmp_path)) as store:
        assert list_memories(store, "alice") == []
        assert len(list_memories(store, "bob")) == 1


def test_only_the_memory_text_is_embedded(durable_spec, tmp_path):
    with open_store(durable_spec, str(tmp_path)) as store:
        put_memory(store, "alice", "I prefer short answers.")
        with store._cursor() as cur:  # the store's own connection, SQLite or Postgres
            cur.execute("SELECT DISTINCT field_name FROM store_vectors")
            names = [row[0] if isinstance(row, tuple) else row["field_name"] for row in cur]
    assert names == ["text"]  # not "$", the whole JSON value with its timestamp


def test_default_store_is_sqlite_under_the_data_dir_in_wal_mode(tmp_path, monkeypatch):
    monkeypatch.delenv("AGENTIC_RAG_STORE", raising=False)
    data_dir = tmp_path / "new" / "data"
    with open_store(None, str(data_dir)) as store:
        put_memory(store, "alice", "I prefer short answers.")
        assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert store.conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
        conn = store.conn
    assert (data_dir / "memory.sqlite").is_file()
    with pytest.raises(Exception, match="closed"):
        conn.execute("SELECT 1")
    with open_store("", str(data_dir)) as store, open_store("sqlite", str(data_dir)) as same:
        assert len(list_memories(store, "alice")) == len(list_memories(same, "alice")) == 1


def test_spec_comes_from_the_environment_when_not_given(tmp_path, monkeypatch):
    monkeypatch.setenv("AGENTIC_RAG_STORE", "memory")
    with open_store(None, str(tmp_path)) as store:
        assert isinstance(store, InMemoryStore)
        put_memory(store, "alice", "I prefer short answers.")
        assert [d["content"] for d in _search(store, "alice", "answer style")] == [
            "I prefer short answers."
        ]
    assert parse_store_spec(None, "/d") == ("memory", "")
    with open_store("", str(tmp_path)) as store:  # an explicit spec wins over the variable
        assert not isinstance(store, InMemoryStore)
    assert (tmp_path / "memory.sqlite").is_file()


def test_postgres_store_searches_exactly_without_an_hnsw_index(postgres_url, tmp_path):
    import psycopg
    from langgraph.store.postgres import PostgresStore

    with open_store(postgres_url, str(tmp_path)) as store:
        assert isinstance(store, PostgresStore)
    with psycopg.connect(postgres_url) as conn:
        rows = conn.execute("SELECT indexdef FROM pg_indexes WHERE tablename = 'store_vectors'")
        assert not [d for (d,) in rows if "hnsw" in d.lower() or "ivfflat" in d.lower()]
    assert store.conn.closed


@pytest.mark.parametrize(
    "bad",
    ["redis://localhost:6379", "sqlite:", "sqlite: ", "mem", "postgres", "sqlite3", "chroma"],
)
def test_bad_specs_are_rejected_listing_the_valid_forms(bad, tmp_path):
    with pytest.raises(ValueError, match="invalid store spec") as info:
        parse_store_spec(bad, str(tmp_path))
    assert "sqlite:PATH" in str(info.value) and "postgresql://" in str(info.value)
    with pytest.raises(ValueError, match="invalid store spec"), open_store(bad, str(tmp_path)):
        pass


def test_a_malformed_postgres_url_does_not_echo_the_password():
    bad = "postgresql://bob:s3cret@[broken"
    with pytest.raises(ValueError, match="invalid postgres URL") as info, open_store(bad, "/d"):
        pass
    assert "s3cret" not in str(info.value)


def test_an_unreachable_postgres_is_one_line_without_the_password(tmp_path):
    spec = "postgresql://bob:s3cret@127.0.0.1:1/app?connect_timeout=3"
    with pytest.raises(StoreError) as info, open_store(spec, str(tmp_path)):
        pass
    message = str(info.value)
    assert message.startswith("cannot open postgres store postgresql://bob@127.0.0.1:1/app:")
    assert "s3cret" not in message and "\n" not in message
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_describe_store_names_the_backend_without_secrets():
    assert describe_store("sqlite:/x/m.db", "/d") == "sqlite:/x/m.db"
    assert describe_store(None, "/d").startswith(("sqlite:", "memory", "postgresql://"))
    assert describe_store("memory", "/d") == "memory"
    assert describe_store("postgres://u:pw@h/db", "/d") == "postgresql://u@h/db"


def _loads_extensions(module) -> bool:
    import sqlite_vec

    conn = module.connect(":memory:")
    try:
        conn.enable_load_extension(True)
        sqlite_vec.load(conn)
        return True
    except Exception:
        return False
    finally:
        conn.close()


def test_sqlite_prefers_the_stdlib_and_falls_back_to_pysqlite3():
    pysqlite3 = pytest.importorskip("pysqlite3.dbapi2")
    stdlib_ok = _loads_extensions(sqlite3)
    assert sqlite_module() is (sqlite3 if stdlib_ok else pysqlite3)
    assert sqlite_module(("no_such_sqlite", "pysqlite3.dbapi2")) is pysqlite3
    if not stdlib_ok:  # this Python's own sqlite3 cannot load extensions: the fallback is needed
        assert sqlite_module(("sqlite3", "pysqlite3.dbapi2")) is pysqlite3
        with pytest.raises(StoreError, match="pip install pysqlite3-binary"):
            sqlite_module(("sqlite3",))


def test_sqlite_without_extension_support_says_how_to_fix_it():
    with pytest.raises(StoreError) as info:
        sqlite_module(("no_such_sqlite",))
    message = str(info.value)
    assert "pip install pysqlite3-binary" in message and "AGENTIC_RAG_STORE=postgres" in message
    assert "\n" not in message


def test_an_unusable_sqlite_file_is_a_one_line_store_error(tmp_path):
    not_a_db = tmp_path / "notes.txt"
    not_a_db.write_text("hello, I am not a database\n" * 100)
    for path in (not_a_db, not_a_db / "below-a-file.sqlite"):
        opened = open_store(f"sqlite:{path}", str(tmp_path))
        with pytest.raises(StoreError, match="^cannot open memory store") as info, opened:
            pass
        assert "\n" not in str(info.value)
