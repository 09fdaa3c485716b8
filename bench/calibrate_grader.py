"""Calibrate the local grader on SQuAD v1.1 dev: fit its logistic, choose the thresholds.

Pairs: each sampled question with its own paragraph (relevant) and with the best-scoring
OTHER paragraph by BM25 over all 2,067 unique paragraphs (a hard distractor). Articles are
split by title into a training split (coefficients and thresholds are chosen there) and a
held-apart test split (accuracy is reported there).

Usage:
    AGENTIC_RAG_EMBED_THREADS=2 .venv/bin/python bench/calibrate_grader.py [--cache FILE]

Prints the fitted coefficients (to paste into ``nodes/local/grader.py``), the three
thresholds (the defaults of ``state/context.py``) and the test-split numbers.
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

import numpy as np

from nodes.local import grader
from nodes.local.refine import split_strips
from tools.datasets import bm25_distractors, load_squad, squad_dev_path
from tools.embedder import get_embedder

SQUAD = squad_dev_path()
SEED = 13
TRAIN_QUESTIONS = 1500
TEST_QUESTIONS = 1000
TRAIN_ARTICLE_SHARE = 0.6
CORRECT_PRECISION = 0.85
INCORRECT_RELEVANT_LOSS = 0.05
STRIP_KEEP = 0.95


def split(questions: list[dict]) -> tuple[list[dict], list[dict]]:
    """Seeded article-level split, then a seeded question sample from each side."""
    rng = random.Random(SEED)
    titles = sorted({q["title"] for q in questions})
    rng.shuffle(titles)
    train_titles = set(titles[: round(len(titles) * TRAIN_ARTICLE_SHARE)])
    train = [q for q in questions if q["title"] in train_titles]
    test = [q for q in questions if q["title"] not in train_titles]
    return rng.sample(train, TRAIN_QUESTIONS), rng.sample(test, TEST_QUESTIONS)


def embed_all(texts: list[str], cache: Path | None, tag: str) -> np.ndarray:
    """Embed texts, reusing an ``.npy`` cache keyed by tag when given."""
    file = cache.with_name(f"{cache.stem}-{tag}.npy") if cache else None
    if file and file.exists():
        vectors = np.load(file)
        if len(vectors) == len(texts):
            return vectors
    vectors = get_embedder().embed(texts)
    if file:
        file.parent.mkdir(parents=True, exist_ok=True)
        np.save(file, vectors)
    return vectors


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1e-3) -> tuple[np.ndarray, float]:
    """Plain Newton-Raphson logistic regression with a small L2 penalty (intercept free)."""
    design = np.hstack([x, np.ones((len(x), 1))])
    w = np.zeros(design.shape[1])
    penalty = np.full(design.shape[1], l2)
    penalty[-1] = 0.0
    for _ in range(50):
        p = 1.0 / (1.0 + np.exp(-design @ w))
        grad = design.T @ (p - y) + penalty * w
        hess = (design * (p * (1 - p))[:, None]).T @ design + np.diag(penalty)
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return w[:-1], float(w[-1])


def best_threshold(scores: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Threshold (rounded to 0.01) maximising accuracy of ``score >= t``, and that accuracy."""
    grid = np.round(np.arange(0.01, 1.0, 0.01), 2)
    accs = [float(((scores >= t) == y).mean()) for t in grid]
    i = int(np.argmax(accs))
    return float(grid[i]), accs[i]


