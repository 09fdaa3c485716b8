"""Measure retrieval and answer quality on benchmarks, on the product's own path."""

from __future__ import annotations

import json
import shlex
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from cli.console import console, err, fail
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
    """Evaluate the retriever and the whole graph's answers on benchmarks (offline)."""


def _command(sub: str = "retrieval", /, **opts: Any) -> str:
    """``agentic-rag eval <sub>`` with the options as given (None and False left out)."""
    parts = ["agentic-rag", "eval", sub]
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


class QaDataset(StrEnum):
    """Benchmarks ``eval qa`` knows."""

    squad = "squad"


def _model_option(role: str) -> Any:
    return typer.Option(
        f"--{role}-model",
        help=f"{role.capitalize()} model ('local', 'auto', 'provider:model'); default: the "
        f"Context's (AGENTIC_RAG_{role.upper()}_MODEL, else its default).",
    )


def _load_result(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        fail(f"cannot read {path}: {exc}")
    if not isinstance(data, dict) or not isinstance(data.get("metrics", data), dict):
        fail(f"{path} is not a QA result")
    return data


def _print_qa(result: dict[str, Any]) -> None:
    from tools.evaluation.qa_report import LABELS

    m = result["metrics"]
    table = Table(
        title=f"{result['dataset']}: {m['questions']:,} questions (seed {result['sample']['seed']})"
    )
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, label in LABELS.items():
        value = m.get(key)
        table.add_row(label.strip(), "n/a" if value is None else f"{value:.3f}")
    console.print(table)
    console.print(
        "grades: "
        + ", ".join(f"{g} {c}" for g, c in m["grade_counts"].items())
        + f"; models: {', '.join(f'{r} {s}' for r, s in result['models'].items())}",
        highlight=False,
    )


def _print_comparison(rows: list[tuple], regressions: list[str], notes: list[str]) -> None:
    table = Table(title="QA comparison")
    for col in ("metric", "old", "new", "delta"):
        table.add_column(col, justify="left" if col == "metric" else "right")
    for name, old, new, delta in rows:
        cells = ["n/a" if v is None else f"{v:.3f}" for v in (old, new)]
        table.add_row(name, *cells, "n/a" if delta is None else f"{delta:+.3f}")
    console.print(table)
    for note in notes:
        err.print(f"[yellow]warning:[/yellow] not like for like: {note}", highlight=False)
    for line in regressions:
        err.print(f"[red]regression:[/red] {line}", highlight=False)


def _comparison(old: dict, new: dict, max_drop: float) -> dict[str, Any]:
    from tools.evaluation.qa import compare, sample_differences

    rows, regressions = compare(old, new, max_drop)
    return {
        "rows": [dict(zip(("metric", "old", "new", "delta"), r, strict=True)) for r in rows],
        "regressions": regressions,
        "notes": sample_differences(old, new),
        "max_drop": max_drop,
    }


def _report_comparison(comparison: dict[str, Any], as_json: bool) -> None:
    if not as_json:
        rows = [tuple(r.values()) for r in comparison["rows"]]
        _print_comparison(rows, comparison["regressions"], comparison["notes"])


@eval_app.command("qa")
def qa(
    dataset: Annotated[QaDataset, typer.Option("--dataset", help="Benchmark.")] = QaDataset.squad,
    data: Annotated[
        Path | None, typer.Option("--data", help="Another file in SQuAD's JSON format.")
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", min=1, help="Questions in the seeded sample.")
    ] = 1000,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the question sample.")] = 1,
    router_model: Annotated[str | None, _model_option("router")] = None,
    grader_model: Annotated[str | None, _model_option("grader")] = None,
    generator_model: Annotated[str | None, _model_option("generator")] = None,
    checker_model: Annotated[str | None, _model_option("checker")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    out_dir: Annotated[
        Path | None, typer.Option("--out-dir", help="Report folder (default bench/results/).")
    ] = None,
    cache_dir: Annotated[
        Path | None, typer.Option("--cache-dir", help="Index cache (default bench/results/tmp/).")
    ] = None,
    report: Annotated[bool, typer.Option(help="Write the JSON, Markdown and PNG report.")] = True,
    compare: Annotated[
        Path | None,
        typer.Option(
            "--compare", help="An earlier qa-*.json: print old/new/delta, exit 1 on a quality drop."
        ),
    ] = None,
    max_drop: Annotated[
        float,
        typer.Option(
            "--max-drop", min=0.0, help="Allowed drop of contains-gold, F1 and citation precision."
        ),
    ] = 0.02,
) -> None:
    """Answer a seeded sample of questions with the whole graph and score the answers.

    Contains-gold, SQuAD EM/F1, citation precision, abstention, grades, LLM calls, tokens
    and latency. Exit 1 when --compare finds a quality metric dropped by more than --max-drop.
    """
    from nodes.models import ModelConfigError
    from tools.evaluation.qa import run_qa
    from tools.evaluation.qa_report import write_qa_report

    if data is not None and not data.is_file():
        fail(f"no such file: {data}")
    old = _load_result(compare) if compare is not None else None
    models = {
        "router_model": router_model,
        "grader_model": grader_model,
        "generator_model": generator_model,
        "checker_model": checker_model,
    }
    command = _command(
        "qa",
        dataset=dataset.value,
        data=data,
        limit=limit,
        seed=seed,
        **models,
        compare=compare,
        max_drop=max_drop if compare else None,
        json=as_json,
    )
    spent = [0.0]

    def progress(done: int, total: int, row: dict) -> None:
        spent[0] += row["seconds"]
        if done == total or done % 25 == 0:
            rate = spent[0] / done
            err.print(
                f"[dim]{done}/{total} questions, {rate:.2f} s each, "
                f"~{rate * (total - done) / 60:.0f} min left[/dim]",
                highlight=False,
            )

    try:
        result = run_qa(
            dataset.value,
            data=data,
            limit=limit,
            seed=seed,
            models=models,
            cache_dir=cache_dir,
            command=command,
            progress=progress,
        )
    except (ModelConfigError, ValueError, KeyError, RuntimeError) as exc:
        fail(str(exc))
    if report:
        paths = write_qa_report(result, out_dir)
        result["report"] = {k: str(v) for k, v in paths.items()}
    comparison = _comparison(old, result, max_drop) if old is not None else None
    if as_json:
        shown = {k: v for k, v in result.items() if k != "rows"}
        if comparison:
            shown["comparison"] = comparison
        typer.echo(json.dumps(shown, indent=2, ensure_ascii=False))
    else:
        _print_qa(result)
        if report:
            console.print(f"wrote {', '.join(result['report'].values())}", highlight=False)
    if comparison:
        _report_comparison(comparison, as_json)
        if comparison["regressions"]:
            raise typer.Exit(1)


@eval_app.command("compare")
def compare_results(
    old: Annotated[Path, typer.Argument(help="The earlier qa-*.json.")],
    new: Annotated[Path, typer.Argument(help="The newer qa-*.json.")],
    max_drop: Annotated[
        float,
        typer.Option(
            "--max-drop", min=0.0, help="Allowed drop of contains-gold, F1 and citation precision."
        ),
    ] = 0.02,
    as_json: Annotated[bool, typer.Option("--json", help="Print the comparison as JSON.")] = False,
) -> None:
    """Compare two saved QA results side by side; exit 1 when a quality metric dropped."""
    comparison = _comparison(_load_result(old), _load_result(new), max_drop)
    if as_json:
        typer.echo(json.dumps(comparison, indent=2))
    _report_comparison(comparison, as_json)
    if comparison["regressions"]:
        raise typer.Exit(1)
