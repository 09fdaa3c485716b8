"""End-to-end QA evaluation: the whole graph answers SQuAD questions over the SQuAD corpus.

Every paragraph of the dataset is one corpus document, indexed with the product's ingestion
(the cached index of the retrieval harness, see `tools.evaluation.retrieval.build_index`).
A seeded sample of the questions is asked one by one, each as a fresh single-message run of
`graphs.build_graph` (no checkpointer), and every answer is scored with `qa_metrics`.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tools.evaluation.qa_metrics import (
    answer_text,
    citation_key,
    citation_support,
    contains_gold,
    exact_match,
    f1_score,
    is_abstention,
    mean,
    percentile,
)

DEFAULT_LIMIT = 1000
DEFAULT_SEED = 1
GRADES = ("correct", "ambiguous", "incorrect", "none")
QUALITY = ("contains_gold", "f1", "citation_precision")
"""Metrics whose drop beyond ``max_drop`` fails a comparison (`regressions`)."""
COMPARED = (
    "contains_gold",
    "exact_match",
    "f1",
    "citation_precision",
    "own_paragraph_cited",
    "abstention",
    "grade_correct",
    "grade_ambiguous",
    "grade_incorrect",
    "latency_p50",
    "latency_p95",
    "llm_calls",
    "tokens",
)
MODEL_ROLES = ("router", "grader", "generator", "checker")
SAMPLE_METHOD = "random.Random(seed).sample over all questions in file order, asked in file order"
RUN_PATH = (
    "whole graph per question: build_graph() without checkpointer, "
    'invoke({"messages": [("user", question)]}, context=ctx), sequential; knowledge base only '
    "(web, arXiv, memory, clarifying questions and answer review off)"
)


@dataclass(frozen=True)
class QaItem:
    """One question with its gold answers and the key of the paragraph it was written from."""

    id: str
    question: str
    answers: tuple[str, ...]
    paragraph: str


def load_items(path: Path | None, limit: int | None, seed: int) -> tuple[Any, list[QaItem], int]:
    """The SQuAD corpus as an `EvalSet`, the seeded question sample, and the question count.

    The sample is the one the retrieval harness draws (`datasets.squad_set`).
    """
    from tools.datasets import load_squad, squad_dev_path
    from tools.evaluation.datasets import squad_set

    source = Path(path) if path else squad_dev_path()
    if not source.is_file():
        raise ValueError(f"SQuAD file not found: {source}")
    eval_set = squad_set(path, limit, seed)
    _, questions = load_squad(source)
    items = []
    for query in eval_set.queries:
        raw = questions[int(query.id[1:])]
        (key,) = query.relevant
        items.append(QaItem(query.id, query.text, tuple(raw["answers"]), key))
    return eval_set, items, len(questions)


def make_context(index: Any, models: dict[str, str | None] | None = None) -> Any:
    """The run's `Context`: the evaluation index, knowledge base only, models as given.

    Args:
        index: The `IndexInfo` searched.
        models: ``{"router_model": spec, ...}``; None or missing keys keep `Context`'s default
            (and its ``AGENTIC_RAG_*`` environment override).
    """
    from state.context import Context

    chosen = {k: v for k, v in (models or {}).items() if v}
    return Context(
        data_dir=str(index.data_dir),
        kb=index.kb,
        web_search=False,
        arxiv_search=False,
        memory_search=False,
        remember=False,
        clarify=False,
        answer_review="off",
        **chosen,
    )


def score(item: QaItem, out: dict[str, Any], seconds: float, texts: dict[str, str]) -> dict:
    """One per-question row: the answer, its scores, grade, usage and wall time."""
    from nodes.local.generate import NOT_FOUND, PREFIX

    answer = str(out.get("answer") or "")
    text = answer_text(answer, PREFIX, NOT_FOUND)
    citations = out.get("citations") or []
    precision, own = citation_support(citations, item.answers, item.paragraph, texts)
    usage = out.get("usage") or {}
    return {
        "id": item.id,
        "question": item.question,
        "paragraph": item.paragraph,
        "answers": list(item.answers),
        "answer": answer,
        "abstained": is_abstention(answer, NOT_FOUND),
        "contains_gold": contains_gold(text, item.answers),
        "exact_match": exact_match(text, item.answers),
        "f1": round(f1_score(text, item.answers), 4),
        "citation_precision": precision,
        "cited_own": own,
        "cited": [citation_key(c) or c.get("source") for c in citations],
        "grade": out.get("grade"),
        "llm_calls": int(usage.get("llm_calls", 0)),
        "tokens": int(usage.get("tokens", 0)),
        "seconds": round(seconds, 4),
        "errors": list(out.get("errors") or []),
    }


def ask_all(
    items: list[QaItem],
    ctx: Any,
    texts: dict[str, str],
    progress: Callable[[int, int, dict], None] | None = None,
) -> list[dict[str, Any]]:
    """Ask each question with a fresh graph run and score the answer.

    A run that raises is recorded with its error (``failed``) and the evaluation goes on,
    except for a `ModelConfigError`, which every question would hit.
    """
    from graphs import build_graph
    from nodes.models import ModelConfigError

    graph = build_graph()
    rows = []
    for n, item in enumerate(items, 1):
        started = time.perf_counter()
        try:
            out = graph.invoke({"messages": [("user", item.question)]}, context=ctx)
            failed = None
        except ModelConfigError:
            raise
        except Exception as exc:  # noqa: BLE001 - one broken run must not end the evaluation
            out, failed = {}, f"{type(exc).__name__}: {exc}"
        row = score(item, out, time.perf_counter() - started, texts)
        if failed:
            row["failed"] = failed
        rows.append(row)
        if progress:
            progress(n, len(items), row)
    return rows


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def aggregate(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Means and distributions over the per-question rows (see `score`).

    ``citation_precision`` is averaged over the answers that cite something;
    ``contains_gold_answered`` over the answers that do not abstain.
    """
    n = len(rows)
    seconds = [r["seconds"] for r in rows]
    grades = Counter(r["grade"] or "none" for r in rows)
    answered = [r for r in rows if not r["abstained"]]
    metrics: dict[str, Any] = {
        "questions": n,
        "contains_gold": _r(mean(float(r["contains_gold"]) for r in rows)),
        "contains_gold_answered": _r(mean(float(r["contains_gold"]) for r in answered)),
        "exact_match": _r(mean(r["exact_match"] for r in rows)),
        "f1": _r(mean(r["f1"] for r in rows)),
        "citation_precision": _r(mean(r["citation_precision"] for r in rows)),
        "answers_with_citations": sum(r["citation_precision"] is not None for r in rows),
        "own_paragraph_cited": _r(mean(float(r["cited_own"]) for r in rows)),
        "abstention": _r(mean(float(r["abstained"]) for r in rows)),
        "grade_counts": {g: grades.get(g, 0) for g in GRADES},
        "latency_mean": _r(mean(seconds)),
        "latency_p50": _r(percentile(seconds, 50)),
        "latency_p95": _r(percentile(seconds, 95)),
        "latency_max": _r(max(seconds, default=None)),
        "llm_calls": _r(mean(r["llm_calls"] for r in rows)),
        "tokens": _r(mean(r["tokens"] for r in rows)),
        "llm_calls_total": sum(r["llm_calls"] for r in rows),
        "tokens_total": sum(r["tokens"] for r in rows),
        "with_graph_errors": sum(bool(r["errors"]) for r in rows),
        "failed": sum("failed" in r for r in rows),
    }
    for g in GRADES[:3]:
        metrics[f"grade_{g}"] = _r(grades.get(g, 0) / n) if n else None
    return metrics


