"""Calibrate the local grader on SQuAD v1.1 dev: fit its logistic, choose the thresholds.

Pairs: each sampled question with its own paragraph (relevant) and with the best-scoring
OTHER paragraph by BM25 over all 2,067 unique paragraphs (a hard distractor). Accuracy is
pair accuracy: every (question, paragraph) pair is classified relevant (score >= decision
threshold) or not; the own paragraph should be relevant and the distractor irrelevant, and
accuracy is the share of the 2 x N pairs classified right. Ranking accuracy (own scores above
its distractor) and AUC are reported beside it.

The grader sees the documents retrieved for one question together (its coverage feature
down-weights terms they share), so every paragraph is scored within the batch the node would
grade: the top-4 of the product's hybrid retrieval (`tools.lexical` BM25 + MiniLM cosine, fused
by `tools.knowledge_base.fuse`, title + text indexed), with the paragraph put in 4th place if
retrieval missed it. Batches retrieved with the own paragraph removed show what the verdict
does when nothing relevant was found.

Articles are split by title into a training split (coefficients, thresholds and the feature
choice, by 5-fold cross-validation over articles, are made there) and a held-apart test split
(reported).

Usage:
    AGENTIC_RAG_EMBED_THREADS=2 .venv/bin/python bench/calibrate_grader.py \
        [--cache FILE] [--report bench/results/grader-calibration.md]

Prints the fitted coefficients (to paste into ``nodes/local/grader.py``), the three
thresholds (the defaults of ``state/context.py``) and the test-split numbers.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from nodes.local import grader
from nodes.local.refine import split_strips
from tools.datasets import bm25_distractors, load_squad, squad_dev_path
from tools.embedder import get_embedder
from tools.knowledge_base import CANDIDATES, Candidates, fuse, index_text
from tools.lexical import LexicalIndex

SQUAD = squad_dev_path()
SEED = 13
TRAIN_QUESTIONS = 1500
TEST_QUESTIONS = 1000
TRAIN_ARTICLE_SHARE = 0.6
BATCH = 4
FOLDS = 5
CORRECT_PRECISION = 0.85
INCORRECT_RELEVANT_LOSS = 0.05
STRIP_KEEP = 0.95
BEFORE = {"pair accuracy": 0.794, "ranking accuracy": 0.920, "AUC": 0.871}
"""Held-out numbers of the previous grader (cosine, coverage, sentence and bigram coverage of
the whole paragraph, each scored alone) on these same pairs, from this script before the
change."""


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


def lookup_embedder(texts: list[str], vectors: np.ndarray) -> Callable[[list[str]], np.ndarray]:
    """An ``embed`` function answering from precomputed vectors (the embedder for misses)."""
    table = {t: v for t, v in zip(texts, vectors, strict=True)}

    def embed(batch: list[str]) -> np.ndarray:
        missing = [t for t in dict.fromkeys(batch) if t not in table]
        if missing:
            table.update(zip(missing, get_embedder().embed(missing), strict=True))
        return np.asarray([table[t] for t in batch], np.float32)

    return embed


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


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def best_threshold(scores: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Threshold (rounded to 0.01) maximising accuracy of ``score >= t``, and that accuracy."""
    grid = np.round(np.arange(0.01, 1.0, 0.01), 2)
    accs = [float(((scores >= t) == y).mean()) for t in grid]
    i = int(np.argmax(accs))
    return float(grid[i]), accs[i]


def auc(pos: np.ndarray, neg: np.ndarray) -> float:
    """Probability a random relevant pair outscores a random distractor pair (ties count half)."""
    diff = pos[:, None] - neg[None, :]
    return float((diff > 0).mean() + 0.5 * (diff == 0).mean())


def retrieve(
    paragraphs: list[tuple[str, str]], sample: list[dict], cache: Path | None
) -> tuple[list[list[int]], np.ndarray]:
    """Top-10 paragraphs per question by the product's hybrid search; question vectors."""
    texts = [index_text(t.replace("_", " "), c) for t, c in paragraphs]
    ids = [str(i) for i in range(len(paragraphs))]
    lexical = LexicalIndex.build(ids, texts)
    pvec = embed_all(texts, cache, "index")
    qvec = embed_all([q["question"] for q in sample], cache, "questions")
    ranked = []
    for q, v in zip(sample, qvec, strict=True):
        cos = pvec @ v
        dense_rank = [str(i) for i in np.argsort(-cos, kind="stable")[:CANDIDATES]]
        scores = lexical.scores(q["question"])
        bm25_rank = [str(i) for i in np.argsort(-scores, kind="stable")[:CANDIDATES] if scores[i]]
        union = dict.fromkeys(dense_rank + bm25_rank)
        cands = Candidates(
            v,
            {c: float(cos[int(c)]) for c in union},
            {c: float(scores[int(c)]) for c in union},
            dense_rank,
            bm25_rank,
        )
        ranked.append([int(c) for c, _ in fuse(cands)[:10]])
    return ranked, qvec


