"""`tools.checkpointers`: the spec, the openers, and time travel on every real saver.

`opened` and `Driver` run one graph on one saver through the sync API (``invoke``) or the
async one (``ainvoke`` on the async saver); `tests/test_threads.py` uses them too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import AsyncExitStack, contextmanager
from typing import Any

import pytest
from langchain_core.messages import HumanMessage

from graphs import build_graph
from state.context import Context
from tools.checkpointers import (
    CHECKPOINTER_ENV,
    CheckpointerError,
    aopen_checkpointer,
    describe_checkpointer,
    open_checkpointer,
    parse_checkpointer_spec,
)

BACKENDS = ["memory", "sqlite", "postgres"]
MODES = ["sync", "async"]
OPEN_Q = "How do I open a personal checking account?"
FOLLOW_UP = "and what about closing it?"
FEE_Q = "What is the early closure fee for a Bronze savings account?"
UNREACHABLE = "postgresql://bob:s3cr3t-pw@127.0.0.1:1/app?connect_timeout=3"


@pytest.fixture(autouse=True)
def _no_checkpointer_env(monkeypatch):
    monkeypatch.delenv(CHECKPOINTER_ENV, raising=False)


def backend_spec(request: pytest.FixtureRequest, backend: str, tmp_path) -> str:
    """The spec of a fresh checkpointer of ``backend`` (Postgres starts on first use)."""
    if backend == "postgres":
        return request.getfixturevalue("postgres_url")
    return "memory" if backend == "memory" else f"sqlite:{tmp_path / 'threads.sqlite'}"


class Driver:
    """One compiled graph on one saver, driven through the sync or the async graph API."""

    def __init__(self, saver: Any, run: Any = None) -> None:
        self.saver, self.app, self._run = saver, build_graph(checkpointer=saver), run

    def _call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        if self._run is None:
            return getattr(self.app, name)(*args, **kwargs)
        return self._run(getattr(self.app, f"a{name}")(*args, **kwargs))

    def invoke(self, inputs: Any, config: dict, ctx: Context) -> dict[str, Any]:
        return self._call("invoke", inputs, config, context=ctx)

    def turn(self, question: str, thread: str, ctx: Context) -> dict[str, Any]:
        """Ask ``question`` in ``thread``; the thread's state values afterwards."""
        self.invoke({"messages": [("user", question)]}, config(thread), ctx)
        return self.state(config(thread)).values

    def state(self, cfg: dict) -> Any:
        return self._call("get_state", cfg)

    def history(self, cfg: dict) -> list[Any]:
        if self._run is None:
            return list(self.app.get_state_history(cfg))
        return self._run(_collect(self.app.aget_state_history(cfg)))

    def update(self, cfg: dict, values: dict[str, Any]) -> dict:
        return self._call("update_state", cfg, values)


async def _collect(items: Any) -> list[Any]:
    return [item async for item in items]


def config(thread: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread}}


@contextmanager
def opened(spec: str, data_dir: str, mode: str) -> Iterator[Driver]:
    """A `Driver` on ``open_checkpointer`` (sync) or ``aopen_checkpointer`` (async)."""
    if mode == "sync":
        with open_checkpointer(spec, data_dir) as saver:
            yield Driver(saver)
        return
    loop = asyncio.new_event_loop()  # one loop for the saver's whole life
    stack = AsyncExitStack()
    try:
        saver = loop.run_until_complete(
            stack.enter_async_context(aopen_checkpointer(spec, data_dir))
        )
        yield Driver(saver, loop.run_until_complete)
    finally:
        loop.run_until_complete(stack.aclose())
        loop.close()


def _lineage(history: list[Any], head: str, fork_point: str) -> tuple[list[str], list[str]]:
    """The ids from ``head`` back to the root, split at ``fork_point`` (newer, rest)."""
    parents = {_id(s): s.parent_config and _id(s.parent_config) for s in history}
    chain = [head]
    while parents[chain[-1]]:
        chain.append(parents[chain[-1]])
    split = chain.index(fork_point)
    return chain[:split], chain[split:]


def _id(snapshot_or_config: Any) -> str:
    cfg = getattr(snapshot_or_config, "config", snapshot_or_config)
    return cfg["configurable"]["checkpoint_id"]