def run_qa(
    dataset: str = "squad",
    *,
    data: Path | None = None,
    limit: int | None = DEFAULT_LIMIT,
    seed: int = DEFAULT_SEED,
    models: dict[str, str | None] | None = None,
    cache_dir: Path | None = None,
    command: str = "",
    progress: Callable[[int, int, dict], None] | None = None,
) -> dict[str, Any]:
    """Index the corpus (or reuse the cached index), ask the sample, and score every answer.

    Args:
        dataset: ``squad`` (the only QA dataset).
        data: Another file in SQuAD's JSON format; SQuAD v1.1 dev when None.
        limit: Questions in the seeded sample (all when None or larger than the set).
        seed: Seed of the sample.
        models: `Context` model fields (``router_model``, ``grader_model``,
            ``generator_model``, ``checker_model``); unset ones keep their defaults.
        cache_dir: Where indexes are kept between runs.
        command: The command line recorded in the result.
        progress: Called as ``progress(done, total, row)`` after each question.

    Returns:
        Dataset and sample description, models, ``metrics`` (`aggregate`) and ``rows``.

    Raises:
        ValueError: Unknown dataset or missing file; `ModelConfigError` for a bad model.
    """
    from nodes.models import resolve_spec
    from tools.evaluation.report import machine
    from tools.evaluation.retrieval import build_index

    if dataset != "squad":
        raise ValueError(f"unknown QA dataset {dataset!r} (choose from squad)")
    eval_set, items, total = load_items(data, limit, seed)
    index = build_index(eval_set, cache_dir)
    ctx = make_context(index, models)
    texts = {doc.key: doc.text for doc in eval_set.documents}
    if items:
        from tools.vectorstore import open_kb

        open_kb(index.data_dir, index.kb).search(items[0].question, ctx.top_k, mode="hybrid")
    started = time.perf_counter()
    rows = ask_all(items, ctx, texts, progress)
    return {
        "dataset": eval_set.name,
        "source": eval_set.source,
        "documents": len(eval_set.documents),
        "chunks": index.chunks,
        "index_seconds": index.seconds,
        "index_cached": index.cached,
        "sample": {
            "questions": len(items),
            "of": total,
            "limit": limit,
            "seed": seed,
            "method": SAMPLE_METHOD,
        },
        "path": RUN_PATH,
        "models": {role: resolve_spec(getattr(ctx, f"{role}_model")) for role in MODEL_ROLES},
        "metrics": aggregate(rows),
        "seconds": round(time.perf_counter() - started, 1),
        "date": time.strftime("%Y-%m-%d"),
        "machine": machine(),
        "command": command,
        "rows": rows,
    }


