"""Text utilities for the local engine: sentences, words, stopwords, stems, content terms."""

from __future__ import annotations

import re
from functools import lru_cache

import Stemmer

STOPWORDS: frozenset[str] = frozenset(
    [
        "a",
        "about",
        "above",
        "after",
        "again",
        "against",
        "all",
        "also",
        "am",
        "an",
        "and",
        "any",
        "are",
        "aren't",
        "as",
        "at",
        "be",
        "because",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "but",
        "by",
        "can",
        "can't",
        "cannot",
        "could",
        "couldn't",
        "did",
        "didn't",
        "do",
        "does",
        "doesn't",
        "doing",
        "don't",
        "down",
        "during",
        "each",
        "either",
        "else",
        "ever",
        "few",
        "for",
        "from",
        "further",
        "get",
        "gets",
        "got",
        "had",
        "hadn't",
        "has",
        "hasn't",
        "have",
        "haven't",
        "having",
        "he",
        "he'd",
        "he'll",
        "he's",
        "her",
        "here",
        "here's",
        "hers",
        "herself",
        "him",
        "himself",
        "his",
        "how",
        "how's",
        "however",
        "i",
        "i'd",
        "i'll",
        "i'm",
        "i've",
        "if",
        "in",
        "into",
        "is",
        "isn't",
        "it",
        "it's",
        "its",
        "itself",
        "just",
        "let's",
        "may",
        "me",
        "might",
        "more",
        "most",
        "much",
        "must",
        "mustn't",
        "my",
        "myself",
        "neither",
        "no",
        "nor",
        "not",
        "now",
        "of",
        "off",
        "on",
        "once",
        "only",
        "or",
        "other",
        "ought",
        "our",
        "ours",
        "ourselves",
        "out",
        "over",
        "own",
        "per",
        "rather",
        "same",
        "shall",
        "shan't",
        "she",
        "she'd",
        "she'll",
        "she's",
        "should",
        "shouldn't",
        "since",
        "so",
        "some",
        "such",
        "than",
        "that",
        "that's",
        "the",
        "their",
        "theirs",
        "them",
        "themselves",
        "then",
        "there",
        "there's",
        "these",
        "they",
        "they'd",
        "they'll",
        "they're",
        "they've",
        "this",
        "those",
        "though",
        "through",
        "thus",
        "to",
        "too",
        "under",
        "until",
        "up",
        "upon",
        "us",
        "very",
        "via",
        "was",
        "wasn't",
        "we",
        "we'd",
        "we'll",
        "we're",
        "we've",
        "were",
        "weren't",
        "what",
        "what's",
        "whatever",
        "when",
        "when's",
        "where",
        "where's",
        "whether",
        "which",
        "while",
        "who",
        "who's",
        "whom",
        "whose",
        "why",
        "why's",
        "will",
        "with",
        "within",
        "without",
        "won't",
        "would",
        "wouldn't",
        "yet",
        "you",
        "you'd",
        "you'll",
        "you're",
        "you've",
        "your",
        "yours",
        "yourself",
        "yourselves",
    ]
)
"""English function words ignored when matching content."""

QUESTION_WORDS: frozenset[str] = frozenset(
    ["what", "when", "where", "which", "who", "whom", "whose", "why", "how", "whats"]
)

