"""Measure retrieval quality on a benchmark, on the product's own path."""

from __future__ import annotations

import json
import shlex
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from cli.console import console, fail
from tools.evaluation.metrics import METRICS
from tools.evaluation.retrieval import RETRIEVERS

eval_app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)


class Dataset(StrEnum):
    """Benchmarks ``eval retrieval`` knows."""

    squad = "squad"
    tau2 = "tau2"


class Retriever(StrEnum):
    """`KnowledgeBase.search` modes."""

    bm25 = "bm25"
    dense = "dense"
    hybrid = "hybrid"


class Split(StrEnum):
    """Halves of the tau2 tasks: ``dev`` chose the query rules, ``test`` was held apart."""

    dev = "dev"
    test = "test"


@eval_app.callback()
def main() -> None:
    """Evaluate the knowledge-base retriever on benchmarks (offline)."""


def _command(**opts: Any) -> str:
    parts = ["agentic-rag", "eval", "retrieval"]
    for name, value in opts.items():
        flag = "--" + name.replace("_", "-")
        if value is None or value is False:
            continue
        if value is True:
            parts.append(flag)
        elif isinstance(value, list):
            for item in value:
                parts += [flag, str(item)]
        else:
            parts += [flag, str(value)]
    return shlex.join(parts)


def run_retrieval(
    dataset: str,
    *,
    data: Path | None = None,
    limit: int | None = None,
    retrievers: list[str] | None = None,
    split: str | None = None,
    raw_query: bool = False,
    cache_dir: Path | None = None,
    command: str = "",
) -> dict[str, Any]:
    """Index the dataset's corpus (or reuse the cached index) and evaluate each retriever.

    Args:
        dataset: ``squad`` or ``tau2``.
        data: Another file in the dataset's format.
        limit: Evaluate this many queries only.
        retrievers: Search modes, all three when None.
        split: tau2 only: ``dev`` or ``test`` half.
        raw_query: Search the message as is, skipping the graph's query rewriting (ablation).
        cache_dir: Where indexes are kept between runs.
        command: The command line recorded in the result.

    Returns:
        The result: dataset description, index build time, and per retriever every metric of
        `METRICS`, ``qps`` and (tau2) per-half metrics.
    """
    from tools.evaluation.datasets import load_set
    from tools.evaluation.report import machine
    from tools.evaluation.retrieval import build_index, evaluate

    eval_set = load_set(dataset, data, limit, split)
    index = build_index(eval_set, cache_dir)

    def squeezed(text: str) -> str:
        return " ".join(text.split())

    rows = {
        mode: evaluate(eval_set, index, mode, squeezed if raw_query else None)
        for mode in retrievers or RETRIEVERS
    }
    return {
        "dataset": eval_set.name,
        "source": eval_set.source,
        "documents": len(eval_set.documents),
        "chunks": index.chunks,
        "queries": len(eval_set.queries),
        "limit": limit,
        "split": split,
        "query_path": (
            "message searched as is (--raw-query)"
            if raw_query
            else "nodes.local.router.rewrite (long messages reduced), then KnowledgeBase.search"
        ),
        "index_seconds": index.seconds,
        "index_cached": index.cached,
        "retrievers": rows,
        "date": time.strftime("%Y-%m-%d"),
        "machine": machine(),
        "command": command,
    }


def _print_table(result: dict[str, Any]) -> None:
    table = Table(title=f"{result['dataset']}: {result['queries']:,} queries")
    for col in ("retriever", *METRICS, "q/s"):
        table.add_column(col, justify="left" if col == "retriever" else "right")
    for name, row in result["retrievers"].items():
        table.add_row(name, *(f"{row[m]:.3f}" for m in METRICS), f"{row['qps']:.1f}")
    console.print(table)
    cached = " (cached index)" if result["index_cached"] else ""
    console.print(f"index: {result['index_seconds']:.1f} s{cached}, {result['chunks']:,} chunks")


@eval_app.command("retrieval")
def retrieval(
    dataset: Annotated[Dataset, typer.Option("--dataset", help="Benchmark.")] = Dataset.squad,
    data: Annotated[
        Path | None, typer.Option("--data", help="Another file in the dataset's JSON format.")
    ] = None,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="Queries to run.")] = None,
    retriever: Annotated[
        list[Retriever] | None,
        typer.Option("--retriever", help="Search mode (repeatable); all three by default."),
    ] = None,
    split: Annotated[Split | None, typer.Option("--split", help="tau2 half only.")] = None,
    raw_query: Annotated[
        bool, typer.Option("--raw-query", help="Skip the graph's query rewriting (ablation).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the metrics as JSON.")] = False,
    out: Annotated[
        Path | None, typer.Option("--out", help="Report folder (default bench/results/).")
    ] = None,
    cache_dir: Annotated[
        Path | None, typer.Option("--cache-dir", help="Index cache (default bench/results/tmp/).")
    ] = None,
    report: Annotated[bool, typer.Option(help="Write the Markdown + PNG report.")] = True,
) -> None:
    """R@1/5/10, nDCG@10, MRR@10 and queries/s of bm25, dense and hybrid search."""
    from tools.evaluation.report import write_report

    if data is not None and not data.is_file():
        fail(f"no such file: {data}")
    modes = [r.value for r in retriever] if retriever else None
    options = {
        "data": data,
        "limit": limit,
        "split": split.value if split else None,
        "raw_query": raw_query,
    }
    command = _command(dataset=dataset.value, **options, retriever=modes, json=as_json)
    try:
        result = run_retrieval(
            dataset.value, **options, retrievers=modes, cache_dir=cache_dir, command=command
        )
    except (ValueError, KeyError, RuntimeError) as exc:
        fail(str(exc))
    if report:
        md, png = write_report(result, out)
        result["report"] = {"markdown": str(md), "chart": str(png)}
    if as_json:
        typer.echo(json.dumps(result, indent=2))
    else:
        _print_table(result)
        if report:
            console.print(f"wrote {result['report']['markdown']} and {result['report']['chart']}")
