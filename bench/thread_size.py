"""How a conversation thread grows in the SQLite checkpointer, turn by turn.

Runs one thread of ``--turns`` questions offline (local router, grader and generator) over
the first 40 tau2-bench banking documents, with the SQLite checkpointer opened by
`tools.checkpointers.open_checkpointer`, and measures after some turns: the latest checkpoint
blob, the thread's rows (checkpoints + writes), how much of the latest blob is the
``messages`` channel, and the file size. Every number is read back from the database.

Usage:
    .venv/bin/python bench/thread_size.py [--turns 20] [--data-dir DIR]
        [--out bench/results/thread-size.md]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ["LANGSMITH_TRACING"] = "false"
for _key in ("OPENAI_API_KEY", "TAVILY_API_KEY", "ANTHROPIC_API_KEY"):
    os.environ.pop(_key, None)

from cli.threads import thread_summaries  # noqa: E402
from graphs import build_graph  # noqa: E402
from state.context import Context  # noqa: E402
from tools.checkpointers import open_checkpointer  # noqa: E402
from tools.demo_corpus import banking_documents, export_banking_corpus  # noqa: E402

THREAD = "bench"
CORPUS_DOCS = 40
REPORT_AFTER = (1, 5, 10, 20)


def questions(count: int) -> list[str]:
    """One question per banking document title (the indexed first 40), in corpus order."""
    titles = [d["title"].strip().removeprefix("Internal: ") for d in banking_documents()]
    picked = titles[:CORPUS_DOCS][:count]
    return [f"What do I need to know about {title.rstrip('?.').lower()}?" for title in picked]


def build_index(root: Path) -> str:
    from tools.ingest import ingest_paths

    export_banking_corpus(root / "corpus", limit=CORPUS_DOCS)
    report = ingest_paths([root / "corpus"], data_dir=str(root / "data"), kb="default")
    if not report.ok:
        raise SystemExit(f"ingest failed: {report}")
    return str(root / "data")


def measure(db: Path, saver: Any) -> dict[str, Any]:
    """Sizes of the thread in ``db`` (read with a second connection, as another process would)."""
    conn = sqlite3.connect(db)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        n_cp, cp_bytes = conn.execute(
            "SELECT count(*), sum(length(checkpoint) + length(metadata)) FROM checkpoints "
            "WHERE thread_id = ?",
            (THREAD,),
        ).fetchone()
        n_writes, write_bytes = conn.execute(
            "SELECT count(*), coalesce(sum(length(value)), 0) FROM writes WHERE thread_id = ?",
            (THREAD,),
        ).fetchone()
        rows = conn.execute(
            "SELECT type, checkpoint, length(metadata) FROM checkpoints WHERE thread_id = ? "
            "ORDER BY checkpoint_id DESC",
            (THREAD,),
        ).fetchall()
        pages, page_size = (
            conn.execute(f"PRAGMA {p}").fetchone()[0] for p in ("page_count", "page_size")
        )
    finally:
        conn.close()
    msgs_all = sum(_messages_bytes(saver, kind, blob)[0] for kind, blob, _ in rows)
    kind, blob, meta_len = rows[0]
    msgs, rest, exact, channels = _messages_bytes(saver, kind, blob, per_channel=True)
    return {
        "checkpoints": n_cp,
        "writes": n_writes,
        "latest": len(blob),
        "latest_meta": meta_len,
        "latest_messages": msgs,
        "latest_rest": rest,
        "exact": exact,
        "thread": cp_bytes + write_bytes,
        "thread_checkpoints": cp_bytes,
        "thread_writes": write_bytes,
        "messages_all": msgs_all,
        "file": pages * page_size,
        "channels": channels,
    }


def _messages_bytes(
    saver: Any, kind: str, blob: bytes, per_channel: bool = False
) -> tuple[int, int, bool, list[tuple[str, int]]]:
    """(messages bytes, rest bytes, re-serialisation exact?, largest channels) of one blob."""
    checkpoint = saver.serde.loads_typed((kind, blob))
    values = checkpoint["channel_values"]
    without = {**checkpoint, "channel_values": {k: v for k, v in values.items() if k != "messages"}}
    whole = len(saver.serde.dumps_typed(checkpoint)[1])
    rest = len(saver.serde.dumps_typed(without)[1])
    channels = []
    if per_channel:
        channels = sorted(
            ((k, len(saver.serde.dumps_typed(v)[1])) for k, v in values.items()),
            key=lambda kv: -kv[1],
        )
    return whole - rest, len(blob) - (whole - rest), whole == len(blob), channels


def _kb(n: float) -> str:
    return f"{n / 1024:,.1f} KiB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=20)
    parser.add_argument("--data-dir", help="An index holding the banking corpus (else built).")
    parser.add_argument("--out", default="bench/results/thread-size.md")
    args = parser.parse_args()
    if not 1 <= args.turns <= CORPUS_DOCS:
        parser.error(f"--turns must be 1..{CORPUS_DOCS}")

    tmp = Path(tempfile.mkdtemp(prefix="thread-size-"))
    try:
        run(args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run(args: argparse.Namespace, tmp: Path) -> None:
    """Build or reuse the index, run the thread in ``tmp``, write the report."""
    start = time.perf_counter()
    data_dir = args.data_dir or build_index(tmp)
    print(f"index ready in {time.perf_counter() - start:.1f} s: {data_dir}")
    db = tmp / "checkpoints.sqlite"
    ctx = Context(
        data_dir=data_dir, router_model="local", grader_model="local", generator_model="local"
    )
    config = {"configurable": {"thread_id": THREAD}}
    results, turn_ms, unanswered = {}, [], []
    with open_checkpointer(f"sqlite:{db}", str(tmp)) as saver:
        app = build_graph(checkpointer=saver)
        for turn, question in enumerate(questions(args.turns), start=1):
            start = time.perf_counter()
            out = app.invoke({"messages": [("user", question)]}, config, context=ctx)
            turn_ms.append((time.perf_counter() - start) * 1000)
            if out.get("__interrupt__") or not out.get("answer"):
                unanswered.append(turn)
            if turn in REPORT_AFTER or turn == args.turns:
                results[turn] = measure(db, saver)
                print(turn, {k: v for k, v in results[turn].items() if k != "channels"})
        start = time.perf_counter()
        summaries = thread_summaries(saver)
        scan_ms = (time.perf_counter() - start) * 1000
        messages = len(app.get_state(config).values["messages"])
    assert [s.thread_id for s in summaries] == [THREAD]

    last, example = results[max(results)], questions(1)[0]
    lines = [
        "# Thread size in the SQLite checkpointer",
        "",
        f"{date.today().isoformat()} · {platform.machine()} · {os.cpu_count()} CPUs · "
        f"Python {platform.python_version()} · `python bench/thread_size.py --turns {args.turns}`",
        "",
        f"One thread of {args.turns} questions (one per title of the first {CORPUS_DOCS} "
        f'tau2-bench banking documents, e.g. *"{example}"*), answered offline by the local '
        "router, grader and generator over an index of those documents. Checkpointer: "
        "`open_checkpointer('sqlite:PATH')` (SqliteSaver, WAL, synchronous=NORMAL). Sizes are "
        "`length()` of the stored blobs; *thread bytes* = checkpoint + metadata blobs of every "
        "checkpoint row + value blobs of every writes row; *file* = page_count x page_size after "
        f"a WAL checkpoint. Turns without an answer (interrupted): {unanswered or 'none'}; "
        f"messages in the thread at the end: {messages}.",
        "",
        "| after turn | checkpoints | writes rows | latest checkpoint | its messages | its rest "
        "| thread bytes | messages summed over all checkpoints | file |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for turn, r in sorted(results.items()):
        lines.append(
            f"| {turn} | {r['checkpoints']} | {r['writes']} | {_kb(r['latest'])} | "
            f"{_kb(r['latest_messages'])} | {_kb(r['latest_rest'])} | {_kb(r['thread'])} | "
            f"{_kb(r['messages_all'])} | {_kb(r['file'])} |"
        )
    n0, n1 = min(results), max(results)
    first, prev_turn = results[n0], sorted(results)[-2] if len(results) > 1 else n0
    prev = results[prev_turn]
    top = ", ".join(f"`{k}` {_kb(v)}" for k, v in last["channels"][:5])
    exact = all(r["exact"] for r in results.values())
    growth = {k: last[k] / prev[k] for k in ("messages_all", "thread", "latest")}
    lines += [
        "",
        f"- Largest channels of the latest checkpoint after turn {n1} (each serialised alone): "
        f"{top}.",
        f"- Of the thread bytes after turn {n1}: checkpoint rows "
        f"{_kb(last['thread_checkpoints'])}, writes rows {_kb(last['thread_writes'])}.",
        f"- Thread bytes per turn: {_kb(first['thread'] / n0)} after turn {n0}, "
        f"{_kb(last['thread'] / n1)} averaged over {n1} turns.",
        f"- From turn {prev_turn} to turn {n1} ({n1 / prev_turn:g}x the turns): messages summed "
        f"over all checkpoints x{growth['messages_all']:.1f}, thread bytes "
        f"x{growth['thread']:.1f}, latest checkpoint x{growth['latest']:.1f}.",
        f"- Turn latency (local engine, including checkpoint writes): median "
        f"{statistics.median(turn_ms):.0f} ms, max {max(turn_ms):.0f} ms.",
        f"- `cli.threads.thread_summaries` (what `threads list` reads: every checkpoint of "
        f"every thread) over this database: {scan_ms:.0f} ms.",
        f"- Re-serialising the latest checkpoint reproduced its stored length exactly: {exact} "
        "(so *its messages* = full length minus the length without the `messages` channel).",
    ]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
