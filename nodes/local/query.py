"""Query reduction for long messages: the most informative sentences first.

A long message (a pasted ticket, a scenario, an e-mail) mixes the information need with
context that matches nothing in the knowledge base: names, contact details, instructions on
how to behave. BM25 weighs every term regardless of position, but the dense embedder reads
only the first 256 tokens. Reordering the sentences so that those carrying the knowledge
base's most specific vocabulary come first puts the information need inside the embedder's
window without dropping anything the lexical side can use.

Sentence informativeness is the summed BM25 IDF of its distinct terms found in the knowledge
base, divided by its length plus a small constant (so a short sentence with one rare name
does not win). Without a knowledge base at hand, the share of content words is used instead.
Short messages (every SQuAD question, for instance) are returned unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Protocol

from nodes.local.text import STOPWORDS, split_sentences, stem, tokenize

LONG_QUERY_WORDS = 60
LENGTH_PRIOR = 5


class Vocabulary(Protocol):
    """What query reduction needs from a knowledge base's lexical index."""

    def idf(self, word: str) -> float:
        """BM25 IDF of a lower-case word's term; 0.0 when the knowledge base lacks it."""
        ...


def is_long(text: str) -> bool:
    """Whether a message is long enough to be reduced (more than `LONG_QUERY_WORDS` words)."""
    return len(tokenize(text)) > LONG_QUERY_WORDS


def _content(sentence: str) -> list[str]:
    return [w for w in tokenize(sentence) if w not in STOPWORDS]


def informativeness(sentence: str, vocabulary: Vocabulary | None = None) -> float:
    """How much knowledge-base-specific vocabulary a sentence carries per word.

    Args:
        sentence: One sentence.
        vocabulary: IDF source; None scores the share of alphabetic content words instead.
    """
    words = _content(sentence)
    if vocabulary is None:
        return sum(w.isalpha() for w in words) / (len(tokenize(sentence)) + LENGTH_PRIOR)
    distinct = dict(zip(stem(words), words, strict=True))
    return sum(vocabulary.idf(w) for w in distinct.values()) / (len(words) + LENGTH_PRIOR)


def reduce_query(text: str, vocabulary: Vocabulary | None = None) -> str:
    """The search query for a message: unchanged when short, else its sentences reordered.

    Args:
        text: The user's message.
        vocabulary: The knowledge base's vocabulary (see `index_vocabulary`), when known.

    Returns:
        ``text`` with squeezed whitespace when it is short; otherwise every sentence, most
        informative first (ties keep their order).

    Example:
        >>> reduce_query("What is the fee for a wire transfer?")
        'What is the fee for a wire transfer?'
    """
    squeezed = " ".join(text.split())
    if not is_long(squeezed):
        return squeezed
    sentences = split_sentences(text) or [squeezed]
    ranked = sorted(sentences, key=lambda s: -informativeness(s, vocabulary))
    return " ".join(ranked)


class IndexVocabulary:
    """A `Vocabulary` read from a BM25 index: document frequency of each word's term.

    Args:
        scores: Maps a one-word query to the BM25 score of every indexed chunk
            (`tools.lexical.LexicalIndex.scores`); its non-zero entries give the document
            frequency.
        size: Number of indexed chunks.
    """

    def __init__(self, scores: Callable[[str], Any], size: int) -> None:
        self._scores = scores
        self._size = size
        self._cache: dict[str, float] = {}

    def idf(self, word: str) -> float:
        """Lucene BM25 IDF ``log(1 + (N - df + 0.5) / (df + 0.5))``; 0.0 when df is 0."""
        if word not in self._cache:
            df = int((self._scores(word) > 0).sum()) if self._size else 0
            self._cache[word] = math.log(1 + (self._size - df + 0.5) / (df + 0.5)) if df else 0.0
        return self._cache[word]


_vocabularies: dict[tuple[str, str, str], IndexVocabulary] = {}


def index_vocabulary(data_dir: str, kb: str) -> Vocabulary | None:
    """The vocabulary of knowledge base ``kb``, or None when it cannot be read."""
    try:
        from tools.vectorstore import open_kb

        index = open_kb(data_dir, kb).lexical()
    except Exception:  # noqa: BLE001 - reduction then falls back to the KB-free score
        return None
    key = (str(data_dir), kb, index.version)
    if key not in _vocabularies:
        _vocabularies[key] = IndexVocabulary(index.scores, len(index))
    return _vocabularies[key]


def context_vocabulary(ctx: Any = None) -> Vocabulary | None:
    """The vocabulary of the knowledge base a `state.context.Context` searches (None: none)."""
    return None if ctx is None else index_vocabulary(ctx.data_dir, ctx.kb)