# --- the spec and the openers -------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (None, ("sqlite", "/d/checkpoints.sqlite")),
        ("", ("sqlite", "/d/checkpoints.sqlite")),
        (" SQLite ", ("sqlite", "/d/checkpoints.sqlite")),
        ("sqlite:/x/t.db", ("sqlite", "/x/t.db")),
        ("sqlite::memory:", ("sqlite", ":memory:")),
        ("Memory", ("memory", "")),
        ("postgres://u:p@h/db", ("postgres", "postgres://u:p@h/db")),
        ("postgresql://u@h:5433/db", ("postgres", "postgresql://u@h:5433/db")),
    ],
)
def test_spec_forms(spec, expected):
    assert parse_checkpointer_spec(spec, "/d") == expected


def test_the_variable_is_read_when_no_spec_is_given(monkeypatch, tmp_path):
    monkeypatch.setenv(CHECKPOINTER_ENV, "memory")
    assert parse_checkpointer_spec(None, "/d") == ("memory", "")
    assert parse_checkpointer_spec("sqlite", "/d")[0] == "sqlite"  # an explicit spec wins
    with open_checkpointer(None, str(tmp_path)) as saver:
        assert type(saver).__name__ == "InMemorySaver"
    assert not (tmp_path / "checkpoints.sqlite").exists()


@pytest.mark.parametrize("spec", ["redis://u:s3cr3t-pw@h/0", "sqlite:", "mem", "postgresql://["])
def test_a_bad_spec_lists_the_valid_forms(spec):
    with pytest.raises(ValueError) as caught, open_checkpointer(spec, "/d"):
        pass
    message = str(caught.value)
    assert all(form in message for form in ("'sqlite'", "'sqlite:PATH'", "'memory'", "postgresql"))
    assert "s3cr3t" not in message and "\n" not in message


def test_unreachable_postgres_is_one_line_without_the_password():
    with pytest.raises(CheckpointerError) as sync_error, open_checkpointer(UNREACHABLE, "/d"):
        pass

    async def main():
        async with aopen_checkpointer(UNREACHABLE, "/d"):
            pass

    with pytest.raises(CheckpointerError) as async_error:
        asyncio.run(main())
    for caught in (sync_error, async_error):
        message = str(caught.value)
        assert message.startswith("cannot open postgres checkpointer postgresql://bob@127.0.0.1:1")
        assert "s3cr3t" not in message and "\n" not in message and "refused" in message
    assert describe_checkpointer(UNREACHABLE, "/d") == "postgresql://bob@127.0.0.1:1/app"


def test_sqlite_default_file_and_pragmas_sync_and_async(tmp_path):
    """Like the CLI's SqliteSaver: <data_dir>/checkpoints.sqlite, WAL, synchronous=NORMAL."""
    data_dir = tmp_path / "new" / "data"
    with open_checkpointer("sqlite", str(data_dir)) as saver:
        assert type(saver).__name__ == "SqliteSaver"
        pragmas = [
            saver.conn.execute(f"PRAGMA {p}").fetchone()[0] for p in ("journal_mode", "synchronous")
        ]
        assert pragmas == ["wal", 1]  # 1 = NORMAL
    assert (data_dir / "checkpoints.sqlite").is_file()

    async def main():
        async with aopen_checkpointer(None, str(data_dir)) as saver:
            rows = [
                await (await saver.conn.execute(f"PRAGMA {p}")).fetchone()
                for p in ("journal_mode", "synchronous")
            ]
            return type(saver).__name__, [r[0] for r in rows]

    assert asyncio.run(main()) == ("AsyncSqliteSaver", ["wal", 1])


