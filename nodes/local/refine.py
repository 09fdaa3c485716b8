"""CRAG knowledge refinement: split documents into strips, keep the relevant ones."""

from __future__ import annotations

from nodes.local.grader import score_texts
from nodes.local.text import split_sentences
from state.document import Doc, make_doc


def split_strips(text: str, max_sentences: int = 3) -> list[str]:
    """Decompose a passage into knowledge strips of at most ``max_sentences`` sentences.

    Args:
        text: Passage text (markdown is fine; headings are dropped).
        max_sentences: Sentences per strip.

    Returns:
        The strips, in order; a short passage is a single strip.

    Example:
        >>> split_strips("A one. B two. C three. D four.", max_sentences=2)
        ['A one. B two.', 'C three. D four.']
    """
    return [" ".join(group) for group in _strip_sentences(text, max_sentences)]


def _strip_sentences(text: str, max_sentences: int = 3) -> list[list[str]]:
    """The sentences of each strip of ``split_strips(text, max_sentences)``."""
    sentences = split_sentences(text)
    if not sentences:
        return [[text.strip()]] if text.strip() else []
    size = max(1, max_sentences)
    return [sentences[i : i + size] for i in range(0, len(sentences), size)]


KEPT_METADATA = ("path", "section", "page", "url", "published", "tenant", "relevance")
"""Parent metadata a strip keeps (the rest is ingest bookkeeping, which would only make every
later checkpoint larger)."""


def _strip_metadata(doc: Doc) -> dict:
    return {k: doc["metadata"][k] for k in KEPT_METADATA if k in doc["metadata"]}


def refine(question: str, docs: list[Doc], threshold: float) -> list[Doc]:
    """Keep only the strips of ``docs`` that are relevant to the question.

    Every strip of every document is scored in one batch with the grader's scoring model.
    Strips below ``threshold`` are dropped; document order and strip order are kept.
    A document whose strips all fall below the threshold is dropped entirely.

    Args:
        question: The question the knowledge should answer.
        docs: Documents judged relevant (or ambiguous) by the grader.
        threshold: Strip relevance (0-1) below which a strip is dropped.

    Returns:
        One `Doc` per kept strip, carrying the parent's source, title and location, an id
        ``<parent id>#s<n>`` and ``metadata["strip_score"]`` / ``metadata["parent_id"]``.
    """
    strips = [
        (doc, n, group) for doc in docs for n, group in enumerate(_strip_sentences(doc["content"]))
    ]
    if not strips:
        return []
    texts = [" ".join(group) for _, _, group in strips]
    scores = score_texts(question, texts, sentences=[group for _, _, group in strips])
    kept: list[Doc] = []
    for (doc, n, _), strip, score in zip(strips, texts, scores, strict=True):
        if score < threshold:
            continue
        kept.append(
            make_doc(
                id=f"{doc['id']}#s{n}",
                content=strip,
                source=doc["source"],
                title=doc["title"],
                location=doc["location"],
                score=doc["score"],
                query=doc["query"],
                metadata={**_strip_metadata(doc), "strip_score": score, "parent_id": doc["id"]},
            )
        )
    return kept
