"""Local relevance grader: a calibrated logistic score over dense and lexical features.

Plays the role of CRAG's retrieval evaluator (a small scoring model, not an LLM). The
coefficients are fitted by ``bench/calibrate_grader.py`` on a training split of SQuAD v1.1
dev articles (own paragraph vs the best BM25 distractor) and committed here.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

import numpy as np

from nodes.local.text import content_words, split_sentences, stem
from state.document import Doc

FEATURES: tuple[str, ...] = ("cosine", "coverage", "sentence_coverage", "bigram_coverage")
"""Feature order of `features` and `COEFFICIENTS`."""

COEFFICIENTS: tuple[float, ...] = (4.401, -0.028, 2.914, 1.415)
INTERCEPT: float = -4.220

_RAW_WORD = re.compile(r"[A-Za-z0-9]+(?:['’.,][A-Za-z0-9]+)*")

Verdict = Literal["correct", "ambiguous", "incorrect"]


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


def lexical_features(question: str, text: str) -> tuple[float, float, float]:
    """Coverage, best-sentence coverage and bigram coverage of the question's terms in text.

    Args:
        question: The question.
        text: A passage (markdown is fine).

    Returns:
        Three numbers in [0, 1].
    """
    weights = _weighted_terms(question)
    doc_terms = stem(content_words(text))
    coverage = _coverage(weights, set(doc_terms))
    best = 0.0
    for sentence in split_sentences(text) or [text]:
        best = max(best, _coverage(weights, set(stem(content_words(sentence)))))
    q_terms = stem(content_words(question))
    q_bigrams = _bigrams(q_terms)
    bigram = len(q_bigrams & _bigrams(doc_terms)) / len(q_bigrams) if q_bigrams else coverage
    return coverage, best, bigram


def features(
    question: str,
    texts: Sequence[str],
    question_vector: np.ndarray | None = None,
    text_vectors: np.ndarray | None = None,
) -> np.ndarray:
    """The ``(len(texts), len(FEATURES))`` feature matrix for one question.

    Args:
        question: The question.
        texts: Passages to score.
        question_vector: The question's unit embedding, if already computed.
        text_vectors: Unit embeddings of ``texts`` (rows may be all-zero to mean "embed me").

    Returns:
        One row per text, columns in `FEATURES` order.
    """
    if not texts:
        return np.zeros((0, len(FEATURES)), dtype=np.float64)
    cosines = _cosines(question, list(texts), question_vector, text_vectors)
    rows = [(c, *lexical_features(question, t)) for c, t in zip(cosines, texts, strict=True)]
    return np.asarray(rows, dtype=np.float64)


def _cosines(
    question: str,
    texts: list[str],
    question_vector: np.ndarray | None,
    text_vectors: np.ndarray | None,
) -> np.ndarray:
    from tools.embedder import get_embedder

    vectors = (
        np.zeros((len(texts), 384), np.float32)
        if text_vectors is None
        else np.array(text_vectors, np.float32)
    )
    missing = [i for i in range(len(texts)) if not np.any(vectors[i])]
    to_embed = [texts[i] for i in missing]
    if question_vector is None:
        to_embed.append(question)
    if to_embed:
        embedded = get_embedder().embed(to_embed)
        for row, i in enumerate(missing):
            vectors[i] = embedded[row]
        if question_vector is None:
            question_vector = embedded[-1]
    return vectors @ np.asarray(question_vector, np.float32)


def logistic(matrix: np.ndarray) -> np.ndarray:
    """Map feature rows to relevance in [0, 1] with the committed coefficients."""
    z = matrix @ np.asarray(COEFFICIENTS) + INTERCEPT
    return 1.0 / (1.0 + np.exp(-z))


def score_texts(
    question: str, texts: Sequence[str], vectors: np.ndarray | None = None
) -> list[float]:
    """Relevance in [0, 1] of each passage to the question (embeds what it needs, in one batch)."""
    return [float(s) for s in logistic(features(question, texts, text_vectors=vectors))]


def _doc_vector(doc: Doc) -> np.ndarray | None:
    dense = doc.get("metadata", {}).get("dense")
    if dense is None or isinstance(dense, (int, float)):
        return None
    vector = np.asarray(dense, dtype=np.float32).ravel()
    if vector.shape != (384,):
        return None
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else None


def score_documents(question: str, docs: list[Doc]) -> list[float]:
    """Relevance in [0, 1] of each document to the question.

    Uses ``doc["metadata"]["dense"]`` as the document's embedding when it is a 384-d vector
    (the vector store's own MiniLM embedding); otherwise the content is embedded here.

    Args:
        question: The (sub-)question the documents should answer.
        docs: Retrieved documents from any source.

    Returns:
        One score per document, in order.
    """
    if not docs:
        return []
    vectors = np.zeros((len(docs), 384), dtype=np.float32)
    for i, doc in enumerate(docs):
        vector = _doc_vector(doc)
        if vector is not None:
            vectors[i] = vector
    texts = [doc["content"] for doc in docs]
    return score_texts(question, texts, vectors)


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
