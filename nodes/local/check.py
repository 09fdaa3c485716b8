"""Answer check: is each cited sentence supported by its source, and does it answer?"""

from __future__ import annotations

import re

import numpy as np

from nodes.local.text import content_words, split_sentences, stem, term_set
from state.document import Doc

LEXICAL_SUPPORT = 0.8
"""Share of a sentence's content terms found in its cited document that counts as support."""
DENSE_SUPPORT = 0.6
"""Cosine to the closest sentence of the cited document that counts as (paraphrase) support."""
RELEVANT_COSINE = 0.3
RELEVANT_COVERAGE = 0.34

_CITATION = re.compile(r"\[(\d+(?:\s*,\s*\d+)*)\]")
_ABSTAIN = re.compile(
    r"\b(?:could not find|couldn't find|cannot find|can't find|no (?:information|answer)"
    r"|not (?:found|mentioned|covered) in|do(?:es)? not (?:contain|mention|say)"
    r"|i don't know|i do not know|unable to (?:find|answer))\b",
    re.IGNORECASE,
)


def _citations(sentence: str) -> list[int]:
    return [int(n) for group in _CITATION.findall(sentence) for n in group.split(",")]


def _body(sentence: str) -> str:
    return re.sub(r"\s+", " ", _CITATION.sub("", sentence)).strip(" -")


def _claims(answer: str) -> list[tuple[str, list[int]]]:
    """Answer sentences with their citations (a header ending in ':' is no claim)."""
    claims = []
    for sentence in split_sentences(answer):
        body = _body(sentence)
        if body.endswith(":") and not _citations(sentence):
            continue
        if len(content_words(body)) >= 2:
            claims.append((sentence, _citations(sentence)))
    return claims


def _overlap(body: str, doc_terms: set[str]) -> float:
    terms = set(stem(content_words(body)))
    return len(terms & doc_terms) / len(terms) if terms else 1.0


def check_answer(question: str, answer: str, docs: list[Doc]) -> dict:
    """Verify an answer (extractive or written by an LLM) against the numbered context.

    Each answer sentence citing ``[n]`` must be supported by ``docs[n-1]``: most of its
    content terms appear there, or it is a close paraphrase (MiniLM cosine) of one of its
    sentences. Citing a number with no document is unsupported. Uncited sentences are checked
    against all documents only when the answer cites nothing at all. An explicit abstention
    is grounded and relevant (it honestly answers "not found").

    Args:
        question: The question.
        answer: The answer text with ``[n]`` citations.
        docs: The numbered context: ``[1]`` is ``docs[0]``.

    Returns:
        ``{"grounded": bool, "relevant": bool, "unsupported": list[str], "reason": str}``.
    """
    if not answer.strip():
        return _result(False, False, [], "empty answer")
    if _ABSTAIN.search(answer) and not _CITATION.search(answer):
        return _result(True, True, [], "explicit abstention: nothing claimed")
    claims = _claims(answer)
    any_cited = any(cites for _, cites in claims)
    doc_terms = [term_set(doc["content"]) for doc in docs]
    pending: list[tuple[int, str, list[int]]] = []
    unsupported: list[str] = []
    for k, (sentence, cites) in enumerate(claims):
        if any_cited and not cites:
            continue
        targets = cites or list(range(1, len(docs) + 1))
        valid = [n for n in targets if 1 <= n <= len(docs)]
        if not valid:
            unsupported.append(sentence)
            continue
        if not any(_overlap(_body(sentence), doc_terms[n - 1]) >= LEXICAL_SUPPORT for n in valid):
            pending.append((k, sentence, valid))
    unsupported += _dense_unsupported(pending, docs)
    bodies = " ".join(_body(s) for s, _ in claims) or _body(answer)
    relevant = _relevant(question, bodies)
    order = {s: i for i, (s, _) in enumerate(claims)}
    unsupported.sort(key=lambda s: order.get(s, 0))
    reason = (
        "every cited sentence is supported by its source"
        if not unsupported
        else f"{len(unsupported)} sentence(s) not supported by the cited source"
    )
    reason += "; answer addresses the question" if relevant else "; answer does not address it"
    return _result(not unsupported, relevant, unsupported, reason)


def _dense_unsupported(pending: list[tuple[int, str, list[int]]], docs: list[Doc]) -> list[str]:
    if not pending:
        return []
    from tools.embedder import get_embedder

    needed = sorted({n for _, _, valid in pending for n in valid})
    doc_sentences = {
        n: split_sentences(docs[n - 1]["content"]) or [docs[n - 1]["content"]] for n in needed
    }
    texts = [_body(s) for _, s, _ in pending] + [s for n in needed for s in doc_sentences[n]]
    vectors = get_embedder().embed(texts)
    claim_vecs = vectors[: len(pending)]
    at, doc_vecs = len(pending), {}
    for n in needed:
        doc_vecs[n] = vectors[at : at + len(doc_sentences[n])]
        at += len(doc_sentences[n])
    failed = []
    for row, (_, sentence, valid) in enumerate(pending):
        best = max(float(np.max(doc_vecs[n] @ claim_vecs[row])) for n in valid)
        if best < DENSE_SUPPORT:
            failed.append(sentence)
    return failed


def _relevant(question: str, body: str) -> bool:
    q_terms = term_set(question)
    coverage = len(q_terms & term_set(body)) / len(q_terms) if q_terms else 1.0
    if coverage >= RELEVANT_COVERAGE:
        return True
    from tools.embedder import get_embedder

    vectors = get_embedder().embed([question, body])
    return float(vectors[0] @ vectors[1]) >= RELEVANT_COSINE


def _result(grounded: bool, relevant: bool, unsupported: list[str], reason: str) -> dict:
    return {
        "grounded": grounded,
        "relevant": relevant,
        "unsupported": unsupported,
        "reason": reason,
    }