def with_member(batch: list[int], member: int) -> list[int]:
    """The batch, with ``member`` in last place if retrieval missed it."""
    return batch if member in batch else [*batch[: BATCH - 1], member]


class Pairs:
    """Feature rows of one split: each own and distractor paragraph graded within its batch."""

    def __init__(self, qs, dis, ranked, qvec, paragraphs, embed) -> None:
        self.titles = [q["title"] for q in qs]
        self.own_batch: list[tuple[np.ndarray, int]] = []
        self.dis_batch: list[tuple[np.ndarray, int]] = []
        self.no_relevant: list[np.ndarray] = []
        alone_own, alone_other = [], []
        for q in qs:
            i = q["i"]

            def rows(batch: list[int], q=q) -> np.ndarray:
                docs = [paragraphs[p][1] for p in batch]
                return grader.features(q["question"], docs, qvec[q["i"]], embed=embed)

            top = ranked[i][:BATCH]
            own_batch, dis_batch = with_member(top, q["para"]), with_member(top, dis[i])
            own_rows = rows(own_batch)
            dis_rows = own_rows if dis_batch == own_batch else rows(dis_batch)
            self.own_batch.append((own_rows, own_batch.index(q["para"])))
            self.dis_batch.append((dis_rows, dis_batch.index(dis[i])))
            self.no_relevant.append(rows([p for p in ranked[i] if p != q["para"]][:BATCH]))
            alone_own.append(rows([q["para"]])[0])
            alone_other.append(rows([dis[i]])[0])
        self.own = np.asarray([r[k] for r, k in self.own_batch])
        self.other = np.asarray([r[k] for r, k in self.dis_batch])
        self.alone = (np.asarray(alone_own), np.asarray(alone_other))

    def subset(self, keep: np.ndarray) -> Pairs:
        """The pairs of the questions where ``keep`` is true."""
        out = Pairs.__new__(Pairs)
        idx = np.flatnonzero(keep)
        out.titles = [self.titles[i] for i in idx]
        out.own_batch = [self.own_batch[i] for i in idx]
        out.dis_batch = [self.dis_batch[i] for i in idx]
        out.no_relevant = [self.no_relevant[i] for i in idx]
        out.own, out.other = self.own[idx], self.other[idx]
        out.alone = (self.alone[0][idx], self.alone[1][idx])
        return out


def fit(pairs: Pairs, cols: list[int], alone: bool = False) -> tuple[np.ndarray, float, float]:
    own, other = pairs.alone if alone else (pairs.own, pairs.other)
    x = np.vstack([own[:, cols], other[:, cols]])
    y = np.r_[np.ones(len(own)), np.zeros(len(other))]
    coef, intercept = fit_logistic(x, y)
    t, _ = best_threshold(sigmoid(x @ coef + intercept), y)
    return coef, intercept, t


def pair_metrics(pos: np.ndarray, neg: np.ndarray, t: float) -> dict[str, float]:
    return {
        "acc": float((np.mean(pos >= t) + np.mean(neg < t)) / 2),
        "rank": float(np.mean(pos > neg)),
        "auc": auc(pos, neg),
    }


def demoted(rows: np.ndarray, coef: np.ndarray, intercept: float, b: float) -> np.ndarray:
    """Batch-relative variant (not shipped): each score lowered by its gap to the batch's best."""
    z = rows @ coef + intercept
    gaps = np.array(
        [min(0.0, z[i] - np.delete(z, i).max()) if len(z) > 1 else 0.0 for i in range(len(z))]
    )
    return sigmoid(z + b * gaps)


