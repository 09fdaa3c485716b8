"""Write an evaluation result as a Markdown table and a PNG bar chart."""

from __future__ import annotations

import json
import platform
from pathlib import Path
from typing import Any

from tools.evaluation.metrics import METRICS

RESULTS_DIR = Path(__file__).resolve().parents[2] / "bench" / "results"


def machine() -> str:
    """A one-line description of this machine (OS, CPU count, Python)."""
    import os

    return (
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}"
    )


def markdown(result: dict[str, Any]) -> str:
    """The Markdown report of an evaluation result (see `cli.eval.run_retrieval`)."""
    head = "| retriever | " + " | ".join(METRICS) + " | q/s | index s |"
    lines = [
        f"# Retrieval evaluation: {result['dataset']}",
        "",
        f"- dataset: {result['source']} ({result['documents']:,} documents, "
        f"{result['chunks']:,} chunks, {result['queries']:,} queries"
        + (f", limit {result['limit']}" if result.get("limit") else "")
        + ")",
        f"- date: {result['date']}; machine: {result['machine']}",
        f"- query path: {result['query_path']}",
        f"- index: {result['index_seconds']:.1f} s to build"
        + (" (reused from cache in this run)" if result["index_cached"] else ""),
        f"- command: `{result['command']}`",
        "",
        head,
        "|" + "---|" * (len(METRICS) + 3),
    ]
    for name, row in result["retrievers"].items():
        cells = " | ".join(f"{row[m]:.3f}" for m in METRICS)
        lines.append(f"| {name} | {cells} | {row['qps']:.1f} | {result['index_seconds']:.1f} |")
    groups = [
        (n, g, r)
        for n, row in result["retrievers"].items()
        for g, r in row.get("groups", {}).items()
    ]
    if groups:
        lines += [
            "",
            "Per half of the queries:",
            "",
            "| retriever | half | " + " | ".join(METRICS) + " |",
        ]
        lines.append("|" + "---|" * (len(METRICS) + 2))
        for name, group, row in groups:
            lines.append(
                f"| {name} | {group} | " + " | ".join(f"{row[m]:.3f}" for m in METRICS) + " |"
            )
    for note in result.get("notes", []):
        lines += ["", note]
    return "\n".join(lines) + "\n"


def bar_chart(result: dict[str, Any], path: Path) -> None:
    """A grouped bar chart of every metric per retriever, saved as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(result["retrievers"])
    width = 0.8 / max(len(names), 1)
    fig, ax = plt.subplots(figsize=(8, 4.2), dpi=110)
    for i, name in enumerate(names):
        row = result["retrievers"][name]
        xs = [j + (i - (len(names) - 1) / 2) * width for j in range(len(METRICS))]
        bars = ax.bar(xs, [row[m] for m in METRICS], width, label=name)
        ax.bar_label(bars, fmt="%.2f", fontsize=7, padding=1)
    ax.set_xticks(range(len(METRICS)), METRICS)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("score")
    ax.set_title(f"Retrieval on {result['dataset']} ({result['queries']:,} queries)")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write_report(result: dict[str, Any], out_dir: Path | None = None) -> tuple[Path, Path]:
    """Write ``retrieval-<dataset>.md``, ``.png`` and ``.json`` under ``out_dir`` (bench/results/).

    Returns:
        The Markdown and PNG paths (the JSON sits beside them).
    """
    out = Path(out_dir or RESULTS_DIR)
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"retrieval-{result['dataset']}"
    md, png = stem.with_suffix(".md"), stem.with_suffix(".png")
    md.write_text(markdown(result), encoding="utf-8")
    stem.with_suffix(".json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    bar_chart(result, png)
    return md, png