def compare(
    old: dict[str, Any], new: dict[str, Any], max_drop: float
) -> tuple[list[tuple[str, float | None, float | None, float | None]], list[str]]:
    """Side-by-side aggregate metrics of two results, and the quality regressions.

    Args:
        old: A saved result (``qa-<dataset>.json``) or its ``metrics``.
        new: The new result or its ``metrics``.
        max_drop: A `QUALITY` metric lower by more than this is a regression.

    Returns:
        ``(rows, regressions)``: rows are ``(metric, old, new, new - old)`` (None where a side
        lacks the metric); regressions describe each quality metric that dropped too far.

    Example:
        >>> rows, bad = compare({"f1": 0.5}, {"f1": 0.4}, 0.02)
        >>> bad
        ['f1 dropped by 0.100 (0.500 -> 0.400, allowed 0.020)']
    """
    old_m, new_m = old.get("metrics", old), new.get("metrics", new)
    rows, regressions = [], []
    for name in COMPARED:
        a, b = old_m.get(name), new_m.get(name)
        if a is None and b is None:
            continue
        delta = b - a if a is not None and b is not None else None
        rows.append((name, a, b, delta))
        if name in QUALITY and delta is not None and -delta > max_drop + 1e-9:
            regressions.append(
                f"{name} dropped by {-delta:.3f} ({a:.3f} -> {b:.3f}, allowed {max_drop:.3f})"
            )
    return rows, regressions


def sample_differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """What makes two results not like for like (dataset, source, sample), if anything."""
    notes = []
    for key in ("dataset", "source"):
        if key in old and old.get(key) != new.get(key):
            notes.append(f"{key}: {old.get(key)} vs {new.get(key)}")
    a, b = old.get("sample") or {}, new.get("sample") or {}
    for key in ("questions", "seed"):
        if key in a and a.get(key) != b.get(key):
            notes.append(f"sample {key}: {a.get(key)} vs {b.get(key)}")
    return notes