_ABBREVIATIONS = frozenset(
    [
        "e.g",
        "i.e",
        "etc",
        "vs",
        "mr",
        "mrs",
        "ms",
        "dr",
        "prof",
        "sr",
        "jr",
        "st",
        "no",
        "fig",
        "approx",
        "inc",
        "ltd",
        "co",
        "corp",
        "u.s",
        "u.k",
        "a.m",
        "p.m",
        "jan",
        "feb",
        "mar",
        "apr",
        "jun",
        "jul",
        "aug",
        "sep",
        "sept",
        "oct",
        "nov",
        "dec",
    ]
)
_WORD = re.compile(r"[A-Za-z0-9]+(?:['’.,][A-Za-z0-9]+)*")
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+")
_BULLET = re.compile(r"^\s*(?:[-*+•]|\d{1,3}[.)]|[a-zA-Z][.)])\s+")
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{3,}")
_BOUNDARY = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=(?!\[\d)[\"'(\[]?[A-Z0-9])")
_MARKUP = re.compile(r"(\*\*|__|`|~~)")
_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")
_RULE_CHARS = frozenset("-=*_")


@lru_cache(maxsize=1)
def _stemmer() -> Stemmer.Stemmer:
    return Stemmer.Stemmer("english")


def clean_markup(text: str) -> str:
    """Drop inline markdown (emphasis, code ticks, link targets) and squeeze whitespace."""
    if "](" in text:
        text = _LINK.sub(r"\1", text)
    text = _MARKUP.sub("", text)
    return " ".join(text.split())


def is_heading(line: str) -> bool:
    """Whether a line is a markdown heading (``# ...``)."""
    return bool(_HEADING.match(line))


def _split_prose(text: str) -> list[str]:
    parts: list[str] = []
    start = 0
    for match in _BOUNDARY.finditer(text):
        before = text[start : match.start()].rstrip("\"')]")
        words = before.rsplit(None, 1)
        last = words[-1].rstrip(".").lower() if words else ""
        if last in _ABBREVIATIONS or (len(last) == 1 and last.isalpha()):
            continue
        parts.append(text[start : match.start()].strip())
        start = match.end()
    parts.append(text[start:].strip())
    return [p for p in parts if p]


def split_sentences(text: str) -> list[str]:
    """Split text, including markdown, into sentences.

    Headings are dropped (they label sentences but do not answer anything), each bullet or
    numbered list item and each table row becomes its own unit and prose is split at
    sentence-final punctuation, keeping common abbreviations together.

    Args:
        text: Plain text or markdown.

    Returns:
        The sentences, in order, with inline markup removed.

    Example:
        >>> split_sentences("# Fees\\n- Monthly fee: $5.\\n- No fee for students. See e.g. rules.")
        ['Monthly fee: $5.', 'No fee for students.', 'See e.g. rules.']
    """
    sentences: list[str] = []
    block: list[str] = []

    def flush() -> None:
        if block:
            sentences.extend(_split_prose(clean_markup(" ".join(block))))
            block.clear()

    for raw in text.splitlines():
        line = raw.strip()
        if not line or is_heading(line) or _TABLE_RULE.match(line) or set(line) <= _RULE_CHARS:
            flush()
            continue
        if line.startswith("|"):
            flush()
            cells = [c.strip() for c in line.strip("|").split("|") if c.strip()]
            if cells:
                sentences.append(clean_markup("; ".join(cells)))
            continue
        if _BULLET.match(line):
            flush()
            block.append(_BULLET.sub("", line, count=1))
            continue
        if line.startswith(">"):
            line = line.lstrip("> ")
        block.append(line)
    flush()
    return [s for s in sentences if _WORD.search(s)]


def tokenize(text: str) -> list[str]:
    """Lower-cased word tokens (letters and digits; keeps ``3.5``, ``1,000`` and ``don't``).

    Example:
        >>> tokenize("The fee is $1,000.50 -- isn't it?")
        ['the', 'fee', 'is', '1,000.50', "isn't", 'it']
    """
    if text.isascii():
        return _WORD.findall(text.lower())
    return [w.lower().replace("’", "'") for w in _WORD.findall(text)]


def count_words(text: str) -> int:
    """Number of word tokens in ``text`` (as `tokenize` counts them, without building them).

    Example:
        >>> count_words("The fee is $1,000.50 -- isn't it?")
        6
    """
    return len(_WORD.findall(text))


def stem(words: list[str]) -> list[str]:
    """Snowball (Porter2) English stems of lower-case words."""
    return _stemmer().stemWords(words)


def content_words(text: str) -> list[str]:
    """Non-stopword tokens of ``text`` (unstemmed, lower-case, in order, duplicates kept)."""
    return [w for w in tokenize(text) if w not in STOPWORDS and w not in QUESTION_WORDS]


def content_terms(text: str) -> list[str]:
    """Distinct stemmed content terms of ``text``, in first-occurrence order.

    Example:
        >>> content_terms("What are the fees for opening accounts? Account fees!")
        ['fee', 'open', 'account']
    """
    seen: dict[str, None] = {}
    for term in stem(content_words(text)):
        seen.setdefault(term, None)
    return list(seen)


def term_set(text: str) -> set[str]:
    """The set of stemmed content terms of ``text``."""
    return set(stem(content_words(text)))


def has_number(text: str) -> bool:
    """Whether ``text`` contains a digit or a spelled-out small number."""
    return bool(re.search(r"\d", text)) or bool(
        set(tokenize(text))
        & {"one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"}
    )
