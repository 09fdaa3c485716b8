"""Write a QA evaluation result as JSON, a Markdown table and a PNG chart."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tools.evaluation.report import RESULTS_DIR

LABELS = {
    "contains_gold": "answer contains a gold span",
    "contains_gold_answered": "  same, over answers that do not abstain",
    "exact_match": "exact match (SQuAD)",
    "f1": "F1 (SQuAD)",
    "citation_precision": "citation precision",
    "own_paragraph_cited": "question's own paragraph cited",
    "abstention": "abstention rate",
    "grade_correct": "grade: correct",
    "grade_ambiguous": "grade: ambiguous",
    "grade_incorrect": "grade: incorrect",
    "latency_p50": "latency p50 (s)",
    "latency_p95": "latency p95 (s)",
    "latency_mean": "latency mean (s)",
    "llm_calls": "LLM calls per question",
    "tokens": "tokens per question",
}
BARS = ("contains_gold", "exact_match", "f1", "citation_precision", "own_paragraph_cited")
DEFINITIONS = [
    "Answer text: the answer without the caveats appended after a blank line, the extractive "
    "prefix line, list dashes, `[n]` markers and the `…` of shortened sentences (all cited "
    "sentences joined); an abstention (`NOT_FOUND`, caveats aside) has none.",
    "Normalisation (official SQuAD v1.1 script): lower case, ASCII punctuation removed, "
    "articles a/an/the removed, whitespace collapsed.",
    "Contains a gold span: a normalised gold answer occurs in the normalised answer text as "
    "whole tokens.",
    "EM / F1: SQuAD exact match and token F1 of the whole answer text against each gold "
    "answer, best gold kept. Extractive answers quote whole sentences, so EM is near 0 and F1 "
    "is bounded by the sentence length by construction.",
    "Citation precision: per answer with citations, the share of cited paragraphs (repeats "
    "counted once) that are the question's own paragraph or whose full paragraph text "
    "contains a gold answer; mean over answers with citations.",
    "Own paragraph cited: share of questions whose answer cites the paragraph the question "
    "was written from.",
    "Latency: wall time of each `invoke` (the first one also loads the grader's models).",
]


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def markdown(result: dict[str, Any]) -> str:
    """The Markdown report of a QA result (see `tools.evaluation.qa.run_qa`)."""
    m, sample = result["metrics"], result["sample"]
    models = ", ".join(f"{role} `{spec}`" for role, spec in result["models"].items())
    lines = [
        f"# QA evaluation: {result['dataset']}",
        "",
        f"- corpus: {result['source']}: {result['documents']:,} paragraphs indexed, one "
        f"document each ({result['chunks']:,} chunks); index built in "
        f"{result['index_seconds']:.1f} s"
        + (" (reused from cache)" if result["index_cached"] else ""),
        f"- sample: {sample['questions']:,} of {sample['of']:,} questions, seed "
        f"{sample['seed']}: {sample['method']}",
        f"- run: {result['path']}",
        f"- models: {models}",
        f"- date: {result['date']}; machine: {result['machine']}; "
        f"{result['seconds']:,.0f} s for all questions",
        f"- command: `{result['command']}`",
        "",
        "| metric | value |",
        "|---|---|",
    ]
    for key, label in LABELS.items():
        if key in m:
            digits = 2 if key.startswith("latency") or key in ("llm_calls", "tokens") else 3
            lines.append(f"| {label.strip()} | {_fmt(m[key], digits)} |")
    counts = m["grade_counts"]
    lines += [
        "",
        f"- answers with citations: {m['answers_with_citations']:,}; grades (count): "
        + ", ".join(f"{g} {c:,}" for g, c in counts.items()),
        f"- LLM calls {m['llm_calls_total']:,}, tokens {m['tokens_total']:,} in total; "
        f"{m['with_graph_errors']:,} runs reported errors, {m['failed']:,} raised",
        "",
        "## What is compared",
        "",
        *(f"- {d}" for d in DEFINITIONS),
    ]
    return "\n".join(lines) + "\n"


def chart(result: dict[str, Any], path: Path) -> None:
    """Quality bars, the grade distribution and a latency histogram, saved as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    m = result["metrics"]
    fig, (left, middle, right) = plt.subplots(
        1, 3, figsize=(12, 4), dpi=110, gridspec_kw={"width_ratios": [3, 2, 3]}
    )
    names = ["contains gold", "EM", "F1", "cit. precision", "own cited"]
    bars = left.bar(names, [m[k] or 0.0 for k in BARS], color="tab:blue")
    left.bar_label(bars, fmt="%.2f", fontsize=8, padding=1)
    left.set_ylim(0, 1.05)
    left.set_title("answer quality")
    left.tick_params(axis="x", labelsize=8, rotation=20)
    counts = m["grade_counts"]
    grades = middle.bar(list(counts), list(counts.values()), color="tab:green")
    middle.bar_label(grades, fontsize=8, padding=1)
    middle.set_ylim(0, max(counts.values(), default=0) * 1.12 + 1)
    middle.tick_params(axis="x", labelsize=8, rotation=20)
    middle.set_title(f"grades (abstention {m['abstention'] or 0.0:.2f})")
    seconds = [r["seconds"] for r in result.get("rows", [])]
    right.hist(seconds, bins=min(40, max(5, len(seconds) // 10)), color="tab:gray")
    for key, style in (("latency_p50", "--"), ("latency_p95", ":")):
        right.axvline(
            m[key] or 0.0, color="tab:red", linestyle=style, label=f"{key[8:]} {m[key]:.2f} s"
        )
    right.set_xlabel("seconds per question")
    right.set_title("latency")
    right.legend(fontsize=8)
    fig.suptitle(
        f"QA on {result['dataset']}: {m['questions']:,} questions, seed {result['sample']['seed']}"
    )
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write_qa_report(result: dict[str, Any], out_dir: Path | None = None) -> dict[str, Path]:
    """Write ``qa-<dataset>.json`` (with per-question rows), ``.md`` and ``.png``.

    Args:
        result: The QA result.
        out_dir: The folder; bench/results/ when None.

    Returns:
        ``{"json": path, "markdown": path, "chart": path}``.
    """
    out = Path(out_dir or RESULTS_DIR)
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"qa-{result['dataset']}"
    paths = {
        "json": stem.with_suffix(".json"),
        "markdown": stem.with_suffix(".md"),
        "chart": stem.with_suffix(".png"),
    }
    paths["json"].write_text(json.dumps(result, indent=2, ensure_ascii=False), encoding="utf-8")
    paths["markdown"].write_text(markdown(result), encoding="utf-8")
    chart(result, paths["chart"])
    return paths