def relative_variant(train: Pairs, test: Pairs, cols: list[int]) -> dict[str, float]:
    """Fit the demotion weight and its pair-accuracy threshold on train, evaluate on test."""
    coef, intercept, _ = fit(train, cols)

    def scores(pairs: Pairs, b: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        pos = np.array([demoted(r[:, cols], coef, intercept, b)[k] for r, k in pairs.own_batch])
        neg = np.array([demoted(r[:, cols], coef, intercept, b)[k] for r, k in pairs.dis_batch])
        top = np.array([demoted(r[:, cols], coef, intercept, b).max() for r in pairs.no_relevant])
        return pos, neg, top

    def train_acc(b: float) -> float:
        pos, neg, _ = scores(train, b)
        return best_threshold(np.r_[pos, neg], np.r_[np.ones(len(pos)), np.zeros(len(neg))])[1]

    b = max(np.arange(0.0, 6.01, 0.5), key=train_acc)
    pos, neg, _ = scores(train, b)
    t, _ = best_threshold(np.r_[pos, neg], np.r_[np.ones(len(pos)), np.zeros(len(neg))])
    pos, neg, top = scores(test, b)
    return {
        **pair_metrics(pos, neg, t),
        "t": t,
        "b": float(b),
        "norel_kept": float(np.mean(top >= t)),
    }


def cross_validate(pairs: Pairs, evaluate: Callable[[Pairs, Pairs], dict[str, float]]) -> dict:
    """Article-grouped K-fold over the training split; metrics weighted by fold size."""
    titles = sorted(set(pairs.titles))
    random.Random(SEED).shuffle(titles)
    folds = [set(titles[k::FOLDS]) for k in range(FOLDS)]
    results, sizes = [], []
    for held in folds:
        mask = np.array([t in held for t in pairs.titles])
        results.append(evaluate(pairs.subset(~mask), pairs.subset(mask)))
        sizes.append(int(mask.sum()))
    return {k: float(np.average([r[k] for r in results], weights=sizes)) for k in results[0]}


def absolute_cv(cols: list[int], alone: bool = False):
    def evaluate(train: Pairs, test: Pairs) -> dict[str, float]:
        coef, intercept, t = fit(train, cols, alone)
        own, other = test.alone if alone else (test.own, test.other)
        return pair_metrics(
            sigmoid(own[:, cols] @ coef + intercept), sigmoid(other[:, cols] @ coef + intercept), t
        )

    return evaluate


def main() -> None:
    """Run the calibration and print the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=None, help="cache embeddings here (.npy)")
    parser.add_argument("--report", type=Path, default=None, help="write a markdown report here")
    args = parser.parse_args()
    started = time.perf_counter()
    lines: list[str] = []

    def say(text: str = "") -> None:
        print(text, flush=True)
        lines.append(text)

    paragraphs, questions = load_squad(SQUAD)
    train, test = split(questions)
    sample = train + test
    for i, q in enumerate(sample):
        q["i"] = i
    dis = bm25_distractors(paragraphs, sample)
    ranked, qvec = retrieve(paragraphs, sample, args.cache)
    say(
        f"paragraphs={len(paragraphs)} train={len(train)} test={len(test)} questions "
        f"(articles split {TRAIN_ARTICLE_SHARE:.0%}/{1 - TRAIN_ARTICLE_SHARE:.0%} by title, "
        f"seed {SEED}); own paragraph in the hybrid top-{BATCH}: "
        f"{np.mean([q['para'] in ranked[q['i']][:BATCH] for q in sample]):.3f}, "
        f"distractor: {np.mean([dis[q['i']] in ranked[q['i']][:BATCH] for q in sample]):.3f}"
    )
    needed = sorted(
        {p for q in sample for p in ranked[q["i"]]} | {q["para"] for q in sample} | set(dis)
    )
    sentences = sorted({s for p in needed for s in grader._Passage.of(paragraphs[p][1]).sentences})
    embed = lookup_embedder(sentences, embed_all(sentences, args.cache, "sentences"))
    took = time.perf_counter() - started
    say(f"embedded {len(sentences)} sentences of {len(needed)} paragraphs ({took:.0f}s)")

    tr = Pairs(train, dis, ranked, qvec, paragraphs, embed)
    te = Pairs(test, dis, ranked, qvec, paragraphs, embed)
    every = list(range(len(grader.FEATURES)))

    say(f"\n{FOLDS}-fold cross-validation over training articles (pair acc / ranking / AUC):")
    variants: list[tuple[str, Callable]] = [("all features", absolute_cv(every))]
    variants += [
        (f"without {grader.FEATURES[c]}", absolute_cv([k for k in every if k != c])) for c in every
    ]
    variants.append(
        ("each paragraph graded alone (no batch weighting)", absolute_cv(every, alone=True))
    )
    for name, evaluate in variants:
        r = cross_validate(tr, evaluate)
        say(f"  {name:<52} {r['acc']:.3f} / {r['rank']:.3f} / {r['auc']:.3f}")
    r = cross_validate(tr, lambda a, b: relative_variant(a, b, every))
    say(
        f"  {'NOT SHIPPED: score lowered by its gap to the batch best':<52} "
        f"{r['acc']:.3f} / {r['rank']:.3f} / {r['auc']:.3f}  (threshold {r['t']:.2f}; "
        f"top doc of batches WITHOUT a relevant paragraph kept as relevant: {r['norel_kept']:.3f})"
    )

    coef, intercept, decision = fit(tr, every)
    grader.COEFFICIENTS = tuple(float(c) for c in coef)
    grader.INTERCEPT = intercept
    correct, incorrect = verdict_thresholds(tr, decision)
    say("\nfeatures: " + ", ".join(grader.FEATURES))
    say(f"COEFFICIENTS = ({', '.join(f'{c:.3f}' for c in coef)})\nINTERCEPT = {intercept:.3f}")
    for name, col in zip(grader.FEATURES, every, strict=True):
        say(f"  {name:<18} test AUC alone {auc(te.own[:, col], te.other[:, col]):.3f}")
    for line in held_out(te, decision, correct, incorrect):
        say(line)

    strip_t, strip_line = strip_threshold(train, test, dis, paragraphs, qvec, embed)
    say(strip_line)
    rel = relative_variant(tr, te, every)
    say(
        f"\nNOT SHIPPED, for comparison: the same scores lowered by their gap to the batch's "
        f"best (weight {rel['b']:.1f}, threshold {rel['t']:.2f} chosen on train): held-out pair "
        f"accuracy {rel['acc']:.3f}, ranking {rel['rank']:.3f}; but the top document of a batch "
        f"WITHOUT any relevant paragraph is then kept as relevant for {rel['norel_kept']:.3f} "
        "of questions."
    )
    say(
        f"\nContext defaults: correct_threshold={correct:.2f} "
        f"incorrect_threshold={incorrect:.2f} strip_threshold={strip_t:.2f}"
    )
    say(f"total {time.perf_counter() - started:.0f}s")
    if args.report:
        write_report(args.report, lines)


def batch_maxima(pairs: Pairs) -> tuple[np.ndarray, np.ndarray]:
    """Best score of each question's batch with its own paragraph, and with it removed."""
    found = np.array([grader.logistic(rows).max() for rows, _ in pairs.own_batch])
    missing = np.array([grader.logistic(rows).max() for rows in pairs.no_relevant])
    return found, missing


def verdict_thresholds(train: Pairs, decision: float) -> tuple[float, float]:
    """``correct_threshold`` and ``incorrect_threshold`` from the training split.

    Correct: the lowest threshold (at or above the decision threshold) at which a Correct
    verdict is right `CORRECT_PRECISION` of the time over the training batches, half of them
    retrieved with the own paragraph and half with it removed from the corpus. Incorrect: the
    score below which `INCORRECT_RELEVANT_LOSS` of own paragraphs fall (they would be dropped).
    """
    found, missing = batch_maxima(train)
    grid = np.round(np.arange(decision, 1.0, 0.01), 2)
    correct = next(
        (
            float(t)
            for t in grid
            if np.mean(found >= t) >= CORRECT_PRECISION * np.mean(np.r_[found, missing] >= t) * 2
        ),
        float(grid[-1]),
    )
    own = grader.logistic(train.own)
    incorrect = float(np.floor(np.quantile(own, INCORRECT_RELEVANT_LOSS) * 100) / 100)
    return correct, min(incorrect, decision)


def held_out(test: Pairs, decision: float, correct: float, incorrect: float) -> list[str]:
    """The report lines of the held-out split."""
    pos, neg = grader.logistic(test.own), grader.logistic(test.other)
    held = pair_metrics(pos, neg, decision)
    found, missing = batch_maxima(test)
    y, s = np.r_[np.ones(len(pos)), np.zeros(len(neg))], np.r_[pos, neg]
    before = ", ".join(f"{k} {v:.3f}" for k, v in BEFORE.items())
    return [
        f"\nHELD-OUT ({2 * len(pos)} pairs, {len(pos)} questions on unseen articles), "
        f"decision threshold {decision:.2f} (chosen on train):",
        f"  pair accuracy {held['acc']:.3f} (own paragraph relevant "
        f"{np.mean(pos >= decision):.3f}, distractor irrelevant {np.mean(neg < decision):.3f})",
        f"  ranking accuracy (own > distractor) {held['rank']:.3f}, AUC {held['auc']:.3f}",
        f"  before: {before}",
        f"  pair accuracy at incorrect_threshold (the node's keep/drop line) "
        f"{pair_metrics(pos, neg, incorrect)['acc']:.3f}",
        f"correct_threshold {correct:.2f}: test pair precision {np.mean(y[s >= correct]):.3f}, "
        f"own paragraphs reaching it {np.mean(pos >= correct):.3f}",
        f"incorrect_threshold {incorrect:.2f}: own paragraphs below it "
        f"{np.mean(pos < incorrect):.3f}, distractors below it {np.mean(neg < incorrect):.3f}",
        f"verdicts on test batches (top-{BATCH}): own paragraph retrieved: Correct "
        f"{np.mean(found >= correct):.3f}, Incorrect {np.mean(found < incorrect):.3f}; "
        f"own paragraph removed from the corpus: Correct {np.mean(missing >= correct):.3f}, "
        f"Incorrect {np.mean(missing < incorrect):.3f}; batch AUC {auc(found, missing):.3f}",
    ]


def strip_threshold(train, test, dis, paragraphs, qvec, embed) -> tuple[float, str]:
    """Strip threshold from train: keep `STRIP_KEEP` of gold-answer strips of own paragraphs.

    Strips of the own paragraph and of its distractor are scored together, as refinement
    scores the strips of all kept documents in one call.
    """

    def scores(qs: list[dict]) -> tuple[np.ndarray, np.ndarray]:
        gold, noise = [], []
        for q in qs:
            own = split_strips(paragraphs[q["para"]][1])
            other = split_strips(paragraphs[dis[q["i"]]][1])
            s = grader.logistic(
                grader.features(q["question"], own + other, qvec[q["i"]], embed=embed)
            )
            hit = [i for i, strip in enumerate(own) if any(a in strip for a in q["answers"])]
            if hit:
                gold.append(s[hit[0]])
            noise.extend(s[len(own) :])
        return np.asarray(gold), np.asarray(noise)

    gold_tr, _ = scores(train)
    t = float(np.floor(np.quantile(gold_tr, 1 - STRIP_KEEP) * 100) / 100)
    gold_te, noise_te = scores(test)
    return t, (
        f"strip_threshold {t:.2f}: test gold-answer strips kept {np.mean(gold_te >= t):.3f}, "
        f"distractor strips dropped {np.mean(noise_te < t):.3f} ({len(noise_te)} strips)"
    )


def write_report(path: Path, lines: list[str]) -> None:
    """The markdown record of this run: command, date, split, and the printed results."""
    threads = os.environ.get("AGENTIC_RAG_EMBED_THREADS", "1")
    args = " ".join(json.dumps(a) if " " in a else a for a in sys.argv[1:])
    command = (
        f"AGENTIC_RAG_EMBED_THREADS={threads} .venv/bin/python bench/calibrate_grader.py {args}"
    )
    body = "\n".join(lines)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f"""# Local grader calibration (SQuAD v1.1 dev, relevant vs hardest BM25 distractor)

- Command: `{command.strip()}`
- Date: {datetime.date.today().isoformat()}
- Data: SQuAD v1.1 dev (`../shared/data/squad/`, CC BY-SA 4.0), 2,067 unique paragraphs.
- Split: the 48 articles are shuffled (seed {SEED}) and split by title,
  {TRAIN_ARTICLE_SHARE:.0%} for training and {1 - TRAIN_ARTICLE_SHARE:.0%} held apart;
  {TRAIN_QUESTIONS} questions are sampled from the training articles and {TEST_QUESTIONS} from
  the held-out ones. Coefficients, thresholds and the feature choice ({FOLDS}-fold
  cross-validation over training articles) use the training split only.
- Pairs: each question with its own paragraph (relevant) and with the best BM25 paragraph other
  than its own (irrelevant). Each paragraph is graded within the top-{BATCH} of the product's hybrid
  retrieval for the question (put in last place if retrieval missed it), as the node grades it.
- Pair accuracy: each of the 2 x N (question, paragraph) pairs is classified relevant when its
  score reaches the decision threshold chosen on train; accuracy is the share classified right.
  Ranking accuracy: share of questions whose own paragraph scores above its distractor.
- Before: {", ".join(f"{k} {v:.3f}" for k, v in BEFORE.items())} on these same held-out
  pairs (previous features, each paragraph scored alone).

```
{body}
```
""",
        encoding="utf-8",
    )


if __name__ == "__main__":
    main()
