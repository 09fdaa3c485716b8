"""Ranking metrics with binary relevance: recall@k, nDCG@k, MRR@k, and their means."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

CUTOFFS = (1, 5, 10)
METRICS = ("R@1", "R@5", "R@10", "nDCG@10", "MRR@10")


def dedupe(keys: Iterable[str]) -> list[str]:
    """Keys in first-seen order without repeats (chunks ranked by document, best chunk first).

    Example:
        >>> dedupe(["a", "b", "a", "c"])
        ['a', 'b', 'c']
    """
    return list(dict.fromkeys(keys))


def recall_at(ranking: Sequence[str], relevant: set[str] | frozenset[str], k: int) -> float:
    """Share of the relevant documents found in the top ``k``.

    Example:
        >>> recall_at(["x", "a", "y", "b"], {"a", "b"}, 2)
        0.5
    """
    if not relevant:
        return 0.0
    return len(relevant.intersection(ranking[:k])) / len(relevant)


def ndcg_at(ranking: Sequence[str], relevant: set[str] | frozenset[str], k: int) -> float:
    """Normalised discounted cumulative gain at ``k`` (binary gains).

    Example:
        >>> round(ndcg_at(["x", "a"], {"a"}, 10), 4)
        0.6309
    """
    dcg = sum(1.0 / math.log2(i + 2) for i, key in enumerate(ranking[:k]) if key in relevant)
    ideal = sum(1.0 / math.log2(i + 2) for i in range(min(len(relevant), k)))
    return dcg / ideal if ideal else 0.0


def mrr_at(ranking: Sequence[str], relevant: set[str] | frozenset[str], k: int) -> float:
    """Reciprocal rank of the first relevant document within the top ``k`` (0 when none).

    Example:
        >>> mrr_at(["x", "y", "a"], {"a"}, 10)
        0.3333333333333333
    """
    for i, key in enumerate(ranking[:k]):
        if key in relevant:
            return 1.0 / (i + 1)
    return 0.0


def score_ranking(ranking: Sequence[str], relevant: set[str] | frozenset[str]) -> dict[str, float]:
    """Every metric of `METRICS` for one query's document ranking."""
    scores = {f"R@{k}": recall_at(ranking, relevant, k) for k in CUTOFFS}
    scores["nDCG@10"] = ndcg_at(ranking, relevant, 10)
    scores["MRR@10"] = mrr_at(ranking, relevant, 10)
    return scores


def mean_scores(rows: Sequence[dict[str, float]]) -> dict[str, float]:
    """The mean of each metric over queries (zeros when there are none)."""
    n = len(rows)
    return {m: (sum(r[m] for r in rows) / n if n else 0.0) for m in METRICS}
