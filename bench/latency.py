"""Offline `ask` latency on a 10k-chunk corpus: p50/p95, per node, embedder cache on vs off.

The corpus is the tau2-bench banking knowledge base (698 documents) plus the Python 3.11
library reference (the reST sources in Debian's ``python3.11-doc`` package, PSF license,
fetched with ``apt-get download`` and unpacked under ``bench/results/tmp/``), ingested with
the default chunking: about 11,000 chunks. Questions are built from banking document titles.
Both variants (the embedder's LRU cache on, and off) answer the same questions, interleaved,
in one run.

Usage:
    .venv/bin/python bench/latency.py [--questions 60]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from graphs import build_graph  # noqa: E402
from state.context import Context  # noqa: E402
from tools.demo_corpus import export_banking_corpus  # noqa: E402
from tools.embedder import get_embedder  # noqa: E402
from tools.ingest import ingest_paths  # noqa: E402
from tools.vectorstore import list_kbs  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "bench" / "results" / "tmp" / "latency"


def python_docs() -> Path:
    """The Python 3.11 library reference sources (downloaded and unpacked on first use)."""
    root = WORK / "python-docs"
    library = root / "usr/share/doc/python3.11/html/_sources/library"
    if not library.exists():
        root.mkdir(parents=True, exist_ok=True)
        subprocess.run(["apt-get", "download", "python3.11-doc"], cwd=root, check=True)
        (deb,) = root.glob("python3.11-doc_*.deb")
        subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    return library


def build_index(chunk_size: int) -> tuple[str, int]:
    """The cached index (built on first use); returns its data dir and chunk count."""
    data_dir = WORK / f"data-{chunk_size}"
    corpus = WORK / "corpus"
    if not corpus.exists():
        export_banking_corpus(corpus)
    if not any(kb["name"] == "default" for kb in list_kbs(str(data_dir))):
        report = ingest_paths(
            [corpus, python_docs()], data_dir=str(data_dir), chunk_size=chunk_size
        )
        assert report.ok, report.failures
    chunks = next(kb["chunks"] for kb in list_kbs(str(data_dir)) if kb["name"] == "default")
    return str(data_dir), chunks


def questions(n: int) -> list[str]:
    titles = []
    for path in sorted((WORK / "corpus").glob("*.md")):
        first = path.read_text(encoding="utf-8").splitlines()[0].lstrip("# ").strip()
        if first and first not in titles:
            titles.append(first)
    step = max(1, len(titles) // n)
    return [f"What should I know about {t.lower()}?" for t in titles[::step][:n]]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=60)
    parser.add_argument("--chunk-size", type=int, default=1000)
    parser.add_argument("--out", default="bench/results/latency.md")
    args = parser.parse_args()

    data_dir, chunks = build_index(args.chunk_size)
    app = build_graph()
    ctx = Context(data_dir=data_dir)
    embedder = get_embedder()
    app.invoke({"messages": [("user", "warm up: what is the overdraft fee?")]}, context=ctx)
    times: dict[str, list[float]] = {"cache on": [], "cache off": []}
    nodes: dict[str, dict[str, list[float]]] = {"cache on": {}, "cache off": {}}
    size = embedder.cache_size
    for question in questions(args.questions):
        for variant in ("cache off", "cache on"):
            embedder._cache.clear()
            embedder.cache_size = size if variant == "cache on" else 0
            start = time.perf_counter()
            out = app.invoke({"messages": [("user", question)]}, context=ctx)
            times[variant].append((time.perf_counter() - start) * 1000)
            for node, ms in out["usage"]["ms_per_node"].items():
                nodes[variant].setdefault(node, []).append(ms)
    embedder.cache_size = size

    on, off = times["cache on"], times["cache off"]
    lines = [
        "# Offline latency (`ask`, local engine, no LLM)",
        "",
        f"{date.today().isoformat()} · {platform.machine()} · Python {platform.python_version()} · "
        f"`python bench/latency.py --questions {args.questions} --chunk-size {args.chunk_size}`",
        "",
        f"Index: tau2-bench banking (698 documents) + the Python 3.11 library reference, "
        f"{chunks:,} chunks (chunk size {args.chunk_size}). {len(on)} questions built from "
        "banking document titles, each "
        "asked with the embedder cache off and on, interleaved, in-process, warm, no checkpointer.",
        "",
        "| variant | p50 ms | p95 ms | mean ms |",
        "|---|---|---|---|",
    ]
    for name, values in times.items():
        lines.append(
            f"| {name} | {statistics.median(values):.0f} | {percentile(values, 0.95):.0f} | "
            f"{statistics.fmean(values):.0f} |"
        )
    ratio = statistics.median(on) / statistics.median(off)
    lines += [
        "",
        f"Median ratio cache on / off: {ratio:.2f}.",
        "",
        "Median ms per node:",
        "",
        "| node | cache off | cache on |",
        "|---|---|---|",
    ]
    for node in nodes["cache off"]:
        lines.append(
            f"| {node} | {statistics.median(nodes['cache off'][node]):.1f} | "
            f"{statistics.median(nodes['cache on'].get(node, [0])):.1f} |"
        )
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