def test_a_file_that_is_not_sqlite_is_one_clear_error(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("not a database " * 100)
    expected = "cannot open checkpointer sqlite:.*not a database"
    with (
        pytest.raises(CheckpointerError, match=expected),
        open_checkpointer(f"sqlite:{path}", str(tmp_path)),
    ):
        pass

    async def main():
        async with aopen_checkpointer(f"sqlite:{path}", str(tmp_path)):
            pass

    with pytest.raises(CheckpointerError, match=expected):
        asyncio.run(main())


def test_the_sync_sqlite_saver_survives_threads(tmp_path):
    """check_same_thread=False: nodes run in worker threads and write checkpoints."""
    from concurrent.futures import ThreadPoolExecutor

    path = tmp_path / "t.sqlite"
    with open_checkpointer(f"sqlite:{path}", str(tmp_path)) as saver, ThreadPoolExecutor(2) as pool:
        assert list(pool.map(lambda _: saver.get_tuple(config("x")), range(2))) == [None, None]


# --- threads on every backend, sync and async -----------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("backend", BACKENDS)
def test_time_travel_replay_and_fork(request, backend, mode, tmp_path, banking_kb):
    spec = backend_spec(request, backend, tmp_path)
    ctx = Context(data_dir=banking_kb)
    cfg = config("tt")
    with opened(spec, str(tmp_path), mode) as d:
        d.turn(OPEN_Q, "tt", ctx)
        d.turn(FOLLOW_UP, "tt", ctx)
        head = d.state(cfg)
        history = d.history(cfg)

        # the thread's checkpoints, newest first, each the parent of the one before
        ids = [_id(s) for s in history]
        assert ids[0] == _id(head) and len(set(ids)) == len(ids) > 20
        assert all(_id(s.parent_config) == ids[i + 1] for i, s in enumerate(history[:-1]))
        steps = [s.metadata["step"] for s in history]
        assert steps == list(range(steps[0], -2, -1))
        assert [s.metadata["source"] for s in history].count("input") == 2
        start2 = next(
            s
            for s in history
            if s.next == ("rewrite_query",) and s.values["messages"][-1].content == FOLLOW_UP
        )

        # replay: re-run the second turn from its first checkpoint
        d.invoke(None, start2.config, ctx)
        replayed = d.state(cfg)
        new_branch, old_branch = _lineage(d.history(cfg), _id(replayed), _id(start2))
        assert new_branch and not set(new_branch) & set(ids)  # new checkpoints only
        assert old_branch == ids[ids.index(_id(start2)) :]  # ... on top of the old ones
        assert replayed.values["answer"] == head.values["answer"]
        assert replayed.values["query"] == head.values["query"]
        assert [m.content for m in replayed.values["messages"][::2]] == [OPEN_Q, FOLLOW_UP]

        # fork: rewrite the second question in an old checkpoint, then continue from there
        follow_up = start2.values["messages"][-1]
        fork = d.update(start2.config, {"messages": [HumanMessage(FEE_Q, id=follow_up.id)]})
        forked_start = d.state(fork)
        assert forked_start.next == ("rewrite_query",)
        assert forked_start.metadata["source"] == "update"
        assert _id(forked_start.parent_config) == _id(start2)
        d.invoke(None, fork, ctx)
        forked = d.state(cfg)
        new_branch, _ = _lineage(d.history(cfg), _id(forked), _id(start2))
        assert new_branch[-1] == _id(fork) and not set(new_branch) & set(ids)
        assert forked.values["question"] == FEE_Q and "checking" not in forked.values["query"]
        assert [m.content for m in forked.values["messages"][::2]] == [OPEN_Q, FEE_Q]
        assert forked.values["answer"] != head.values["answer"]

        # the original branch is untouched and still readable
        original = d.state(head.config)
        assert original.values["messages"] == head.values["messages"]
        assert original.values["answer"] == head.values["answer"]
        assert set(ids) <= {_id(s) for s in d.history(cfg)}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_threads_survive_reopening(request, backend, mode, tmp_path, banking_kb):
    spec = backend_spec(request, backend, tmp_path)
    ctx = Context(data_dir=banking_kb)
    with opened(spec, str(tmp_path), mode) as d:
        first = d.turn(OPEN_Q, "kept", ctx)
        before = [_id(s) for s in d.history(config("kept"))]
    with opened(spec, str(tmp_path), mode) as d:
        assert [_id(s) for s in d.history(config("kept"))] == before
        assert d.state(config("kept")).values["answer"] == first["answer"]
        state = d.turn(FOLLOW_UP, "kept", ctx)
    assert "checking account" in state["query"].lower()
    assert [m.type for m in state["messages"]] == ["human", "ai", "human", "ai"]