def auc(pos: np.ndarray, neg: np.ndarray) -> float:
    """Probability a random relevant pair outscores a random distractor pair."""
    order = np.argsort(np.concatenate([pos, neg]), kind="stable")
    ranks = np.empty(len(order))
    ranks[order] = np.arange(1, len(order) + 1)
    return float((ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def pair_features(
    qs: list[dict],
    dis: dict[int, int],
    qvec: dict[str, np.ndarray],
    pvec: np.ndarray,
    paragraphs: list[tuple[str, str]],
) -> np.ndarray:
    """Feature rows: own paragraph rows first, then distractor rows."""
    own, other = [], []
    for q in qs:
        for target, para in ((own, q["para"]), (other, dis[id(q)])):
            target.append(
                grader.features(
                    q["question"], [paragraphs[para][1]], qvec[q["question"]], pvec[[para]]
                )[0]
            )
    return np.vstack([own, other])


def strip_scores(
    qs: list[dict],
    dis: dict[int, int],
    paragraphs: list[tuple[str, str]],
    strips: dict[int, list[str]],
    svec: dict[int, np.ndarray],
    qvec: dict[str, np.ndarray],
) -> tuple[np.ndarray, np.ndarray]:
    """Scores of the gold-answer strip of each own paragraph, and of all distractor strips."""
    gold, noise = [], []
    for q in qs:
        q_vector = qvec[q["question"]]
        for para, is_own in ((q["para"], True), (dis[id(q)], False)):
            rows = grader.features(q["question"], strips[para], q_vector, svec[para])
            scores = grader.logistic(rows)
            if is_own:
                hit = [i for i, s in enumerate(strips[para]) if any(a in s for a in q["answers"])]
                if hit:
                    gold.append(scores[hit[0]])
            else:
                noise.extend(scores)
    return np.asarray(gold), np.asarray(noise)


def main() -> None:
    """Run the calibration and print the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=None, help="cache embeddings here (.npy)")
    args = parser.parse_args()
    started = time.perf_counter()
    paragraphs, questions = load_squad(SQUAD)
    train, test = split(questions)
    sample = train + test
    dis_list = bm25_distractors(paragraphs, sample)
    dis = {id(q): d for q, d in zip(sample, dis_list, strict=True)}
    print(
        f"paragraphs={len(paragraphs)} train={len(train)} test={len(test)} "
        f"(articles split {TRAIN_ARTICLE_SHARE:.0%}/{1 - TRAIN_ARTICLE_SHARE:.0%}, seed {SEED})"
    )

    needed = sorted({q["para"] for q in sample} | set(dis_list))
    vectors = embed_all([paragraphs[i][1] for i in needed], args.cache, "paragraphs")
    pvec = np.zeros((len(paragraphs), 384), np.float32)
    pvec[needed] = vectors
    qtexts = sorted({q["question"] for q in sample})
    qvec = dict(zip(qtexts, embed_all(qtexts, args.cache, "questions"), strict=True))
    print(
        f"embedded {len(needed)} paragraphs + {len(qtexts)} questions "
        f"({time.perf_counter() - started:.0f}s)"
    )

    x_train = pair_features(train, dis, qvec, pvec, paragraphs)
    y_train = np.r_[np.ones(len(train)), np.zeros(len(train))]
    x_test = pair_features(test, dis, qvec, pvec, paragraphs)
    y_test = np.r_[np.ones(len(test)), np.zeros(len(test))]
    coef, intercept = fit_logistic(x_train, y_train)
    grader.COEFFICIENTS = tuple(float(c) for c in coef)
    grader.INTERCEPT = intercept
    s_train, s_test = grader.logistic(x_train), grader.logistic(x_test)

    decision, train_acc = best_threshold(s_train, y_train)
    grid = np.round(np.arange(decision, 1.0, 0.01), 2)
    correct = next(
        (float(t) for t in grid if y_train[s_train >= t].mean() >= CORRECT_PRECISION),
        float(grid[-1]),
    )
    rel_train = s_train[y_train == 1]
    incorrect = float(np.floor(np.quantile(rel_train, INCORRECT_RELEVANT_LOSS) * 100) / 100)
    incorrect = min(incorrect, decision)

    n = len(test)
    pos, neg = s_test[:n], s_test[n:]
    test_acc = float(((s_test >= decision) == y_test).mean())
    print("\nfeatures:", ", ".join(grader.FEATURES))
    print(f"COEFFICIENTS = ({', '.join(f'{c:.3f}' for c in coef)})\nINTERCEPT = {intercept:.3f}")
    for name, col in zip(grader.FEATURES, range(x_test.shape[1]), strict=True):
        solo = auc(x_test[:n, col], x_test[n:, col])
        print(f"  {name:<18} test AUC alone {solo:.3f}")
    print(
        f"\ndecision threshold {decision:.2f}: train accuracy {train_acc:.3f}, "
        f"TEST accuracy {test_acc:.3f} (relevant vs BM25 distractor, {2 * n} pairs)"
    )
    print(
        f"test pairwise (own > distractor) {float((pos > neg).mean()):.3f}, "
        f"test AUC {auc(pos, neg):.3f}"
    )
    print(
        f"correct_threshold {correct:.2f}: test precision "
        f"{float(y_test[s_test >= correct].mean()):.3f}, "
        f"relevant reaching it {float((pos >= correct).mean()):.3f}"
    )
    print(
        f"incorrect_threshold {incorrect:.2f}: "
        f"relevant below it {float((pos < incorrect).mean()):.3f}, "
        f"distractors below it {float((neg < incorrect).mean()):.3f}"
    )

    strip_paras = sorted({q["para"] for q in sample} | set(dis_list))
    strips = {p: split_strips(paragraphs[p][1]) for p in strip_paras}
    flat = [s for p in strip_paras for s in strips[p]]
    flat_vec = embed_all(flat, args.cache, "strips")
    svec, at = {}, 0
    for p in strip_paras:
        svec[p] = flat_vec[at : at + len(strips[p])]
        at += len(strips[p])
    gold_tr, noise_tr = strip_scores(train, dis, paragraphs, strips, svec, qvec)
    strip_t = float(np.floor(np.quantile(gold_tr, 1 - STRIP_KEEP) * 100) / 100)
    gold_te, noise_te = strip_scores(test, dis, paragraphs, strips, svec, qvec)
    print(
        f"strip_threshold {strip_t:.2f}: test gold-answer strips kept "
        f"{float((gold_te >= strip_t).mean()):.3f}, distractor strips dropped "
        f"{float((noise_te < strip_t).mean()):.3f} ({len(flat)} strips)"
    )
    print(
        f"\nContext defaults: correct_threshold={correct:.2f} "
        f"incorrect_threshold={incorrect:.2f} strip_threshold={strip_t:.2f}"
    )
    print(f"total {time.perf_counter() - started:.0f}s")


if __name__ == "__main__":
    main()
