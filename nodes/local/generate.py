"""Extractive answers: the best supported sentences of the context, each with its citation."""

from __future__ import annotations

import re

from nodes.local.grader import score_texts
from nodes.local.remember import is_about_user
from nodes.local.text import has_number, split_sentences, tokenize
from state.document import Doc

PREFIX = "From the retrieved sources (extractive answer, no language model configured):"
NOT_FOUND = "I could not find an answer to this in the available sources."
MIN_SUPPORT = 0.3
"""Sentence relevance (grader scale) below which a sentence does not answer the question."""
KEEP_RATIO = 0.8
MAX_WORDS = 60

_NUMERIC_Q = re.compile(
    r"\b(?:when|what year|which year|how (?:many|much|long|old|far|often|big|large|tall)"
    r"|what (?:date|time|percentage|number|amount|fee|price|rate|cost)|cost)\b",
    re.IGNORECASE,
)
_ENTITY_Q = re.compile(r"^\s*(?:who|whom|whose|where|which)\b", re.IGNORECASE)
MEMORY_FIRST = 1.0
"""Lifts the user's own supported statements above all else for questions about the user."""


def _type_bonus(question: str, sentence: str) -> float:
    if _NUMERIC_Q.search(question) and has_number(sentence):
        return 0.1
    if _ENTITY_Q.search(question):
        asked = {w.lower() for w in re.findall(r"\b[A-Z][a-z]+", question)}
        names = {w.lower() for w in re.findall(r"(?<!^)(?<![.!?] )\b[A-Z][a-z]+", sentence)}
        if names - asked:
            return 0.05
    return 0.0


def _memory_first(about_user: bool, doc: Doc, score: float) -> float:
    return (
        MEMORY_FIRST if about_user and doc["source"] == "memory" and score >= MIN_SUPPORT else 0.0
    )


def _shorten(sentence: str) -> str:
    words = sentence.split()
    if len(words) <= MAX_WORDS:
        return sentence
    return " ".join(words[:MAX_WORDS]) + " …"


def candidate_sentences(question: str, docs: list[Doc]) -> list[tuple[float, int, int, str]]:
    """Every context sentence as ``(score, doc number, position, sentence)``, best first."""
    pool = [
        (n, i, s)
        for n, doc in enumerate(docs, 1)
        for i, s in enumerate(split_sentences(doc["content"]))
    ]
    if not pool or not tokenize(question):
        return []
    scores = score_texts(question, [s for _, _, s in pool])
    about_user = is_about_user(question)
    ranked = [
        (score + _type_bonus(question, s) + _memory_first(about_user, docs[n - 1], score), n, i, s)
        for (n, i, s), score in zip(pool, scores, strict=True)
    ]
    return sorted(ranked, key=lambda r: (-r[0], r[1], r[2]))


def extractive_answer(question: str, docs: list[Doc], max_sentences: int = 3) -> str:
    """Answer with the context's best supported sentences, each cited as ``[n]``.

    Args:
        question: The question.
        docs: The numbered context: ``[1]`` is ``docs[0]``.
        max_sentences: At most this many sentences are quoted.

    Returns:
        ``PREFIX`` followed by one cited sentence per line (best first), or ``NOT_FOUND``
        when no sentence supports an answer.
    """
    ranked = candidate_sentences(question, docs)
    if not ranked or ranked[0][0] < MIN_SUPPORT:
        return NOT_FOUND
    best = ranked[0][0]
    chosen: list[tuple[float, int, int, str]] = []
    seen: set[str] = set()
    for row in ranked:
        key = " ".join(tokenize(row[3]))
        if len(chosen) >= max_sentences or row[0] < max(MIN_SUPPORT, KEEP_RATIO * best):
            break
        if key not in seen:
            seen.add(key)
            chosen.append(row)
    lines = [f"- {_shorten(sentence)} [{n}]" for _, n, _, sentence in chosen]
    return "\n".join([PREFIX, *lines])
