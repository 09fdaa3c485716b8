"""Local relevance grader: a calibrated logistic score over sentence-level features.

Plays the role of CRAG's retrieval evaluator (a small scoring model, not an LLM). The
coefficients are fitted by ``bench/calibrate_grader.py`` on a training split of SQuAD v1.1
dev articles (own paragraph vs the best BM25 distractor, each graded together with the other
documents hybrid retrieval returned for the question) and committed here.

Features of a passage, for one question (see `FEATURES`):

- ``sentence_coverage``: the best sentence's share of the question's content terms. Names and
  numbers weigh double, and a term found in several of the passages graded together weighs
  less (``1 - (df - 1) / n``): a term every candidate shares says little about which answers.
- ``sentence_cosine``: the best MiniLM cosine between the question and the passage's
  `TOP_SENTENCES` most covering sentences (only those are embedded: cheaper than the whole
  passage, and the sentence that answers is what counts).
- ``bigram_coverage``: share of the question's adjacent content-term pairs found in order.
- ``log_length``: ``log(1 + words)``, words clipped to `LENGTH_RANGE`; long passages match
  question terms by chance more often.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from nodes.local.text import content_words, count_words, split_sentences, stem
from state.document import Doc

FEATURES: tuple[str, ...] = (
    "sentence_coverage",
    "sentence_cosine",
    "bigram_coverage",
    "log_length",
)
"""Feature order of `features` and `COEFFICIENTS`."""

COEFFICIENTS: tuple[float, ...] = (3.015, 6.603, 0.650, -1.064)
INTERCEPT: float = -0.304

TOP_SENTENCES = 3
"""Sentences per passage that are embedded (the ones covering most question terms)."""
LENGTH_RANGE = (50, 400)
"""Word counts outside this range are clipped before ``log_length`` (the fitted range)."""

_RAW_WORD = re.compile(r"[A-Za-z0-9]+(?:['’.,][A-Za-z0-9]+)*")

Verdict = Literal["correct", "ambiguous", "incorrect"]
Embed = Callable[[list[str]], np.ndarray]


def _weighted_terms(text: str) -> dict[str, float]:
    """Question content stems with weights: names and numbers count double."""
    words = content_words(text)
    raw = _RAW_WORD.findall(text)
    upper = {w.lower() for w in raw[1:] if w[:1].isupper() or any(c.isdigit() for c in w)}
    upper |= {w.lower() for w in raw[:1] if any(c.isdigit() for c in w)}
    weights: dict[str, float] = {}
    for word, term in zip(words, stem(words), strict=True):
        weight = 2.0 if word in upper else 1.0
        weights[term] = max(weights.get(term, 0.0), weight)
    return weights


def _coverage(weights: dict[str, float], terms: set[str]) -> float:
    total = sum(weights.values())
    if not total:
        return 0.0
    return sum(w for t, w in weights.items() if t in terms) / total


def _bigrams(terms: list[str]) -> set[tuple[str, str]]:
    return set(zip(terms, terms[1:], strict=False))


@dataclass
class _Passage:
    sentences: list[str]
    sentence_terms: list[set[str]]
    terms: list[str]
    words: int

    @classmethod
    def of(cls, text: str, sentences: list[str] | None = None) -> _Passage:
        if sentences is None:
            sentences = split_sentences(text)
        sentences = sentences or ([text.strip()] if text.strip() else [])
        words = [content_words(s) for s in sentences]
        terms = stem([w for ws in words for w in ws])
        stems, at = [], 0
        for ws in words:
            stems.append(terms[at : at + len(ws)])
            at += len(ws)
        return cls(sentences, [set(s) for s in stems], terms, count_words(text))


def _top_sentences(weights: dict[str, float], passage: _Passage) -> list[int]:
    """Indices of the `TOP_SENTENCES` sentences covering most question weight (ties: first)."""
    covered = [_coverage(weights, terms) for terms in passage.sentence_terms]
    order = sorted(range(len(covered)), key=lambda i: (-covered[i], i))
    return order[:TOP_SENTENCES]


def features(
    question: str,
    texts: Sequence[str],
    question_vector: np.ndarray | None = None,
    text_vectors: np.ndarray | None = None,
    *,
    embed: Embed | None = None,
    sentences: Sequence[list[str]] | None = None,
) -> np.ndarray:
    """The ``(len(texts), len(FEATURES))`` feature matrix for one question.

    The texts are graded together: ``sentence_coverage`` down-weights question terms that
    several of them share, so pass the documents retrieved for one question in one call.

    Args:
        question: The question.
        texts: Passages to score.
        question_vector: The question's unit embedding, if already computed.
        text_vectors: Accepted for compatibility; whole-passage embeddings are not used.
        embed: Embeds a list of texts into unit vectors (default: the local MiniLM embedder).
        sentences: Each text's sentences, when the caller has already split them.

    Returns:
        One row per text, columns in `FEATURES` order.
    """
    del text_vectors
    if not texts:
        return np.zeros((0, len(FEATURES)), dtype=np.float64)
    weights = _weighted_terms(question)
    split = sentences if sentences is not None else [None] * len(texts)
    passages = [_Passage.of(t, s) for t, s in zip(texts, split, strict=True)]
    n = len(passages)
    doc_terms = [set(p.terms) for p in passages]
    shared = {t: sum(t in terms for terms in doc_terms) for t in weights}
    rare = {t: w * (1.0 - (shared[t] - 1) / n if shared[t] else 1.0) for t, w in weights.items()}
    picked = [_top_sentences(weights, p) for p in passages]
    cosines = _sentence_cosines(question, passages, picked, question_vector, embed)
    q_terms = stem(content_words(question))
    q_bigrams = _bigrams(q_terms)
    low, high = LENGTH_RANGE
    rows = []
    for passage, terms, cosine in zip(passages, doc_terms, cosines, strict=True):
        best = max((_coverage(rare, s) for s in passage.sentence_terms), default=0.0)
        if q_bigrams:
            bigram = len(q_bigrams & _bigrams(passage.terms)) / len(q_bigrams)
        else:
            bigram = _coverage(weights, terms)
        length = math.log1p(min(max(passage.words, low), high))
        rows.append((best, cosine, bigram, length))
    return np.asarray(rows, dtype=np.float64)


def _sentence_cosines(
    question: str,
    passages: list[_Passage],
    picked: list[list[int]],
    question_vector: np.ndarray | None,
    embed: Embed | None,
) -> list[float]:
    """Best question-sentence cosine of each passage over its picked sentences (one batch)."""
    if embed is None:
        from tools.embedder import get_embedder

        embed = get_embedder().embed
    sentences = [p.sentences[i] for p, idx in zip(passages, picked, strict=True) for i in idx]
    to_embed = sentences + ([question] if question_vector is None else [])
    vectors = np.asarray(embed(to_embed), np.float32) if to_embed else np.zeros((0, 384))
    q_vector = vectors[-1] if question_vector is None else np.asarray(question_vector, np.float32)
    sims = vectors[: len(sentences)] @ q_vector
    out, at = [], 0
    for idx in picked:
        out.append(float(sims[at : at + len(idx)].max()) if idx else 0.0)
        at += len(idx)
    return out


def logistic(matrix: np.ndarray) -> np.ndarray:
    """Map feature rows to relevance in [0, 1] with the committed coefficients."""
    z = matrix @ np.asarray(COEFFICIENTS) + INTERCEPT
    return 1.0 / (1.0 + np.exp(-z))


def score_texts(
    question: str,
    texts: Sequence[str],
    vectors: np.ndarray | None = None,
    *,
    sentences: Sequence[list[str]] | None = None,
) -> list[float]:
    """Relevance in [0, 1] of each passage to the question, graded together (one embed batch).

    ``vectors`` (whole-passage embeddings) is accepted for compatibility and not used;
    ``sentences`` are the passages' sentences when already split (see `features`).
    """
    matrix = features(question, texts, text_vectors=vectors, sentences=sentences)
    return [float(s) for s in logistic(matrix)]


def score_documents(question: str, docs: list[Doc]) -> list[float]:
    """Relevance in [0, 1] of each document to the question.

    Pass all documents retrieved for one question together: a question term that several of
    them share weighs less. Only the few sentences of each document that cover the question
    best are embedded (the embedder caches them for refinement and extractive answers).

    Args:
        question: The (sub-)question the documents should answer.
        docs: Retrieved documents from any source.

    Returns:
        One score per document, in order.
    """
    if not docs:
        return []
    return score_texts(question, [doc["content"] for doc in docs])


def classify(scores: list[float], correct_threshold: float, incorrect_threshold: float) -> Verdict:
    """CRAG's three-way verdict on a retrieval.

    Args:
        scores: Relevance scores of the retrieved documents.
        correct_threshold: Any score at or above it makes the retrieval ``correct``.
        incorrect_threshold: All scores below it (or no documents) make it ``incorrect``.

    Returns:
        ``"correct"``, ``"ambiguous"`` or ``"incorrect"``.

    Example:
        >>> classify([0.2, 0.7], 0.6, 0.35), classify([0.1], 0.6, 0.35), classify([], 0.6, 0.35)
        ('correct', 'incorrect', 'incorrect')
    """
    if not scores:
        return "incorrect"
    if max(scores) >= correct_threshold:
        return "correct"
    if max(scores) < incorrect_threshold:
        return "incorrect"
    return "ambiguous"
